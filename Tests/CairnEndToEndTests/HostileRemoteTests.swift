import CairnTestSupport
import Foundation
import Testing

/// A remote written by someone else: crafted objects (checksums right, contents hostile) written
/// with boto3 into a remote on the local S3 server (`Tests/S3/hostile.py`), then cloned or pulled
/// through the real binary. Each must end in a clear error or a refusal, never a crash, and leave
/// nothing half-made behind.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct HostileRemoteTests {
    let env = S3TestServer.environment

    private func cairn(_ repo: String, _ args: [String]) throws -> CommandResult {
        try CLI.run(["-C", repo] + args, environment: env)
    }

    /// A moto server, a repository of `count` images tagged v1 (a run on it when `train`), pushed to
    /// s3://cairn/ds; then `hostile.py` applies `attack`.
    private func pushed(_ label: String, count: Int = 24, train: Bool = false, attack: String) throws
        -> (server: S3TestServer, dir: TemporaryDirectory, a: String)
    {
        let server = try S3TestServer()
        let dir = try TemporaryDirectory("cairn-hostile-\(label)")
        do {
            try server.createBucket("cairn")
            let a = try CLI.makeRepository(at: dir.appending("a"), images: count, labelsFromDirectories: true, tag: "v1")
            if train { #expect(try cairn(a, ["train", "--data", "v1", "--epochs", "1", "--size", "8x8", "--name", "m"]).status == 0) }
            #expect(try cairn(a, ["remote", "add", "origin", "s3://cairn/ds", "--endpoint", server.endpoint, "--path-style"]).status == 0)
            #expect(try cairn(a, ["push"]).status == 0)
            let crafted = CLI.shell("python3 '\(Fixtures.packageRoot)/Tests/S3/hostile.py' \(server.endpoint) cairn ds \(attack)")
            #expect(crafted.status == 0, "\(crafted.output)")
            return (server, dir, a)
        } catch {
            server.stop()
            dir.remove()
            throw error
        }
    }

    private func clone(_ server: S3TestServer, into dir: String) throws -> CommandResult {
        try CLI.run(["clone", "s3://cairn/ds", dir, "--endpoint", server.endpoint, "--path-style"], environment: env)
    }

    /// Damaged pack indexes with correct checksums: a clean error naming the index (exit 1, not a
    /// trap), and the failed clone removes the directory it made.
    @Test(arguments: ["index-fanout", "index-huge", "index-overrun"])
    func hostilePackIndexesAreRefused(attack: String) throws {
        let (server, dir, _) = try pushed(attack, attack: attack)
        defer { server.stop(); dir.remove() }
        let b = dir.appending("b")
        let result = try clone(server, into: b)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("cairn: error:") && result.stderr.contains(".idx is damaged"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: b), "a failed clone leaves nothing")
    }

    /// An item in catalog.json whose image no snapshot on the remote holds is not merged: the clone
    /// checks clean, says what it refused, and later snapshots do not hold a phantom.
    @Test func plantedCatalogItemsAreNotMerged() throws {
        let (server, dir, _) = try pushed("plant", attack: "plant-item")
        defer { server.stop(); dir.remove() }
        let b = dir.appending("b")
        let cloned = try clone(server, into: b)
        #expect(cloned.status == 0 && cloned.stderr.contains("items no remote snapshot holds"), "\(cloned)")
        #expect(try cairn(b, ["fsck"]).status == 0)
        #expect(try cairn(b, ["ls", "--json"]).jsonArray().count == 24)
        #expect(try cairn(b, ["annotate", "in/cat/0000.png", "--class", "dog", "--annotator", "ada"]).status == 0)
        #expect(try cairn(b, ["snapshot", "-m", "after"]).status == 0)
        #expect(try cairn(b, ["checkout", "HEAD", dir.appending("out")]).status == 0)
    }

    /// Purges of every image by a name the remote made up (claiming admin): a pull erases nothing,
    /// says the purges are held, lists them, and only a local decision applies one.
    @Test func pulledPurgesByStrangersAreHeld() throws {
        let (server, dir, a) = try pushed("purge-all", attack: "purge-all")
        defer { server.stop(); dir.remove() }
        let before = try cairn(a, ["ls", "--json"]).jsonArray()
        var result = try cairn(a, ["pull"])
        #expect(result.status == 0 && result.stderr.contains("24 purges from the remote") && result.stderr.contains("held"), "\(result)")
        #expect(try cairn(a, ["ls", "--json"]).jsonArray().count == before.count, "nothing left the working state")
        let purged = try cairn(a, ["fsck", "--json"]).jsonObject()["purged"] as? [String]
        #expect(purged ?? [] == [], "nothing purged")
        result = try cairn(a, ["checkout", "v1", dir.appending("out")])
        let images = try FileManager.default.subpathsOfDirectory(atPath: dir.appending("out")).filter { $0.hasSuffix(".png") }
        #expect(result.status == 0 && images.count == 24, "every image is still here: \(result)")
        let held = try cairn(a, ["purge", "--held", "--json"]).jsonArray()
        #expect(held.count == 24 && held.allSatisfy { $0["person"] as? String == "mallory" }, "\(held.prefix(1))")
        // A second pull changes nothing; applying one held purge erases exactly that image.
        #expect(try cairn(a, ["pull"]).status == 0)
        let one = try #require(held.first?["blob"] as? String)
        result = try cairn(a, ["purge", "--apply-pulled", String(one.prefix(12)), "--yes", "--json"])
        let applied = try result.jsonObject()["purged"] as? [[String: Any]]
        #expect(result.status == 0 && applied?.count == 1, "\(result)")
        #expect(try cairn(a, ["fsck", "--json"]).jsonObject()["purged"] as? [String] == [one])
        #expect(try cairn(a, ["ls", "--json"]).jsonArray().count == before.count - 1)
        result = try cairn(a, ["purge", "--dismiss-pulled", "--json"])
        let dismissed = try result.jsonArray()
        #expect(result.status == 0 && dismissed.count == 23, "\(result)")
        #expect(try cairn(a, ["purge", "--held", "--json"]).jsonArray().isEmpty)
    }

    /// A pulled run whose checkpoint header claims 2^62 weights: predict and eval fail with a clear
    /// error, never a trap or an allocation of that size.
    @Test func hostileCheckpointsAreRefused() throws {
        let (server, dir, a) = try pushed("checkpoint", train: true, attack: "checkpoint-bomb")
        defer { server.stop(); dir.remove() }
        let b = dir.appending("b")
        #expect(try clone(server, into: b).status == 0)
        let image = dir.appending("in/cat/0000.png")
        let predicted = try cairn(b, ["predict", "bomb", image])
        #expect(predicted.status == 1 && predicted.stderr.contains("checkpoint does not load"), "\(predicted)")
        let evaluated = try cairn(b, ["eval", "bomb", "--data", "v1"])
        #expect(evaluated.status == 1 && evaluated.stderr.contains("checkpoint does not load"), "\(evaluated)")
        // The honest run still works.
        #expect(try cairn(b, ["predict", "m", image]).status == 0)
        _ = a
    }

    /// Tags no tag may be called, from tags.json: refused and reported, never added; a tag spelled
    /// like a snapshot id is refused too, so it can never shadow one.
    @Test func hostileTagNamesAreRefused() throws {
        let (server, dir, _) = try pushed("tags", attack: "hostile-tags")
        defer { server.stop(); dir.remove() }
        let b = dir.appending("b")
        let cloned = try clone(server, into: b)
        #expect(cloned.status == 0, "\(cloned)")
        #expect(cloned.stderr.contains("refused the remote's tag 'HEAD'") && cloned.stderr.contains("../../etc/passwd"), "\(cloned)")
        #expect(!cloned.stderr.contains("\u{1B}") && cloned.stderr.contains("\\e]0;pwned"), "escape sequences are shown escaped")
        let tags = try cairn(b, ["tags", "--json"]).jsonArray().compactMap { $0["name"] as? String }
        #expect(tags == ["v1"], "\(tags)")
    }

    /// Two copies of the same objects on the remote, the first one (by pack name) damaged: the
    /// clone takes the good copy, every time.
    @Test func aDamagedCopyFallsBackToTheGoodOne() throws {
        let (server, dir, a) = try pushed("dup", attack: "duplicate-damaged")
        defer { server.stop(); dir.remove() }
        for n in 0..<2 {
            let b = dir.appending("b\(n)")
            let cloned = try clone(server, into: b)
            #expect(cloned.status == 0, "\(cloned)")
            #expect(try cairn(b, ["fsck"]).status == 0)
        }
        _ = a
    }

    /// A large object whose bytes do not match its name: streamed to disk, found out, and the
    /// clone fails naming it and removes what it made; a pull into an existing repository leaves
    /// no staged file behind.
    @Test func aLooseObjectWithWrongBytesIsRefusedAndLeavesNothing() throws {
        let (server, dir, a) = try pushed("loose", attack: "loose-garbage")
        defer { server.stop(); dir.remove() }
        let b = dir.appending("b")
        let cloned = try clone(server, into: b)
        #expect(cloned.status == 1 && cloned.stderr.contains("is corrupt") && cloned.stderr.contains("objects/"), "\(cloned)")
        #expect(!FileManager.default.fileExists(atPath: b))
        let pulled = try cairn(a, ["pull"])
        #expect(pulled.status == 1, "\(pulled)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: a + "/.cairn/tmp").isEmpty)
    }

    /// A listing that always says there is more, with the same continuation token, is refused
    /// instead of being read forever.
    @Test func anEndlessListingIsRefused() throws {
        let (server, dir, _) = try pushed("listing", attack: "noop")
        defer { server.stop(); dir.remove() }
        let proxy = try server.faultyProxy(failureRate: 0, seed: 1, environment: ["FAULT_PROXY_ENDLESS_LISTING": "1"])
        let b = dir.appending("b")
        let result = try CLI.run(["clone", "s3://cairn/ds", b, "--endpoint", proxy, "--path-style"], environment: env)
        #expect(result.status == 1 && result.stderr.contains("repeats a continuation token"), "\(result)")
    }
}
