import CairnCatalog
import CairnTestSupport
import Foundation
import Testing

/// Multi-label labels through the real binary: the labeling UI's `--multi` mode in tmux, and sets
/// made with `annotate`/`review` flowing through status, ls, show, snapshots, exports and training.
@Suite(.serialized) struct MultiLabelCLITests {
    private func repository(_ dir: TemporaryDirectory, count: Int) throws -> String {
        try CLI.makeRepository(at: dir.appending("repo"), images: count, classes: ["cat", "dog", "bird"])
    }

    /// Keys tick and untick classes, enter saves the set (none ticked: no class applies), undo
    /// takes a saved set back, and the catalog holds exactly the sets saved.
    @Test(.enabled(if: Tmux.available)) func multiModeTicksSavesAndUndoes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-multi-ui")
        defer { dir.remove() }
        let repo = try repository(dir, count: 10)
        let session = "cairn-multi-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --annotator ann --multi; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "done 0 / 10")
        #expect(first.contains("multi-label") && first.contains("1  [ ] cat") && first.contains("enter saves"), "\(first)")
        // Item 1: tick cat and dog, untick dog, tick it again, save.
        Tmux.run("send-keys -t \(session) 1 2")
        Tmux.waitFor(session, "2  [x] dog")
        Tmux.run("send-keys -t \(session) 2")
        let unticked = Tmux.waitFor(session, "2  [ ] dog")
        #expect(unticked.contains("1  [x] cat") && unticked.contains("done 0 /"), "\(unticked)")
        Tmux.run("send-keys -t \(session) 2 Enter")
        let saved = Tmux.waitFor(session, "done 1 / 10")
        #expect(saved.contains("1  [ ] cat"), "the next item starts with nothing ticked: \(saved)")
        // Item 2: nothing ticked, save: no class applies.
        Tmux.run("send-keys -t \(session) Enter")
        Tmux.waitFor(session, "done 2 / 10")
        // Item 3: bird alone. Item 4: cat, then undo takes it back and shows item 4 unlabeled again.
        Tmux.run("send-keys -t \(session) 3 Enter")
        Tmux.waitFor(session, "done 3 / 10")
        Tmux.run("send-keys -t \(session) 1 Enter")
        Tmux.waitFor(session, "done 4 / 10")
        Tmux.run("send-keys -t \(session) u")
        let undone = Tmux.waitFor(session, "done 3 /")
        #expect(undone.contains("1  [ ] cat") && undone.contains("your label: none"), "\(undone)")
        Tmux.run("send-keys -t \(session) Space q")
        let end = Tmux.waitFor(session, "EXITED")
        #expect(end.contains("labeled 3 items") && end.contains("EXITED 0"), "\(end)")
        // What the catalog holds: {cat, dog}, {}, bird — and the undone item is unlabeled.
        let items = try CLI.run(["-C", repo, "ls", "--json"]).json([[String: AnyDecodable]].self)
        let labels = items.compactMap { $0["label"] }.map { $0.string ?? "\($0.value)" }
        #expect(labels.count == 3, "\(labels)")
        #expect(labels.contains("bird") && labels.contains("[]") && labels.contains(#"["cat", "dog"]"#), "\(labels)")
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        #expect(status["classes"] as? [String: Int] == ["cat": 1, "dog": 1, "bird": 1], "\(status)")
        #expect(status["labeled"] as? Int == 3 && status["unlabeled"] as? Int == 7)
    }

    /// Sets made from scripts resolve, count, snapshot, export and re-import to the same id, and
    /// training leaves them out and says so.
    @Test func setsFlowThroughSnapshotsExportsAndTraining() throws {
        let dir = try TemporaryDirectory("cairn-e2e-multi")
        defer { dir.remove() }
        let repo = try repository(dir, count: 24)
        func cairn(_ args: String...) throws -> CommandResult {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status == 0, "\(args) → \(result)")
            return result
        }
        _ = try cairn("annotate", "in/cat/0000.png", "--class", "cat", "--class", "dog", "--annotator", "ada")
        _ = try cairn("annotate", "in/dog/0001.png", "--none", "--annotator", "ada")
        _ = try cairn("annotate", "in/dog/0003.png", "--class", "dog", "--class", "cat", "--annotator", "ada")
        _ = try cairn("annotate", "in/dog/0003.png", "--class", "cat", "--annotator", "bob")
        let show = try cairn("show", "in/dog/0003.png")
        #expect(show.stdout.contains("unresolved: cat vs cat+dog"), "\(show)")
        _ = try cairn("annotators", "add", "grace", "--role", "reviewer")
        _ = try cairn("review", "in/dog/0003.png", "--class", "cat", "--class", "dog", "--reviewer", "grace")
        // Every other item gets one class from a script, `a,b` on stdin being a set.
        var lines = ""
        for n in 4..<24 { lines += "in/\(n % 2 == 0 ? "cat" : "dog")/\(String(format: "%04d", n)).png \(n % 2 == 0 ? "cat" : "dog")\n" }
        lines += "in/cat/0002.png bird,cat\n"
        let stream = try CLI.run(["-C", repo, "annotate", "--stdin", "--annotator", "bot"], stdin: Data(lines.utf8))
        #expect(stream.status == 0 && stream.stdout.contains("ok in/cat/0002.png bird,cat"), "\(stream)")
        let status = try cairn("status", "--json").jsonObject()
        #expect(status["classes"] as? [String: Int] == ["cat": 13, "dog": 12, "bird": 1], "\(status)")
        #expect(status["labeled"] as? Int == 24 && status["conflicts"] as? Int == 0)
        let dogs = try cairn("ls", "--class", "dog", "--json").json([[String: AnyDecodable]].self)
        #expect(dogs.count == 12)
        let none = try cairn("show", "in/dog/0001.png", "--json").jsonObject()
        #expect((none["label"] as? [Any])?.isEmpty == true, "\(none)")
        // Snapshot, export, re-import: the same snapshot id, sets included.
        let snapshot = try cairn("snapshot", "-m", "multi", "--json").jsonObject()
        let id = try #require((snapshot["snapshot"] as? [String: Any])?["id"] as? String)
        _ = try cairn("tag", "v1")
        _ = try cairn("export", "v1", "--format", "jsonl", dir.appending("jsonl"))
        let copy = dir.appending("copy")
        #expect(try CLI.run(["init", copy]).status == 0)
        #expect(try CLI.run(["-C", copy, "import", "--jsonl", dir.appending("jsonl/items.jsonl")]).status == 0)
        let copied = try CLI.run(["-C", copy, "snapshot", "-m", "copy", "--json"]).jsonObject()
        #expect((copied["snapshot"] as? [String: Any])?["id"] as? String == id)
        _ = try cairn("export", "v1", "--format", "csv", dir.appending("csv"))
        let csv = try String(contentsOfFile: dir.appending("csv/labels.csv"), encoding: .utf8)
        #expect(csv.contains(#","cat,dog","#) && csv.contains(#","bird,cat","#), "\(csv)")
        // The CSV re-imports with its sets, and its status column carries "no class applies" too.
        let csvRepo = dir.appending("csvrepo")
        #expect(try CLI.run(["init", csvRepo]).status == 0)
        #expect(try CLI.run(["-C", csvRepo, "import", dir.appending("csv/images"), "--labels", dir.appending("csv/labels.csv")]).status == 0)
        let reimported = try CLI.run(["-C", csvRepo, "status", "--json"]).jsonObject()
        #expect(reimported["classes"] as? [String: Int] == ["cat": 13, "dog": 12, "bird": 1], "\(reimported)")
        #expect(reimported["labeled"] as? Int == 24 && reimported["unlabeled"] as? Int == 0, "\(reimported)")
        _ = try cairn("export", "v1", "--format", "coco", dir.appending("coco"))
        let annotations = try Split.allCases.reduce(0) { sum, split in
            let file = dir.appending("coco/annotations/instances_\(split.rawValue).json")
            let coco = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any]
            return sum + ((coco?["annotations"] as? [Any])?.count ?? 0)
        }
        // 20 one-class items, two {cat, dog} items and {bird, cat}: one annotation per class; {} has none.
        #expect(annotations == 20 + 2 * 2 + 2)
        // Training takes one class per image: the four multi-label items are left out and counted.
        let train = try CLI.run(["-C", repo, "train", "--data", "v1", "--epochs", "1", "--size", "8x8", "--threads", "1", "--json"])
        #expect(train.status == 0, "\(train)")
        let counts = try train.jsonObject()["counts"] as? [String: Any]
        #expect(counts?["multiLabel"] as? Int == 4, "\(train.stdout)")
        let run = try #require(try train.jsonObject()["id"] as? String)
        let eval = try CLI.run(["-C", repo, "eval", run, "--data", "v1", "--split", "all", "--json"])
        #expect(eval.status == 0, "\(eval)")
        #expect(try eval.jsonObject()["multiLabel"] as? Int == 4, "\(eval)")
    }
}
