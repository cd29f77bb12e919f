import CairnTestSupport
import Foundation
import Testing

/// A team repository: two "machines" (two working directories, two stores) on one PostgreSQL
/// catalog, through the `cairn` binary.
struct TeamCatalogCLITests {
    @Test func twoMachinesShareOneCatalogAndAgreeWithSQLite() throws {
        let (url, drop) = try PostgresTestServer.database()
        defer { drop() }
        let dir = try TemporaryDirectory("cairn-team")
        defer { dir.remove() }
        let images = dir.appending("in")
        try SyntheticImages.writeImageFolder(at: images, count: 24, classes: ["cat", "dog"])
        let (a, b, solo) = (dir.appending("a"), dir.appending("b"), dir.appending("solo"))

        let made = try CLI.run(["init", "--catalog", url, a], environment: ["USER": "ada"])
        #expect(made.status == 0, "\(made)")
        #expect(made.stdout.contains("on the catalog at postgresql://"))
        #expect(try String(contentsOfFile: a + "/.cairn/config.toml", encoding: .utf8).contains("backend = \"postgresql\""))
        #expect(try CLI.run(["-C", a, "import", "--labels-from-dirs", images]).status == 0)

        // The second machine joins: it sees the first's items at once, and gets no admin role.
        let joined = try CLI.run(["init", "--catalog", url, b], environment: ["USER": "bob"])
        #expect(joined.status == 0, "\(joined)")
        let people = try CLI.run(["-C", b, "annotators", "--json"]).json([[String: AnyDecodable]].self)
        #expect(people.first { $0["name"]?.string == "ada" }?["role"]?.string == "admin")
        #expect(!people.contains { $0["name"]?.string == "bob" && $0["role"]?.string == "admin" })
        #expect(try CLI.run(["-C", b, "status", "--json"]).jsonObject()["items"] as? Int == 24)

        // A label given on one machine is on the other without a push.
        let item = "in/cat/0000.png"
        let given = try CLI.run(["-C", b, "annotate", item, "--class", "dog", "--annotator", "bob"])
        #expect(given.status == 0, "\(given)")
        let shown = try CLI.run(["-C", a, "show", item, "--json"]).jsonObject()
        #expect("\(shown)".contains("bob"), "\(shown)")

        // The same history on a SQLite repository gives the same snapshot id.
        #expect(try CLI.run(["init", solo], environment: ["USER": "ada"]).status == 0)
        #expect(try CLI.run(["-C", solo, "import", "--labels-from-dirs", images]).status == 0)
        #expect(try CLI.run(["-C", solo, "annotate", item, "--class", "dog", "--annotator", "bob"]).status == 0)
        func snapshot(_ repo: String) throws -> String? {
            let result = try CLI.run(["-C", repo, "snapshot", "-m", "same", "--json"])
            return (try result.jsonObject()["snapshot"] as? [String: Any])?["id"] as? String
        }
        let team = try snapshot(a)
        #expect(team != nil)
        #expect(team == (try snapshot(solo)))
        // The other machine sees the snapshot and its tag at once; its store lacks the images
        // until a pull, which fsck says.
        #expect(try CLI.run(["-C", b, "tag", "v1"]).status == 0)
        #expect(try CLI.run(["-C", a, "log", "-n", "1", "--json"]).json([[String: AnyDecodable]].self).first?["id"]?.string == team)
        #expect(try CLI.run(["-C", a, "tags"]).stdout.contains("v1"))
    }

    /// Two machines import the same images at the same moment: one item each, labeled once by import.
    @Test func twoMachinesImportingTheSameImagesAtOnceMakeOneItemEach() throws {
        let (url, drop) = try PostgresTestServer.database()
        defer { drop() }
        let dir = try TemporaryDirectory("cairn-team-import")
        defer { dir.remove() }
        let images = dir.appending("in")
        try SyntheticImages.writeImageFolder(at: images, count: 60, classes: ["cat", "dog"])
        let machines = [dir.appending("a"), dir.appending("b")]
        for machine in machines { #expect(try CLI.run(["init", "--catalog", url, machine]).status == 0) }
        let imports = try machines.map { try CLI.start(["-C", $0, "import", "--labels-from-dirs", images]) }
        for (process, _, err) in imports {
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(errors)")
        }
        let status = try CLI.run(["-C", machines[1], "status", "--json"]).jsonObject()
        #expect(status["items"] as? Int == 60)
        #expect(status["annotations"] as? Int == 60, "each image labeled once by import: \(status)")
        for machine in machines {
            let fsck = try CLI.run(["-C", machine, "fsck"])
            #expect(fsck.status == 0, "each machine stored its own copy: \(fsck)")
        }

        // swift-nio (under the catalog) ignores SIGPIPE: output to a reader that has gone must end the
        // command quietly, with a SIGPIPE's status, not crash it.
        let piped = CLI.shell("{ '\(CLI.binary)' -C '\(machines[0])' ls; echo \"status $?\" 1>&2; } | (exit 0)")
        #expect(piped.output.contains("status 141"), "\(piped.output)")
        #expect(!piped.output.contains("rash") && !piped.output.contains("Fatal"), "\(piped.output)")
    }

    @Test func aBadCatalogURLIsRefusedBeforeAnythingIsMade() throws {
        let dir = try TemporaryDirectory("cairn-team-bad")
        defer { dir.remove() }
        let withPassword = try CLI.run(["init", "--catalog", "postgresql://ada:hunter2@127.0.0.1:1/x", dir.appending("r")])
        #expect(withPassword.status != 0)
        #expect(withPassword.stderr.contains("PGPASSWORD"))
        #expect(!withPassword.stderr.contains("hunter2"))
        #expect(!FileManager.default.fileExists(atPath: dir.appending("r/.cairn")))
        let unreachable = try CLI.run(["init", "--catalog", "postgresql://ada@127.0.0.1:\(S3TestServer.freePort())/x?sslmode=disable",
                                       dir.appending("s")])
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("cannot reach the catalog at postgresql://ada@127.0.0.1"), "\(unreachable)")
        #expect(!FileManager.default.fileExists(atPath: dir.appending("s/.cairn")), "a failed init leaves nothing to clean up")
    }
}
