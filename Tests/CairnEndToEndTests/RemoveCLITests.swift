import CairnTestSupport
import Foundation
import Testing

/// `cairn rm` and replacing a changed file through the real binary: removed items leave every list,
/// queue and later snapshot, older snapshots keep them, gc frees what no snapshot holds.
@Suite(.serialized) struct RemoveCLITests {
    @Test func removedItemsLeaveTheWorkingStateAndOlderSnapshotsKeepThem() throws {
        let dir = try TemporaryDirectory("cairn-e2e-rm")
        defer { dir.remove() }
        let input = dir.appending("in")
        for digit in ["1", "2", "3"] {
            try FileManager.default.createDirectory(atPath: "\(input)/\(digit)", withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted().prefix(5) {
                try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(f)", toPath: "\(input)/\(digit)/\(f)")
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: input, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        func paths(_ args: String...) throws -> Set<String> {
            Set(try CLI.run(["-C", repo, "ls", "--json"] + args).jsonArray().compactMap { $0["path"] as? String })
        }
        let all = try paths()
        let one = try #require(all.filter { $0.hasPrefix("in/1/") }.sorted().first)

        // Unknown items, or nothing matching: an error, nothing removed.
        var result = try cairn("rm", one, "in/1/nothing.png")
        #expect(result.status == 1 && result.stderr.contains("in/1/nothing.png"), "\(result)")
        result = try cairn("rm", "--path", "nowhere/*")
        #expect(result.status == 1 && result.stderr.contains("no item in the working state matches"), "\(result)")
        result = try cairn("rm", "--class", "9")
        #expect(result.status == 1 && result.stderr.contains("9"), "\(result)")
        result = try cairn("rm", "--class", "2", "--dry-run", "--json")
        let dry = try result.jsonObject()["removed"] as? [String]
        #expect(dry?.count == 5, "\(result)")
        #expect(try paths() == all)

        // By item, by path pattern, by class.
        #expect(try cairn("rm", one).status == 0)
        #expect(try cairn("rm", "--path", "in/3/*").status == 0)
        let left = try paths()
        #expect(left.count == 9 && !left.contains(one) && !left.contains { $0.hasPrefix("in/3/") }, "\(left)")
        let status = try cairn("status", "--json").jsonObject()
        #expect(status["items"] as? Int == 9 && (status["classes"] as? [String: Int])?["3"] ?? 0 == 0, "\(status)")
        let queue = try cairn("queue", "all", "-n", "100", "--json").jsonArray().compactMap { $0["path"] as? String }
        #expect(Set(queue) == left, "the labeling queues never serve a removed item")

        // The next snapshot leaves them out; v1 keeps them; diff names them; show still has the history.
        #expect(try cairn("snapshot", "-m", "removed").status == 0)
        let diff = try cairn("diff", "v1", "HEAD")
        #expect(diff.stdout.contains("6 removed") && diff.stdout.contains(one), "\(diff)")
        let (old, head) = (try paths("v1"), try paths("HEAD"))
        #expect(old == all && head == left)
        let shown = try cairn("show", one)
        #expect(shown.status == 0 && !shown.stdout.contains("unlabeled") && shown.stdout.contains("removed from the working state"), "\(shown)")
        #expect(try cairn("show", one, "--json").jsonObject()["label"] != nil, "a removed item keeps its label")

        // Re-importing the unchanged tree does not bring them back; a changed file replaces its item.
        #expect(try cairn("import", "--labels-from-dirs", input).status == 0)
        #expect(try paths() == left)
        let two = try #require(left.filter { $0.hasPrefix("in/2/") }.sorted().first)
        let seven = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/7").sorted().first)
        try FileManager.default.removeItem(atPath: dir.appending(two))
        try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/7/\(seven)", toPath: dir.appending(two))
        let before = try CLI.run(["-C", repo, "ls", "--path", two, "--json"]).jsonArray().first?["blobID"] as? String
        result = try cairn("import", "--labels-from-dirs", "--json", input)
        let replaced = try result.jsonObject()["replaced"] as? Int
        #expect(result.status == 0 && replaced == 1, "\(result)")
        let now = try CLI.run(["-C", repo, "ls", "--path", two, "--json"]).jsonArray()
        #expect(now.count == 1 && now.first?["blobID"] as? String != before, "\(now)")

        // An item removed before any snapshot held it: gc frees its bytes, and fsck stays clean.
        let extra = dir.appending("extra")
        try FileManager.default.createDirectory(atPath: extra, withIntermediateDirectories: true)
        let eight = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/8").sorted().first)
        try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/8/\(eight)", toPath: "\(extra)/\(eight)")
        #expect(try cairn("import", extra).status == 0)
        let blob = try #require(try CLI.run(["-C", repo, "ls", "--path", "extra/*", "--json"]).jsonArray().first?["blobID"] as? String)
        #expect(try cairn("rm", "extra/\(eight)").status == 0)
        #expect(try cairn("snapshot", "-m", "after").status == 0)
        #expect(try cairn("gc", "--grace", "0").status == 0)
        #expect(try cairn("cat-blob", blob).status != 0, "no snapshot holds it: its bytes are gone")
        let replacedBlob = try #require(before)
        #expect(try cairn("cat-blob", replacedBlob).status == 0, "v1 still holds the replaced item")
        let fsck = try cairn("fsck")
        #expect(fsck.status == 0, "\(fsck)")

        // restore v1 --items: what was added since (the new bytes of the edited file) leaves, and what was
        // removed (six by rm, one replaced) comes back.
        func blobs(_ args: String...) throws -> Set<String> {
            Set(try CLI.run(["-C", repo, "ls", "--json"] + args).jsonArray().compactMap { $0["blobID"] as? String })
        }
        #expect(try cairn("annotators", "add", "rev", "--role", "reviewer").status == 0)
        result = try cairn("restore", "v1", "--items", "--author", "rev", "--json")
        let restored = try result.jsonObject()
        #expect(result.status == 0 && restored["broughtBack"] as? Int == 7 && restored["removed"] as? Int == 1, "\(result)")
        let (nowBlobs, oldBlobs, nowPaths) = (try blobs(), try blobs("v1"), try paths())
        #expect(nowBlobs == oldBlobs && nowPaths == all)
        #expect(try cairn("snapshot", "-m", "back").status == 0)
        #expect(try cairn("fsck").status == 0)
    }
}
