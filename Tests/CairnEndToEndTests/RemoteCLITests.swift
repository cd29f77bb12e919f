import CairnRepository
import CairnStore
import CairnTestSupport
@testable import CairnRemote
import CairnVersioning
import Foundation
import Testing

/// `cairn remote`, `push`, `pull` and `clone` through the real binary against a local S3 server
/// (moto, started and stopped by each test).
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct RemoteCLITests {
    let env = S3TestServer.environment

    private func cairn(_ repo: String, _ args: [String], env extra: [String: String] = [:]) throws -> CommandResult {
        try CLI.run(["-C", repo] + args, environment: env.merging(extra) { $1 })
    }

    /// A repository of `count` synthetic images in two classes, snapshotted and tagged v1, with
    /// remote `origin` at `s3://bucket/ds` on `endpoint`.
    private func repository(_ dir: TemporaryDirectory, _ name: String, count: Int, endpoint: String, bucket: String = "cairn") throws -> String {
        let repo = try CLI.makeRepository(at: dir.appending(name), images: count, inputFolder: "\(name)-in", labelsFromDirectories: true, tag: "v1")
        #expect(try cairn(repo, ["remote", "add", "origin", "s3://\(bucket)/ds", "--endpoint", endpoint, "--path-style"]).status == 0)
        return repo
    }

    /// A moto server with bucket `cairn`, a scratch directory, and repository `a` of `count`
    /// images, snapshotted, tagged v1, with origin s3://cairn/ds.
    private func setUp(_ label: String, count: Int, environment: [String: String] = [:]) throws
        -> (server: S3TestServer, dir: TemporaryDirectory, a: String)
    {
        let server = try S3TestServer(environment: environment)
        let dir: TemporaryDirectory
        do {
            dir = try TemporaryDirectory("cairn-e2e-s3-\(label)")
        } catch {
            server.stop()
            throw error
        }
        do {
            try server.createBucket("cairn")
            return (server, dir, try repository(dir, "a", count: count, endpoint: server.endpoint))
        } catch {
            server.stop()
            dir.remove()
            throw error
        }
    }

    private func snapshotID(_ repo: String, _ tag: String) throws -> String {
        try cairn(repo, ["tags", "--json"]).jsonArray().first { $0["name"] as? String == tag }?["snapshotID"] as? String ?? ""
    }

    /// Two replicas through S3: one repository imports, labels, snapshots, tags v1 and pushes; another
    /// clones, pulls only the train split, trains against v1 and gets the same snapshot id. Labels
    /// made in the clone come back through push and pull; a second push is a few requests.
    @Test func twoRepositoriesShareADatasetThroughS3() throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("team")
        let dir = try TemporaryDirectory("cairn-e2e-s3")
        defer { dir.remove() }
        let a = dir.appending("a")
        #expect(try CLI.run(["init", a]).status == 0)
        #expect(try cairn(a, ["import", "--labels-from-dirs", Fixtures.digits]).status == 0)
        #expect(try cairn(a, ["annotate", "digits/3/0003.png", "--class", "8", "--annotator", "ada"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "labeled"]).status == 0)
        #expect(try cairn(a, ["tag", "v1"]).status == 0)
        #expect(try cairn(a, ["remote", "add", "origin", "s3://team/digits", "--endpoint", server.endpoint, "--path-style"]).status == 0)
        let remotes = try cairn(a, ["remote", "list", "--json"]).jsonObject()
        #expect((remotes["origin"] as? [String: Any])?["url"] as? String == "s3://team/digits")
        let config = try String(contentsOfFile: a + "/.cairn/config.toml", encoding: .utf8)
        #expect(!config.contains("cairn-test-secret") && config.contains("[remotes.origin]"))

        let push = try cairn(a, ["push", "--json"])
        #expect(push.status == 0, "\(push)")
        let pushed = try push.jsonObject()
        #expect(pushed["objectsUploaded"] as? Int ?? 0 > 1797)
        #expect(!push.stdout.contains("cairn-test-secret") && !push.stderr.contains("cairn-test-secret"))

        // Nothing new: a handful of requests, nothing uploaded.
        let again = try cairn(a, ["push", "--json"]).jsonObject()
        #expect(again["objectsUploaded"] as? Int == 0 && again["catalogUpdated"] as? Bool == false)
        #expect(again["requests"] as? Int ?? 99 <= 5, "\(again)")

        // The layout Docs/FORMAT.md documents, as awscli lists it.
        let listing = server.aws("ls --recursive s3://team/digits/")
        #expect(listing.status == 0, "\(listing.output)")
        let keys = listing.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(keys.contains("digits/cairn-remote.json") && keys.contains("digits/tags.json") && keys.contains("digits/catalog.json"))
        let v1 = try snapshotID(a, "v1")
        #expect(keys.contains("digits/snapshots/\(v1)"))
        // Every object is under 1 MiB, so all travel in packs: each a .pack and its .idx, named by a SHA-256.
        let packs = keys.filter { $0.hasPrefix("digits/packs/") }.map { $0.dropFirst("digits/packs/".count) }
        let names = Set(packs.filter { $0.hasSuffix(".pack") }.map { String($0.dropLast(5)) })
        #expect(!names.isEmpty && Set(packs.filter { $0.hasSuffix(".idx") }.map { String($0.dropLast(4)) }) == names)
        #expect(names.allSatisfy { BlobID(hex: $0) != nil })
        #expect(names.count <= 16, "packs: \(names.count)")
        #expect(keys.count == packs.count + 4, "\(keys.filter { !$0.hasPrefix("digits/packs/") })")

        // The second repository: train split only.
        let b = dir.appending("b")
        let clone = try CLI.run(["clone", "s3://team/digits", b, "--endpoint", server.endpoint, "--path-style", "--split", "train", "--json"],
                                environment: env)
        #expect(clone.status == 0, "\(clone)")
        let cloned = try clone.jsonObject()
        #expect(cloned["blobsLeftOnRemote"] as? Int ?? 0 > 100)
        #expect(try snapshotID(b, "v1") == v1)
        let fsck = try cairn(b, ["fsck", "--json"])
        #expect(fsck.status == 0, "\(fsck)")
        #expect((try fsck.jsonObject()["notFetched"] as? [Any])?.count == cloned["blobsLeftOnRemote"] as? Int)
        let status = try cairn(b, ["status", "--json"]).jsonObject()
        #expect(status["items"] as? Int == 1797)
        let history = try cairn(b, ["show", "digits/3/0003.png", "--json"])
        #expect(history.stdout.contains("ada"), "\(history)")
        let run = try cairn(b, ["train", "--data", "v1", "--epochs", "2", "--size", "8x8", "--json"])
        #expect(run.status == 0, "\(run)")
        let record = try run.jsonObject()
        #expect(record["snapshotID"] as? String == v1)
        let counts = record["counts"] as? [String: Any] ?? [:]
        #expect(counts["val"] as? Int == 0 && counts["test"] as? Int == 0 && counts["notFetched"] as? Int ?? 0 > 0)

        // B labels one more image and pushes (its run goes too); A pulls both.
        #expect(try cairn(b, ["annotate", "digits/5/0005.png", "--class", "6", "--annotator", "bob"]).status == 0)
        let pushB = try cairn(b, ["push", "--json"])
        #expect(pushB.status == 0, "\(pushB)")
        let pull = try cairn(a, ["pull", "--json"])
        #expect(pull.status == 0, "\(pull)")
        let merged = try pull.jsonObject()["merged"] as? [String: Any] ?? [:]
        #expect(merged["annotations"] as? Int == 1 && merged["runs"] as? Int == 1, "\(merged)")
        #expect(try cairn(a, ["show", "digits/5/0005.png", "--json"]).stdout.contains("bob"))
        #expect(try cairn(a, ["runs", "--json"]).jsonArray().count == 1)

        // B fetches the rest: nothing is left out any more.
        let rest = try cairn(b, ["pull", "--json"])
        let restReport = try rest.jsonObject()
        #expect(rest.status == 0 && restReport["blobs"] as? Int == cloned["blobsLeftOnRemote"] as? Int, "\(rest)")
        let full = try cairn(b, ["fsck", "--json"])
        let fullReport = try full.jsonObject()
        #expect(full.status == 0 && (fullReport["notFetched"] as? [Any])?.isEmpty == true, "\(full)")
    }

    /// The report's reproduction: a clone, ada labels one image in the original and a little later
    /// differently in the clone; after push and pull both ways, both repositories resolve every
    /// item alike, list the history in the same (time) order and make the same snapshot id.
    @Test func replicasAgreeAfterExchangingLabels() throws {
        let (server, dir, a) = try setUp("replicas", count: 20)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["push"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", server.endpoint, "--path-style"], environment: env).status == 0)
        let item = try cairn(a, ["ls", "--json"]).jsonArray()[3]["path"] as? String ?? ""
        #expect(try cairn(a, ["annotate", item, "--class", "dog", "--annotator", "ada"]).status == 0)
        usleep(20_000)
        #expect(try cairn(b, ["annotate", item, "--class", "cat", "--annotator", "ada"]).status == 0)
        #expect(try cairn(a, ["push"]).status == 0)
        #expect(try cairn(b, ["pull"]).status == 0)
        #expect(try cairn(b, ["push"]).status == 0)
        #expect(try cairn(a, ["pull"]).status == 0)
        for repo in [a, b] {
            let shown = try cairn(repo, ["show", item, "--json"]).jsonObject()
            let history = (shown["history"] as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
            #expect(history.suffix(2) == ["dog", "cat"], "\(repo): \(history)")
        }
        let labels = { (repo: String) -> [String: String] in
            Dictionary(uniqueKeysWithValues: try self.cairn(repo, ["ls", "--json"]).jsonArray().map {
                ($0["path"] as? String ?? "", "\($0["label"] ?? "-") \($0["conflict"] ?? "")")
            })
        }
        #expect(try labels(a) == labels(b))
        let idA = try cairn(a, ["snapshot", "-m", "after exchange", "--json"]).jsonObject()["snapshot"] as? [String: Any]
        let idB = try cairn(b, ["snapshot", "-m", "after exchange", "--json"]).jsonObject()["snapshot"] as? [String: Any]
        #expect(idA?["id"] as? String != nil && idA?["id"] as? String == idB?["id"] as? String)
    }

    /// A push with nothing new uploads nothing, even with run checkpoints on the remote; a push with
    /// no refs also sends the latest untagged snapshot; a clone shows a run's plots (drawn again from
    /// its record), never files that are not there.
    @Test func noOpPushesUploadNothingAndUntaggedWorkTravels() throws {
        let (server, dir, a) = try setUp("noop", count: 24)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["train", "--data", "v1", "--epochs", "2", "--size", "8x8", "--name", "m"]).status == 0)
        let first = try cairn(a, ["push", "--json"]).jsonObject()
        #expect(first["objectsUploaded"] as? Int ?? 0 > 24)
        let again = try cairn(a, ["push", "--json"]).jsonObject()
        #expect(again["objectsUploaded"] as? Int == 0 && again["bytesUploaded"] as? Int == 0, "\(again)")
        // New untagged work: HEAD goes along with the tags.
        #expect(try cairn(a, ["annotate", "a-in/cat/0000.png", "--class", "dog", "--annotator", "ada"]).status == 0)
        let head = try cairn(a, ["snapshot", "-m", "untagged", "--json"]).jsonObject()["snapshot"] as? [String: Any]
        let headID = try #require(head?["id"] as? String)
        let pushed = try cairn(a, ["push", "--json"]).jsonObject()
        #expect((pushed["snapshots"] as? [String]) == [headID], "\(pushed)")
        #expect(server.aws("ls s3://cairn/ds/snapshots/").output.contains(headID))
        // The clone has the run; its plots exist wherever they are listed.
        let b = dir.appending("b")
        #expect(try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", server.endpoint, "--path-style"], environment: env).status == 0)
        let shown = try cairn(b, ["runs", "show", "m", "--json"]).jsonObject()
        let plots = shown["plots"] as? [String] ?? []
        #expect(!plots.isEmpty && plots.allSatisfy { FileManager.default.fileExists(atPath: b + "/" + $0) }, "\(plots)")
    }

    /// HEAD is this repository's own latest snapshot: a pull that brings snapshots made elsewhere
    /// (earlier, or later) does not move it, so `train --data HEAD` and the next snapshot's parent
    /// stay on local work.
    @Test func aPullDoesNotMoveHead() throws {
        let (server, dir, a) = try setUp("head", count: 12)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["push"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", server.endpoint, "--path-style"], environment: env).status == 0)
        // Elsewhere, first: a newer remote snapshot, made before b's own.
        #expect(try cairn(a, ["annotate", "a-in/cat/0000.png", "--class", "dog", "--annotator", "ada"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "theirs"]).status == 0)
        #expect(try cairn(a, ["tag", "v2"]).status == 0)
        usleep(50_000)
        #expect(try cairn(b, ["annotate", "a-in/dog/0001.png", "--class", "cat", "--annotator", "bob"]).status == 0)
        let mine = try cairn(b, ["snapshot", "-m", "mine", "--json"]).jsonObject()["snapshot"] as? [String: Any]
        let mineID = try #require(mine?["id"] as? String)
        #expect(try cairn(a, ["push"]).status == 0)
        #expect(try cairn(b, ["pull"]).status == 0)
        #expect(try cairn(b, ["log", "-n", "1", "--json"]).jsonArray().first?["id"] as? String == mineID)
        let run = try cairn(b, ["train", "--data", "HEAD", "--epochs", "1", "--size", "8x8", "--json"]).jsonObject()
        #expect(run["snapshotID"] as? String == mineID)
        #expect(try cairn(b, ["annotate", "a-in/dog/0003.png", "--class", "cat", "--annotator", "bob"]).status == 0)
        let next = try cairn(b, ["snapshot", "-m", "next", "--json"]).jsonObject()["snapshot"] as? [String: Any]
        #expect(next?["parent"] as? String == mineID)
        #expect(try cairn(b, ["log", "v2", "-n", "1", "--json"]).jsonArray().first?["message"] as? String == "theirs")
    }

    /// A proxy fails a fifth of requests    /// A proxy fails a fifth of requests    /// A proxy fails a fifth of requests (500, 503, dropped connections): the push still completes,
    /// and a clone through the same proxy verifies every object.
    @Test func pushAndCloneCompleteThroughInjectedFailures() throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let proxy = try server.faultyProxy(failureRate: 0.2, seed: 7)
        let dir = try TemporaryDirectory("cairn-e2e-s3-faults")
        defer { dir.remove() }
        let a = try repository(dir, "a", count: 150, endpoint: proxy)
        let push = try cairn(a, ["push", "--json", "--pack-size", "2K"])
        #expect(push.status == 0, "\(push)")
        let report = try push.jsonObject()
        #expect(report["retries"] as? Int ?? 0 > 0, "\(report)")
        let b = dir.appending("b")
        let clone = try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", proxy, "--path-style", "--json"], environment: env)
        #expect(clone.status == 0, "\(clone)")
        #expect(try clone.jsonObject()["blobs"] as? Int == 150)
        #expect(try cairn(b, ["fsck"]).status == 0)
        #expect(try snapshotID(b, "v1") == snapshotID(a, "v1"))
    }

    /// Ctrl-C in the middle of a push: the remote shows no snapshot or tag yet, and the next push
    /// uploads only what is missing and completes.
    @Test func interruptedPushResumes() throws {
        let (server, dir, a) = try setUp("resume", count: 400)
        defer { server.stop(); dir.remove() }
        let (process, _, _) = try CLI.start(["-C", a, "push", "--jobs", "1", "--pack-size", "1"], environment: env)
        let journal = a + "/.cairn/remotes/origin.uploaded"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? FileManager.default.attributesOfItem(atPath: journal)[.size] as? Int) ?? 0) < 32 * 40 {
            usleep(20_000)
        }
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        let listing = server.aws("ls --recursive s3://cairn/ds/")
        #expect(!listing.output.contains("snapshots/") && !listing.output.contains("tags.json"), "\(listing.output)")
        let uploadedBefore = ((try? FileManager.default.attributesOfItem(atPath: journal)[.size] as? Int) ?? 0) / 32
        #expect(uploadedBefore >= 40)

        let resumed = try cairn(a, ["push", "--json"])
        #expect(resumed.status == 0, "\(resumed)")
        let uploaded = try resumed.jsonObject()["objectsUploaded"] as? Int ?? 0
        #expect(uploaded > 0)
        // 400 images + the tree objects, less what the interrupted push had already stored.
        let b = dir.appending("b")
        let clone = try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", server.endpoint, "--path-style", "--json"], environment: env)
        #expect(clone.status == 0, "\(clone)")
        let cloned = try clone.jsonObject()
        let onRemote = (cloned["blobs"] as? Int ?? 0) + (cloned["treeObjects"] as? Int ?? 0)
        #expect(uploaded + uploadedBefore >= onRemote && uploaded < onRemote, "\(uploaded) + \(uploadedBefore) vs \(onRemote)")
        #expect(try cairn(b, ["fsck"]).status == 0)
    }

    /// Ctrl-C in the middle of a pull, once the snapshot trees are stored: the next pull fetches no
    /// tree again, only images, and the repository checks clean with the same snapshot id.
    @Test func interruptedPullResumes() throws {
        let (server, dir, a) = try setUp("pull", count: 120)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["push", "--pack-size", "1"]).status == 0)  // one object per pack: one request per image
        let b = dir.appending("b")
        #expect(try CLI.run(["init", b]).status == 0)
        #expect(try cairn(b, ["remote", "add", "origin", "s3://cairn/ds", "--endpoint", server.endpoint, "--path-style"]).status == 0)
        let (process, _, _) = try CLI.start(["-C", b, "pull", "--jobs", "1"], environment: env)
        let packs = b + "/.cairn/packs"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? FileManager.default.contentsOfDirectory(atPath: packs)) ?? []).allSatisfy({ !$0.hasSuffix(".idx") }) {
            usleep(10_000)
        }
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "the pull finished before it could be interrupted")
        let resumed = try cairn(b, ["pull", "--json"])
        #expect(resumed.status == 0, "\(resumed)")
        let report = try resumed.jsonObject()
        #expect(report["treeObjects"] as? Int == 0 && report["blobs"] as? Int ?? 0 > 0, "\(report)")
        #expect(try cairn(b, ["fsck"]).status == 0)
        #expect(try snapshotID(b, "v1") == snapshotID(a, "v1"))
    }

    /// A bucket that does not exist, an endpoint that refuses connections, wrong credentials, a
    /// remote object whose bytes do not match its name, a remote written by a newer format, and a
    /// tag that names another snapshot on the remote: each a clear error, nothing damaged.
    @Test func badRemotesGiveClearErrors() throws {
        let (server, dir, a) = try setUp("bad", count: 20)
        defer { server.stop(); dir.remove() }

        #expect(try cairn(a, ["remote", "add", "nobucket", "s3://does-not-exist/x", "--endpoint", server.endpoint, "--path-style"]).status == 0)
        let noBucket = try cairn(a, ["push", "nobucket"])
        #expect(noBucket.status == 1 && noBucket.stderr.contains("does-not-exist does not exist"), "\(noBucket)")

        let closed = S3TestServer.freePort()
        #expect(try cairn(a, ["remote", "add", "closed", "s3://cairn/x", "--endpoint", "http://127.0.0.1:\(closed)", "--path-style"]).status == 0)
        let refused = try cairn(a, ["push", "closed"])
        #expect(refused.status == 1 && refused.stderr.contains("cannot reach http://127.0.0.1:\(closed)"), "\(refused)")

        let noCreds = try CLI.run(["-C", a, "push"], environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                                                                  "AWS_SHARED_CREDENTIALS_FILE": dir.appending("none"), "AWS_PROFILE": ""])
        #expect(noCreds.status == 1 && noCreds.stderr.contains("no S3 credentials found"), "\(noCreds)")

        #expect(try cairn(a, ["remote", "add", "bad name", "s3://cairn/x"]).status != 0)
        #expect(try cairn(a, ["remote", "add", "badurl", "http://cairn/x"]).stderr.contains("not a remote URL"))
        #expect(try cairn(a, ["remote", "add", "origin", "s3://cairn/y"]).stderr.contains("exists"))

        // A corrupt object in a remote pack (one flipped byte in its first record): reported, never stored.
        #expect(try cairn(a, ["push"]).status == 0)
        let packKey = try #require(server.aws("ls s3://cairn/ds/packs/").output.split(separator: "\n")
            .compactMap { $0.split(separator: " ").last.map(String.init) }.first { $0.hasSuffix(".pack") })
        let packFile = dir.appending("pack")
        #expect(server.aws("cp s3://cairn/ds/packs/\(packKey) \(packFile)").status == 0)
        var pack = try Data(contentsOf: URL(fileURLWithPath: packFile))
        let victim = pack[16..<48].withUnsafeBytes { BlobID(rawBytes: $0)! }.hex  // header[16], then id[32] length[8] bytes
        pack[56] ^= 0xFF
        try pack.write(to: URL(fileURLWithPath: packFile))
        #expect(server.aws("cp \(packFile) s3://cairn/ds/packs/\(packKey)").status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(["init", b]).status == 0)
        #expect(try cairn(b, ["remote", "add", "origin", "s3://cairn/ds", "--endpoint", server.endpoint, "--path-style"]).status == 0)
        let corrupt = try cairn(b, ["pull"])
        #expect(corrupt.status == 1 && corrupt.stderr.contains("\(victim) is corrupt") && corrupt.stderr.contains("s3://cairn/ds/packs/\(packKey) at offset 56"),
                "\(corrupt)")
        #expect(try cairn(b, ["cat-blob", victim]).status != 0)
        #expect(try cairn(b, ["fsck"]).status == 0)

        // A newer format.
        try Data(#"{"format": 99, "instance": "x"}"#.utf8).write(to: URL(fileURLWithPath: dir.appending("newer")))
        #expect(server.aws("cp \(dir.appending("newer")) s3://cairn/ds/cairn-remote.json").status == 0)
        let newer = try cairn(b, ["pull"])
        #expect(newer.status == 1 && newer.stderr.contains("newer cairn"), "\(newer)")
        #expect(server.aws("rm s3://cairn/ds/cairn-remote.json").status == 0)
        let notCairn = try cairn(b, ["pull"])
        #expect(notCairn.status == 1 && notCairn.stderr.contains("holds no Cairn data"), "\(notCairn)")
    }

    /// Wrong credentials against a server that checks them (moto with authentication on).
    @Test func wrongCredentialsAreRefusedWithoutShowingThem() throws {
        // Creating the bucket is the one request moto allows without authentication.
        let (server, dir, a) = try setUp("creds", count: 5, environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "1"])
        defer { server.stop(); dir.remove() }
        let secret = "wrong-secret-\(getpid())"
        let refused = try cairn(a, ["push"], env: ["AWS_ACCESS_KEY_ID": "AKIDWRONG", "AWS_SECRET_ACCESS_KEY": secret])
        #expect(refused.status == 1 && refused.stderr.contains("refused the credentials"), "\(refused)")
        #expect(!refused.stderr.contains(secret) && !refused.stdout.contains(secret))
    }

    /// Bit rot repaired from a remote: a flipped byte in each local pack and a truncated pack are
    /// named by fsck, `fsck --repair` fetches good copies and puts them back, and the repository
    /// checks clean and checks out. An image the remote never had stays reported.
    @Test func fsckRepairRestoresDamagedObjectsFromTheRemote() throws {
        let (server, dir, a) = try setUp("repair", count: 40)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["push"]).status == 0)

        let packs = a + "/.cairn/packs"
        let names = try FileManager.default.contentsOfDirectory(atPath: packs).filter { $0.hasSuffix(".pack") }.sorted()
        #expect(names.count >= 2, "\(names)")  // the import's and the snapshot's
        for name in names {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(packs)/\(name)"))
            bytes[56] ^= 0xFF  // the first record's bytes
            if name == names.last { bytes = bytes.prefix(bytes.count - 10) }  // and its last record cut short
            try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(packs)/\(name)")
            try bytes.write(to: URL(fileURLWithPath: "\(packs)/\(name)"))
        }
        let damaged = try cairn(a, ["fsck", "--json"])
        #expect(damaged.status == 2, "\(damaged)")
        let corrupt = try damaged.jsonObject()["corrupt"] as? [String] ?? []
        #expect(corrupt.count == names.count + 1, "\(damaged.stdout)")

        let repaired = try cairn(a, ["fsck", "--repair", "--json"])
        #expect(repaired.status == 0, "\(repaired)")
        #expect(Set(try repaired.jsonObject()["repaired"] as? [String] ?? []) == Set(corrupt))
        #expect(try cairn(a, ["fsck"]).status == 0)
        #expect(try cairn(a, ["checkout", "v1", dir.appending("out")]).status == 0)

        // An image the remote never had: reported, exit 2, the rest untouched.
        let before = try FileManager.default.contentsOfDirectory(atPath: packs)
        try SyntheticImages.writeImageFolder(at: dir.appending("more"), count: 1, classes: ["bird"], seedOffset: 1000)
        #expect(try cairn(a, ["import", "--labels-from-dirs", dir.appending("more")]).status == 0)
        let newest = try #require(try FileManager.default.contentsOfDirectory(atPath: packs).first { !before.contains($0) && $0.hasSuffix(".pack") })
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(packs)/\(newest)"))
        bytes[56] ^= 0xFF
        try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(packs)/\(newest)")
        try bytes.write(to: URL(fileURLWithPath: "\(packs)/\(newest)"))
        let unrepairable = try cairn(a, ["fsck", "--repair"])
        #expect(unrepairable.status == 2 && unrepairable.stdout.contains("has no good copy of 1"), "\(unrepairable)")
    }

    /// A push that loses the race for tags.json to another writer (who lands between its read and
    /// its write) reads again, merges, and writes: both writers' tags are kept.
    @Test func aWriteThatLosesARaceIsMergedAgain() async throws {
        let (server, dir, a) = try setUp("race", count: 3)
        defer { server.stop(); dir.remove() }
        let credentials = AWSCredentials(accessKeyID: "cairn-test", secretAccessKey: "cairn-test-secret")
        let remote = try Remote(repository: try Repository(root: a), name: "origin", credentials: credentials)
        let other = S3Client(location: remote.client.location, credentials: credentials)
        func entry(_ author: String) -> RemoteFiles.Tag { RemoteFiles.Tag(snapshot: String(repeating: "a", count: 64), createdAt: 0, author: author) }
        var reads = 0
        var theirTags = RemoteFiles.Tags()
        theirTags.tags["theirs"] = entry("them")
        let theirs = try JSONEncoder().encode(theirTags)
        let (written, _) = try await remote.readMergeWrite("tags.json", read: { () async throws -> (RemoteFiles.Tags, String?) in
            reads += 1
            let (tags, _, etag) = try await remote.remoteTagsAndETag()
            if reads == 1 { try await other.put("tags.json", theirs) }  // the other writer lands now
            return (tags, etag)
        }, update: { (tags: inout RemoteFiles.Tags) in tags.tags["ours"] = entry("us") },
           encode: { (tags: RemoteFiles.Tags) in try JSONEncoder().encode(tags) })
        #expect(written && reads == 2)
        let tags = try JSONDecoder().decode(RemoteFiles.Tags.self, from: try await other.get("tags.json"))
        #expect(Set(tags.tags.keys) == ["ours", "theirs"])
    }

    /// A tag moved here after it was pushed is refused by push unless --force.
    @Test func movedTagNeedsForce() throws {
        let (server, dir, a) = try setUp("tags", count: 10)
        defer { server.stop(); dir.remove() }
        #expect(try cairn(a, ["push"]).status == 0)
        #expect(try cairn(a, ["annotate", "a-in/cat/0000.png", "--class", "dog"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "v1b"]).status == 0)
        #expect(try cairn(a, ["tag", "--force", "v1"]).status == 0)
        let refused = try cairn(a, ["push"])
        #expect(refused.status == 1 && refused.stderr.contains("cairn push --force"), "\(refused)")
        #expect(try cairn(a, ["push", "--force"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", server.endpoint, "--path-style"], environment: env).status == 0)
        #expect(try snapshotID(b, "v1") == snapshotID(a, "v1"))
        #expect(try cairn(b, ["log", "--json"]).stdout.contains("v1b"))
    }
}
