import CairnTestSupport
import Foundation
import Testing

/// `classes remove` and `classes merge` through the real binary: refused while items carry the
/// class, relabeled by verdicts, out of later snapshots, kept in older ones.
@Suite(.serialized) struct ClassCLITests {
    @Test func removeAndMergeRelabelByVerdictAndKeepHistory() throws {
        let dir = try TemporaryDirectory("cairn-e2e-classes")
        defer { dir.remove() }
        let input = dir.appending("in")
        for (name, digit) in [("kitty", "1"), ("cat", "2"), ("dog", "3"), ("blurry", "4")] {
            try FileManager.default.createDirectory(atPath: "\(input)/\(name)", withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted().prefix(6) {
                try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(f)", toPath: "\(input)/\(name)/\(f)")
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: input, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        func classes() throws -> [String: Int] { try cairn("status", "--json").jsonObject()["classes"] as? [String: Int] ?? [:] }

        // Refused while items carry it, or without the reviewer role; nothing changes.
        var result = try cairn("classes", "remove", "kitty")
        #expect(result.status == 1 && result.stderr.contains("6 item(s) carry class kitty; give --relabel-to CLASS or --unlabel"), "\(result)")
        result = try cairn("classes", "merge", "kitty", "cat", "--reviewer", "nobody")
        #expect(result.status == 1 && result.stderr.contains("nobody is not an annotator"), "\(result)")
        result = try cairn("classes", "merge", "kitty", "lion", "--reviewer", "nobody")
        #expect(result.status == 1 && result.stderr.contains("lion"), "\(result)")
        #expect(try classes() == ["kitty": 6, "cat": 6, "dog": 6, "blurry": 6])

        #expect(try cairn("annotators", "add", "grace", "--role", "reviewer").status == 0)
        result = try cairn("classes", "merge", "kitty", "cat", "--reviewer", "grace", "--json")
        let merged = try result.jsonObject()
        #expect(result.status == 0 && merged["relabeled"] as? Int == 6, "\(result)")
        result = try cairn("classes", "remove", "blurry", "--unlabel", "--reviewer", "grace")
        #expect(result.status == 0, "\(result)")
        #expect(try classes() == ["cat": 12, "dog": 6])
        let list = try cairn("classes", "list", "--json").jsonArray().compactMap { $0["name"] as? String }
        #expect(list == ["cat", "dog"])
        // The history stays; a removed name cannot come back or be labeled.
        let kitty = try #require(try cairn("ls", "v1", "--class", "kitty", "--json").jsonArray().first?["path"] as? String)
        let show = try cairn("show", kitty, "--json").jsonObject()
        let first = (show["history"] as? [[String: Any]])?.first?["label"] as? String
        #expect(first == "kitty" && show["label"] as? String == "cat", "\(show)")
        let again = try cairn("classes", "add", "kitty")
        #expect(again.status != 0 && again.stderr.contains("class 'kitty' was removed"), "\(again)")
        let relabel = try cairn("annotate", kitty, "--class", "kitty")
        #expect(relabel.status == 1 && relabel.stderr.contains("class 'kitty' was removed"), "\(relabel)")

        // Later snapshots leave them out; v1 keeps them; diff says so; fsck is clean.
        #expect(try cairn("snapshot", "-m", "merged").status == 0)
        let diff = try cairn("diff", "v1", "HEAD")
        #expect(diff.stdout.contains("kitty -6") && diff.stdout.contains("the class list changed"), "\(diff)")
        #expect(try cairn("ls", "v1", "--class", "blurry", "--json").jsonArray().count == 6)
        #expect(try cairn("ls", "HEAD", "--unlabeled", "--json").jsonArray().isEmpty)
        #expect(try cairn("fsck").status == 0)
    }

    /// Items removed before a merge come back (`restore --items`) under the class they were merged
    /// into, so every later snapshot, checkout and training run sees the same classes in every split.
    @Test func removedItemsFollowAMergeWhenTheyComeBack() throws {
        let dir = try TemporaryDirectory("cairn-e2e-classes-restore")
        defer { dir.remove() }
        let input = dir.appending("in")
        for (name, digit) in [("kitty", "1"), ("cat", "2"), ("dog", "3")] {
            try FileManager.default.createDirectory(atPath: "\(input)/\(name)", withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted().prefix(20) {
                try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(f)", toPath: "\(input)/\(name)/\(f)")
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: input, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        let kitties = try cairn("ls", "--class", "kitty", "--json").jsonArray().compactMap { $0["path"] as? String }
        #expect(try CLI.run(["-C", repo, "rm"] + Array(kitties.prefix(8))).status == 0)
        #expect(try cairn("classes", "merge", "kitty", "cat").status == 0, "the creator merges without adding themselves")
        var result = try cairn("restore", "v1", "--items", "--json")
        let broughtBack = try result.jsonObject()["broughtBack"] as? Int
        #expect(result.status == 0 && broughtBack == 8, "\(result)")
        let classes = try cairn("status", "--json").jsonObject()["classes"] as? [String: Int] ?? [:]
        #expect(classes == ["cat": 40, "dog": 20], "\(classes)")
        #expect(try cairn("snapshot", "-m", "restored").status == 0)
        let head = try cairn("log", "-n1", "--json").jsonArray().first
        #expect(head.map { "\($0)".contains("kitty") } == false, "\(String(describing: head))")
        let out = dir.appending("out")
        result = try cairn("checkout", "HEAD", out)
        #expect(result.status == 0, "\(result)")
        #expect(try String(contentsOfFile: out + "/classes.txt", encoding: .utf8) == "cat\ndog\n")
        for split in try FileManager.default.contentsOfDirectory(atPath: out).filter({ !$0.contains(".") }) {
            let folders = try FileManager.default.contentsOfDirectory(atPath: out + "/" + split).sorted()
            #expect(folders == ["cat", "dog"], "ImageFolder gives every split the same class indices: \(split) \(folders)")
        }
    }
}
