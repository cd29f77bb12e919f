import CairnCatalog
import CairnStore
import CairnSupport
import Foundation

extension Versioning {
    /// Writes a snapshot's boxes in the layout ultralytics (YOLOv5/v8) reads: `images/<split>/KEY.ext`
    /// and `labels/<split>/KEY.txt` (KEY = blob id), one line per box `CLASS_INDEX CX CY W H`, the
    /// centre and size divided by the image's width and height (an empty file: no objects), and
    /// `data.yaml` with the dataset's absolute `path`, each split's image folder and the class names
    /// by index (the snapshot's class order, as in the COCO export). Only items whose boxes resolve
    /// are written. YOLO has no crowd or occluded flag: crowd boxes are left out and occluded flags
    /// dropped, and the report counts both, so nothing is lost unsaid.
    func exportYOLO(_ row: SnapshotRecord, classes: [String], items all: [ItemRecord], purged: Int, to directory: String,
                    force: Bool) throws -> ExportReport {
        let items = all.filter { $0.boxes?.resolved != nil }
        guard !items.isEmpty else {
            throw VersioningError.badTarget(path: directory, reason: "snapshot \(row.id.hex.prefix(12)) has no resolved boxes; YOLO holds boxes only")
        }
        let target = try prepareTarget(directory, force: force)
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var report = ExportReport(snapshot: row.id, format: .yolo, items: items.count, purged: purged)
        (report.boxes, report.withoutBoxes, report.unresolvedBoxes) = (0, all.filter { $0.boxes == nil }.count,
                                                                       all.filter { $0.boxes != nil && $0.boxes?.resolved == nil }.count)
        var crowd = 0, occluded = 0
        for split in Split.allCases {
            let inSplit = items.filter { $0.split == split }
            guard !inSplit.isEmpty else { continue }
            try makeDirectoryInside(target, "images/\(split.rawValue)")
            try makeDirectoryInside(target, "labels/\(split.rawValue)")
            for item in inSplit {
                _ = try Self.materialise(item, at: target + "/images/\(split.rawValue)/" + fileName(item), store: repository.store, link: .copy,
                                         force: force)
                var lines = ""
                for box in item.boxes?.resolved?.boxes ?? [] {
                    if box.crowd { crowd += 1; continue }
                    if box.occluded { occluded += 1 }
                    guard let classIndex = index[box.className] else { continue }
                    let (w, h) = (Double(item.width), Double(item.height))
                    lines += "\(classIndex) \((box.x + box.width / 2) / w) \((box.y + box.height / 2) / h) \(box.width / w) \(box.height / h)\n"
                    report.boxes! += 1
                }
                try writeNew(target + "/labels/\(split.rawValue)/\(item.blobID.hex).txt", Data(lines.utf8))
            }
        }
        let quoted = Self.yamlQuoted
        var yaml = "# written by cairn from snapshot \(row.id.hex)\npath: \(quoted(target))\n"
        for split in Split.allCases where items.contains(where: { $0.split == split }) { yaml += "\(split.rawValue): images/\(split.rawValue)\n" }
        yaml += "nc: \(classes.count)\nnames:\n" + classes.enumerated().map { "  \($0): \(quoted($1))\n" }.joined()
        try writeNew(target + "/data.yaml", Data(yaml.utf8))
        report.files = [target + "/data.yaml"]
        (report.crowdLeftOut, report.occludedDropped) = (crowd, occluded)
        return report
    }

    /// A string as a double-quoted YAML scalar, \ and " escaped: data.yaml is written by hand (its
    /// keys are fixed; class names and paths hold no control characters).
    static func yamlQuoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
