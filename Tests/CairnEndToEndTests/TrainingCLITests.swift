import CairnTestSupport
import Foundation
import Testing

/// `cairn train`, `runs`, `eval` and `predict` through the real binary on sample-data/digits.
@Suite(.serialized) struct TrainingCLITests {
    /// A digits repository with snapshot v1.
    private func digitsRepository(_ dir: TemporaryDirectory) throws -> String {
        try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
    }

    /// Runs are pinned: same seed ⇒ same metrics; a run on v2 shows its own snapshot in
    /// compare; with tag v1 deleted and gc run, the v1 run can still be evaluated.
    @Test func pinnedRunsReproduceCompareAndSurviveGC() throws {
        let dir = try TemporaryDirectory("cairn-e2e-train")
        defer { dir.remove() }
        let repo = try digitsRepository(dir)
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        func train(_ args: String...) throws -> [String: Any] {
            let result = try CLI.run(["-C", repo, "train", "--epochs", "6", "--lr", "3e-3", "--size", "8x8", "--threads", "1", "--json"] + args)
            #expect(result.status == 0, "\(result)")
            return try result.jsonObject()
        }
        let a = try train("--data", "v1", "--name", "a")
        let b = try train("--data", "v1", "--name", "b")
        #expect(a["snapshotID"] as? String == b["snapshotID"] as? String)
        #expect(a["dataRef"] as? String == "v1")
        // Identical weights make an identical checkpoint blob; the metrics match to the bit.
        #expect(a["checkpoint"] as? String == b["checkpoint"] as? String)
        func losses(_ run: [String: Any]) -> [Double] {
            (run["epochs"] as? [[String: Any]] ?? []).flatMap { [$0["trainLoss"] as? Double ?? -1, $0["valLoss"] as? Double ?? -1] }
        }
        #expect(losses(a) == losses(b) && losses(a).count == 12)
        #expect((a["test"] as? [String: Any])?["accuracy"] as? Double == (b["test"] as? [String: Any])?["accuracy"] as? Double)
        #expect((a["test"] as? [String: Any])?["accuracy"] as? Double ?? 0 > 0.8)

        // v2: ten digits relabeled by a reviewer.
        #expect(try cairn("annotators", "add", "rev", "--role", "reviewer").status == 0)
        let threes = try cairn("ls", "--class", "3", "--json").jsonArray().compactMap { $0["path"] as? String }.prefix(10)
        #expect(try CLI.run(["-C", repo, "review"] + threes + ["--class", "8", "--reviewer", "rev"]).status == 0)
        #expect(try cairn("snapshot", "-m", "v2").status == 0)
        #expect(try cairn("tag", "v2").status == 0)
        let c = try train("--data", "v2", "--name", "c")
        #expect(c["snapshotID"] as? String != a["snapshotID"] as? String)
        let compare = try cairn("runs", "compare", "a", "c", "--json").jsonObject()
        let snapshots = try #require(compare["snapshots"] as? [String])
        #expect(snapshots == [a["snapshotID"] as? String, c["snapshotID"] as? String].compactMap { $0 })
        let text = try cairn("runs", "compare", "a", "b")
        #expect(text.status == 0 && text.stdout.contains("all equal"), "\(text)")

        // Tag v1 deleted and gc with no grace: the v1 run still evaluates on its own snapshot.
        #expect(try cairn("tag", "-d", "v1").status == 0)
        let gc = try cairn("gc", "--grace", "0")
        #expect(gc.status == 0, "\(gc)")
        let eval = try cairn("eval", "a", "--data", a["snapshotID"] as! String, "--split", "all", "--json")
        #expect(eval.status == 0, "\(eval)")
        #expect(try eval.jsonObject()["snapshotID"] as? String == a["snapshotID"] as? String)
        #expect(try cairn("fsck").status == 0)

        // Listing, showing, predicting.
        let runs = try cairn("runs", "--json").jsonArray()
        #expect(runs.compactMap { $0["name"] as? String } == ["a", "b", "c"])
        let show = try cairn("runs", "show", "a")
        #expect(show.stdout.contains("macro-F1") && show.stdout.contains("baseline") && show.stdout.contains("loss.png"), "\(show)")
        let digit = Fixtures.digits + "/7/" + (try FileManager.default.contentsOfDirectory(atPath: Fixtures.digits + "/7").sorted()[0])
        let predict = try cairn("predict", "a", digit, "--json").jsonArray()
        let top = try #require((predict.first?["top"] as? [[String: Any]])?.first)
        #expect(top["className"] as? String == "7")
    }

    @Test func badRefsRunsAndImagesGiveClearErrors() throws {
        let dir = try TemporaryDirectory("cairn-e2e-train-bad")
        defer { dir.remove() }
        let repo = try digitsRepository(dir)
        let unknown = try CLI.run(["-C", repo, "train", "--data", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("nope"), "\(unknown)")
        let noRun = try CLI.run(["-C", repo, "runs", "show", "zzzz"])
        #expect(noRun.status == 1 && noRun.stderr.contains("no run matches"), "\(noRun)")
        let size = try CLI.run(["-C", repo, "train", "--data", "v1", "--size", "0x0"])
        #expect(size.status == 64 && size.stderr.contains("--size"), "a usage error, nothing recorded: \(size)")
        let lr = try CLI.run(["-C", repo, "train", "--data", "v1", "--lr", "100", "--optimizer", "sgd", "--size", "8x8", "--name", "nan"])
        #expect(lr.status == 1 && lr.stderr.contains("learning rate"), "\(lr)")
        let failed = try CLI.run(["-C", repo, "runs", "show", "nan", "--json"]).jsonObject()
        #expect(failed["status"] as? String == "failed")
        let overfit = try CLI.run(["-C", repo, "train", "--data", "v1", "--overfit-batch", "--size", "8x8", "--epochs", "150", "--lr", "3e-3"])
        #expect(overfit.status == 0 && overfit.stdout.contains("passed"), "\(overfit)")
    }

    /// Ctrl-C stops after the current step: exit 130, the run kept as interrupted, with a checkpoint.
    @Test func interruptKeepsTheRunAndACheckpoint() throws {
        let dir = try TemporaryDirectory("cairn-e2e-train-int")
        defer { dir.remove() }
        let repo = try digitsRepository(dir)
        let (process, out, _) = try CLI.start(["-C", repo, "train", "--data", "v1", "--epochs", "100000", "--size", "8x8", "--name", "long"])
        // Wait for the first epoch line, then interrupt.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("epoch") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let record = try CLI.run(["-C", repo, "runs", "show", "long", "--json"]).jsonObject()
        #expect(record["status"] as? String == "interrupted")
        #expect(record["checkpoint"] as? String != nil)
        #expect(try CLI.run(["-C", repo, "eval", "long", "--data", "v1"]).status == 0)
    }
}

extension CommandResult {
    /// stdout parsed as a JSON array of objects.
    func jsonArray() throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: stdoutData) as? [[String: Any]] ?? []
    }
}
