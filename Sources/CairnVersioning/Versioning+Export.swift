import CairnCatalog
import CairnStore
import Foundation
import Glibc

/// Formats `cairn export` writes.
public enum ExportFormat: String, Sendable, Codable, CaseIterable {
    /// `labels.csv` (path,label,split,blob_id) + `images/`.
    case csv
    /// `items.jsonl`, the full-fidelity format (provenance included) + `images/`; importable.
    case jsonl
    /// `annotations.json` in COCO form (categories in the snapshot's class order) + `images/`.
    case coco
    /// `<split>/<class>/<blob-id>.<ext>` + `cairn-manifest.jsonl`.
    case imagefolder
}

public struct ExportReport: Sendable, Codable {
    public var snapshot: BlobID
    public var format: ExportFormat
    public var items = 0
    public var files: [String] = []
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
}

extension Versioning {
    /// Writes snapshot `ref` to `directory` in `format`. Image files are named by blob id, so two
    /// images with the same original name never overwrite each other.
    public func export(_ ref: String, format: ExportFormat, to directory: String, force: Bool = false) throws -> ExportReport {
        if format == .imagefolder {
            let result = try checkout(ref, to: directory, options: CheckoutOptions(layout: .imagefolder, link: .copy, force: force))
            return ExportReport(snapshot: result.snapshot, format: format, items: result.files, files: [result.manifest])
        }
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        let items = try tree.items(under: root.items)
        let target = try prepareTarget(directory, force: force)
        try makeDirectoryInside(target, "images")
        for item in items {
            _ = try Self.materialise(item, at: target + "/images/" + fileName(item), store: repository.store, link: .copy, force: force)
        }
        var report = ExportReport(snapshot: row.id, format: format, items: items.count)
        let encoder = JSONEncoder.sorted
        switch format {
        case .csv:
            var csv = "path,label,split,blob_id\n"
            for item in items {
                csv += "images/\(fileName(item)),\(csvField(item.label?.commaSeparated ?? "")),\(item.split.rawValue),\(item.blobID.hex)\n"
            }
            try write(csv, to: target + "/labels.csv", force: force)
            report.files.append(target + "/labels.csv")
        case .jsonl:
            var out = try encoder.encode(ExportHeader(cairn_export: 1, snapshot: row.id, classes: root.classes)) + Data("\n".utf8)
            for item in items {
                out += try encoder.encode(ExportLine(
                    blob_id: item.blobID, file: "images/" + fileName(item), path: item.path, format: item.format,
                    width: item.width, height: item.height, split: item.split, label: item.label,
                    conflict: item.conflict.isEmpty ? nil : item.conflict, annotations: item.annotations, verdict: item.verdict))
                out += Data("\n".utf8)
            }
            try write(String(decoding: out, as: UTF8.self), to: target + "/items.jsonl", force: force)
            report.files.append(target + "/items.jsonl")
        case .coco:
            struct Image: Encodable { var id: Int; var file_name: String; var width: Int; var height: Int; var cairn_split: Split; var cairn_blob_id: BlobID }
            struct Category: Encodable { var id: Int; var name: String; var supercategory = "" }
            struct Annotation: Encodable { var id: Int; var image_id: Int; var category_id: Int }
            struct Info: Encodable { var description: String; var version: String; var snapshot: BlobID }
            struct Coco: Encodable { var info: Info; var images: [Image]; var categories: [Category]; var annotations: [Annotation] }
            // Category ids follow the snapshot's class order, starting at 1 (COCO reserves 0).
            let categoryIDs = Dictionary(uniqueKeysWithValues: root.classes.enumerated().map { ($1, $0 + 1) })
            var images: [Image] = []
            var annotations: [Annotation] = []
            for (n, item) in items.enumerated() {
                images.append(Image(id: n + 1, file_name: "images/" + fileName(item), width: item.width, height: item.height,
                                    cairn_split: item.split, cairn_blob_id: item.blobID))
                // One annotation per class: a multi-label item has one for each of its classes.
                for name in item.label?.classes ?? [] {
                    if let category = categoryIDs[name] {
                        annotations.append(Annotation(id: annotations.count + 1, image_id: n + 1, category_id: category))
                    }
                }
            }
            let coco = Coco(info: Info(description: "exported by cairn", version: row.id.hex, snapshot: row.id), images: images,
                            categories: root.classes.enumerated().map { Category(id: $0 + 1, name: $1) }, annotations: annotations)
            try write(String(decoding: try encoder.encode(coco), as: UTF8.self), to: target + "/annotations.json", force: force)
            report.files.append(target + "/annotations.json")
        case .imagefolder:
            break
        }
        return report
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

    private func write(_ text: String, to path: String, force: Bool) throws {
        if !force, FileOps.exists(path) { throw VersioningError.badTarget(path: path, reason: "exists (use --force to replace it)") }
        try writeNew(path, Data(text.utf8))
    }

    /// Imports a JSONL export (`items.jsonl` and the `images/` beside it) with its full provenance:
    /// the same paths, splits, classes in order, annotators' latest labels and verdicts, so a
    /// snapshot of the result has the exported snapshot's id. Every image is verified against
    /// its blob id before anything is recorded.
    public func importExport(_ jsonlPath: String) throws -> (items: Int, snapshot: BlobID) {
        if catalog.isReadOnly { throw CatalogError.readOnly(path: catalog.path) }
        return try repository.withLock(exclusive: false) { try importExportLocked(jsonlPath) }
    }

    private func importExportLocked(_ jsonlPath: String) throws -> (items: Int, snapshot: BlobID) {
        guard let data = FileManager.default.contents(atPath: jsonlPath) else {
            throw VersioningError.badExport(path: jsonlPath, reason: "cannot read the file")
        }
        let base = (jsonlPath as NSString).deletingLastPathComponent
        let (header, records) = try Self.parseExport(data, path: jsonlPath)
        for record in records {
            guard !record.file.hasPrefix("/"), !record.file.split(separator: "/").contains("..") else {
                throw VersioningError.badExport(path: jsonlPath, reason: "\(record.file) leaves the export directory")
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
                    let who = try tx.ensureAnnotator(verdict.reviewer, role: .reviewer)
                    try tx.appendVerdict(itemID: item.id, reviewerID: who.id, classIDs: try tx.ensureClasses(verdict.label))
                }
            }
        }
        return (records.count, header.snapshot)
    }
}
