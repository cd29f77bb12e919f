import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnStore
import CairnSupport
import Foundation

/// Issue #27's scale figures for boxes: a synthetic catalog of N images, a COCO file of M boxes
/// on them (written here, seeded), then each step timed as a `cairn` child process (wall time,
/// peak RSS): `boxes import` (beside pycocotools loading the same file), the first snapshot, a
/// snapshot after K items' box sets were edited, `diff` of the two, `ls`, `show` of one item.
struct BoxBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxes",
        abstract: "Synthetic images with COCO boxes: boxes import, first snapshot, incremental snapshot after K edits, diff, ls, show.")

    @Option(help: "Images in the synthetic catalog.") var images: Int = 150_000
    @Option(help: "Boxes in the COCO file, spread over the images.") var boxes: Int = 5_000_000
    @Option(help: "Items whose box sets are edited between the two snapshots.") var edits: Int = 1000
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Flag(help: "Keep the scratch repository.") var keep = false

    func run() throws {
        let repo = work + "/boxes-\(getpid())"
        try? FileManager.default.removeItem(atPath: repo)
        defer { if !keep { try? FileManager.default.removeItem(atPath: repo) } }
        let repository = try Repository.initialize(at: repo, config: RepositoryConfig())
        let (width, height) = (640, 480)
        let classes = (0..<20).map { "class\($0)" }
        func path(_ i: Int) -> String { "images/\(String(format: "%07d", i)).jpg" }
        try repository.catalog.write { tx in
            for first in stride(from: 0, to: images, by: 10_000) {
                _ = try tx.insertItems((first..<min(first + 10_000, images)).map { i in
                    let id = BlobID(hashing: Data("synthetic image \(i)".utf8))
                    return NewItem(blobID: id, path: path(i), format: "jpeg", width: width, height: height, byteSize: 50_000,
                                   split: SplitPolicy.standard.split(for: id))
                }, addedAt: Date())
            }
        }
        // The COCO file: boxes dealt round-robin over the images, seeded sizes and places.
        let file = repo + "/instances.json"
        var rng = SplitMix64(seed: 27)
        func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * Double(rng.next() >> 11) / Double(1 << 53) }
        // Written in chunks: the bench stays small, and a child's peak RSS (which starts from this
        // process's at spawn) is the child's own.
        guard FileManager.default.createFile(atPath: file, contents: nil) else { throw ValidationError("cannot write \(file)") }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        var out = Data()
        var written = 0
        func flush(_ force: Bool = false) throws {
            guard force || out.count > 1 << 20 else { return }
            try handle.write(contentsOf: out)
            written += out.count
            out.removeAll(keepingCapacity: true)
        }
        out.append(contentsOf: "{\"categories\":[".utf8)
        out.append(contentsOf: classes.enumerated().map { "{\"id\":\($0 + 1),\"name\":\"\($1)\"}" }.joined(separator: ",").utf8)
        out.append(contentsOf: "],\"images\":[".utf8)
        for i in 0..<images {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "{\"id\":\(i + 1),\"file_name\":\"\(path(i))\",\"width\":\(width),\"height\":\(height)}".utf8)
            try flush()
        }
        out.append(contentsOf: "],\"annotations\":[".utf8)
        for n in 0..<boxes {
            let w = (uniform(4, 200) * 100).rounded() / 100, h = (uniform(4, 200) * 100).rounded() / 100
            let x = (uniform(0, Double(width) - w) * 100).rounded(.down) / 100, y = (uniform(0, Double(height) - h) * 100).rounded(.down) / 100
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: ("{\"id\":\(n + 1),\"image_id\":\(n % images + 1),\"category_id\":\(Int(rng.next() % 20) + 1),"
                                    + "\"bbox\":[\(x),\(y),\(w),\(h)],\"area\":\(w * h),\"iscrowd\":0}").utf8)
            try flush()
        }
        out.append(contentsOf: "]}".utf8)
        try flush(true)
        try handle.close()
        emit(["bench": "boxes_setup", "images": images, "boxes": boxes, "coco_mb": format(Double(written) / 1e6, 1)])

        let imported = try timed(cairnBinary, ["-C", repo, "boxes", "import", file])
        emit(["bench": "boxes_import", "images": images, "boxes": boxes, "seconds": format(imported.seconds, 2),
              "maxrss_mb": format(imported.maxRSSMB), "rc": imported.status])
        // The peer a user reads COCO files with, on the same file: pycocotools' COCO() (parse and index).
        let peer = try timed("/usr/bin/env", ["python3", "-c", "import sys; from pycocotools.coco import COCO; COCO(sys.argv[1])", file])
        emit(["bench": "boxes_load_pycocotools", "images": images, "boxes": boxes, "seconds": format(peer.seconds, 2),
              "maxrss_mb": format(peer.maxRSSMB), "rc": peer.status])
        let first = try timed(cairnBinary, ["-C", repo, "snapshot", "-m", "first"])
        emit(["bench": "boxes_snapshot_first", "images": images, "boxes": boxes, "seconds": format(first.seconds, 2),
              "maxrss_mb": format(first.maxRSSMB), "rc": first.status])
        // K items get a new set from another annotator's review: their first box moved by 3 pixels.
        try repository.catalog.write { tx in
            let reviewer = try tx.ensureAnnotator("bench", role: .reviewer)
            let byName = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            let records = try tx.itemRecords(ids: (0..<edits).map { Int64($0 * (images / max(edits, 1)) + 1) })
            for (id, record) in records {
                guard let item = try tx.item(id: id), let set = record.boxes?.resolved, let box = set.boxes.first else { continue }
                let moved = Box(className: box.className, x: max(0, box.x - 3), y: box.y, width: box.width, height: box.height)
                try tx.appendBoxVerdict(item: item, reviewer: reviewer, boxes: BoxSet(set.boxes.dropFirst() + [moved]), classes: byName)
            }
        }
        let second = try timed(cairnBinary, ["-C", repo, "snapshot", "-m", "edits"])
        emit(["bench": "boxes_snapshot_incremental", "images": images, "edits": edits, "seconds": format(second.seconds, 3),
              "maxrss_mb": format(second.maxRSSMB), "rc": second.status])
        let diff = try timed(cairnBinary, ["-C", repo, "diff", "HEAD~1", "HEAD"])
        emit(["bench": "boxes_diff", "images": images, "edits": edits, "seconds": format(diff.seconds, 3),
              "maxrss_mb": format(diff.maxRSSMB), "rc": diff.status])
        let list = try timed(cairnBinary, ["-C", repo, "ls"])
        emit(["bench": "boxes_ls", "images": images, "seconds": format(list.seconds, 3), "maxrss_mb": format(list.maxRSSMB), "rc": list.status])
        let show = try timed(cairnBinary, ["-C", repo, "show", path(images / 2)])
        emit(["bench": "boxes_show", "images": images, "seconds": format(show.seconds, 3), "maxrss_mb": format(show.maxRSSMB), "rc": show.status])
    }
}
