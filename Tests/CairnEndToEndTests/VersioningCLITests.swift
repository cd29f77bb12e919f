import CairnStore
import CairnTestSupport
import Foundation
import Testing

@Suite(.serialized) struct VersioningCLITests {
    /// Import, snapshot, tag, relabel, diff, checkout, export and gc on sample-data/digits, through the real binary.
    @Test func digitsSnapshotTagRelabelDiffCheckoutExportAndGC() throws {
        let dir = try TemporaryDirectory("cairn-e2e-v")
        defer { dir.remove() }
        let repo = dir.appending("repo")
        func cairn(_ args: String...) throws -> CommandResult {
            let result = try CLI.run(["-C", repo] + args, environment: ["CAIRN_AUTHOR": "tester"])
            return result
        }
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try cairn("import", "--labels-from-dirs", Fixtures.digits).status == 0)
        let first = try cairn("snapshot", "-m", "v1", "--json")
        #expect(first.status == 0, "\(first)")
        #expect(try cairn("tag", "v1").status == 0)
        // Ten reviewers' corrections.
        #expect(try cairn("annotators", "add", "grace", "--role", "reviewer").status == 0)
        let existing = try cairn("ls", "--class", "3", "--json").json([[String: AnyDecodable]].self).compactMap { $0["path"]?.string }
        let targets = Array(existing.prefix(10))
        #expect(targets.count == 10)
        let review = try CLI.run(["-C", repo, "review"] + targets + ["--class", "8", "--reviewer", "grace"])
        #expect(review.status == 0, "\(review)")
        #expect(try cairn("snapshot", "-m", "v2").status == 0)
        #expect(try cairn("tag", "v2").status == 0)
        let diff = try cairn("diff", "v1", "v2", "--json").jsonObject()
        let changed = try #require(diff["labelsChanged"] as? [[String: Any]])
        #expect(Set(changed.compactMap { $0["path"] as? String }) == Set(targets))
        #expect((diff["added"] as? [Any])?.isEmpty == true)
        let stat = try cairn("diff", "v1", "v2", "--stat")
        #expect(stat.stdout.contains("10 labels changed"))
        // Checkout v1: 1,797 files whose SHA-256 equals their names.
        let out = dir.appending("out")
        #expect(try cairn("checkout", "v1", out).status == 0)
        var count = 0
        let walker = FileManager.default.enumerator(atPath: out)!
        while let file = walker.nextObject() as? String {
            guard file.hasSuffix(".png") else { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
            #expect(BlobID(hashing: data).hex + ".png" == (file as NSString).lastPathComponent)
            count += 1
        }
        #expect(count == 1797)
        #expect(try cairn("checkout", "v1", out).status == 1)  // not empty
        // JSONL round trip into a fresh repository gives v1's id.
        let v1 = try cairn("log", "v1", "-n", "1", "--json").json([[String: AnyDecodable]].self)
        let v1ID = try #require(v1.first?["id"]?.string)
        #expect(try cairn("export", "v1", "--format", "jsonl", dir.appending("jsonl")).status == 0)
        let copy = dir.appending("copy")
        #expect(try CLI.run(["init", copy]).status == 0)
        #expect(try CLI.run(["-C", copy, "import", "--jsonl", dir.appending("jsonl/items.jsonl")]).status == 0)
        let copied = try CLI.run(["-C", copy, "snapshot", "-m", "copy", "--json"]).jsonObject()
        #expect((copied["snapshot"] as? [String: Any])?["id"] as? String == v1ID)
        // A crafted export: a path or file that is absolute, climbs out, holds a NUL or an escape is refused
        // by line, and nothing of the file is imported.
        let exported = try String(contentsOfFile: dir.appending("jsonl/items.jsonl"), encoding: .utf8).split(separator: "\n").map(String.init)
        for (i, (field, bad)) in [("path", "/etc/passwd"), ("path", "../../x.png"), ("file", "images/../../x.png"),
                                  ("path", "a\\u0000b.png"), ("file", "images/x\\u0000.png"), ("path", "a\\u001b[31mred.png"), ("path", "a//b.png")].enumerated() {
            var line = try JSONSerialization.jsonObject(with: Data(exported[2].utf8)) as? [String: Any] ?? [:]
            line[field] = "PLACEHOLDER"
            let text = String(decoding: try JSONSerialization.data(withJSONObject: line), as: UTF8.self)
                .replacingOccurrences(of: "\"PLACEHOLDER\"", with: "\"" + bad.replacingOccurrences(of: "/", with: "\\/") + "\"")
            let crafted = dir.appending("jsonl/crafted-\(i).jsonl")
            try (exported.prefix(2) + [text] + exported.dropFirst(3)).joined(separator: "\n").write(toFile: crafted, atomically: true, encoding: .utf8)
            let fresh = dir.appending("fresh-\(i)")
            #expect(try CLI.run(["init", fresh]).status == 0)
            let result = try CLI.run(["-C", fresh, "import", "--jsonl", crafted])
            #expect(result.status != 0 && result.stderr.contains("line 3: the \(field)") && result.stderr.utf8.allSatisfy { $0 >= 0x20 || $0 == 0x0A },
                    "case \(i): \(result)")
            #expect(try CLI.run(["-C", fresh, "ls", "--json"]).jsonArray().isEmpty, "case \(i): nothing imported")
        }
        // CSV round trip: same images, labels and splits.
        #expect(try cairn("export", "v1", "--format", "csv", dir.appending("csv")).status == 0)
        let csvRepo = dir.appending("csvrepo")
        #expect(try CLI.run(["init", csvRepo]).status == 0)
        #expect(try CLI.run(["-C", csvRepo, "import", dir.appending("csv/images"), "--labels", dir.appending("csv/labels.csv")]).status == 0)
        #expect(try CLI.run(["-C", csvRepo, "snapshot", "-m", "csv"]).status == 0)
        // Its CSV export lists the same images (by blob id), labels and splits as v1's.
        #expect(try CLI.run(["-C", csvRepo, "export", "HEAD", "--format", "csv", dir.appending("csv2")]).status == 0)
        // (All but the original_path column, which names where each copy was imported from.)
        func withoutOriginalPaths(_ file: String) throws -> [String] {
            try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map {
                var fields = $0.split(separator: ",", omittingEmptySubsequences: false)
                fields.remove(at: 4)
                return fields.joined(separator: ",")
            }
        }
        let original = try withoutOriginalPaths(dir.appending("csv/labels.csv"))
        #expect(try original == withoutOriginalPaths(dir.appending("csv2/labels.csv")))
        #expect(original.count == 1798)
        #expect(try String(contentsOfFile: dir.appending("csv/labels.csv"), encoding: .utf8).contains(",digits/3/0003.png,labeled\n"))
        // gc after deleting v2 keeps everything v1 needs.
        #expect(try cairn("tag", "-d", "v2").status == 0)
        let gc = try cairn("gc", "--grace", "0", "--json")
        #expect(gc.status == 0, "\(gc)")
        #expect(try cairn("fsck").status == 0)
        let again = dir.appending("again")
        #expect(try cairn("checkout", "v1", again, "--layout", "flat").status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: again).count == 1798)
    }

    @Test func gcWhileAnotherProcessImportsLosesNothing() throws {
        let dir = try TemporaryDirectory("cairn-e2e-gc")
        defer { dir.remove() }
        let repo = dir.appending("repo")
        #expect(try CLI.run(["init", repo]).status == 0)
        let inputs = dir.appending("in")
        try SyntheticImages.writeImageFolder(at: inputs, count: 3000, classes: ["a", "b", "c"])
        // Start the import, and run gc with no grace period several times while it runs.
        let importer = Process()
        importer.executableURL = URL(fileURLWithPath: CLI.binary)
        importer.arguments = ["-C", repo, "import", "--labels-from-dirs", "--jobs", "1", inputs]
        importer.standardOutput = FileHandle.nullDevice
        importer.standardError = FileHandle.nullDevice
        try importer.run()
        var gcRuns = 0
        while importer.isRunning && gcRuns < 50 {
            let gc = try CLI.run(["-C", repo, "gc", "--grace", "0"])
            #expect(gc.status == 0, "\(gc)")
            gcRuns += 1
        }
        importer.waitUntilExit()
        #expect(importer.terminationStatus == 0)
        #expect(gcRuns > 0)
        #expect(try CLI.run(["-C", repo, "gc", "--grace", "0"]).status == 0)
        let fsck = try CLI.run(["-C", repo, "fsck", "--json"])
        #expect(fsck.status == 0, "\(fsck)")
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        #expect(status["items"] as? Int == 3000)
    }

    /// `ls REF` lists a snapshot as it recorded it, through the same filters as the working state;
    /// `--path` takes a shell pattern.
    @Test func lsListsPastSnapshotsAndFiltersByPath() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ls")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
        func ls(_ args: String...) throws -> [[String: Any]] {
            let result = try CLI.run(["-C", repo, "ls"] + args + ["--json"])
            #expect(result.status == 0, "\(args): \(result)")
            return try result.jsonArray()
        }
        let threes = try ls("--path", "digits/3/*")
        #expect(threes.count == 183 && threes.allSatisfy { ($0["path"] as? String ?? "").hasPrefix("digits/3/") })
        let (question, range) = (try ls("--path", "digits/3/00?3.png"), try ls("--path", "digits/3/00[0-9]3.png"))
        #expect(!question.isEmpty && question.count == range.count)
        // A reviewer moves ten 3s to 8; v1 still lists them as 3s, the working state as 8s.
        #expect(try CLI.run(["-C", repo, "annotators", "add", "rev", "--role", "reviewer"]).status == 0)
        let moved = threes.prefix(10).compactMap { $0["path"] as? String }
        #expect(try CLI.run(["-C", repo, "review"] + moved + ["--class", "8", "--reviewer", "rev"]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "v2"]).status == 0)
        #expect(try ls("v1", "--class", "3").count == 183)
        let (working, head) = (try ls("--class", "3"), try ls("HEAD", "--class", "3"))
        #expect(working.count == 173 && head.count == 173)
        let old = try ls("v1", "--path", moved[0])
        #expect(old.count == 1 && old[0]["label"] as? String == "3" && old[0]["bytes"] as? Int ?? 0 > 0, "\(old)")
        let (pastTest, nowTest) = (try ls("HEAD~1", "--split", "test", "--class", "3"), try ls("--split", "test", "--path", "digits/3/*"))
        #expect(!pastTest.isEmpty && pastTest.count == nowTest.count)
        // What cannot be listed says why.
        let noClass = try CLI.run(["-C", repo, "ls", "v1", "--class", "cat"])
        #expect(noClass.status != 0 && noClass.stderr.contains("has no class cat"), "\(noClass)")
        let noRef = try CLI.run(["-C", repo, "ls", "v9"])
        #expect(noRef.status != 0 && noRef.stderr.contains("no snapshot matches 'v9'"), "\(noRef)")
        let undecodable = try CLI.run(["-C", repo, "ls", "v1", "--undecodable"])
        #expect(undecodable.status != 0 && undecodable.stderr.contains("--undecodable lists the working state"), "\(undecodable)")
    }

    @Test func badRefsAndTagNamesGetClearErrors() throws {
        let dir = try TemporaryDirectory("cairn-e2e-refs")
        defer { dir.remove() }
        let repo = dir.appending("repo")
        #expect(try CLI.run(["init", repo]).status == 0)
        let none = try CLI.run(["-C", repo, "diff", "HEAD", "HEAD"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("no snapshots yet"))
        #expect(try CLI.run(["-C", repo, "import", Fixtures.digits + "/1"]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "x"]).status == 0)
        for bad in ["a/b", "../x", "with space"] {
            let result = try CLI.run(["-C", repo, "tag", bad])
            #expect(result.status == 1)
            #expect(result.stderr.contains("invalid tag name"), "\(result)")
        }
        let unknown = try CLI.run(["-C", repo, "checkout", "nope", dir.appending("o")])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no snapshot matches 'nope'"))
        let file = dir.appending("file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let ontoFile = try CLI.run(["-C", repo, "checkout", "HEAD", file])
        #expect(ontoFile.status == 1)
        #expect(ontoFile.stderr.contains("is not a directory"))
    }

    /// The COCO export as detection tools read it: pycocotools loads every split's file, finds each
    /// image under images/ at its recorded size, and COCOeval scores the labels as whole-image boxes.
    @Test func cocoExportLoadsInPycocotoolsAndEvaluates() throws {
        let dir = try TemporaryDirectory("cairn-e2e-coco")
        defer { dir.remove() }
        let repo = dir.appending("repo")
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try CLI.run(["-C", repo, "import", "--labels-from-dirs", Fixtures.digits]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "digits"]).status == 0)
        #expect(try CLI.run(["-C", repo, "export", "HEAD", "--format", "coco", dir.appending("coco")]).status == 0)
        let check = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/Python/check_coco.py' '\(dir.appending("coco"))'")
        #expect(check.status == 0, "\(check.output)")
        let splits = check.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(splits.map { $0["split"] as? String } == ["train", "val", "test"], "\(check.output)")
        #expect(splits.reduce(0) { $0 + ($1["images"] as? Int ?? 0) } == 1797)
        #expect(splits.allSatisfy { $0["mAP"] as? Double == 1.0 }, "\(check.output)")
    }
}

/// Decodes any JSON value, for tests that read a few fields of a larger document.
struct AnyDecodable: Decodable {
    let value: Any
    var string: String? { value as? String }
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { value = s }
        else if let i = try? c.decode(Int.self) { value = i }
        else if let d = try? c.decode(Double.self) { value = d }
        else if let b = try? c.decode(Bool.self) { value = b }
        else if let a = try? c.decode([AnyDecodable].self) { value = a.map(\.value) }
        else if let o = try? c.decode([String: AnyDecodable].self) { value = o.mapValues(\.value) }
        else { value = NSNull() }
    }

}
