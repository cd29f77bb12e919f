import CairnImaging
import CairnServe
import CairnTestSupport
import CairnTraining
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Testing

/// `cairn serve`'s routes in process (HummingbirdTesting's router framework, no socket): every
/// malformed request gets its status and a JSON error saying what, and the server goes on. What
/// only a real connection shows (tritonclient, chunked bodies, a busy server, SIGTERM) is in
/// ServeCLITests.
@Suite(.serialized) struct RouterTests {
    /// One trained 8x8 model served as "m", over a served fixture kept for the suite.
    static let served: (model: ServedModel, fixture: TestRepository) = {
        let (fixture, training) = try! learnableRepository()
        let record = try! training.train(ref: "v1", name: "m", parameters: smallParameters(epochs: 4))
        let model = try! training.model(of: record)
        return (ServedModel(name: "m", record: record, model: model, options: options), fixture)
    }()

    static var options: ServeOptions {
        var options = ServeOptions()
        options.maxBody = 64 << 10
        options.maxPixelsPerRequest = 20_000_000
        return options
    }

    /// Runs `body` with a client of the router serving `served`.
    private func withClient(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = InferenceServer.router([Self.served.model], options: Self.options)
        try await Application(router: router).test(.router) { client in try await body(client) }
    }

    /// The status and the `error` of a JSON answer.
    private func post(_ client: some TestClientProtocol, _ uri: String, _ body: String) async throws -> (status: Int, error: String?) {
        try await client.execute(uri: uri, method: .post, body: ByteBuffer(string: body)) { response in
            let json = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            return (Int(response.status.code), json?["error"] as? String)
        }
    }

    private func get(_ client: some TestClientProtocol, _ uri: String) async throws -> Int {
        try await client.execute(uri: uri, method: .get) { Int($0.status.code) }
    }

    @Test func healthMetadataAndVersionsAreRouted() async throws {
        let id = Self.served.model.record.id
        try await withClient { client in
            #expect(try await get(client, "/v2/health/live") == 200)
            #expect(try await get(client, "/v2/health/ready") == 200)
            #expect(try await get(client, "/v2/models/m/ready") == 200)
            #expect(try await get(client, "/v2/models/nope/ready") == 404)
            #expect(try await get(client, "/v2/models/m/versions/\(id)/ready") == 200)
            #expect(try await get(client, "/v2/models/m/versions/0123456789ab/ready") == 404, "the version is checked")
            #expect(try await get(client, "/v2/models/m/versions/0123456789ab") == 404)
            #expect(try await get(client, "/v2/models/%6D") == 200, "model names are percent-decoded")
            #expect(try await get(client, "/v2/models/\(id)") == 200, "a model answers to its run id too")
            try await client.execute(uri: "/v2/models/m", method: .get) { response in
                let metadata = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                #expect(metadata["versions"] as? [String] == [id])
                #expect((metadata["inputs"] as? [[String: Any]] ?? []).contains { $0["shape"] as? [Int] == [-1, 1, 8, 8] })
            }
            #expect(try await get(client, "/ping") == 200)
        }
    }

    @Test func aGoodRequestIsAnsweredInJSONAndBinary() async throws {
        let png = try Data(contentsOf: URL(fileURLWithPath: Self.served.fixture.inputs + "/left/0.png")).base64EncodedString()
        try await withClient { client in
            let body = #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(png)"]}]}"#
            try await client.execute(uri: "/v2/models/m/infer", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
                let outputs = json["outputs"] as? [[String: Any]] ?? []
                #expect(outputs.first { $0["name"] as? String == "label" }?["data"] as? [String] == ["left"])
            }
            let binary = #"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["\#(png)"]}],"parameters":{"binary_data_output":true}}"#
            try await client.execute(uri: "/v2/models/m/infer", method: .post, body: ByteBuffer(string: binary)) { response in
                #expect(response.status == .ok)
                let length = try #require(response.headers[HTTPField.Name("Inference-Header-Content-Length")!].flatMap { Int($0) })
                #expect(length > 0 && length < response.body.readableBytes, "a JSON header, then the tensors' bytes")
            }
            try await client.execute(uri: "/invocations", method: .post, body: ByteBuffer(string: #"{"instances":["\#(png)"]}"#)) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains(#""label":"left""#))
            }
        }
    }

    @Test func everyBadRequestSaysWhatWithItsStatus() async throws {
        let huge = try Fixtures.imageData("huge_header.png").base64EncodedString()
        // Two 4096x4096 PNGs of a few KB each: 33 MP, over the 20 MP this router takes in one request.
        let wide = try ImageCodec.encodePNG(PixelBuffer(width: 4096, height: 4096, channels: 1, pixels: [UInt8](repeating: 0, count: 4096 * 4096)))
            .base64EncodedString()
        let pixels64 = { (value: String) in Array(repeating: "0", count: 63).joined(separator: ",") + "," + value }
        let bad: [(String, Int, String)] = [
            ("{bad", 400, "malformed JSON"),
            ("[1]", 400, "must be a JSON object"),
            ("{}", 400, "inputs"),
            (#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,8,7],"data":[1]}]}"#, 400, "values for a shape"),
            (#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,9,8],"data":[\#(Array(repeating: "0", count: 72).joined(separator: ","))]}]}"#,
             400, "the model takes [N,1,8,8]"),
            (#"{"inputs":[{"name":"pixels","datatype":"INT64","shape":[1],"data":[1]}]}"#, 400, "datatype 'INT64' is not accepted"),
            (#"{"inputs":[{"name":"image","datatype":"FP32","shape":[1],"data":[1]}]}"#, 400, "takes BYTES"),
            (#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["bm90IGFuIGltYWdl"]}]}"#, 400, "image 0 cannot be used"),
            (#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["%%%"]}]}"#, 400, "neither a PNG or JPEG file nor base64"),
            ("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"\(huge)\"]}]}", 400, "over the limit"),
            (#"{"inputs":[{"name":"tensor","datatype":"FP32","shape":[1],"data":[1]}]}"#, 400, "unknown input 'tensor'"),
            (#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":99}}]}"#, 400, "runs past the end"),
            (#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1],"data":["x"]}],"outputs":[{"name":"logits"}]}"#, 400, "unknown output 'logits'"),
            (#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,8,8],"data":[\#(pixels64("300"))]}]}"#, 400, "finite numbers from 0 to 255"),
            (#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,8,8],"data":[\#(pixels64("-1"))]}]}"#, 400, "finite numbers from 0 to 255"),
            (#"{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,1,8,8],"data":[\#(pixels64("1e39"))]}]}"#, 400, "finite numbers from 0 to 255"),
            ("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"\(wide)\",\"\(wide)\"]}]}", 413, "over 20000000 pixels"),
            (String(repeating: " ", count: 100_000), 413, "--max-body limit of 65536 bytes"),
        ]
        try await withClient { client in
            for (i, (body, status, message)) in bad.enumerated() {
                let answer = try await post(client, "/v2/models/m/infer", body)
                #expect(answer.status == status && answer.error?.contains(message) == true, "case \(i): \(answer)")
            }
            let unknown = try await post(client, "/v2/models/nope/infer", "{}")
            #expect(unknown.status == 404 && unknown.error?.contains("no model 'nope' here (serving: m)") == true, "\(unknown)")
            let version = try await post(client, "/v2/models/m/versions/0123456789ab/infer", "{}")
            #expect(version.status == 404 && version.error?.contains("has version") == true, "\(version)")
            let invocations = try await post(client, "/invocations?model=nope", "{}")
            #expect(invocations.status == 404 && invocations.error?.contains("no model 'nope'") == true, "\(invocations)")
            #expect(try await post(client, "/invocations", #"{"rows":[]}"#).status == 400)
            #expect(try await get(client, "/v2/health/live") == 200, "still serving")
        }
    }
}
