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
        // ... and in everyone's progress on the first machine, live.
        let progress = try CLI.run(["-C", a, "status", "--team", "--json"]).jsonObject()
        let bob = (progress["people"] as? [[String: Any]])?.first { $0["name"] as? String == "bob" }
        #expect(bob?["annotations"] as? Int == 1 && bob?["recentAnnotations"] as? Int == 1, "\(progress)")
        #expect(progress["items"] as? Int == 24)
        let text = try CLI.run(["-C", a, "status", "--team"])
        let bobLine = text.stdout.split(separator: "\n").first { $0.hasPrefix("bob ") }
        #expect(text.status == 0 && bobLine != nil && !(bobLine?.contains("never") ?? true), "\(text)")
        // --watch redraws until stopped: read until a second frame has come, however long each takes.
        let (watcher, output, _) = try CLI.start(["-C", a, "status", "--team", "--watch", "0.2"])
        // Only a guard against a hang (a broken --watch that prints nothing): never the verdict's clock.
        DispatchQueue.global().asyncAfter(deadline: .now() + 300) { if watcher.isRunning { watcher.terminate() } }
        var seen = Data()
        while watcher.isRunning, String(decoding: seen, as: UTF8.self).components(separatedBy: "people active in the last 1h").count < 3 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        watcher.terminate()
        watcher.waitUntilExit()
        #expect(String(decoding: seen, as: UTF8.self).components(separatedBy: "people active in the last 1h").count >= 3,
                "it redraws: \(String(decoding: seen, as: UTF8.self))")

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

    /// The team's images live in a bucket (`remote add … --image-store`): what one machine imports
    /// and snapshots, another checks out without a pull; a machine whose store is down imports nothing.
    @Test func theSecondMachineReadsTheFirstsImagesFromTheImageStore() throws {
        let (url, drop) = try PostgresTestServer.database()
        defer { drop() }
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("team")
        let dir = try TemporaryDirectory("cairn-team-images")
        defer { dir.remove() }
        let images = dir.appending("in")
        _ = try SyntheticImages.writeImageFolder(at: images, count: 24, classes: ["cat", "dog"])
        let (a, b, c) = (dir.appending("a"), dir.appending("b"), dir.appending("c"))
        func cairn(_ repo: String, _ args: [String]) throws -> CommandResult {
            try CLI.run(["-C", repo] + args, environment: S3TestServer.environment.merging(["USER": "ada"]) { $1 })
        }
        let store = ["s3://team/images", "--endpoint", server.endpoint, "--path-style", "--image-store"]

        // The first machine imports before the store is named: naming it uploads what is there.
        #expect(try CLI.run(["init", "--catalog", url, a], environment: ["USER": "ada"]).status == 0)
        #expect(try cairn(a, ["import", "--labels-from-dirs", images]).status == 0)
        let added = try cairn(a, ["remote", "add", "team"] + store)
        #expect(added.status == 0 && added.stdout.contains("images are now kept in team"), "\(added)")
        #expect(try String(contentsOfFile: a + "/.cairn/config.toml", encoding: .utf8).contains("[store]\nshared = \"team\""))
        #expect(try cairn(a, ["annotate", "in/cat/0000.png", "--class", "dog", "--annotator", "ada"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "first"]).status == 0)
        #expect(try cairn(a, ["tag", "v1"]).status == 0)
        #expect(try cairn(a, ["remote", "remove", "team"]).stderr.contains("holds this repository's images"))

        // The second machine holds nothing: fsck says so without calling it damage; a checkout fetches all.
        #expect(try CLI.run(["init", "--catalog", url, b], environment: ["USER": "bob"]).status == 0)
        #expect(try cairn(b, ["remote", "add", "team"] + store).status == 0)
        let cold = try cairn(b, ["fsck"])
        #expect(cold.status == 0 && cold.stdout.contains("not cached here"), "\(cold)")
        let out = dir.appending("out")
        let checkout = try cairn(b, ["checkout", "v1", out])
        #expect(checkout.status == 0, "\(checkout)")
        func contents(_ root: String) -> [Data] {
            (FileManager.default.subpaths(atPath: root) ?? []).filter { $0.hasSuffix(".png") }
                .compactMap { FileManager.default.contents(atPath: root + "/" + $0) }.sorted { $0.lexicographicallyPrecedes($1) }
        }
        #expect(contents(out).count == 24 && contents(out) == contents(images))
        let warm = try cairn(b, ["fsck"])
        #expect(warm.status == 0 && !warm.stdout.contains("not cached"), "\(warm)")
        // Training on a machine that holds nothing fetches what it reads (in one batch) and leaves nothing out.
        let d = dir.appending("d")
        #expect(try CLI.run(["init", "--catalog", url, d], environment: ["USER": "dee"]).status == 0)
        #expect(try cairn(d, ["remote", "add", "team"] + store).status == 0)
        let trained = try cairn(d, ["train", "--data", "v1", "--epochs", "1", "--size", "8x8", "--name", "m"])
        #expect(trained.status == 0 && !trained.stdout.contains("not fetched"), "\(trained)")

        // A purge erases the bucket's copy too: no machine can fetch the bytes again.
        let victim = "in/dog/0001.png"
        let bytes = try #require(FileManager.default.contents(atPath: dir.appending(victim)))
        let purged = try cairn(a, ["purge", victim, "-m", "removal request", "--yes", "--author", "ada"])
        #expect(purged.status == 0, "\(purged)")
        let copy = dir.appending("bucket")
        #expect(server.aws("sync s3://team/images \(copy)").status == 0)
        let files = FileManager.default.subpaths(atPath: copy) ?? []
        #expect(files.contains { $0.hasPrefix("packs/") })
        #expect(!files.contains { FileManager.default.contents(atPath: copy + "/" + $0)?.range(of: bytes) != nil }, "\(files)")

        // A machine whose image store does not answer imports nothing: its images would be unreadable elsewhere.
        #expect(try CLI.run(["init", "--catalog", url, c], environment: ["USER": "cy"]).status == 0)
        let closed = "http://127.0.0.1:\(S3TestServer.freePort())"
        #expect(try cairn(c, ["remote", "add", "team", "s3://team/images", "--endpoint", closed, "--path-style", "--image-store"]).status == 0)
        let more = dir.appending("more")
        _ = try SyntheticImages.writeImageFolder(at: more, count: 4, classes: ["bird"], seedOffset: 700)
        let refused = try cairn(c, ["import", "--labels-from-dirs", more])
        #expect(refused.status != 0, "\(refused)")
        #expect(try cairn(b, ["status", "--json"]).jsonObject()["items"] as? Int == 23, "no item names an image the team cannot read (24 less the purged one)")
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
