import CairnTestSupport
import Foundation
import Testing

/// Split control through the real binary: `split set`, `import --split`, `split regroup` and the
/// `[splits] group` setting later imports follow; every move versioned and shown by `diff`.
@Suite(.serialized) struct SplitCLITests {
    /// `aug/phNN_V.png`: three different digit images (V = a, b, c) for each of 20 "photos" NN.
    private func augmentedTree(_ dir: TemporaryDirectory) throws -> String {
        let aug = dir.appending("tree/aug")
        try FileManager.default.createDirectory(atPath: aug, withIntermediateDirectories: true)
        for (v, digit) in ["a": "1", "b": "4", "c": "7"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted()
            for n in 10..<30 { try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(files[n])", toPath: "\(aug)/ph\(n)_\(v).png") }
        }
        return dir.appending("tree")
    }

    private func splits(_ repo: String, _ args: String...) throws -> [String: String] {
        let rows = try CLI.run(["-C", repo, "ls", "--json"] + args).jsonArray()
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["path"] as? String ?? "", $0["split"] as? String ?? "") })
    }

    @Test func splitSetImportSplitAndRegroupAreRecordedAndFollowed() throws {
        let dir = try TemporaryDirectory("cairn-e2e-split")
        defer { dir.remove() }
        let tree = try augmentedTree(dir)
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: tree, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }

        // By hand: one item to test, recorded, versioned, shown by diff.
        let before = try splits(repo)
        let item = "tree/aug/ph10_a.png"
        let target = before[item] == "test" ? "val" : "test"
        var result = try cairn("split", "set", item, "--split", target, "--json")
        #expect(result.status == 0, "\(result)")
        #expect((try result.jsonObject()["moved"] as? [String: Int])?[target] == 1)
        #expect(try splits(repo)[item] == target)
        #expect(try cairn("snapshot", "-m", "moved").status == 0)
        let diff = try cairn("diff", "v1", "HEAD")
        #expect(diff.stdout.contains("1 splits changed") && diff.stdout.contains(item), "\(diff)")
        #expect(try splits(repo, "v1")[item] == before[item], "the old snapshot keeps the old split")

        // An existing test set comes in as test.
        let held = dir.appending("held-out")
        try FileManager.default.createDirectory(atPath: held, withIntermediateDirectories: true)
        let nines = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/9").sorted().prefix(12)
        for f in nines { try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/9/\(f)", toPath: "\(held)/\(f)") }
        let asTest = try cairn("import", "--split", "test", held)
        #expect(asTest.status == 0 && !asTest.stdout.contains("split by the [splits] ratios"), "\(asTest)")
        #expect(try splits(repo, "--path", "held-out/*").values.allSatisfy { $0 == "test" })
        // Without --split, where the ratios put the new items is said, with the way to bring in a test set.
        let more = dir.appending("more")
        try FileManager.default.createDirectory(atPath: more, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/8").sorted().prefix(20) {
            try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/8/\(f)", toPath: "\(more)/\(f)")
        }
        let drawn = try cairn("import", more, "--json")
        let perSplit = try drawn.jsonObject()["addedPerSplit"] as? [String: Int] ?? [:]
        #expect(perSplit.values.reduce(0, +) == 20, "\(drawn)")
        let sevens = dir.appending("sevens")
        try FileManager.default.createDirectory(atPath: sevens, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/7").sorted().prefix(5) {
            try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/7/\(f)", toPath: "\(sevens)/\(f)")
        }
        let text = try cairn("import", sevens)
        #expect(text.stdout.contains("new items split by the [splits] ratios (80/10/10)") && text.stdout.contains("--split test"), "\(text)")

        // Group-aware: the three copies of each photo share one split, and a later import follows.
        result = try cairn("split", "regroup", "--by", "^tree/aug/(ph[0-9]+)_", "--json")
        #expect(result.status == 0, "\(result)")
        let report = try result.jsonObject()
        #expect(report["matched"] as? Int == 60 && report["groups"] as? Int == 20, "\(report)")
        var grouped: [String: Set<String>] = [:]
        for (path, split) in try splits(repo, "--path", "tree/aug/*") { grouped[String(path.split(separator: "_")[0]), default: []].insert(split) }
        #expect(grouped.count == 20 && grouped.values.allSatisfy { $0.count == 1 }, "\(grouped)")
        let config = try String(contentsOfFile: repo + "/.cairn/config.toml", encoding: .utf8)
        #expect(config.contains("group = \"^tree/aug/(ph[0-9]+)_\""), "\(config)")
        let later = dir.appending("later/tree/aug")
        try FileManager.default.createDirectory(atPath: later, withIntermediateDirectories: true)
        let twos = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/2").sorted()
        for n in 10..<30 { try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/2/\(twos[n])", toPath: "\(later)/ph\(n)_d.png") }
        #expect(try cairn("import", dir.appending("later/tree")).status == 0)
        let all = try splits(repo, "--path", "tree/aug/*")
        #expect(all.count == 80)
        for n in 10..<30 { #expect(all["tree/aug/ph\(n)_d.png"] == all["tree/aug/ph\(n)_b.png"], "ph\(n)") }
        #expect(try cairn("snapshot", "-m", "regrouped").status == 0)
        #expect(try cairn("gc", "--grace", "0").status == 0)
        #expect(try cairn("fsck").status == 0)
    }

    @Test func badSplitRequestsChangeNothing() throws {
        let dir = try TemporaryDirectory("cairn-e2e-split-bad")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: try augmentedTree(dir), tag: "v1")
        let before = try splits(repo)
        func fails(_ args: [String], status: Int32, saying text: String) throws {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status == status && result.stderr.contains(text), "\(args): \(result)")
        }
        try fails(["split", "regroup", "--by", "("], status: 1, saying: "it is not a regular expression")
        try fails(["split", "regroup", "--by", "tree/aug/ph"], status: 1, saying: "it has no capture group")
        try fails(["split", "regroup", "--by", "^photos/(.+)_"], status: 1, saying: "it matches no item's path")
        try fails(["split", "set", "tree/aug/ph10_a.png", "--split", "holdout"], status: 64, saying: "holdout")
        try fails(["split", "set", "tree/aug/ph10_a.png", "tree/aug/nothing.png", "--split", "test"], status: 1, saying: "tree/aug/nothing.png")
        #expect(try splits(repo) == before)
        #expect(!(try String(contentsOfFile: repo + "/.cairn/config.toml", encoding: .utf8)).contains("group ="))
        // A malformed [splits] group in the config is named when any command reads it.
        let config = repo + "/.cairn/config.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "test = 0.1", with: "test = 0.1\ngroup = \"aug/ph\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try fails(["status"], status: 1, saying: "it has no capture group")
    }
}
