import CairnTestSupport
import Foundation
import Testing

/// Box predictions from a program run by `cairn run`, and `cairn eval --boxes` against
/// pycocotools' COCOeval on the same snapshot export and the same detections: the 12 numbers and
/// AP per class equal to 1e-6.
@Suite(.serialized) struct BoxEvalCLITests {
    private static let script = Fixtures.packageRoot + "/Tests/Python/coco_eval.py"

    @Test func evalBoxesEqualsCOCOeval() throws {
        let dir = try TemporaryDirectory("cairn-e2e-box-eval")
        defer { dir.remove() }
        let source = dir.appending("src"), repo = dir.appending("repo"), export = dir.appending("export")
        let made = CLI.shell("python3 '\(Self.script)' make '\(source)'")
        try #require(made.status == 0, "\(made.output)")
        func cairn(_ args: String...) throws -> CommandResult {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status == 0, "\(args) → \(result)")
            return result
        }
        #expect(try CLI.run(["init", repo]).status == 0)
        _ = try cairn("import", source + "/imgs")
        _ = try cairn("boxes", "import", source + "/instances.json")
        _ = try cairn("snapshot", "-m", "boxes")
        _ = try cairn("export", "HEAD", "--format", "coco", export)
        _ = try cairn("run", "--data", "HEAD", "--name", "det", "--", "python3", Self.script, "detect", export)
        let run = try cairn("runs", "show", "det", "--json").jsonObject()
        let id = try #require(run["id"] as? String)
        let stored = try #require(run["boxPredictions"] as? [String: Any], "\(run)")
        #expect((stored["items"] as? Int ?? 0) > 40 && (stored["boxes"] as? Int ?? 0) > 100, "\(stored)")

        let ours = try cairn("eval", "--boxes", "det", "--data", "HEAD", "--split", "train", "--json").jsonObject()
        let evaluation = try #require(ours["evaluation"] as? [String: Any])
        let stats = try #require(evaluation["stats"] as? [Double])
        let scored = CLI.shell("python3 '\(Self.script)' score '\(export)' train '\(repo)/.cairn/runs/\(id)/predictions.jsonl'")
        try #require(scored.status == 0, "\(scored.output)")
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(scored.output.utf8)) as? [String: Any])
        let reference = try #require(theirs["stats"] as? [Double])
        #expect(stats.count == 12 && reference.count == 12)
        for (i, (a, b)) in zip(stats, reference).enumerated() {
            #expect(abs(a - b) <= 1e-6, "stat \(i): cairn \(a), pycocotools \(b)")
        }
        #expect(reference.filter { $0 > 0 }.count >= 10, "the set exercises every area range: \(reference)")
        let perClass = try #require(evaluation["perClass"] as? [[String: Any]])
        let theirClasses = try #require(theirs["per_class"] as? [String: Double])
        for entry in perClass {
            let name = try #require(entry["name"] as? String)
            #expect(abs((entry["ap"] as? Double ?? -9) - (theirClasses[name] ?? -7)) <= 1e-6, "\(name): \(entry) vs \(theirClasses)")
        }
        #expect(evaluation["detections"] as? Int == theirs["detections"] as? Int)

        // The human output prints COCOeval's lines; runs show keeps the result.
        let printed = try cairn("eval", "--boxes", "det", "--data", "HEAD", "--split", "train")
        #expect(printed.stdout.contains(String(format: " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = %.3f", reference[0])),
                "\(printed.stdout)")
        let shown = try cairn("runs", "show", "det")
        #expect(shown.stdout.contains("eval boxes   HEAD") && shown.stdout.contains("predicted on"), "\(shown.stdout)")
        // The run's report page carries the same numbers.
        let pages = try #require(try cairn("report", "det", "-o", dir.appending("report"), "--json").jsonObject()["pages"] as? [String])
        let html = try String(contentsOfFile: try #require(pages.first { $0.contains("run-") }), encoding: .utf8)
        #expect(html.contains("Detection on HEAD (train split, COCO)") && html.contains("data-figure=\"box0-AP\" data-value=\"\(stats[0])\""),
                "\(html.prefix(2000))")

        // A predictions file with a bad box stores nothing and names the line; the stored boxes stay.
        let bad = dir.appending("bad.jsonl")
        let blob = try #require((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(repo)/.cairn/runs/\(id)/predictions.jsonl")).prefix(while: { $0 != 10 })) as? [String: Any])?["blob_id"] as? String)
        try Data("{\"blob_id\": \"\(blob)\", \"boxes\": [{\"class\": \"car\", \"bbox\": [1, 2, 0, 4], \"score\": 0.5}]}\n".utf8)
            .write(to: URL(fileURLWithPath: bad))
        let refused = try CLI.run(["-C", repo, "predictions", "import", "det", bad])
        #expect(refused.status != 0 && refused.stderr.contains("line 1") && refused.stderr.contains("positive width"), "\(refused)")
        #expect(try cairn("runs", "show", "det", "--json").jsonObject()["boxPredictions"] as? [String: Any] != nil)
        // A run without box predictions says how to get them.
        _ = try cairn("run", "--data", "HEAD", "--name", "empty", "--", "true")
        let none = try CLI.run(["-C", repo, "eval", "--boxes", "empty", "--data", "HEAD"])
        #expect(none.status != 0 && none.stderr.contains("has no box predictions"), "\(none)")
    }
}
