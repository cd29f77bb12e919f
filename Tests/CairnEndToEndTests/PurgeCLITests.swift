import CairnTestSupport
import Foundation
import Testing

/// `cairn purge` through the real binary: the bytes leave the store for good while snapshots keep
/// their ids, every reader of bytes leaves the item out and says so, and through S3 the purge
/// reaches the remote (its bytes deleted there) and clones never fetch it.
/// The files under `root` that hold `bytes` anywhere in them.
private func holders(of bytes: Data, under root: String) -> [String] {
    var out: [String] = []
    guard let walker = FileManager.default.enumerator(atPath: root) else { return out }
    while let relative = walker.nextObject() as? String {
        if FileManager.default.contents(atPath: root + "/" + relative)?.range(of: bytes) != nil { out.append(relative) }
    }
    return out
}

@Suite(.serialized) struct PurgeCLITests {
    /// A purge killed after its record was durable but before it cleared the caches (the record
    /// written straight into the catalog, as the kill leaves it): fsck says derived copies may remain,
    /// and the next run rebuilds its data without the image instead of handing the old copy to a program.
    @Test func anInterruptedPurgeNeverLeavesACopyInTheCaches() throws {
        let dir = try TemporaryDirectory("cairn-e2e-purge-kill")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        #expect(try cairn("run", "--data", "v1", "--", "true").status == 0)
        #expect(try cairn("train", "--data", "v1", "--epochs", "1", "--size", "8x8").status == 0)
        let victim = try #require(try cairn("ls", "--json").jsonArray().first?["blobID"] as? String)
        #expect(CLI.shell("'\(CLI.binary)' -C '\(repo)' cat-blob \(victim) > '\(dir.appending("victim"))'").status == 0)
        let bytes = try #require(FileManager.default.contents(atPath: dir.appending("victim")))
        #expect(!holders(of: bytes, under: repo + "/.cairn/cache").isEmpty, "the materialization holds the image")
        let recorded = CLI.shell("sqlite3 '\(repo)/.cairn/catalog.sqlite' \"INSERT INTO purges (blob_id, annotator_id, reason, created_at) "
                                 + "SELECT '\(victim)', id, 'killed', 1 FROM annotators LIMIT 1\"")
        #expect(recorded.status == 0, "\(recorded.output)")

        var result = try cairn("fsck", "--json")
        let report = try result.jsonObject()
        #expect((report["purgedStillStored"] as? [String]) == [victim], "\(result)")
        #expect((report["purgedInCaches"] as? [String])?.count == 1, "fsck finds the derived copies: \(result)")
        result = try cairn("run", "--data", "v1", "--", "true")
        #expect(result.status == 0 && result.stderr.contains("made in"), "rebuilt, not reused: \(result)")
        #expect(holders(of: bytes, under: repo + "/.cairn/cache").isEmpty, "no cache holds the purged image")
        #expect(try cairn("gc").status == 0)
        result = try cairn("fsck", "--json")
        let after = try result.jsonObject()
        #expect((after["purgedStillStored"] as? [String]) == [] && (after["purgedInCaches"] as? [String]) == [], "\(result)")
        #expect(holders(of: bytes, under: repo + "/.cairn").isEmpty)
    }

    @Test func purgedBytesAreGoneWhileSnapshotsKeepTheirIDs() throws {
        let dir = try TemporaryDirectory("cairn-e2e-purge")
        defer { dir.remove() }
        let input = dir.appending("in")
        for digit in ["1", "2"] {
            try FileManager.default.createDirectory(atPath: "\(input)/\(digit)", withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted().prefix(6) {
                try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(f)", toPath: "\(input)/\(digit)/\(f)")
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: input, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        let items = try cairn("ls", "--json").jsonArray()
        let victim = try #require(items.first { ($0["path"] as? String)?.hasPrefix("in/1/") == true })
        let path = try #require(victim["path"] as? String), blob = try #require(victim["blobID"] as? String)
        let bytes = try #require(FileManager.default.contents(atPath: dir.appending(path)))
        let v1 = try cairn("tags", "--json").jsonArray().first?["snapshotID"] as? String
        // Run once so a materialization (a cached copy of the bytes) exists.
        #expect(try cairn("run", "--data", "v1", "--", "true").status == 0)
        #expect(!holders(of: bytes, under: repo + "/.cairn").isEmpty)

        // Refusals change nothing: no --yes without a terminal, an unknown item, an annotator who may not review.
        var result = try cairn("purge", path, "-m", "test")
        #expect(result.status == 64 && result.stderr.contains("--yes"), "\(result)")
        result = try cairn("purge", path, "in/1/nothing.png", "--yes")
        #expect(result.status == 1 && result.stderr.contains("in/1/nothing.png"), "\(result)")
        #expect(try cairn("annotators", "add", "carol", "--role", "annotator").status == 0)
        result = try cairn("purge", path, "--yes", "--author", "carol")
        #expect(result.status != 0 && result.stderr.contains("carol"), "\(result)")
        #expect(try cairn("cat-blob", blob).status == 0, "still here after the refusals")

        // The purge: recorded with who and why, the bytes gone from every file of the repository.
        #expect(try cairn("annotators", "add", "ada", "--role", "reviewer").status == 0)
        result = try cairn("purge", path, "-m", "removal request \u{1b}[31m#7", "--yes", "--json", "--author", "ada")
        #expect(result.status == 0, "\(result)")
        let report = try result.jsonObject()
        #expect((report["purged"] as? [[String: Any]])?.first?["path"] as? String == path, "\(report)")
        #expect(report["objectsErased"] as? Int ?? 0 >= 1, "\(report)")
        #expect(holders(of: bytes, under: repo + "/.cairn").isEmpty, "no store file or cache holds the purged bytes")
        #expect(try cairn("purge", path, "--yes", "--json").jsonObject()["alreadyPurged"] as? [Any] != nil)

        // Snapshot ids do not change; every reader says what is left out.
        #expect(try cairn("tags", "--json").jsonArray().first?["snapshotID"] as? String == v1)
        result = try cairn("cat-blob", blob)
        #expect(result.status == 1 && result.stderr.contains("purged by ada") && result.stderr.contains("removal request"), "\(result)")
        #expect(!result.stderr.contains("\u{1b}"), "the reason is shown escaped")
        let shown = try cairn("show", path)
        #expect(shown.stdout.contains("purged by ada") && !shown.stdout.contains("\u{1b}"), "\(shown)")
        #expect(!Set(try cairn("ls", "--json").jsonArray().compactMap { $0["path"] as? String }).contains(path), "out of the working state")
        result = try cairn("checkout", "v1", dir.appending("co"), "--json")
        let checkout = try result.jsonObject()
        #expect(checkout["purged"] as? Int == 1 && checkout["files"] as? Int == items.count - 1, "\(result)")
        result = try cairn("checkout", "v1", dir.appending("co-text"))
        #expect(result.status == 0 && result.stderr.contains("1 item(s) of that snapshot were left out: their bytes were purged"), "\(result)")
        for format in ["csv", "webdataset"] {
            result = try cairn("export", "v1", "--format", format, dir.appending("export-\(format)"), "--json")
            #expect(result.status == 0 && (try? result.jsonObject()["purged"] as? Int) == 1, "\(result)")
            #expect(holders(of: bytes, under: dir.appending("export-\(format)")).isEmpty)
        }
        let csv = try String(contentsOfFile: dir.appending("export-csv/labels.csv"), encoding: .utf8)
        #expect(!csv.contains(blob), "the export leaves the purged item out")
        result = try cairn("train", "--data", "v1", "--model", "softmax", "--epochs", "1", "--json")
        let counts = try result.jsonObject()["counts"] as? [String: Any]
        #expect(result.status == 0 && counts?["purged"] as? Int == 1, "\(result)")
        #expect(try cairn("run", "--data", "v1", "--", "sh", "-c", "grep -q \(blob) \"$CAIRN_MANIFEST\" && exit 1; exit 0").status == 0,
                "a program's materialized data leaves it out")
        result = try cairn("fsck", "--json")
        let fsck = try result.jsonObject()
        #expect(result.status == 0 && fsck["purged"] as? [String] == [blob] && (fsck["missing"] as? [String])?.isEmpty == true, "\(result)")

        // The same bytes under another path are refused at import; restore --items does not bring them back.
        let copy = dir.appending("again")
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try bytes.write(to: URL(fileURLWithPath: copy + "/same.png"))
        result = try cairn("import", copy, "--json")
        #expect(result.status == 2 && result.stdout.contains("purged by ada"), "\(result)")
        #expect(try cairn("cat-blob", blob).status == 1)
        result = try cairn("restore", "v1", "--items", "--author", "ada", "--json")
        #expect(result.status == 0 && (try? result.jsonObject()["purged"] as? Int) == 1, "\(result)")
        #expect((try? result.jsonObject()["missing"] as? Int) == 0, "a purged item is counted once, as purged: \(result)")
        result = try cairn("restore", "v1", "--author", "ada")
        #expect(result.stdout.contains("1 purged item(s) stay out") && !result.stderr.contains("not in this repository"), "\(result)")
        #expect(!Set(try cairn("ls", "--json").jsonArray().compactMap { $0["path"] as? String }).contains(path))

        // gc and fsck stay clean; a new snapshot leaves it out and v1 still names it.
        #expect(try cairn("snapshot", "-m", "after purge").status == 0)
        #expect(try cairn("gc", "--grace", "0").status == 0)
        result = try cairn("fsck")
        #expect(result.status == 0 && result.stdout.contains("purged on purpose"), "\(result)")
        #expect(try cairn("ls", "v1", "--json").jsonArray().contains { $0["blobID"] as? String == blob })
        #expect(!(try cairn("ls", "HEAD", "--json").jsonArray().contains { $0["blobID"] as? String == blob }))
    }
}

/// A purge through S3 (moto): push records it on the remote and deletes the bytes there, packed or
/// loose; a clone never fetches them; a replica that pulls erases its own copy.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct PurgeRemoteTests {
    @Test func aPurgeReachesTheRemoteAndClonesNeverFetchIt() throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let dir = try TemporaryDirectory("cairn-e2e-purge-s3")
        defer { dir.remove() }
        let env = S3TestServer.environment
        func cairn(_ repo: String, _ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args, environment: env) }
        let a = try CLI.makeRepository(at: dir.appending("a"), images: 40, inputFolder: "a-in", labelsFromDirectories: true, tag: "v1")
        #expect(try cairn(a, "remote", "add", "origin", "s3://cairn/ds", "--endpoint", server.endpoint, "--path-style").status == 0)
        #expect(try cairn(a, "push").status == 0)
        for replica in ["b", "d"] {
            #expect(try CLI.run(["clone", "s3://cairn/ds", dir.appending(replica), "--endpoint", server.endpoint, "--path-style"],
                                environment: env).status == 0)
        }
        let b = dir.appending("b"), d = dir.appending("d")
        // d knows the purger as a reviewer before the purge reaches it; b does not.
        #expect(try cairn(d, "annotators", "add", "ada", "--role", "reviewer").status == 0)

        let victim = try #require(try cairn(a, "ls", "--json").jsonArray().first)
        let path = try #require(victim["path"] as? String), blob = try #require(victim["blobID"] as? String)
        #expect(CLI.shell("'\(CLI.binary)' -C '\(a)' cat-blob \(blob) > '\(dir.appending("victim"))'").status == 0)
        let bytes = try #require(FileManager.default.contents(atPath: dir.appending("victim")))
        func remoteHolders() -> [String] {
            let copy = dir.appending("remote-copy")
            try? FileManager.default.removeItem(atPath: copy)
            _ = server.aws("cp --recursive --quiet s3://cairn/ds '\(copy)'")
            return holders(of: bytes, under: copy)
        }
        #expect(!remoteHolders().isEmpty, "the remote holds the image before the purge")

        #expect(try cairn(a, "annotators", "add", "ada", "--role", "reviewer").status == 0)
        #expect(try cairn(a, "purge", path, "-m", "consent withdrawn", "--yes", "--author", "ada").status == 0)
        var result = try cairn(a, "push", "--json")
        let push = try result.jsonObject()
        #expect(result.status == 0 && push["purgedErased"] as? Int ?? 0 >= 1, "\(result)")
        #expect(remoteHolders().isEmpty, "no object on the remote holds the purged bytes")
        result = try cairn(a, "push", "--json")
        #expect(try result.jsonObject()["purgedErased"] as? Int == 0, "a second push has nothing more to erase: \(result)")

        // A fresh clone never fetches it, says so, and is clean; checkout of v1 leaves it out.
        result = try CLI.run(["clone", "s3://cairn/ds", dir.appending("c"), "--endpoint", server.endpoint, "--path-style", "--json"],
                             environment: env)
        #expect(result.status == 0 && (try? result.jsonObject()["purged"] as? Int) == 1, "\(result)")
        let c = dir.appending("c")
        #expect(holders(of: bytes, under: c).isEmpty)
        result = try cairn(c, "fsck", "--json")
        // Nobody in the fresh clone is known to have purged it, so the purge is held there: never fetched, said so.
        #expect(result.status == 0 && (try? result.jsonObject()["heldPurges"] as? [String]) == [blob], "\(result)")
        #expect(try cairn(c, "cat-blob", blob).stderr.contains("consent withdrawn"))
        #expect(try cairn(c, "purge", "--apply-pulled", "--yes").status == 0)
        result = try cairn(c, "fsck", "--json")
        #expect(result.status == 0 && (try? result.jsonObject()["purged"] as? [String]) == [blob], "\(result)")

        // A replica that knows the purger as a reviewer: its pull applies the purge and erases its copy.
        #expect(!holders(of: bytes, under: d + "/.cairn").isEmpty)
        result = try cairn(d, "pull", "--json")
        #expect(result.status == 0 && (try? result.jsonObject()["purgedErased"] as? Int) == 1, "\(result)")
        #expect(holders(of: bytes, under: d + "/.cairn").isEmpty)
        #expect(try cairn(d, "fsck").status == 0)
        #expect(try cairn(d, "show", path).stdout.contains("purged by"))
        let counted = try cairn(d, "status", "--json").jsonObject()
        #expect(counted["items"] as? Int == 39 && counted["labeled"] as? Int == 39, "a pulled purge leaves the working state too: \(counted)")

        // One that does not: the purge is held, the copy stays until someone here applies it.
        result = try cairn(b, "pull", "--json")
        let merged = try result.jsonObject()["merged"] as? [String: Any]
        #expect(result.status == 0 && (try? result.jsonObject()["purgedErased"] as? Int) == 0 && merged?["purgesHeld"] as? Int == 1, "\(result)")
        #expect(!holders(of: bytes, under: b + "/.cairn").isEmpty)
        #expect(try cairn(b, "purge", "--apply-pulled", "--yes").status == 0)
        #expect(holders(of: bytes, under: b + "/.cairn").isEmpty)
        #expect(try cairn(b, "fsck").status == 0)
        #expect(try cairn(b, "show", path).stdout.contains("purged by ada"))
        #expect(try cairn(b, "status", "--json").jsonObject()["items"] as? Int == 39)
    }
}
