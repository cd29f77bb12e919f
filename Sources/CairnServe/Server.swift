import CairnImaging
import CairnInference
import CairnModels
import CairnSupport
import CairnTraining
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Triton's binary data extension: the length of the JSON part of a body.
let headerLengthField = HTTPFields.Element.Name("Inference-Header-Content-Length")!

/// What `cairn serve` is told.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Most images in one forward pass.
    public var maxBatch = 64
    /// How long the first request of a pass may wait for others (0: only those already waiting).
    public var batchWindow: TimeInterval = 0
    /// Bodies over this are refused (413) before they are read.
    public var maxBody = 16 << 20
    /// Images over these are refused from their header, before any pixel is allocated.
    public var limits = DecodeLimits(maxPixels: 16 << 20, maxDimension: 8192)
    /// Most images one request may carry.
    public var maxImagesPerRequest = 1024
    /// Most pixels (width × height, from the files' headers) the images of one request may hold.
    public var maxPixelsPerRequest = 64 << 20
    /// Inference requests worked on at once (their parsing and decoding run on a queue of their
    /// own, never on the threads that answer health and metadata).
    public var maxActiveRequests = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Inference requests that may wait for a turn; past them, 503 with Retry-After.
    public var maxWaitingRequests = 64
    /// Connections open at once; past them, new ones are closed as they arrive.
    public var maxConnections = 512
    /// Seconds a connection may sit idle (between requests, or stalled mid-request) before it is closed.
    public var idleTimeout: Int64 = 30

    public init() {}
}

/// A run's model being served under `name`.
///
/// `@unchecked Sendable`: every property is a constant; request handlers on any thread only read the
/// model's checkpoint header (preprocessing, normalization, classes) to make inputs, and its forward
/// pass, which is not thread-safe, runs only on the batcher's thread.
public final class ServedModel: @unchecked Sendable {
    public let name: String
    public let record: RunRecord
    let model: TrainedModel
    let batcher: Batcher

    public init(name: String, record: RunRecord, model: TrainedModel, options: ServeOptions) {
        (self.name, self.record, self.model) = (name, record, model)
        batcher = Batcher(model: model, maxBatch: options.maxBatch, window: options.batchWindow)
    }

    var spec: ModelSpec { model.checkpoint.header.spec }
    var classes: [String] { model.classes }
}

/// The Open Inference Protocol v2 (KServe v2, as Triton, MLServer and KServe speak it) over
/// Hummingbird, with Triton's binary data extension, plus MLflow's `/invocations` and `/ping`.
///
/// Every request is logged as one line on stderr (method, path, status, milliseconds). Anything
/// malformed is a 400 with `{"error": "..."}` saying what; a body over `maxBody` is a 413 before it
/// is read. SIGTERM or SIGINT stops accepting, finishes the requests in flight, and returns.
public enum InferenceServer {
    /// Serves `models` until SIGTERM or SIGINT; `ready` is called with the port once listening.
    public static func run(_ models: [ServedModel], options: ServeOptions, ready: @escaping @Sendable (Int) -> Void) async throws {
        let router = router(models, options: options)
        var logger = Logger(label: "cairn-serve")
        logger.logLevel = .critical  // one line per request comes from RequestLog
        let connections = ConnectionCount()
        let app = Application(
            router: router,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ConnectionLimit(count: connections, limit: options.maxConnections)],
                idleTimeout: .seconds(options.idleTimeout))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { channel in ready(channel.localAddress?.port ?? options.port) }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        for model in models { model.batcher.stop() }
    }

    /// Every route `cairn serve` answers, for `models`: what `run` serves, and what tests drive in
    /// process. A handler that refuses a request throws `InferError`, which Hummingbird turns into
    /// its status and `{"error": "..."}`.
    public static func router(_ models: [ServedModel], options: ServeOptions) -> Router<BasicRequestContext> {
        let byName = Dictionary(models.flatMap { m in [(m.name, m), (m.record.id, m)] }, uniquingKeysWith: { a, _ in a })
        let admission = Admission(active: options.maxActiveRequests, waiting: options.maxWaitingRequests)
        /// The model a path names (percent-decoded: a name with a space arrives as %20), with its
        /// version when the path has one.
        @Sendable func resolved(_ context: some RequestContext) throws(InferError) -> ServedModel {
            let name = context.parameters.get("name").map { $0.removingPercentEncoding ?? $0 } ?? ""
            guard let model = byName[name] else { throw unknownModel(name, models) }
            if let version = context.parameters.get("version"), version != model.record.id {
                throw InferError(code: 404, message: "model \(model.name) has version \(model.record.id) only")
            }
            return model
        }
        let router = Router()
        router.add(middleware: RequestLog())
        router.get("v2/health/live") { _, _ in Response(status: .ok) }
        router.get("v2/health/ready") { _, _ in Response(status: .ok) }
        router.get("v2") { _, _ in
            json(200, "{\"name\":\"cairn\",\"version\":\"\(models.first?.record.environment.cairnVersion ?? "")\",\"extensions\":[\"binary_tensor_data\"]}")
        }
        for path in ["v2/models/:name", "v2/models/:name/versions/:version"] {
            router.get(RouterPath(path)) { _, context in json(200, metadata(try resolved(context))) }
        }
        for path in ["v2/models/:name/ready", "v2/models/:name/versions/:version/ready"] {
            router.get(RouterPath(path)) { _, context in
                _ = try resolved(context)
                return Response(status: .ok)
            }
        }
        for path in ["v2/models/:name/infer", "v2/models/:name/versions/:version/infer"] {
            router.post(RouterPath(path)) { request, context in
                let model = try resolved(context)
                return try await admission.admitted { () async throws(InferError) -> Response in try await infer(request, model: model, options: options) }
            }
        }
        router.get("ping") { _, _ in Response(status: .ok) }
        router.post("invocations") { request, _ in
            let wanted = request.uri.queryParameters.get("model")
            guard let model = wanted.map({ byName[$0] }) ?? models.first else { throw unknownModel(wanted ?? "", models) }
            return try await admission.admitted { () async throws(InferError) -> Response in try await invocations(request, model: model, options: options) }
        }
        return router
    }

    // MARK: Inference

    static func infer(_ request: Request, model: ServedModel, options: ServeOptions) async throws(InferError) -> Response {
        let body = try await readBody(request, options: options)
        let headerLength = request.headers[headerLengthField].map { Int($0) ?? -1 }
        let parsed = try await Admission.work { () throws(InferError) in try InferRequest.parse(body, headerLength: headerLength) }
        guard parsed.inputs.count == 1, let input = parsed.inputs.first else {
            throw .bad("send one input: image (BYTES [N], PNG or JPEG files) or pixels (FP32 [N,C,H,W], values 0-255)")
        }
        let names = ["probs", "label"]
        let wanted = parsed.outputs ?? names.map { RequestedOutput(name: $0, binary: parsed.binaryByDefault) }
        for output in wanted where !names.contains(output.name) {
            throw .bad("unknown output \(InferRequest.quoted(output.name)) (the model gives probs and label)")
        }
        let (inputs, count) = try await Admission.work { () throws(InferError) in try prepare(input, model: model, options: options) }
        let probabilities = await model.batcher.probabilities(inputs, count: count)
        let k = model.classes.count
        let labels = (0..<count).map { i in model.classes[probabilities[i * k..<(i + 1) * k].argmax()!] }
        var header = JSONText()
        header.raw("{\"model_name\":")
        header.string(model.name)
        header.raw(",\"model_version\":")
        header.string(model.record.id)
        if let id = parsed.id {
            header.raw(",\"id\":")
            header.string(id)
        }
        header.raw(",\"outputs\":[")
        var binary = Data()
        for (i, output) in wanted.enumerated() {
            if i > 0 { header.raw(",") }
            let isProbs = output.name == "probs"
            header.raw("{\"name\":\"\(output.name)\",\"datatype\":\"\(isProbs ? "FP32" : "BYTES")\",\"shape\":[\(count)\(isProbs ? ",\(k)" : "")]")
            if output.binary {
                let before = binary.count
                if isProbs {
                    for p in probabilities { withUnsafeBytes(of: p.bitPattern.littleEndian) { binary.append(contentsOf: $0) } }
                } else {
                    for label in labels {
                        withUnsafeBytes(of: UInt32(label.utf8.count).littleEndian) { binary.append(contentsOf: $0) }
                        binary.append(contentsOf: label.utf8)
                    }
                }
                header.raw(",\"parameters\":{\"binary_data_size\":\(binary.count - before)}}")
            } else {
                header.raw(",\"data\":[")
                if isProbs {
                    for (j, p) in probabilities.enumerated() {
                        if j > 0 { header.raw(",") }
                        header.number(p)
                    }
                } else {
                    for (j, label) in labels.enumerated() {
                        if j > 0 { header.raw(",") }
                        header.string(label)
                    }
                }
                header.raw("]}")
            }
        }
        header.raw("]}")
        guard !binary.isEmpty else { return json(200, header.text) }
        var buffer = ByteBuffer(string: header.text)
        let jsonLength = buffer.readableBytes
        buffer.writeBytes(binary)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream", headerLengthField: "\(jsonLength)"],
                        body: .init(byteBuffer: buffer))
    }

    /// The network's inputs for a request tensor: images decoded and preprocessed, or raw pixels
    /// checked against the model's shape.
    static func prepare(_ input: RequestTensor, model: ServedModel, options: ServeOptions) throws(InferError) -> (inputs: [Float], count: Int) {
        let spec = model.spec
        switch (input.name, input.values) {
        case ("image", .bytes(let files)):
            guard input.shape.count == 1 else { throw .bad("input 'image' has shape \(input.shape); it takes [N]: one PNG or JPEG file per element") }
            return (try images(files, model: model, options: options), files.count)
        case ("pixels", .floats(let values)):
            let expected = [spec.channels, spec.height, spec.width]
            guard input.shape.count == 4, Array(input.shape.dropFirst()) == expected, input.shape[0] >= 1 else {
                throw .bad("input 'pixels' has shape \(input.shape); the model takes [N,\(spec.channels),\(spec.height),\(spec.width)]")
            }
            guard input.shape[0] <= options.maxImagesPerRequest else { throw .bad("at most \(options.maxImagesPerRequest) images a request") }
            if let i = values.firstIndex(where: { !($0 >= 0 && $0 <= 255) }) {  // NaN fails both
                throw .bad("pixel \(i) is \(values[i]); pixel values are finite numbers from 0 to 255")
            }
            return (model.model.input(pixelsNCHW: values, count: input.shape[0]), input.shape[0])
        case ("image", _):
            throw .bad("input 'image' has datatype \(input.datatype); it takes BYTES (PNG or JPEG files, base64 in JSON)")
        case ("pixels", _):
            throw .bad("input 'pixels' has datatype \(input.datatype); it takes FP32 pixel values 0-255")
        default:
            throw .bad("unknown input \(InferRequest.quoted(input.name)); the model takes image (BYTES [N]) or pixels (FP32 [N,\(spec.channels),\(spec.height),\(spec.width)])")
        }
    }

    /// Encoded images (raw, or base64 of them) as network inputs, each checked from its header first.
    static func images(_ files: [Data], model: ServedModel, options: ServeOptions) throws(InferError) -> [Float] {
        guard !files.isEmpty else { throw .bad("no images in the request") }
        guard files.count <= options.maxImagesPerRequest else { throw .bad("at most \(options.maxImagesPerRequest) images a request") }
        // Every file's header first: the request's pixels are counted before any is decoded.
        var encoded: [Data] = []
        var pixels = 0
        for (i, file) in files.enumerated() {
            let bytes: Data
            if file.starts(with: [0x89, 0x50, 0x4E, 0x47]) || file.starts(with: [0xFF, 0xD8]) {
                bytes = file
            } else if let decoded = Data(base64Encoded: file, options: .ignoreUnknownCharacters), !decoded.isEmpty {
                bytes = decoded
            } else {
                throw .bad("image \(i) is neither a PNG or JPEG file nor base64 of one")
            }
            do {
                let info = try ImageCodec.probe(bytes)
                try options.limits.check(info)
                pixels += info.width * info.height
            } catch {
                throw .bad("image \(i) cannot be used: \(error)")
            }
            guard pixels <= options.maxPixelsPerRequest else {
                throw InferError(code: 413, message: "the request's images hold over \(options.maxPixelsPerRequest) pixels; send fewer or smaller images")
            }
            encoded.append(bytes)
        }
        var out: [Float] = []
        out.reserveCapacity(files.count * model.model.inputSize)
        for (i, bytes) in encoded.enumerated() {
            do {
                out += try model.model.input(imageBytes: bytes, limits: options.limits)
            } catch {
                throw .bad("image \(i) cannot be used: \(error)")
            }
        }
        return out
    }

    /// MLflow's scoring protocol: `{"instances": [...]}` or `{"inputs": [...]}` of base64 strings (or
    /// `{"b64": "..."}` objects), or one raw PNG/JPEG body; answers `{"predictions": [{label, probabilities}]}`.
    static func invocations(_ request: Request, model: ServedModel, options: ServeOptions) async throws(InferError) -> Response {
        let body = try await readBody(request, options: options)
        var files: [Data]
        if body.starts(with: [0x89, 0x50, 0x4E, 0x47]) || body.starts(with: [0xFF, 0xD8]) {
            files = [body]
        } else {
            guard let top = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw .bad("send JSON {\"instances\": [BASE64, ...]} or a PNG or JPEG file")
            }
            guard let list = (top["instances"] ?? top["inputs"]) as? [Any] else { throw .bad("the JSON needs \"instances\" (or \"inputs\"): a list of base64 images") }
            files = []
            for (i, item) in list.enumerated() {
                if let text = item as? String {
                    files.append(Data(text.utf8))
                } else if let object = item as? [String: Any], let text = (object["b64"] ?? (object["image"] as? [String: Any])?["b64"] ?? object["image"]) as? String {
                    files.append(Data(text.utf8))
                } else {
                    throw .bad("instance \(i) is not a base64 string or {\"b64\": ...}")
                }
            }
        }
        let chosen = files
        let inputs = try await Admission.work { () throws(InferError) in try images(chosen, model: model, options: options) }
        let probabilities = await model.batcher.probabilities(inputs, count: files.count)
        let k = model.classes.count
        var out = JSONText()
        out.raw("{\"predictions\":[")
        for i in 0..<files.count {
            let row = probabilities[i * k..<(i + 1) * k]
            if i > 0 { out.raw(",") }
            out.raw("{\"label\":")
            out.string(model.classes[row.argmax()!])
            out.raw(",\"probabilities\":{")
            for (j, name) in model.classes.enumerated() {
                if j > 0 { out.raw(",") }
                out.string(name)
                out.raw(":")
                out.number(row[row.startIndex + j])
            }
            out.raw("}}")
        }
        out.raw("]}")
        return json(200, out.text)
    }

    // MARK: Pieces

    /// The body, refused with 413 from its Content-Length before reading (and while reading, for
    /// bodies sent without one).
    static func readBody(_ request: Request, options: ServeOptions) async throws(InferError) -> Data {
        let tooLarge = InferError(code: 413, message: "the body is over the --max-body limit of \(options.maxBody) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > options.maxBody { throw tooLarge }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: options.maxBody)
            return Data(buffer.readableBytesView)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {  // NIOTooManyBytesError among them
            throw tooLarge
        } catch {
            throw InferError.bad("the body could not be read: \(error)")  // the client went away, or sent a broken chunk
        }
    }

    static func metadata(_ model: ServedModel) -> String {
        let spec = model.spec
        var out = JSONText()
        out.raw("{\"name\":")
        out.string(model.name)
        out.raw(",\"versions\":[")
        out.string(model.record.id)
        out.raw("],\"platform\":\"cairn_\(spec.kind.rawValue)\",\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[-1]},")
        out.raw("{\"name\":\"pixels\",\"datatype\":\"FP32\",\"shape\":[-1,\(spec.channels),\(spec.height),\(spec.width)]}],")
        out.raw("\"outputs\":[{\"name\":\"probs\",\"datatype\":\"FP32\",\"shape\":[-1,\(spec.classes)]},{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]}],")
        out.raw("\"parameters\":{\"run\":")
        out.string(model.record.id)
        out.raw(",\"run_name\":")
        out.string(model.record.name)
        out.raw(",\"snapshot\":")
        out.string(model.record.snapshotID)
        out.raw(",\"classes\":[")
        for (i, name) in model.classes.enumerated() {
            if i > 0 { out.raw(",") }
            out.string(name)
        }
        out.raw("]}}")
        return out.text
    }

    static func unknownModel(_ name: String, _ models: [ServedModel]) -> InferError {
        InferError(code: 404, message: "no model \(InferRequest.quoted(name)) here (serving: " + models.map(\.name).joined(separator: ", ") + ")")
    }

    static func json(_ status: Int, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A refused request answers with its status and `{"error": "..."}` (503 with `Retry-After`).
extension InferError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: code) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var out = JSONText()
        out.raw("{\"error\":")
        out.string(message)
        out.raw("}")
        var response = InferenceServer.json(code, out.text)
        if code == 503 { response.headers[.retryAfter] = "1" }
        return response
    }
}

/// One line per request on stderr: time, method, path, status, milliseconds.
struct RequestLog<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let elapsed = ContinuousClock.now - start
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            let line = "\(Date().formatted(.iso8601)) \(request.method) \(Printable.escaped(String(request.uri.path.prefix(200)))) \(status) "
                + String(format: "%.2fms", ms) + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
        do {
            let response = try await next(request, context)
            status = response.status.code
            return response
        } catch let error as HTTPResponseError {
            status = error.status.code
            throw error
        }
    }
}
