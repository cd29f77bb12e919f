import ArgumentParser
import Foundation
import Glibc

/// `cairn serve` beside the deployment pattern the classic lab uses — a Flask app serving the
/// exported ONNX model through onnxruntime — in one run: wrk sends the same Open Inference Protocol
/// request (one 28x28 PNG, base64 in JSON) to each, and reports throughput and latency percentiles.
struct ServeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "wrk against `cairn serve` and against a Flask + onnxruntime app serving the same MLP (exported to ONNX).")

    @Argument(help: "A directory of 28x28 images in class folders (e.g. /tmp/small5k).") var dataset: String
    @Option(help: "Seconds of load per server.") var seconds = 10
    @Option(help: "wrk connections.") var connections = 16
    @Option(help: "wrk threads.") var threads = 1
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let (base, repo) = try scratchRepository("serve", dataset: dataset, work: work, then: [["train", "--data", "HEAD", "--epochs", "3", "--name", "mlp"]])
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = try runChecked(cairnBinary, ["-C", repo, "export-model", "mlp", "--format", "onnx", base + "/mlp.onnx"], output: "/dev/null")
        let image = try FileManager.default.subpathsOfDirectory(atPath: dataset).sorted().first { $0.hasSuffix(".png") } ?? ""
        let png = try Data(contentsOf: URL(fileURLWithPath: dataset + "/" + image))
        let body = "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"\(png.base64EncodedString())\"]}]}"
        try Data("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '\(body)'\n".utf8)
            .write(to: URL(fileURLWithPath: base + "/post.lua"))
        try Data(Self.flaskApp.utf8).write(to: URL(fileURLWithPath: base + "/app.py"))

        // Both take a free port (port 0) and print it once listening.
        let cairn = try start(cairnBinary, ["-C", repo, "serve", "mlp", "--port", "0"], log: base + "/serve.log")
        defer { kill(cairn, SIGTERM); waitChild(cairn) }
        let flask = try start("/usr/bin/env", ["python3", base + "/app.py", base + "/mlp.onnx", "0"], log: base + "/flask.log")
        defer { kill(flask, SIGTERM); waitChild(flask) }
        for (name, log) in [("cairn_serve", base + "/serve.log"), ("flask_onnxruntime", base + "/flask.log")] {
            guard let port = listeningPort(log) else { throw ValidationError("\(name) did not start (see \(log))") }
            // A warm-up, then the measured run.
            _ = try wrk(port, seconds: 2, base: base)
            let (rps, p50, p99, errors) = try wrk(port, seconds: seconds, base: base)
            emit(["bench": name, "requests_per_s": format(rps), "p50_ms": format(p50, 2), "p99_ms": format(p99, 2), "errors": errors,
                  "connections": connections, "wrk_threads": threads, "seconds": seconds])
        }
    }

    /// Runs wrk against `port`; returns requests/s, p50 and p99 in ms, and non-2xx plus socket errors.
    private func wrk(_ port: Int, seconds: Int, base: String) throws -> (Double, Double, Double, Int) {
        let out = base + "/wrk.out"
        _ = try timed("/usr/bin/wrk", ["-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", base + "/post.lua",
                                      "http://127.0.0.1:\(port)/v2/models/mlp/infer"], stdout: out)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        func ms(_ label: String) -> Double {
            guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }),
                  let value = line.split(separator: " ", omittingEmptySubsequences: true).last else { return .nan }
            let v = String(value)
            if v.hasSuffix("us") { return (Double(v.dropLast(2)) ?? .nan) / 1000 }
            if v.hasSuffix("ms") { return Double(v.dropLast(2)) ?? .nan }
            if v.hasSuffix("s") { return (Double(v.dropLast(1)) ?? .nan) * 1000 }
            return .nan
        }
        let rps = text.split(separator: "\n").first { $0.hasPrefix("Requests/sec:") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? .nan
        let non2xx = text.split(separator: "\n").first { $0.contains("Non-2xx") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        let socket = text.contains("Socket errors") ? 1 : 0
        return (rps, ms("50%"), ms("99%"), non2xx + socket)
    }

    private func start(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        return process.processIdentifier
    }

    private func waitChild(_ pid: pid_t) {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// The port a server printed (`http://127.0.0.1:PORT`) in `log`, waiting up to 20 s for it.
    private func listeningPort(_ log: String) -> Int? {
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: log, encoding: .utf8), let match = text.firstMatch(of: /127\.0\.0\.1:(\d+)/) {
                return Int(match.1)
            }
            usleep(100_000)
        }
        return nil
    }

    /// The Flask app: decode the base64 PNG from the same request, run the ONNX model, answer in the same shape.
    static let flaskApp = """
        import base64, io, json, sys
        import numpy as np, onnxruntime
        from flask import Flask, request, jsonify
        from PIL import Image

        session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
        app = Flask(__name__)

        @app.post("/v2/models/<name>/infer")
        def infer(name):
            body = request.get_json()
            files = body["inputs"][0]["data"]
            pixels = np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(f))).convert("L"), dtype=np.float32)[None] for f in files])
            probs = session.run(["probs"], {"input": pixels})[0]
            return jsonify({"model_name": name, "outputs": [
                {"name": "probs", "datatype": "FP32", "shape": list(probs.shape), "data": probs.ravel().tolist()},
                {"name": "label", "datatype": "BYTES", "shape": [len(files)], "data": [classes[i] for i in probs.argmax(1)]}]})

        app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)

        """
}
