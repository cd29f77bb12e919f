import CairnTestSupport
import Foundation
import Testing

/// `cairn serve` and `cairn export-model` through the clients users have: tritonclient (binary data
/// on and off), curl for the rest and every bad request, onnxruntime for the exported files — all
/// against `cairn predict` on the digits.
private struct ServeDidNotStart: Error { var output: String }

@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct ServeCLITests {
    private let images = ["3/0003.png", "7/0007.png", "1/0001.png", "0/0010.png", "8/0018.png"].map { "\(Fixtures.digits)/\($0)" }

    /// Starts `cairn serve ARGS --port 0` and returns it with the port it printed.
    private func serve(_ repo: String, _ args: [String]) throws -> (process: Process, port: Int, stderr: Pipe) {
        let (process, _, stderr) = try CLI.start(["-C", repo, "serve"] + args + ["--port", "0"])
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !text.contains("serving") {
            let chunk = stderr.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let match = text.firstMatch(of: /127\.0\.0\.1:(\d+)/), let port = Int(match.1) else {
            process.terminate()
            throw ServeDidNotStart(output: text)
        }
        return (process, port, stderr)
    }

    private func curl(_ port: Int, _ args: String) -> (status: Int, body: String) {
        let result = CLI.shell("curl -s -o /dev/stdout -w '\\n%{http_code}' \(args.replacingOccurrences(of: "URL", with: "http://127.0.0.1:\(port)"))")
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func tritonClientsCurlAndOnnxruntimeAgreeWithPredict() throws {
        let dir = try TemporaryDirectory("cairn-e2e-serve")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        // Trained at the digits' own size, so the raw pixels of the files are what the models see.
        for (name, model, epochs) in [("mlp8", "mlp", "6"), ("cnn8", "cnn", "2"), ("soft8", "softmax", "6")] {
            #expect(try cairn("train", "--data", "v1", "--size", "8x8", "--model", model, "--epochs", epochs, "--name", name).status == 0)
            let expected = dir.appending("expected-\(name).json")
            try Data(try CLI.run(["-C", repo, "predict", name] + images + ["--top", "10", "--json"]).stdout.utf8).write(to: URL(fileURLWithPath: expected))
        }
        func check(_ args: String) -> (status: Int32, output: String) {
            CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_serving.py' \(args) 2>&1")
        }

        // ONNX: each model family, run by onnxruntime, within 1e-4 of cairn predict.
        for name in ["mlp8", "cnn8", "soft8"] {
            let file = dir.appending("\(name).onnx")
            #expect(try cairn("export-model", name, "--format", "onnx", file).status == 0)
            let result = check("onnx '\(file)' '\(dir.appending("expected-\(name).json"))' " + images.map { "'\($0)'" }.joined(separator: " "))
            #expect(result.status == 0, "\(name): \(result.output)")
        }
        #expect(try cairn("export-model", "nope", dir.appending("x.onnx")).status == 1)

        // tritonclient, binary data on and off, images and pixels.
        let server = try serve(repo, ["mlp8", "cnn8", "--max-body", "64K", "--max-request-pixels", "20000000"])
        defer { if server.process.isRunning { server.process.terminate() } }
        let port = server.port
        for name in ["mlp8", "cnn8"] {
            let result = check("triton 127.0.0.1:\(port) \(name) '\(dir.appending("expected-\(name).json"))' " + images.map { "'\($0)'" }.joined(separator: " "))
            #expect(result.status == 0, "\(name): \(result.output)")
        }

        // curl: health, metadata, /invocations, /ping.
        #expect(curl(port, "URL/v2/health/live").status == 200 && curl(port, "URL/v2/health/ready").status == 200)
        #expect(curl(port, "URL/v2/models/mlp8/ready").status == 200 && curl(port, "URL/v2/models/nope/ready").status == 404)
        let version = try #require(try cairn("runs", "show", "mlp8", "--json").jsonObject()["id"] as? String)
        #expect(curl(port, "URL/v2/models/mlp8/versions/\(version)/ready").status == 200)
        let run = try cairn("runs", "show", "mlp8", "--json").jsonObject()
        let meta = curl(port, "URL/v2/models/mlp8")
        let metadata = try #require(try JSONSerialization.jsonObject(with: Data(meta.body.utf8)) as? [String: Any])
        #expect(metadata["versions"] as? [String] == [run["id"] as! String])
        #expect((metadata["parameters"] as? [String: Any])?["snapshot"] as? String == run["snapshotID"] as? String)
        let inputs = metadata["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.contains { $0["name"] as? String == "pixels" && $0["shape"] as? [Int] == [-1, 1, 8, 8] })
        let png = try Data(contentsOf: URL(fileURLWithPath: images[0]))
        let body = dir.appending("invocations.json")
        try Data("{\"instances\": [\"\(png.base64EncodedString())\", {\"b64\": \"\(png.base64EncodedString())\"}]}".utf8).write(to: URL(fileURLWithPath: body))
        var response = curl(port, "-X POST --data-binary @'\(body)' URL/invocations?model=mlp8")
        let predictions = (try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])?["predictions"] as? [[String: Any]]
        #expect(response.status == 200 && predictions?.count == 2 && predictions?.first?["label"] as? String == "3", "\(response)")
        response = curl(port, "-X POST -H 'Content-Type: image/png' --data-binary @'\(images[0])' URL/invocations")
        #expect(response.status == 200 && response.body.contains("\"label\":\"3\""), "\(response)")
        #expect(curl(port, "URL/ping").status == 200)

        // A bad request over the wire: its status and a JSON error saying what (every case is in
        // RouterTests, in process), and the server goes on.
        let bad: [(String, Int, String)] = [
            ("{bad", 400, "malformed JSON"),
            (#"{"inputs":[{"name":"tensor","datatype":"FP32","shape":[1],"data":[1]}]}"#, 400, "unknown input 'tensor'"),
        ]
        for (i, (json, status, message)) in bad.enumerated() {
            let file = dir.appending("bad-\(i).json")
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            let result = curl(port, "-X POST --data-binary @'\(file)' URL/v2/models/mlp8/infer")
            let error = (try? JSONSerialization.jsonObject(with: Data(result.body.utf8)) as? [String: Any])?["error"] as? String
            #expect(result.status == status && error != nil && error!.contains(message), "case \(i): \(result)")
            #expect(curl(port, "URL/v2/health/live").status == 200, "still serving after case \(i)")
        }
        #expect(curl(port, "-X POST -d '{}' URL/v2/models/nope/infer").status == 404)
        let big = dir.appending("big.json")
        try Data(repeating: 0x20, count: 100_000).write(to: URL(fileURLWithPath: big))
        #expect(curl(port, "-X POST --data-binary @'\(big)' URL/v2/models/mlp8/infer").status == 413, "refused from Content-Length")
        #expect(curl(port, "-X POST -H 'Transfer-Encoding: chunked' --data-binary @'\(big)' URL/v2/models/mlp8/infer").status == 413,
                "refused while reading a body sent without a length")

        // A server that works on one request at a time and lets none wait: while a client holds the turn
        // (its body still arriving), the next gets 503 with Retry-After, and health is answered at once.
        let narrow = try serve(repo, ["mlp8", "--max-active", "1", "--max-waiting", "0"])
        defer { if narrow.process.isRunning { narrow.process.terminate() } }
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", "import socket, time; s = socket.create_connection(('127.0.0.1', \(narrow.port))); "
                            + "s.sendall(b'POST /v2/models/mlp8/infer HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1000\\r\\n\\r\\n{'); time.sleep(15)"]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        var busy = (status: 0, body: "")
        for _ in 0..<100 where busy.status != 503 {
            Thread.sleep(forTimeInterval: 0.1)
            busy = curl(narrow.port, "-X POST --data-binary @'\(dir.appending("bad-2.json"))' URL/v2/models/mlp8/infer")
        }
        #expect(busy.status == 503 && busy.body.contains("busy"), "\(busy)")
        let headers = CLI.shell("curl -s -D - -o /dev/null -X POST -d '{}' http://127.0.0.1:\(narrow.port)/v2/models/mlp8/infer").output
        #expect(headers.lowercased().contains("retry-after: 1"), "\(headers)")
        #expect(curl(narrow.port, "URL/v2/health/live").status == 200 && curl(narrow.port, "URL/v2/models/mlp8").status == 200)
        holder.terminate()
        narrow.process.terminate()

        // SIGTERM while a request is still arriving: it is answered, then the server exits 0.
        let slow = dir.appending("slow.json")
        try Data(("{\"inputs\":[{\"name\":\"image\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"\(png.base64EncodedString())\"]}]}"
                  + String(repeating: " ", count: 40_000)).utf8).write(to: URL(fileURLWithPath: slow))
        let inFlight = Process()
        inFlight.executableURL = URL(fileURLWithPath: "/bin/sh")
        inFlight.arguments = ["-c", "curl -s -o /dev/null -w '%{http_code}' --limit-rate 20K -X POST --data-binary @'\(slow)' "
                              + "http://127.0.0.1:\(port)/v2/models/mlp8/infer > '\(dir.appending("slow.status"))'"]
        try inFlight.run()
        Thread.sleep(forTimeInterval: 0.8)
        kill(server.process.processIdentifier, SIGTERM)
        inFlight.waitUntilExit()
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        #expect((try? String(contentsOfFile: dir.appending("slow.status"), encoding: .utf8)) == "200", "the request in flight was answered")
        let log = String(decoding: server.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = log.split(separator: "\n").filter { $0.contains(" /v2/") || $0.contains(" /invocations") || $0.contains(" /ping") }
        #expect(lines.count >= 15 && lines.allSatisfy { $0.contains(/(GET|POST) \/\S* \d{3} \d+\.\d\dms$/) }, "one line per request: \(lines.prefix(3))")
        #expect(lines.contains { $0.contains("POST /v2/models/mlp8/infer 413") })
    }
}
