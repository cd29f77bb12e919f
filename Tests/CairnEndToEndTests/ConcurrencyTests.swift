import CairnTestSupport
import Foundation
import Testing

/// Several labeling processes at once, with a snapshotter and gc running beside them: no label
/// lost or duplicated, no "database is locked" reaching anyone, every snapshot consistent.
/// `CAIRN_CONCURRENT_LABELS` sets labels per process (200 here; `make stress` uses 1,000).
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct ConcurrencyTests {
    @Test func eightLabelersASnapshotterAndGCAtOnce() throws {
        let perProcess = Int(ProcessInfo.processInfo.environment["CAIRN_CONCURRENT_LABELS"] ?? "") ?? 200
        let dir = try TemporaryDirectory("cairn-concurrent")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), images: 300, imageClasses: ["a", "b", "c"], labelsFromDirectories: true)
        let paths = try CLI.run(["-C", repo, "ls", "--json"]).json([[String: AnyDecodable]].self).compactMap { $0["path"]?.string }

        func start(_ arguments: [String], stdin: Data? = nil) throws -> (Process, Pipe, Pipe) {
            try CLI.start(["-C", repo] + arguments, stdin: stdin)
        }

        var labelers: [(Process, Pipe, Pipe)] = []
        for worker in 0..<8 {
            var lines = ""
            for n in 0..<perProcess { lines += "\(paths[(worker * 37 + n * 11) % paths.count]) \(["a", "b", "c"][(worker + n) % 3])\n" }
            labelers.append(try start(["annotate", "--stdin", "--annotator", "worker\(worker)"], stdin: Data(lines.utf8)))
        }
        // Snapshots and gc while they run.
        var snapshots = 0, gcs = 0
        while labelers.contains(where: { $0.0.isRunning }) {
            let snap = try CLI.run(["-C", repo, "snapshot", "-m", "during \(snapshots)"])
            #expect(snap.status == 0, "\(snap)")
            #expect(!snap.stderr.contains("locked"))
            snapshots += 1
            let gc = try CLI.run(["-C", repo, "gc", "--grace", "0"])
            #expect(gc.status == 0, "\(gc)")
            gcs += 1
        }
        for (n, (process, out, err)) in labelers.enumerated() {
            let acknowledged = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .split(separator: "\n").filter { $0.hasPrefix("ok ") }.count
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "worker\(n): \(errors)")
            #expect(!errors.contains("locked"), "worker\(n): \(errors)")
            #expect(acknowledged == perProcess, "worker\(n) acknowledged \(acknowledged)")
        }
        #expect(snapshots > 0 && gcs > 0)
        // Exactly perProcess labels per worker: none lost, none doubled.
        let annotations = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()["annotations"] as? Int
        #expect(annotations == 300 + 8 * perProcess)
        // A final snapshot equals a full rebuild from a JSONL round trip of the same state.
        let final = try CLI.run(["-C", repo, "snapshot", "-m", "final", "--json"])
        #expect(final.status == 0)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
        #expect(try CLI.run(["-C", repo, "export", "HEAD", "--format", "jsonl", dir.appending("x")]).status == 0)
        let copy = dir.appending("copy")
        #expect(try CLI.run(["init", copy]).status == 0)
        #expect(try CLI.run(["-C", copy, "import", "--jsonl", dir.appending("x/items.jsonl")]).status == 0)
        let rebuilt = try CLI.run(["-C", copy, "snapshot", "-m", "rebuilt", "--json"]).jsonObject()
        let head = try CLI.run(["-C", repo, "log", "-n", "1", "--json"]).json([[String: AnyDecodable]].self).first?["id"]?.string
        #expect((rebuilt["snapshot"] as? [String: Any])?["id"] as? String == head)
    }
}
