import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation
import Synchronization

extension TrainedModel {
    /// Class probabilities for one image's bytes.
    /// - Throws: `ImagingError` for bytes that do not decode.
    public func probabilities(imageBytes bytes: Data) throws -> [Float] {
        let image = try preprocessing.apply(bytes)
        return probabilities(PixelTable(sampleSize: preprocessing.sampleSize, pixels: image.pixels), rows: [0])
    }
}

extension Training {
    /// The run a model-in-the-loop feature uses: `ref`, or else the latest finished run whose
    /// classes are this repository's. It must have stored predictions, a checkpoint or embeddings.
    /// - Throws: `TrainingError.badParameter` naming the classes that differ, or saying there is no such run.
    public func loopRun(_ ref: String?) throws -> RunRecord {
        let classes = Set(try catalog.read { try $0.classes() }.map(\.name))
        let counts = try catalog.read { try $0.predictionCounts() }
        func usable(_ r: RunRecord) -> Bool { r.checkpoint != nil || (counts[r.id] ?? 0) > 0 || r.program?.embeddings != nil }
        if let ref {
            let record = try run(ref)
            let missing = classes.subtracting(record.classes), extra = Set(record.classes).subtracting(classes)
            guard missing.isEmpty, extra.isEmpty else {
                throw TrainingError.badParameter("run \(record.id) was trained on other classes than this repository has: "
                    + [missing.isEmpty ? nil : "it lacks \(missing.sorted().joined(separator: ", "))",
                       extra.isEmpty ? nil : "it has \(extra.sorted().joined(separator: ", ")), which this repository does not"]
                    .compactMap { $0 }.joined(separator: "; "))
            }
            guard usable(record) else {
                throw TrainingError.badParameter("run \(record.id) has no checkpoint, stored predictions or embeddings to suggest with")
            }
            return record
        }
        guard let latest = try runs().reversed().first(where: { $0.status == .finished && Set($0.classes) == classes && usable($0) }) else {
            throw TrainingError.badParameter("no finished run has this repository's classes and a model; train one (cairn train --data HEAD) "
                                             + "or name one with --run")
        }
        return latest
    }

    /// A function that gives run `record`'s class probabilities for an image blob, from its
    /// checkpoint, or else from a classifier fitted now on its embeddings of the labeled items (nil
    /// when it has neither). Safe to call from any thread (one at a time).
    public func modelFunction(_ record: RunRecord) throws -> (@Sendable (BlobID) throws -> [Float])? {
        guard record.checkpoint != nil else {
            guard let classifier = try embeddingClassifier(record) else { return nil }
            return { blob in
                guard let p = classifier.probabilities(blob) else { throw TrainingError.badParameter("no embedding for \(blob.hex.prefix(12))") }
                return p
            }
        }
        let model = Mutex(try model(of: record))
        let store = repository.store
        return { blob in
            let bytes = try store.get(blob)
            return try model.withLock { try $0.probabilities(imageBytes: bytes) }
        }
    }

    /// Stores run `record`'s predictions for `items` that lack one, from its checkpoint (items
    /// whose images do not decode are left without). Returns how many were made.
    @discardableResult
    public func predictMissing(_ record: RunRecord, items: [Item], progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> Int {
        let have = Set(try catalog.read { try $0.predictions(runID: record.id) }.map(\.itemID))
        let missing = items.filter { !have.contains($0.id) }
        guard !missing.isEmpty, record.checkpoint != nil else { return 0 }
        let model = try model(of: record)
        let examples = missing.map { Example(blobID: $0.blobID, path: $0.path, split: $0.split, label: 0) }
        let loaded = try loader().load(examples, model.preprocessing, progress: progress)
        let rows = loaded.usable(Array(examples.indices))
        let probabilities = model.probabilities(loaded.table, rows: rows)
        let k = model.classes.count
        let made = rows.enumerated().map { i, row in Prediction(itemID: missing[row].id, probabilities: Array(probabilities[i * k..<(i + 1) * k])) }
        try catalog.write { tx in
            let kept = try tx.predictions(runID: record.id)
            try tx.replacePredictions(runID: record.id, kept + made)
        }
        return made.count
    }

    /// The uncertainty queue's order for the unlabeled items: by run `record`'s margin (top-1 minus
    /// top-2 probability), smallest first, predictions made first where missing (for a run with
    /// embeddings and no checkpoint, by a classifier fitted now on them); a share `explore`
    /// of the positions holds a randomly chosen item instead (seeded, marked), so the gain over random
    /// order shows on the user's own data. Items without a prediction (undecodable) come last.
    public func uncertainPlan(_ record: RunRecord, explore: Double = 0.1, seed: UInt64 = 0,
                              progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> QueuePlan {
        let unlabeled = try catalog.read { tx in
            let resolved = try tx.resolvedLabels()
            return try tx.allItems().filter { (resolved[$0.id] ?? .unlabeled) == .unlabeled }
        }
        try predictMissing(record, items: unlabeled, progress: progress)
        var margins = try catalog.read { tx -> [Int64: Double] in
            var out: [Int64: Double] = [:]
            for p in try tx.predictions(runID: record.id) { out[p.itemID] = Self.margin(p.probabilities) }
            return out
        }
        if record.checkpoint == nil, let classifier = try embeddingClassifier(record) {
            for item in unlabeled where margins[item.id] == nil {
                if let p = classifier.probabilities(item.blobID) { margins[item.id] = Self.margin(p) }
            }
        }
        return Self.plan(unlabeled.map(\.id), margins: margins, explore: explore, seed: seed, source: "run \(record.id)")
    }

    /// One round of `cairn label --retrain-every`: snapshots the working state (incremental),
    /// trains `parameters` pinned to it as a normal run named `name`, predicts the unlabeled items
    /// and returns the run with the uncertainty queue's new order.
    public func retrain(name: String, parameters: RunParameters, message: String, author: String, explore: Double,
                        seed: UInt64) throws -> (run: RunRecord, plan: QueuePlan) {
        let snapshot = try versioning.snapshot(message: message, author: author).snapshot
        let record = try train(ref: snapshot.id.hex, name: name, parameters: parameters)
        return (record, try uncertainPlan(record, explore: explore, seed: seed))
    }

    /// Top-1 minus top-2 probability.
    public static func margin(_ probabilities: [Float]) -> Double {
        var first: Float = -1, second: Float = -1
        for p in probabilities {
            if p > first { (first, second) = (p, first) } else if p > second { second = p }
        }
        return Double(first - max(0, second))
    }

    /// `items` by margin, smallest first, with explore positions (see `uncertainPlan`).
    public static func plan(_ items: [Int64], margins: [Int64: Double], explore: Double, seed: UInt64, source: String) -> QueuePlan {
        let ranked = items.filter { margins[$0] != nil }.sorted { (margins[$0]!, $0) < (margins[$1]!, $1) } + items.filter { margins[$0] == nil }
        var pool = items
        var random = SeededRandom(seed: seed)
        random.shuffle(&pool)
        var used = Set<Int64>(), order: [Int64] = [], notes: [Int64: QueuePlan.Note] = [:]
        var (next, nextRandom) = (0, 0)
        while order.count < items.count {
            if random.uniform() < explore {
                while nextRandom < pool.count, used.contains(pool[nextRandom]) { nextRandom += 1 }
                if nextRandom < pool.count {
                    let id = pool[nextRandom]
                    used.insert(id)
                    order.append(id)
                    notes[id] = QueuePlan.Note(margin: margins[id], explore: true)
                    continue
                }
            }
            while next < ranked.count, used.contains(ranked[next]) { next += 1 }
            guard next < ranked.count else { break }
            let id = ranked[next]
            used.insert(id)
            order.append(id)
            notes[id] = QueuePlan.Note(margin: margins[id])
        }
        return QueuePlan(items: order, notes: notes, source: source)
    }

    /// The suspects queue's order: the suspects report of snapshot `ref` (nil: the latest one made
    /// of any snapshot), most suspicious first.
    /// - Throws: `TrainingError.badParameter` when `cairn suspects` has not been run.
    public func suspectsPlan(data ref: String? = nil) throws -> QueuePlan {
        let found: SuspectReport?
        if let ref {
            found = try suspectReport(data: ref)
        } else {
            found = try catalog.read { try $0.reports(kind: SuspectReport.kind) }.first
                .map { try JSONDecoder().decode(SuspectReport.self, from: Data($0.json.utf8)) }
        }
        guard let report = found else {
            throw TrainingError.badParameter("no suspects are kept\(ref.map { " for \($0)" } ?? ""); run `cairn suspects --data \(ref ?? "HEAD")` first")
        }
        var order: [Int64] = [], notes: [Int64: QueuePlan.Note] = [:]
        try catalog.read { tx in
            for suspect in report.suspects {
                guard let blob = BlobID(hex: suspect.blobID), let item = try tx.item(blobID: blob) else { continue }
                order.append(item.id)
                notes[item.id] = QueuePlan.Note(given: suspect.label, suggested: suspect.suggested, score: suspect.score)
            }
        }
        return QueuePlan(items: order, notes: notes, source: "suspects of \(report.snapshot.prefix(12))")
    }
}
