import CairnRepository
import CairnStore
import CairnTestSupport
@testable import CairnRemote
import CairnVersioning
import Foundation
import Testing

/// Where a test's remote lives: a bucket on a moto server of its own, or a directory (`file://`,
/// no server). What any object store shows runs on a directory; what only S3 shows (signatures,
/// HTTP faults, buckets, credentials) on moto.
struct RemoteFixture {
    enum Kind { case s3, directory }
    let server: S3TestServer?
    let dir: TemporaryDirectory
    /// Repository `a`, snapshotted, tagged v1, with remote origin here.
    let a: String

    /// The remote's directory (a directory remote only).
    var remoteDirectory: String { dir.appending("remote") }
    var url: String { server == nil ? "file://" + remoteDirectory : "s3://cairn/ds" }
    /// What `remote add` and `clone` take after the URL.
    var address: [String] { server.map { ["--endpoint", $0.endpoint, "--path-style"] } ?? [] }
    /// `cairn clone` of this remote into `directory`.
    func clone(_ directory: String, _ extra: [String] = []) -> [String] { ["clone", url, directory] + address + extra }

    func stop() {
        server?.stop()
        dir.remove()
    }
}

/// `cairn remote`, `push`, `pull` and `clone` through the real binary against a remote of each kind.
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

    /// A remote of `kind` (moto with bucket `cairn`, or a directory), a scratch directory, and
    /// repository `a` of `count` images, snapshotted, tagged v1, with origin on the remote.
    private func setUp(_ label: String, count: Int, on kind: RemoteFixture.Kind = .s3, environment: [String: String] = [:]) throws
        -> RemoteFixture
    {
        let server = kind == .s3 ? try S3TestServer(environment: environment) : nil
        let dir: TemporaryDirectory
        do {
            dir = try TemporaryDirectory("cairn-e2e-remote-\(label)")
        } catch {
            server?.stop()
            throw error
        }
        do {
            let a: String
            if let server {
                try server.createBucket("cairn")
                a = try repository(dir, "a", count: count, endpoint: server.endpoint)
            } else {
                try FileManager.default.createDirectory(atPath: dir.appending("remote"), withIntermediateDirectories: true)
                a = try CLI.makeRepository(at: dir.appending("a"), images: count, inputFolder: "a-in", labelsFromDirectories: true, tag: "v1")
                #expect(try cairn(a, ["remote", "add", "origin", "file://" + dir.appending("remote")]).status == 0)
            }
            return RemoteFixture(server: server, dir: dir, a: a)
        } catch {
            server?.stop()
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
        let fixture = try setUp("replicas", count: 20, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        #expect(try cairn(a, ["push"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(fixture.clone(b), environment: env).status == 0)
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
        let fixture = try setUp("noop", count: 24, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
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
        #expect(FileManager.default.fileExists(atPath: fixture.remoteDirectory + "/snapshots/" + headID))
        // The clone has the run; its plots exist wherever they are listed.
        let b = dir.appending("b")
        #expect(try CLI.run(fixture.clone(b), environment: env).status == 0)
        let shown = try cairn(b, ["runs", "show", "m", "--json"]).jsonObject()
        let plots = shown["plots"] as? [String] ?? []
        #expect(!plots.isEmpty && plots.allSatisfy { FileManager.default.fileExists(atPath: b + "/" + $0) }, "\(plots)")
    }

    /// HEAD is this repository's own latest snapshot: a pull that brings snapshots made elsewhere
    /// (earlier, or later) does not move it, so `train --data HEAD` and the next snapshot's parent
    /// stay on local work.
    @Test func aPullDoesNotMoveHead() throws {
        let fixture = try setUp("head", count: 12, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        #expect(try cairn(a, ["push"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(fixture.clone(b), environment: env).status == 0)
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
        let fixture = try setUp("resume", count: 400, on: .s3)
        defer { fixture.stop() }
        let (dir, a, server) = (fixture.dir, fixture.a, try #require(fixture.server))
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
        let clone = try CLI.run(fixture.clone(b, ["--json"]), environment: env)
        #expect(clone.status == 0, "\(clone)")
        let cloned = try clone.jsonObject()
        let onRemote = (cloned["blobs"] as? Int ?? 0) + (cloned["treeObjects"] as? Int ?? 0)
        #expect(uploaded + uploadedBefore >= onRemote && uploaded < onRemote, "\(uploaded) + \(uploadedBefore) vs \(onRemote)")
        #expect(try cairn(b, ["fsck"]).status == 0)
    }

    /// Ctrl-C in the middle of a pull, once the snapshot trees are stored: the next pull fetches no
    /// tree again, only images, and the repository checks clean with the same snapshot id.
    @Test func interruptedPullResumes() throws {
        let fixture = try setUp("pull", count: 120, on: .s3)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        #expect(try cairn(a, ["push", "--pack-size", "1"]).status == 0)  // one object per pack: one request per image
        let b = dir.appending("b")
        #expect(try CLI.run(["init", b]).status == 0)
        #expect(try cairn(b, ["remote", "add", "origin", fixture.url] + fixture.address).status == 0)
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
        let fixture = try setUp("bad", count: 20, on: .s3)
        defer { fixture.stop() }
        let (dir, a, server) = (fixture.dir, fixture.a, try #require(fixture.server))

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
        #expect(try cairn(b, ["remote", "add", "origin", fixture.url] + fixture.address).status == 0)
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
        let fixture = try setUp("creds", count: 5, on: .s3, environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "1"])
        defer { fixture.stop() }
        let a = fixture.a
        let secret = "wrong-secret-\(getpid())"
        let refused = try cairn(a, ["push"], env: ["AWS_ACCESS_KEY_ID": "AKIDWRONG", "AWS_SECRET_ACCESS_KEY": secret])
        #expect(refused.status == 1 && refused.stderr.contains("refused the credentials"), "\(refused)")
        #expect(!refused.stderr.contains(secret) && !refused.stdout.contains(secret))
    }

    /// Bit rot repaired from a remote: a flipped byte in each local pack and a truncated pack are
    /// named by fsck, `fsck --repair` fetches good copies and puts them back, and the repository
    /// checks clean and checks out. An image the remote never had stays reported.
    @Test func fsckRepairRestoresDamagedObjectsFromTheRemote() throws {
        let fixture = try setUp("repair", count: 40, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
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
        let fixture = try setUp("race", count: 3, on: .directory)
        defer { fixture.stop() }
        let a = fixture.a
        let credentials = AWSCredentials(accessKeyID: "cairn-test", secretAccessKey: "cairn-test-secret")
        let remote = try Remote(repository: try Repository(root: a), name: "origin", credentials: credentials)
        let other = DirectoryObjectStore(root: fixture.remoteDirectory)  // another writer on the same directory
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
        let fixture = try setUp("tags", count: 10, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        #expect(try cairn(a, ["push"]).status == 0)
        #expect(try cairn(a, ["annotate", "a-in/cat/0000.png", "--class", "dog"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "v1b"]).status == 0)
        #expect(try cairn(a, ["tag", "--force", "v1"]).status == 0)
        let refused = try cairn(a, ["push"])
        #expect(refused.status == 1 && refused.stderr.contains("cairn push --force"), "\(refused)")
        #expect(try cairn(a, ["push", "--force"]).status == 0)
        let b = dir.appending("b")
        #expect(try CLI.run(fixture.clone(b), environment: env).status == 0)
        #expect(try snapshotID(b, "v1") == snapshotID(a, "v1"))
        #expect(try cairn(b, ["log", "--json"]).stdout.contains("v1b"))
    }

    /// A directory remote: a missing directory, a relative or climbing URL and S3 options are
    /// refused with the reason; a damaged pack is named by its file:// path and nothing is stored;
    /// a link planted in the remote directory is refused, and nothing is written where it points.
    @Test func aDirectoryRemoteGivesClearErrors() throws {
        let fixture = try setUp("dir-bad", count: 12, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        #expect(try cairn(a, ["remote", "add", "rel", "file://relative/x"]).stderr.contains("not a remote URL"))
        #expect(try cairn(a, ["remote", "add", "up", "file:///tmp/../etc"]).stderr.contains("not a remote URL"))
        #expect(try cairn(a, ["remote", "add", "ep", "file:///tmp/x", "--endpoint", "http://127.0.0.1:1"]).stderr.contains("for s3:// remotes"))
        #expect(try cairn(a, ["remote", "add", "gone", "file://" + dir.appending("gone")]).status == 0)
        let gone = try cairn(a, ["push", "gone"])
        #expect(gone.status == 1 && gone.stderr.contains("does not exist (create it first"), "\(gone)")
        #expect(!FileManager.default.fileExists(atPath: dir.appending("gone")))

        #expect(try cairn(a, ["push"]).status == 0)
        let packs = fixture.remoteDirectory + "/packs"
        let pack = try #require(try FileManager.default.contentsOfDirectory(atPath: packs).sorted().first { $0.hasSuffix(".pack") })
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packs + "/" + pack))
        let victim = bytes[16..<48].withUnsafeBytes { BlobID(rawBytes: $0)! }.hex
        bytes[56] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: packs + "/" + pack))
        let b = dir.appending("b")
        let corrupt = try CLI.run(fixture.clone(b), environment: env)
        #expect(corrupt.status == 1 && corrupt.stderr.contains("\(victim) is corrupt")
                && corrupt.stderr.contains("\(fixture.url)/packs/\(pack) at offset 56"), "\(corrupt)")
        #expect(!FileManager.default.fileExists(atPath: b + "/.cairn"), "a failed clone leaves no repository")

        // Someone with write access to the share replaces snapshots/ with a link to a's own packs.
        #expect(try cairn(a, ["annotate", "a-in/cat/0000.png", "--class", "dog"]).status == 0)
        #expect(try cairn(a, ["snapshot", "-m", "more"]).status == 0)
        let outside = a + "/.cairn/packs"
        let before = try FileManager.default.contentsOfDirectory(atPath: outside).sorted()
        try? FileManager.default.removeItem(atPath: fixture.remoteDirectory + "/snapshots")
        try FileManager.default.createSymbolicLink(atPath: fixture.remoteDirectory + "/snapshots", withDestinationPath: outside)
        let planted = try cairn(a, ["push"])
        #expect(planted.status == 1 && planted.stderr.contains("is a link or not a regular entry"), "\(planted)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).sorted() == before, "nothing written through the link")
        #expect(try cairn(a, ["fsck"]).status == 0)
    }

    /// A sweep travels with its trials: a clone shows it, ranked as where it ran.
    @Test func aCloneShowsTheSweepItsTrialsName() throws {
        let fixture = try setUp("sweep", count: 16, on: .directory)
        defer { fixture.stop() }
        let (dir, a) = (fixture.dir, fixture.a)
        let spec = dir.appending("spec.yaml")
        try Data("method: grid\nmetric: {name: train_accuracy, goal: maximize}\nparameters: {lr: {values: [0.01, 0.001]}, epochs: {value: 1}, model: {value: softmax}, size: {value: 8x8}}\n".utf8)
            .write(to: URL(fileURLWithPath: spec))
        let sweep = try cairn(a, ["sweep", "--data", "v1", "--spec", spec, "--json"])
        #expect(sweep.status == 0, "\(sweep)")
        let id = try #require(try sweep.jsonObject()["sweep"] as? String)
        #expect(try cairn(a, ["push"]).status == 0)
        let b = dir.appending("b")
        let clone = try CLI.run(fixture.clone(b, ["--json"]), environment: env)
        #expect(clone.status == 0, "\(clone)")
        let merged = try clone.jsonObject()["merged"] as? [String: Any]
        #expect(merged?["sweeps"] as? Int == 1, "\(clone)")
        let here = try cairn(a, ["sweep", "show", id, "--json"]).jsonObject()
        let there = try cairn(b, ["sweep", "show", id, "--json"]).jsonObject()
        #expect((there["runs"] as? [[String: Any]])?.count == 2 && there["best"] as? String == here["best"] as? String, "\(there)")
        let trial = try #require((there["runs"] as? [[String: Any]])?.first?["run"] as? String)
        #expect(try cairn(b, ["runs", "show", trial]).stdout.contains("cairn sweep show \(id)"))
        let again = try cairn(b, ["pull", "--json"]).jsonObject()["merged"] as? [String: Any]
        #expect(again?["sweeps"] as? Int == 0, "merged once: \(String(describing: again))")
    }
}
