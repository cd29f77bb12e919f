import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnVersioning
import Foundation

/// A stored prediction with what names it to a person.
public struct PredictionListing: Sendable, Encodable {
    public var blobID: String
    public var path: String
    /// The most probable class, and its probability.
    public var predicted: String
    public var confidence: Float
    /// In the order of `classes`.
    public var probabilities: [Float]
}

extension Training {
    /// Stores run `runRef`'s model's class probabilities for snapshot `dataRef`'s items (every
    /// split, or `split`), replacing the run's earlier predictions. Items whose images do not
    /// decode are left out. Returns how many were stored.
    public func predict(run runRef: String, data dataRef: String, split: Split? = nil,
                        progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> Int {
        let record = try run(runRef)
        let model = try model(of: record)
        let snapshot = try versioning.resolve(dataRef)
        let root = try versioning.tree.root(snapshot.id)
        let items = try versioning.readableItems(try versioning.tree.items(under: root.items)).items.filter { split == nil || $0.split == split }
        guard !items.isEmpty else { throw TrainingError.unusableData("it has no items\(split.map { " in its \($0) split" } ?? "")") }
        let examples = items.map { Example(blobID: $0.blobID, path: $0.path, split: $0.split, label: 0) }
        let loaded = try loader().load(examples, model.preprocessing, progress: progress)
        let rows = loaded.usable(Array(examples.indices))
        let probabilities = model.probabilities(loaded.table, rows: rows)
        let k = model.classes.count
        let ids = try catalog.read { tx in try rows.map { try tx.item(blobID: items[$0].blobID)?.id } }
        var predictions: [Prediction] = []
        for (i, id) in ids.enumerated() {
            guard let id else { continue }
            predictions.append(Prediction(itemID: id, probabilities: Array(probabilities[i * k..<(i + 1) * k])))
        }
        try catalog.write { try $0.replacePredictions(runID: record.id, predictions) }
        return predictions.count
    }

    /// Reads a predictions file and stores it as run `record`'s predictions, replacing earlier
    /// ones. A line names an item (`"blob_id": ID` or `"path": P`: an imported path, or a file whose
    /// name is a blob id, as in a materialized checkout) and carries class probabilities (`"probs":
    /// […]`, in the order of the run's classes), boxes (`"boxes": [{"class": C, "bbox": [x, y, w,
    /// h], "score": S}, …]`, pixels of the stored image, a score in [0, 1]; `[]`: nothing found), or
    /// both. Class predictions go to the catalog; box predictions are kept as a blob the run holds
    /// (`RunRecord.boxPredictions`). Every line is checked first; any problem (malformed line,
    /// unknown item or class, wrong number of classes, values that are not probabilities, a box
    /// that is not a rectangle) stores nothing.
    /// - Throws: `TrainingError.badPredictions` listing the problems.
    public func importPredictions(into record: inout RunRecord, file: String) throws -> Int {
        guard !record.classes.isEmpty else {
            throw TrainingError.badPredictions(file: file, problems: ["the run has no classes to predict"], total: 1)
        }
        struct Line: Decodable { var blob_id: String?; var path: String?; var probs: [Double]?; var boxes: [BoxPredictionLine]? }
        let k = record.classes.count
        let known = Set(record.classes)
        var problems: [String] = []
        var byItem: [Int64: Prediction] = [:]
        var boxesByItem: [BlobID: [BoxPrediction]] = [:]
        // A line at a time: a file of any size costs memory for what it predicts, not for its text.
        do {
            try catalog.read { tx in
                try FileLines.forEach(file) { number, raw in
                    let line = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                    if line.isEmpty { return }
                    guard let parsed = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)), parsed.probs != nil || parsed.boxes != nil else {
                        problems.append("line \(number): not {\"blob_id\" or \"path\", \"probs\" and/or \"boxes\"}")
                        return
                    }
                    guard let item = try Self.item(parsed.blob_id, path: parsed.path, tx) else {
                        problems.append("line \(number): no item \(Printable.escaped(parsed.blob_id ?? parsed.path ?? "?"))")
                        return
                    }
                    if let boxes = parsed.boxes {
                        if let why = BoxPrediction.problem(boxes, classes: known) {
                            problems.append("line \(number): \(why)")
                        } else if boxesByItem.updateValue(boxes.map(\.prediction), forKey: item.blobID) != nil {
                            problems.append("line \(number): second boxes for \(item.blobID.hex.prefix(12))")
                        }
                    }
                    guard let probs = parsed.probs else { return }
                    guard probs.count == k else {
                        problems.append("line \(number): \(probs.count) probabilities for \(k) classes")
                        return
                    }
                    let sum = probs.reduce(0, +)
                    guard probs.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 + 1e-6 }), abs(sum - 1) <= 0.01 else {
                        problems.append("line \(number): probabilities must be between 0 and 1 and sum to 1 (sum \(sum))")
                        return
                    }
                    if byItem[item.id] != nil { problems.append("line \(number): a second prediction for \(item.blobID.hex.prefix(12))") }
                    byItem[item.id] = Prediction(itemID: item.id, probabilities: probs.map(Float.init))
                }
            }
        } catch let error as FileLines.LineTooLong {
            throw TrainingError.badPredictions(file: file, problems: ["\(error)"], total: 1)
        } catch let error as CatalogError {
            throw error
        } catch {
            // Opening or reading the file (a missing file, a directory, an I/O error).
            throw TrainingError.badPredictions(file: file, problems: ["cannot read it: \(error.localizedDescription)"], total: 1)
        }
        guard problems.isEmpty else { throw TrainingError.badPredictions(file: file, problems: Array(problems.prefix(20)), total: problems.count) }
        record.boxPredictions = boxesByItem.isEmpty ? nil : try storeBoxPredictions(boxesByItem)
        let predictions = byItem.values.sorted { $0.itemID < $1.itemID }
        try catalog.write { try $0.replacePredictions(runID: record.id, predictions) }
        return predictions.count
    }

    /// The item a predictions line names: by blob id, by imported path, or by a file named by its blob id.
    static func item(_ blob: String?, path: String?, _ tx: any CatalogReadTransaction) throws -> Item? {
        if let blob { return BlobID(hex: blob.lowercased()).flatMap { try? tx.item(blobID: $0) } }
        guard let path else { return nil }
        if let item = try tx.items(path: path, limit: 2).first { return item }
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return BlobID(hex: stem).flatMap { try? tx.item(blobID: $0) }
    }

    /// Run `runRef`'s stored predictions, with each item's path and most probable class.
    public func predictions(run runRef: String) throws -> (record: RunRecord, listings: [PredictionListing]) {
        let record = try run(runRef)
        let listings = try catalog.read { tx in
            try tx.predictions(runID: record.id).compactMap { p -> PredictionListing? in
                guard let item = try tx.item(id: p.itemID) else { return nil }
                let best = p.predictedClass
                return PredictionListing(blobID: item.blobID.hex, path: item.path,
                                         predicted: best < record.classes.count ? record.classes[best] : "#\(best)",
                                         confidence: p.probabilities.isEmpty ? 0 : p.probabilities[best], probabilities: p.probabilities)
            }
        }
        return (record, listings)
    }

    /// Reads `file` into run `runRef`'s predictions (`importPredictions`) and notes it in the record.
    public func importPredictions(run runRef: String, file: String) throws -> Int {
        var record = try run(runRef)
        let count = try importPredictions(into: &record, file: file)
        if record.program != nil {
            record.program?.predictions = count
            record.program?.predictionProblems = []
        }
        try save(record)
        return count
    }
}
