import CairnCatalog
import CairnModels
import CairnStore
import CairnVersioning
import CairnSupport
import Foundation

/// One box a model found: a class, a rectangle in pixels of the stored image, and its score.
public struct BoxPrediction: Sendable, Hashable, Codable {
    public var className: String
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double
    public var score: Double

    public init(className: String, x: Double, y: Double, width: Double, height: Double, score: Double) {
        (self.className, self.x, self.y, self.width, self.height, self.score) = (className, x, y, width, height, score)
    }

    /// The predicted box as a box of its class (no score).
    public var box: Box { Box(className: className, x: x, y: y, width: width, height: height) }

    /// Most boxes one item's line may carry.
    public static let maxPerItem = 10_000

    /// What is wrong with an item's predicted boxes, if anything: an unknown class, a box that is
    /// not a finite rectangle of positive size, a score outside [0, 1], too many boxes.
    static func problem(_ lines: [BoxPredictionLine], classes: Set<String>) -> String? {
        guard lines.count <= maxPerItem else { return "\(lines.count) boxes, more than the \(maxPerItem) an item may have" }
        for (i, line) in lines.enumerated() {
            let which = "box \(i + 1)"
            guard classes.contains(line.class) else { return "\(which): class \(Printable.escaped(String(line.class.prefix(80)))) is not one of the run's" }
            guard line.bbox.count == 4, line.bbox.allSatisfy(\.isFinite), line.bbox[2] > 0, line.bbox[3] > 0 else {
                return "\(which): bbox must be [x, y, width, height], finite, with a positive width and height"
            }
            guard line.score.isFinite, (0...1).contains(line.score) else { return "\(which): score must be between 0 and 1" }
        }
        return nil
    }
}

/// A box as a predictions file writes it: `{"class": "cat", "bbox": [x, y, w, h], "score": 0.9}`.
struct BoxPredictionLine: Codable {
    var `class`: String
    var bbox: [Double]
    var score: Double

    var prediction: BoxPrediction {
        BoxPrediction(className: `class`, x: bbox[0], y: bbox[1], width: bbox[2], height: bbox[3], score: score)
    }

    init(_ box: BoxPrediction) { (`class`, bbox, score) = (box.className, [box.x, box.y, box.width, box.height], box.score) }
}

/// Where a run's box predictions are: a blob of JSON lines (`{"blob_id": ID, "boxes": […]}`, by blob id).
public struct StoredBoxPredictions: Sendable, Hashable, Codable {
    public var blob: String
    public var items: Int
    public var boxes: Int
}

extension Training {
    /// Stores box predictions by item as one blob: lines in blob id order, each item's boxes by
    /// score, highest first (ties in the order given).
    func storeBoxPredictions(_ byItem: [BlobID: [BoxPrediction]]) throws -> StoredBoxPredictions {
        struct Line: Encodable { var blob_id: String; var boxes: [BoxPredictionLine] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        var count = 0
        for (id, boxes) in byItem.sorted(by: { $0.key.hex < $1.key.hex }) {
            let ranked = boxes.enumerated().sorted { ($1.element.score, $0.offset) < ($0.element.score, $1.offset) }.map(\.element)
            out += try encoder.encode(Line(blob_id: id.hex, boxes: ranked.map(BoxPredictionLine.init)))
            out += Data("\n".utf8)
            count += boxes.count
        }
        let blob = HashedBlob(out)
        _ = try repository.store.put(blob)
        try repository.store.flush()
        return StoredBoxPredictions(blob: blob.id.hex, items: byItem.count, boxes: count)
    }

    /// Run `record`'s box predictions by item, read from their blob and checked again (a pulled
    /// record is not trusted).
    /// - Throws: `TrainingError.badParameter` for a run without box predictions, `.badPredictions` for a blob that does not read back.
    public func boxPredictions(of record: RunRecord) throws -> [BlobID: [BoxPrediction]] {
        guard let stored = record.boxPredictions else {
            throw TrainingError.badParameter("run \(record.id) has no box predictions (a program run by `cairn run` writes them to "
                                             + "$CAIRN_RUN_DIR/predictions.jsonl as {\"blob_id\": ID, \"boxes\": [{\"class\", \"bbox\", \"score\"}]} "
                                             + "lines, or `cairn predictions import RUN FILE`; Docs/TRAINING.md)")
        }
        func bad(_ why: String) -> TrainingError { .badPredictions(file: "run \(record.id)'s box predictions", problems: [why], total: 1) }
        guard let id = BlobID(hex: stored.blob) else { throw bad("the record names no blob") }
        struct Line: Decodable { var blob_id: String; var boxes: [BoxPredictionLine] }
        var out: [BlobID: [BoxPrediction]] = [:]
        let known = Set(record.classes)
        for (i, raw) in try repository.store.get(id).split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let line = try? JSONDecoder().decode(Line.self, from: Data(raw)), let blob = BlobID(hex: line.blob_id) else {
                throw bad("line \(i + 1) does not read back")
            }
            if let why = BoxPrediction.problem(line.boxes, classes: known) { throw bad("line \(i + 1): \(why)") }
            out[blob] = line.boxes.map(\.prediction)
        }
        return out
    }
}

extension Training {
    /// COCO's detection figures (`DetectionEvaluation`) of run `runRef`'s box predictions against
    /// the resolved boxes of snapshot `dataRef` (one split, or all), kept in the run's record. The
    /// images are the split's items whose boxes resolve (an empty set: an image with no objects),
    /// in the snapshot's order, as `cairn export --format coco` lists them; the classes are the
    /// snapshot's.
    /// - Throws: `TrainingError.badParameter` for a run without box predictions,
    ///   `.unusableData` when no item of the split has resolved boxes.
    public func evaluateBoxes(run runRef: String, data dataRef: String, split: Split? = nil) throws -> BoxEvaluationRecord {
        var record = try run(runRef)
        let predicted = try boxPredictions(of: record)
        let snapshot = try versioning.resolve(dataRef)
        let root = try versioning.tree.root(snapshot.id)
        let items = try versioning.readableItems(try versioning.tree.items(under: root.items)).items.filter { split == nil || $0.split == split }
        var images: [DetectionEvaluation.Image] = []
        var withoutBoxes = 0, unresolved = 0, notPredicted = 0
        for item in items {
            guard let boxes = item.boxes else {
                withoutBoxes += 1
                continue
            }
            guard let truth = boxes.resolved else {
                unresolved += 1
                continue
            }
            if predicted[item.blobID] == nil && !truth.isEmpty { notPredicted += 1 }
            images.append(DetectionEvaluation.Image(truth: truth.boxes, detections: predicted[item.blobID] ?? []))
        }
        guard !images.isEmpty else {
            throw TrainingError.unusableData("no item \(split.map { "of its \($0) split " } ?? "")has boxes that resolve "
                                             + "(\(withoutBoxes) without boxes, \(unresolved) with sets that differ unreviewed)")
        }
        let result = BoxEvaluationRecord(dataRef: dataRef, snapshotID: snapshot.id.hex, split: split?.rawValue ?? "all", at: Date(),
                                         evaluation: DetectionEvaluation(images: images, classes: root.classes),
                                         withoutBoxes: withoutBoxes, unresolved: unresolved, notPredicted: notPredicted)
        record.boxEvaluations = (record.boxEvaluations ?? []) + [result]
        if !catalog.isReadOnly { try save(record) }
        return result
    }
}
