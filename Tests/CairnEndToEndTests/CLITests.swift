import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// A temporary directory with `cairn init` run in `repo/`.
private struct Workspace {
    let dir: TemporaryDirectory
    var repo: String { dir.appending("repo") }

    init() throws {
        dir = try TemporaryDirectory("cairn-e2e")
        let result = try CLI.run(["init", repo])
        #expect(result.status == 0, "\(result)")
    }

    @discardableResult
    func cairn(_ arguments: String...) throws -> CommandResult { try CLI.run(arguments, in: repo) }
}

@Suite(.serialized) struct CLITests {
    @Test func theSampleDigitsImportAs1797ItemsIn10Classes() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        let imported = try w.cairn("import", "--labels-from-dirs", Fixtures.digits, "--json")
        #expect(imported.status == 0, "\(imported)")
        let report = try imported.jsonObject()
        #expect(report["added"] as? Int == 1797)
        #expect(report["labeled"] as? Int == 1797)
        let status = try w.cairn("status", "--json").jsonObject()
        #expect(status["items"] as? Int == 1797)
        #expect((status["classOrder"] as? [String])?.count == 10)
        #expect(status["unlabeled"] as? Int == 0)
        let text = try w.cairn("status").stdout
        #expect(text.contains("1797 items"))
        #expect(text.contains("in 10 classes"))
        let again = try w.cairn("import", "--labels-from-dirs", Fixtures.digits, "--json").jsonObject()
        #expect(again["unchanged"] as? Int == 1797)
        #expect(again["added"] as? Int == 0)
    }

    @Test func catBlobWritesTheExactBytes() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        try w.cairn("import", Fixtures.image("baseline.jpg"), Fixtures.image("rgba.png"))
        struct Listed: Decodable { var blobID: String }
        let items = try w.cairn("ls", "--json").json([Listed].self)
        #expect(items.count == 2)
        for item in items {
            let id = item.blobID
            let bytes = try w.cairn("cat-blob", id).stdoutData
            #expect(BlobID(hashing: bytes).hex == id)
            // The same through an id prefix.
            #expect(try w.cairn("cat-blob", String(id.prefix(10))).stdoutData == bytes)
        }
    }

    @Test func fsckNamesAFlippedByteAndExitsNonZero() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        try w.cairn("import", Fixtures.digits + "/3")
        #expect(try w.cairn("fsck").status == 0)
        let packs = try FileManager.default.contentsOfDirectory(atPath: w.repo + "/.cairn/packs")
        let pack = w.repo + "/.cairn/packs/" + packs.first { $0.hasSuffix(".pack") }!
        var data = try Data(contentsOf: URL(fileURLWithPath: pack))
        let victim = data[16..<48].map { String(format: "%02x", $0) }.joined()
        data[70] ^= 0x80
        try data.write(to: URL(fileURLWithPath: pack))
        let fsck = try w.cairn("fsck")
        #expect(fsck.status == 2, "\(fsck)")
        #expect(fsck.stdout.contains("corrupt object \(victim)"))
        let catBlob = try w.cairn("cat-blob", victim)
        #expect(catBlob.status == 1)
        #expect(catBlob.stderr.contains("object \(victim) is corrupt"))
    }

    @Test func commandsOutsideARepositorySaySo() throws {
        let dir = try TemporaryDirectory("cairn-norepo")
        defer { dir.remove() }
        for arguments in [["status"], ["import", "."], ["ls"], ["fsck"]] {
            let result = try CLI.run(arguments, in: dir.path)
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("cairn: error: not a cairn repository"), "\(result)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func initTwiceIsRefused() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        let again = try CLI.run(["init", w.repo])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already a cairn repository"))
    }

    @Test func rejectedFilesAreListedAndTheExitStatusIsTwo() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        let inputs = w.dir.appending("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        try SyntheticImages.png(seed: 1).write(to: URL(fileURLWithPath: inputs + "/ok.png"))
        try Data("%PDF-1.4".utf8).write(to: URL(fileURLWithPath: inputs + "/doc.pdf"))
        let result = try w.cairn("import", inputs)
        #expect(result.status == 2)
        #expect(result.stderr.contains("rejected \(inputs)/doc.pdf: not a PNG or JPEG image"))
        #expect(result.stdout.contains("imported 1 new image"))
    }

    @Test func aMissingPathIsAClearError() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        let result = try w.cairn("import", "/no/such/dir")
        #expect(result.status == 1)
        #expect(result.stderr.contains("/no/such/dir: No such file or directory"))
    }

    @Test func annotateAndShowKeepTheHistory() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        try w.cairn("import", "--labels-from-dirs", Fixtures.digits)
        #expect(try w.cairn("classes", "add", "seven").status == 0)
        let path = "digits/7/0017.png"
        let labeled = try CLI.run(["annotate", path, "--class", "seven", "--annotator", "ada"], in: w.repo)
        #expect(labeled.status == 0, "\(labeled)")
        let show = try w.cairn("show", path, "--json").jsonObject()
        let history = try #require(show["history"] as? [[String: Any]])
        #expect(history.map { $0["annotator"] as? String } == ["import", "ada"])
        #expect(show["conflict"] as? [String] == ["7", "seven"])
        let unknown = try w.cairn("annotate", path, "--class", "eight")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no class 'eight'"))
        let list = try w.cairn("classes", "list")
        // A class named by one free key gets that key: the digit 7 is labeled with 7.
        #expect(list.stdout.contains("[7]  7\n"), "\(list)")
        #expect(list.stdout.contains("[a]  seven"))
    }

    @Test func aRepositoryFromANewerCairnIsRefused() throws {
        let w = try Workspace()
        defer { w.dir.remove() }
        let sql = "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future');"
        let shell = CLI.shell("command -v sqlite3 >/dev/null && sqlite3 '\(w.repo)/.cairn/catalog.sqlite' \"\(sql)\"")
        try #require(shell.status == 0, "sqlite3 is needed for this test: \(shell.output)")
        let result = try w.cairn("status")
        #expect(result.status == 1)
        #expect(result.stderr.contains("written by a newer cairn"))
    }

    @Test func helpShowsExamples() throws {
        let help = try CLI.run(["import", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("cairn import --labels-from-dirs"))
    }

    /// `cairn --help` lists every command once, under its group, in the groups' order.
    @Test func helpGroupsTheCommands() throws {
        let help = try CLI.run(["--help"]).stdout
        let groups = ["DATA", "LABELS", "VERSIONS", "REMOTES", "MODELS", "QUALITY", "SERVING", "STORAGE"]
        let starts = groups.compactMap { help.range(of: "\($0) SUBCOMMANDS:")?.lowerBound }
        #expect(starts.count == groups.count && starts == starts.sorted(), "\(help)")
        let listed = help.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") && !$0.hasPrefix("  -") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0 != "See" }
        #expect(listed.count == 44 && Set(listed).count == 44, "\(listed)")
        #expect(help.range(of: "LABELS SUBCOMMANDS:\n  classes")?.lowerBound != nil)
        #expect(help.range(of: "REMOTES SUBCOMMANDS:\n  remote")?.lowerBound != nil)
    }
}
