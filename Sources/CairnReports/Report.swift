import CairnCatalog
import CairnImaging
import CairnModels
import CairnQuality
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// What a report shows about a snapshot: where it sits, what it holds per class and split, what
/// changed since its parent, and the label-health figures computed for it.
public struct DataFacts: Sendable {
    public var snapshot: String
    public var tags: [String]
    public var message: String
    public var author: String
    public var createdAt: Date
    public var classes: [String]
    /// counts[class][split]; the class "(unlabeled)" and "(conflict)" for items without one label.
    public var counts: [String: [String: Int]]
    public var items: Int
    public var parent: String?
    /// Since the parent: added, removed, relabeled, moved between splits, and per-class deltas.
    public var changes: (added: Int, removed: Int, relabeled: Int, moved: Int, deltas: [String: Int])?
    /// From `cairn suspects` on this snapshot, when run.
    public var estimatedNoise: Double?
    public var suspects: Int?
    /// From `cairn check` on this snapshot, when run.
    public var leaks: Int?
    /// Items of the snapshot whose bytes were purged.
    public var purged = 0
}

/// A misclassified test image, as the report shows it.
public struct Misclassified: Sendable {
    public var path: String
    public var blob: String
    /// A PNG thumbnail as a `data:` URI, or nil with `problem` saying why there is none.
    public var thumbnail: String?
    public var problem: String?
    /// The people whose labels made the item's label (annotators, and the reviewer of a verdict).
    public var labeledBy: [String]
}

/// A most-confused pair of classes and its images.
public struct ConfusedPair: Sendable {
    public var truth: String
    public var predicted: String
    public var count: Int
    public var examples: [Misclassified]
}

/// Everything a run's report page shows.
public struct RunFacts: Sendable {
    public var record: RunRecord
    public var data: DataFacts
    public var pairs: [ConfusedPair]
    /// What could not be shown, in words (a missing checkpoint or image); the page says so and renders the rest.
    public var missing: [String]
}

extension Training {
    /// The data facts of snapshot `id`.
    public func dataFacts(_ id: BlobID) throws -> DataFacts {
        let row = try versioning.resolve(id.hex)
        let info = try versioning.info(row)
        let root = try versioning.tree.root(id)
        let purged = try catalog.read { try $0.purgedBlobs() }
        var counts: [String: [String: Int]] = [:]
        var items = 0, purgedHere = 0
        try versioning.tree.forEachItem(under: root.items) { record in
            items += 1
            if purged.contains(record.blobID) { purgedHere += 1 }
            let key = record.label.map { $0.classes.count == 1 ? $0.classes[0] : $0.description } ?? (record.conflict.isEmpty ? "(unlabeled)" : "(conflict)")
            counts[key, default: [:]][record.split.rawValue, default: 0] += 1
        }
        var facts = DataFacts(snapshot: id.hex, tags: info.tags, message: row.message, author: row.author, createdAt: row.createdAt,
                              classes: root.classes, counts: counts, items: items, parent: row.parentID?.hex, purged: purgedHere)
        if let parent = row.parentID, (try? versioning.tree.root(parent)) != nil {
            let diff = try versioning.diff(parent.hex, id.hex)
            facts.changes = (diff.added.count, diff.removed.count, diff.labelsChanged.count, diff.splitsChanged.count, diff.classDeltas)
        }
        let (suspects, check) = try catalog.read { tx in (try tx.report(snapshot: id, kind: "suspects"), try tx.report(snapshot: id, kind: "check")) }
        if let json = suspects.flatMap({ try? JSONSerialization.jsonObject(with: Data($0.json.utf8)) as? [String: Any] }) {
            facts.estimatedNoise = json["estimatedNoise"] as? Double
            facts.suspects = (json["suspects"] as? [Any])?.count
        }
        if let json = check.flatMap({ try? JSONSerialization.jsonObject(with: Data($0.json.utf8)) as? [String: Any] }) {
            facts.leaks = (json["leakCount"] as? Int) ?? (json["leaks"] as? [Any])?.count
        }
        return facts
    }

    /// The facts of run `record`'s report: its data, and the most confused class pairs on its test
    /// split (else val) with thumbnails of the misclassified images and who labeled them.
    /// `pairs` pairs are kept, `perPair` images each.
    public func runFacts(_ record: RunRecord, pairs maxPairs: Int = 5, perPair: Int = 6) throws -> RunFacts {
        guard let snapshot = BlobID(hex: record.snapshotID) else { throw TrainingError.unusableData("run \(record.id) names no snapshot") }
        var facts = RunFacts(record: record, data: try dataFacts(snapshot), pairs: [], missing: [])
        guard !record.isProgram else { return facts }
        let model: TrainedModel
        do {
            model = try self.model(of: record)
        } catch {
            facts.missing.append("the model's checkpoint (\(error)): no misclassified images can be shown")
            return facts
        }
        let examples = try SnapshotExamples.read(snapshot, versioning: versioning)
        let modelIndex = Dictionary(uniqueKeysWithValues: model.classes.enumerated().map { ($1, Int32($0)) })
        let split: Split = examples.examples.contains { $0.split == .test } ? .test : .val
        let chosen = examples.examples.filter { $0.split == split }.compactMap { e -> Example? in
            guard let index = modelIndex[examples.classes[Int(e.label)]] else { return nil }
            var e = e
            e.label = index
            return e
        }
        guard !chosen.isEmpty else { return facts }
        let loaded: LoadedImages
        do {
            loaded = try loader().load(chosen, model.preprocessing)
        } catch {
            facts.missing.append("the \(split.rawValue) images (\(error)): no misclassified images can be shown")
            return facts
        }
        let rows = loaded.usable(Array(chosen.indices))
        let k = model.classes.count
        let p = model.probabilities(loaded.table, rows: rows)
        var byPair: [[Int]: [Example]] = [:]
        for (i, row) in rows.enumerated() {
            let probabilities = p[i * k..<(i + 1) * k]
            let predicted = probabilities.argmax()!
            let truth = Int(chosen[row].label)
            if predicted != truth { byPair[[truth, predicted], default: []].append(chosen[row]) }
        }
        // Most confused first; ties in class order, so the page is the same every time.
        let top = byPair.sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key.lexicographicallyPrecedes($1.key) }
            .prefix(maxPairs)
        let store = repository.store
        for (pair, items) in top {
            var examples: [Misclassified] = []
            for example in items.prefix(perPair) {
                var shown = Misclassified(path: example.path, blob: example.blobID.hex, thumbnail: nil, problem: nil, labeledBy: [])
                do {
                    let png = try Self.thumbnail(try store.get(example.blobID), side: 64)
                    shown.thumbnail = "data:image/png;base64," + png.base64EncodedString()
                } catch {
                    shown.problem = "\(error)"
                    facts.missing.append("the image of \(example.path) (\(error))")
                }
                shown.labeledBy = try catalog.read { tx in
                    guard let item = try tx.item(blobID: example.blobID) else { return [] }
                    let people = try tx.history(itemID: item.id).filter { $0.label != nil }.map(\.annotator)
                        + tx.verdicts(itemID: item.id).map { "\($0.annotator) (verdict)" }
                    var seen = Set<String>()
                    return people.filter { seen.insert($0).inserted }
                }
                examples.append(shown)
            }
            facts.pairs.append(ConfusedPair(truth: model.classes[pair[0]], predicted: model.classes[pair[1]], count: items.count, examples: examples))
        }
        return facts
    }

    /// A PNG of the image scaled to fit `side` pixels (never enlarged).
    static func thumbnail(_ bytes: Data, side: Int) throws -> Data {
        let image = try ImageCodec.decode(bytes)
        let scale = min(1, Double(side) / Double(max(image.width, image.height)))
        let small = scale < 1 ? image.resized(width: max(1, Int(Double(image.width) * scale)), height: max(1, Int(Double(image.height) * scale))) : image
        return try ImageCodec.encodePNG(small)
    }
}
