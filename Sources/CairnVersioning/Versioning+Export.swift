import CairnSupport
import CairnCatalog
import CairnStore
import Foundation
import Glibc

/// Formats `cairn export` writes.
public enum ExportFormat: String, Sendable, Codable, CaseIterable {
    /// `labels.csv` (path,label,split,blob_id,original_path,status) + `images/`.
    case csv
    /// `items.jsonl`, the full-fidelity format (provenance included) + `images/`; importable.
    case jsonl
    /// `annotations/instances_<split>.json` in COCO form, one file per split (categories in the
    /// snapshot's class order, each image-level label a whole-image box) + `images/`.
    case coco
    /// `<split>/<class>/<blob-id>.<ext>` + `cairn-manifest.jsonl`.
    case imagefolder
    /// WebDataset shards `<split>-NNNNNN.tar` + `classes.txt`, `_info.json`, `manifest.json` (`WebDataset`).
    case webdataset
    /// `images/<split>/`, `labels/<split>/*.txt` and `data.yaml`, as ultralytics reads boxes (`exportYOLO`).
    case yolo
    /// `tasks.json` as Label Studio exports an object-detection project + `images/` (`exportLabelStudio`).
    case labelstudio
    /// Pascal VOC: `Annotations/<blob id>.xml`, `ImageSets/Main/<split>.txt` + `images/` (`exportXML`).
    case voc
    /// CVAT for images 1.1: `annotations.xml` + `images/` (`exportXML`).
    case cvat
}

public struct ExportReport: Sendable, Codable {
    public var snapshot: BlobID
    public var format: ExportFormat
    public var items = 0
    public var files: [String] = []
    /// Items of the snapshot left out because their bytes were purged (`cairn purge`).
    public var purged = 0
    /// COCO of a snapshot with boxes: the boxes written, and the images left out because nobody
    /// drew boxes on them or their annotators' sets differ unreviewed. Absent otherwise.
    public var boxes: Int?
    public var withoutBoxes: Int?
    public var unresolvedBoxes: Int?
    /// YOLO: crowd boxes left out and occluded flags dropped (the format has neither).
    public var crowdLeftOut: Int?
    public var occludedDropped: Int?
}

/// The first line of `items.jsonl`.
public struct ExportHeader: Codable, Sendable {
    var cairn_export: Int
    var snapshot: BlobID
    var classes: [String]
}

/// One item line of `items.jsonl`.
public struct ExportLine: Codable, Sendable {
    var blob_id: BlobID
    var file: String
    var path: String
    var format: String
    var width: Int
    var height: Int
    var split: Split
    var label: Label?
    var conflict: [Label]?
    var annotations: [ItemRecord.AnnotatorLabel]
    var verdict: ItemRecord.Verdict?
    /// Each annotator's latest box set, the box verdict and the resolved boxes; absent without boxes.
    var boxes: BoxRecord?
}

extension Versioning {
    /// Writes snapshot `ref` to `directory` in `format`. Image files are named by blob id, so two
    /// images with the same original name never overwrite each other.
    public func export(_ ref: String, format: ExportFormat, to directory: String, force: Bool = false,
                       shardSize: Int = WebDataset.defaultShardSize) throws -> ExportReport {
        if format == .webdataset {
            let manifest = try exportWebDataset(ref, to: directory, shardSize: shardSize, force: force)
            return ExportReport(snapshot: manifest.snapshot, format: format, items: manifest.shards.reduce(0) { $0 + $1.samples },
                                files: manifest.shards.map(\.name) + ["classes.txt", "_info.json", "manifest.json"],
                                purged: manifest.leftOut.purged ?? 0)
        }
        if format == .imagefolder {
            let result = try checkout(ref, to: directory, options: CheckoutOptions(layout: .imagefolder, link: .copy, force: force))
            return ExportReport(snapshot: result.snapshot, format: format, items: result.files, files: [result.manifest], purged: result.purged)
        }
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        let (items, purged) = try readableItems(try tree.items(under: root.items))
        if format == .yolo { return try exportYOLO(row, classes: root.classes, items: items, purged: purged, to: directory, force: force) }
        if [.labelstudio, .voc, .cvat].contains(format), !items.contains(where: { $0.boxes?.resolved != nil }) {
            throw VersioningError.badTarget(path: directory, reason: "snapshot \(row.id.hex.prefix(12)) has no resolved boxes; this format holds boxes")
        }
        let target = try prepareTarget(directory, force: force)
        try makeDirectoryInside(target, "images")
        for item in items {
            _ = try Self.materialise(item, at: target + "/images/" + fileName(item), store: repository.store, link: .copy, force: force)
        }
        var report = ExportReport(snapshot: row.id, format: format, items: items.count, purged: purged)
        let encoder = JSONEncoder.sorted
        switch format {
        case .csv:
            // `status` tells apart what an empty label cannot: unlabeled, in conflict, or "no class applies".
            var csv = "path,label,split,blob_id,original_path,status\n"
            for item in items {
                let status = item.label.map { $0.classes.isEmpty ? "none" : "labeled" } ?? (item.conflict.isEmpty ? "unlabeled" : "conflict")
                csv += "images/\(fileName(item)),\(csvField(item.label?.commaSeparated ?? "")),\(item.split.rawValue),\(item.blobID.hex),"
                    + "\(csvField(item.path)),\(status)\n"
            }
            try write(csv, to: target + "/labels.csv", force: force)
            report.files.append(target + "/labels.csv")
        case .jsonl:
            var out = try encoder.encode(ExportHeader(cairn_export: 1, snapshot: row.id, classes: root.classes)) + Data("\n".utf8)
            for item in items {
                out += try encoder.encode(ExportLine(
                    blob_id: item.blobID, file: "images/" + fileName(item), path: item.path, format: item.format,
                    width: item.width, height: item.height, split: item.split, label: item.label,
                    conflict: item.conflict.isEmpty ? nil : item.conflict, annotations: item.annotations, verdict: item.verdict,
                    boxes: item.boxes))
                out += Data("\n".utf8)
            }
            try write(String(decoding: out, as: UTF8.self), to: target + "/items.jsonl", force: force)
            report.files.append(target + "/items.jsonl")
        case .coco:
            try makeDirectoryInside(target, "annotations")
            let withBoxes = items.contains { $0.boxes != nil }
            if withBoxes {
                report.boxes = items.reduce(0) { $0 + ($1.boxes?.resolved?.count ?? 0) }
                report.withoutBoxes = items.filter { $0.boxes == nil }.count
                report.unresolvedBoxes = items.filter { $0.boxes != nil && $0.boxes?.resolved == nil }.count
            }
            for split in Split.allCases {
                let path = target + "/annotations/instances_\(split.rawValue).json"
                let coco = COCO(snapshot: row.id, classes: root.classes, items: items.filter { $0.split == split }, boxes: withBoxes)
                try write(String(decoding: try encoder.encode(coco), as: UTF8.self), to: path, force: force)
                report.files.append(path)
            }
        case .labelstudio:
            try exportLabelStudio(row, items: items, to: target, force: force, report: &report)
        case .voc, .cvat:
            try exportXML(row, classes: root.classes, items: items, format: format, to: target, force: force, report: &report)
        case .imagefolder, .webdataset, .yolo:
            break
        }
        return report
    }

    /// One split of a snapshot in COCO's object-detection format, which is what tools read
    /// (`pycocotools`, detectron2, MMDetection). A snapshot with boxes writes them: each item whose
    /// boxes resolve (Docs/LABELS.md, "Boxes") is an image with one annotation per box (`bbox` in
    /// pixels, `area` its width times height, `iscrowd`, and `attributes.occluded` as CVAT writes
    /// it); an image whose set is empty is listed with none, and items nobody drew on or whose sets
    /// differ unreviewed are left out (counted in the report). A snapshot without boxes has
    /// image-level labels only, so each class of an image is an annotation whose box is the whole
    /// image (`[0, 0, width, height]`): COCOeval runs on it, and a classifier's output can be
    /// scored as whole-image detections. `file_name` is relative to `images/`. Category ids are 1 +
    /// the class's place in the snapshot's class list (COCO keeps 0 for the background); image and
    /// annotation ids count from 1 within the file.
    struct COCO: Encodable {
        struct Image: Encodable { var id: Int; var file_name: String; var width: Int; var height: Int; var cairn_split: Split; var cairn_blob_id: BlobID; var cairn_path: String }
        struct Category: Encodable { var id: Int; var name: String; var supercategory = "" }
        struct Attributes: Encodable { var occluded: Bool }
        struct Annotation: Encodable {
            var id: Int, image_id: Int, category_id: Int
            var bbox: [Double], area: Double, iscrowd = 0
            var attributes: Attributes?
        }
        struct Info: Encodable { var description: String; var version: String; var snapshot: BlobID }
        var info: Info
        var licenses: [String] = []
        var images: [Image] = []
        var categories: [Category]
        var annotations: [Annotation] = []

        init(snapshot: BlobID, classes: [String], items: [ItemRecord], boxes: Bool) {
            info = Info(description: "exported by cairn", version: snapshot.hex, snapshot: snapshot)
            categories = classes.enumerated().map { Category(id: $0 + 1, name: $1) }
            let categoryIDs = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0 + 1) })
            for item in items {
                let drawn = item.boxes?.resolved
                if boxes && drawn == nil { continue }
                let imageID = images.count + 1
                images.append(Image(id: imageID, file_name: fileName(item), width: item.width, height: item.height,
                                    cairn_split: item.split, cairn_blob_id: item.blobID, cairn_path: item.path))
                if let drawn {
                    for box in drawn.boxes {
                        guard let category = categoryIDs[box.className] else { continue }
                        annotations.append(Annotation(id: annotations.count + 1, image_id: imageID, category_id: category,
                                                      bbox: [box.x, box.y, box.width, box.height], area: box.area, iscrowd: box.crowd ? 1 : 0,
                                                      attributes: box.occluded ? Attributes(occluded: true) : nil))
                    }
                    continue
                }
                // One annotation per class: a multi-label item has one for each of its classes.
                for name in item.label?.classes ?? [] {
                    guard let category = categoryIDs[name] else { continue }
                    annotations.append(Annotation(id: annotations.count + 1, image_id: imageID, category_id: category,
                                                  bbox: [0, 0, Double(item.width), Double(item.height)], area: Double(item.width * item.height)))
                }
            }
        }
    }

    /// Parses `items.jsonl`: the header line, then one record per line.
    /// - Throws: `VersioningError.badExport` naming the first bad line.
    public static func parseExport(_ data: Data, path: String) throws -> (ExportHeader, [ExportLine]) {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        guard let first = lines.first, let header = try? JSONDecoder().decode(ExportHeader.self, from: Data(first)),
              header.cairn_export == 1
        else { throw VersioningError.badExport(path: path, reason: "line 1 is not a cairn export header") }
        var records: [ExportLine] = []
        for (n, line) in lines.dropFirst().enumerated() {
            do {
                records.append(try JSONDecoder().decode(ExportLine.self, from: Data(line)))
            } catch {
                throw VersioningError.badExport(path: path, reason: "line \(n + 2) is not an item record: \(error)")
            }
        }
        return (header, records)
    }

    private func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    func write(_ text: String, to path: String, force: Bool) throws {
        if !force, FileOps.exists(path) { throw VersioningError.badTarget(path: path, reason: "exists (use --force to replace it)") }
        try writeNew(path, Data(text.utf8))
    }

    /// Imports a JSONL export (`items.jsonl` and the `images/` beside it) with its full provenance:
    /// the same paths, splits, classes in order, annotators' latest labels and verdicts, so a
    /// snapshot of the result has the exported snapshot's id. Every image is verified against
    /// its blob id before anything is recorded.
    public func importExport(_ jsonlPath: String) throws -> (items: Int, snapshot: BlobID) {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        return try repository.withLock(exclusive: false) { try importExportLocked(jsonlPath) }
    }

    private func importExportLocked(_ jsonlPath: String) throws -> (items: Int, snapshot: BlobID) {
        guard let data = FileManager.default.contents(atPath: jsonlPath) else {
            throw VersioningError.badExport(path: jsonlPath, reason: "cannot read the file")
        }
        let base = (jsonlPath as NSString).deletingLastPathComponent
        let (header, records) = try Self.parseExport(data, path: jsonlPath)
        for (n, record) in records.enumerated() {
            for (what, path) in [("file", record.file), ("path", record.path)] {
                if let problem = ItemPath.documentProblem(path) {
                    throw VersioningError.badExport(path: jsonlPath, reason: "line \(n + 2): the \(what) '\(Printable.escaped(path))' cannot be used: \(problem)")
                }
            }
            guard let bytes = FileManager.default.contents(atPath: base + "/" + record.file) else {
                throw VersioningError.badExport(path: base + "/" + record.file, reason: "missing image file")
            }
            let blob = HashedBlob(bytes)
            guard blob.id == record.blob_id else {
                throw VersioningError.badExport(path: base + "/" + record.file, reason: "its bytes do not hash to \(record.blob_id)")
            }
            try repository.store.put(blob)
        }
        try repository.store.flush()
        try catalog.write { tx in
            for name in header.classes { _ = try tx.ensureClass(name) }
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            for record in records {
                let (item, _) = try tx.insertItem(NewItem(blobID: record.blob_id, path: record.path, format: record.format,
                                                          width: record.width, height: record.height,
                                                          byteSize: Int64(try repository.store.size(of: record.blob_id)),
                                                          split: record.split))
                for annotation in record.annotations {
                    let who = try tx.ensureAnnotator(annotation.annotator)
                    try tx.appendAnnotation(itemID: item.id, annotatorID: who.id, classIDs: try annotation.label.map(tx.ensureClasses))
                }
                if let verdict = record.verdict {
                    // Provenance replayed as recorded (the verdict was checked where it was made).
                    let who = try tx.ensureAnnotator(verdict.reviewer, role: .reviewer)
                    try tx.appendLabel(.verdicts, itemID: item.id, personID: who.id, classIDs: try tx.ensureClasses(verdict.label),
                                       at: Date(), stamp: nil, suggestion: nil)
                }
                if let boxes = record.boxes {
                    // Box sets too, each checked against the image as if drawn here.
                    for entry in boxes.annotations {
                        try tx.appendBoxes(.annotations, item: item, personID: try tx.ensureAnnotator(entry.person).id, boxes: entry.boxes, classes: classes)
                    }
                    if let verdict = boxes.verdict {
                        try tx.appendBoxes(.verdicts, item: item, personID: try tx.ensureAnnotator(verdict.person, role: .reviewer).id,
                                           boxes: verdict.boxes, classes: classes)
                    }
                }
            }
        }
        return (records.count, header.snapshot)
    }
}
