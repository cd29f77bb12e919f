import ArgumentParser
import CairnServe
import CairnSupport
import CairnTraining
import Foundation

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve runs' models over HTTP with the Open Inference Protocol v2 (KServe v2, Triton's clients).",
        discussion: """
            Endpoints: GET /v2/health/live, /v2/health/ready, /v2/models/NAME (metadata: inputs, outputs, versions = \
            the run id, the snapshot among the parameters), /v2/models/NAME/ready; POST /v2/models/NAME/infer with \
            input `image` (BYTES [N]: PNG or JPEG files, base64 strings in JSON) or `pixels` (FP32 [N,C,H,W], values \
            0-255), as JSON or with Triton's binary data extension (Inference-Header-Content-Length); outputs `probs` \
            (FP32 [N,K]) and `label` (BYTES [N]). MLflow-style: POST /invocations ({"instances": [BASE64, ...]} or a \
            raw image; ?model=NAME, default the first) and GET /ping. NAME is the run's name or id. Requests that \
            wait while a forward pass runs are batched into the next (up to --max-batch images). Bad requests get \
            400 and {"error": "..."}; bodies over --max-body 413 before they are read. One log line per request on \
            stderr. SIGTERM or Ctrl-C finishes the requests in flight and exits 0.
            Examples:
              cairn serve mlp-1a2b3c
              cairn serve mlp-1a2b3c cnn-9f8e7d --port 9000 --max-batch 128
              curl -s localhost:8080/v2/models/mlp-1a2b3c
            """)

    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "Runs to serve (id or name).", completion: .custom(Completions.runs)) var runs: [String]
    @Option(help: "The address to listen on (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "The port (0: any free one; the one chosen is printed).") var port = 8080
    @Option(parsing: .unconditional, help: "Most images in one forward pass.") var maxBatch = 64
    @Option(parsing: .unconditional, help: "Milliseconds the first request of a pass may wait for others.") var batchWindow = 0.0
    @Option(help: "Largest request body, e.g. 16M or 512K.") var maxBody = ByteSize(argument: "16M")!
    @Option(name: .customLong("max-request-pixels"), parsing: .unconditional,
            help: "Most pixels the images of one request may hold (from their headers, before decoding).") var maxRequestPixels = 64 << 20
    @Option(name: .customLong("max-active"), parsing: .unconditional,
            help: "Inference requests worked on at once (default: the cores).") var maxActive: Int?
    @Option(name: .customLong("max-waiting"), parsing: .unconditional,
            help: "Inference requests that may wait for a turn; past them, 503 with Retry-After.") var maxWaiting = 64
    @Option(name: .customLong("max-connections"), parsing: .unconditional, help: "Connections open at once.") var maxConnections = 512
    @Option(name: .customLong("idle-timeout"), parsing: .unconditional,
            help: "Seconds a connection may stay idle or stalled before it is closed.") var idleTimeout = 30

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name the runs to serve") }
        guard (1...65_535).contains(port) || port == 0 else { throw ValidationError("--port must be 0 to 65535") }
        guard (1...4096).contains(maxBatch) else { throw ValidationError("--max-batch must be 1 to 4096") }
        guard batchWindow >= 0, batchWindow <= 100 else { throw ValidationError("--batch-window must be 0 to 100 ms") }
        guard maxRequestPixels >= 1 else { throw ValidationError("--max-request-pixels must be at least 1") }
        guard maxActive.map({ (1...1024).contains($0) }) ?? true else { throw ValidationError("--max-active must be 1 to 1024") }
        guard (0...100_000).contains(maxWaiting) else { throw ValidationError("--max-waiting must be 0 to 100000") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1 to 1000000") }
        guard (1...86_400).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be 1 to 86400 seconds") }
    }

    func run() async throws {
        let training = try training(repository)
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.maxBatch = maxBatch
        options.batchWindow = batchWindow / 1000
        guard maxBody.bytes >= 1024 else { throw ValidationError("--max-body must be at least 1K") }
        options.maxBody = maxBody.bytes
        options.maxPixelsPerRequest = maxRequestPixels
        if let maxActive { options.maxActiveRequests = maxActive }
        options.maxWaitingRequests = maxWaiting
        options.maxConnections = maxConnections
        options.idleTimeout = Int64(idleTimeout)
        var models: [ServedModel] = []
        for ref in runs {
            let record = try training.run(ref)
            let model = try training.model(of: record)
            let taken = models.contains { $0.name == record.name }
            models.append(ServedModel(name: taken ? record.id : record.name, record: record, model: model, options: options))
        }
        let names = models.map { "\(Printable.escaped($0.name)) (run \($0.record.id), \($0.record.model))" }
        try await InferenceServer.run(models, options: options) { port in
            warn("serving \(names.joined(separator: ", ")) on http://\(host):\(port) (Open Inference Protocol v2; /invocations)")
        }
        warn("stopped")
    }
}
