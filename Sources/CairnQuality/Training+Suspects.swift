import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// What `cairn suspects` found in a snapshot: the estimated label noise, and the items whose labels
/// are most likely wrong, with the label a model thinks is right. Kept with the snapshot.
public struct SuspectReport: Sendable, Codable {
    public struct Suspect: Sendable, Codable, Hashable {
        public var blobID: String
        public var path: String
        public var label: String
        public var suggested: String
        /// The given label's out-of-sample probability: lower is more suspicious.
        public var score: Double
    }

    public struct ClassNoise: Sendable, Codable, Hashable {
        /// Items labeled with the class.
        public var items: Int
        /// The estimated share of them whose label is wrong.
        public var estimatedNoise: Double
    }

    public static let kind = "suspects"

    public var snapshot: String
    /// Where the probabilities came from: "mlp, 5 folds", "run 1a2b3c4d5e6f" (its predictions) or
    /// "mlp on run 1a2b3c4d5e6f's embeddings, 5 folds".
    public var source: String
    public var items: Int
    public var estimatedNoise: Double
    public var perClass: [String: ClassNoise]
    /// Most suspicious first.
    public var suspects: [Suspect]
    /// Classes with fewer labeled items than folds, by class: their items are left out (a model cannot
    /// learn a class from examples it holds out), the rest are checked.
    public var tooFewToCheck: [String: Int]?
    public var seconds: Double
    public var createdAt: Date
}

/// How `suspects` gets its out-of-sample probabilities.
public struct SuspectOptions: Sendable {
    public var model: ModelKind
    public var folds: Int
    /// Use this run's stored predictions instead of training folds, or, when it has none for some
    /// labeled item, train the folds on its embeddings.
    public var run: String?
    /// The size images are trained at; nil: the most common size among the items, made to fit 32x32.
    public var width: Int?, height: Int?
    public var channels: Int
    public var seed: UInt64

    public init(model: ModelKind = .mlp, folds: Int = 5, run: String? = nil, width: Int? = nil, height: Int? = nil, channels: Int = 1,
                seed: UInt64 = 0) {
        (self.model, self.folds, self.run, self.width, self.height, self.channels, self.seed) = (model, folds, run, width, height, channels, seed)
    }
}

extension Training {
    /// Finds the probably mislabeled items of snapshot `ref` by confident learning
    /// (`ConfidentLearning`): out-of-fold probabilities from `options.folds` models trained on the
    /// other folds (stratified, seeded) — on the images' pixels, or on the embeddings of run
    /// `options.run` — or that run's stored predictions when it has them for every labeled item;
    /// keeps the report with the snapshot.
    /// - Throws: `TrainingError.badParameter` for fewer than 2 folds, a class with fewer items than
    ///   folds, or a run whose predictions do not cover the items; `.unusableData` for fewer than two classes.
    public func suspects(data ref: String, options: SuspectOptions = SuspectOptions(),
                         progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) throws -> SuspectReport {
        let started = Date()
        let snapshot = try versioning.resolve(ref)
        var data = try SnapshotExamples.read(snapshot.id, versioning: versioning)
        let record = try options.run.map { try run($0) }
        var stored: ([Float], String)?
        if let record {
            do {
                stored = try storedProbabilities(record, for: data)
            } catch where record.program?.embeddings != nil {
                stored = nil
            }
        }
        var tooFew: [String: Int] = [:]
        if stored == nil {
            var counts: [Int32: Int] = [:]
            for example in data.examples { counts[example.label, default: 0] += 1 }
            let small = Set(counts.filter { $0.value < options.folds }.keys)
            for label in small { tooFew[data.classes[Int(label)]] = counts[label] }
            data.examples.removeAll { small.contains($0.label) }
        }
        let present = Set(data.examples.map(\.label))
        if present.count < 2 && !tooFew.isEmpty {
            throw TrainingError.badParameter("--folds \(options.folds) is more than the items of "
                                             + tooFew.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
                                             + "; fewer than two classes are left to check")
        }
        guard present.count >= 2 else { throw TrainingError.unusableData("suspects needs items labeled with at least two classes") }
        let k = data.classes.count
        let labels = data.examples.map { Int($0.label) }
        let probabilities: [Float]
        let source: String
        if let stored {
            (probabilities, source) = stored
        } else if let record {
            let embeddings = try embeddings(of: record)
            let rows = data.examples.compactMap { embeddings.row($0.blobID) }
            guard rows.count == data.examples.count else {
                throw TrainingError.badParameter("run \(record.id) has embeddings for \(rows.count) of the \(data.examples.count) labeled items "
                                                 + "and no predictions for all of them; its program should write a row for every item")
            }
            let (table, preprocessing) = embeddings.table(rows: rows)
            probabilities = try outOfFold(data, table: table, preprocessing: preprocessing, options: options, shift: 0, progress: progress)
            source = "\(options.model.rawValue) on run \(record.id)'s embeddings, \(options.folds) folds"
        } else {
            probabilities = try outOfFold(data, options: options, progress: progress)
            source = "\(options.model.rawValue), \(options.folds) folds"
        }
        let result = ConfidentLearning.find(labels: labels, probabilities: probabilities, classes: k)
        var counts = [Int](repeating: 0, count: k)
        for label in labels { counts[label] += 1 }
        let perClass = Dictionary(uniqueKeysWithValues: (0..<k).filter { counts[$0] > 0 }.map {
            (data.classes[$0], SuspectReport.ClassNoise(items: counts[$0], estimatedNoise: result.noisePerClass[$0]))
        })
        let suspects = result.flags.map { flag in
            SuspectReport.Suspect(blobID: data.examples[flag.index].blobID.hex, path: data.examples[flag.index].path,
                                  label: data.classes[labels[flag.index]], suggested: data.classes[flag.suggested], score: flag.selfConfidence)
        }
        let report = SuspectReport(snapshot: snapshot.id.hex, source: source, items: labels.count, estimatedNoise: result.noise,
                                   perClass: perClass, suspects: suspects, tooFewToCheck: tooFew.isEmpty ? nil : tooFew,
                                   seconds: Date().timeIntervalSince(started), createdAt: Date())
        if !catalog.isReadOnly {
            let json = String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self)
            try catalog.write { try $0.saveReport(SnapshotReport(snapshotID: snapshot.id, kind: SuspectReport.kind, createdAt: Date(), json: json)) }
        }
        return report
    }

    /// The latest suspects report kept for snapshot `ref`, if there is one.
    public func suspectReport(data ref: String) throws -> SuspectReport? {
        let snapshot = try versioning.resolve(ref)
        guard let stored = try catalog.read({ try $0.report(snapshot: snapshot.id, kind: SuspectReport.kind) }) else { return nil }
        return try JSONDecoder().decode(SuspectReport.self, from: Data(stored.json.utf8))
    }

    /// Out-of-fold probabilities of `data`'s examples (examples × classes, row-major): each row from a
    /// model trained on the folds its example is not in.
    public func outOfFold(_ data: SnapshotExamples, options: SuspectOptions,
                          progress: @escaping @Sendable (String, Int, Int) -> Void = { _, _, _ in }) throws -> [Float] {
        guard options.folds >= 2 else { throw TrainingError.badParameter("--folds must be at least 2 (got \(options.folds))") }
        let (width, height) = options.width.flatMap { w in options.height.map { (w, $0) } } ?? typicalSize(of: data)
        let preprocessing = Preprocessing(width: width, height: height, channels: options.channels)
        let loaded = try loader().load(data.examples, preprocessing) { progress("loading", $0, $1) }
        guard loaded.undecodableRows.isEmpty else {
            throw TrainingError.unusableData("\(loaded.undecodableRows.count) labeled images do not decode (`cairn ls --undecodable` lists them)")
        }
        // Trained on copies shifted by up to a pixel from 16 pixels up (5,000 real 28x28 digits with
        // 10% flipped: precision 0.76 -> 0.89, the noise estimate 12.3% -> 10.6%); at 8x8 a pixel is
        // an eighth of the digit, and the shifts cost precision (0.92 -> 0.88).
        return try outOfFold(data, table: loaded.table, preprocessing: preprocessing, options: options,
                             shift: min(width, height) >= 16 ? 1 : 0, progress: progress)
    }

    /// Out-of-fold probabilities of `data`'s examples from row i of `table` for example i, the
    /// models trained on copies shifted by up to `shift` pixels.
    func outOfFold(_ data: SnapshotExamples, table: PixelTable, preprocessing: Preprocessing, options: SuspectOptions, shift: Int,
                   progress: @escaping @Sendable (String, Int, Int) -> Void) throws -> [Float] {
        let k = data.classes.count
        guard options.folds >= 2 else { throw TrainingError.badParameter("--folds must be at least 2 (got \(options.folds))") }
        var byClass = [[Int]](repeating: [], count: k)
        for (i, example) in data.examples.enumerated() { byClass[Int(example.label)].append(i) }
        let small = (0..<k).filter { !byClass[$0].isEmpty && byClass[$0].count < options.folds }
        guard small.isEmpty else {
            throw TrainingError.badParameter("--folds \(options.folds) is more than the items of "
                                             + small.map { "\(data.classes[$0]) (\(byClass[$0].count))" }.joined(separator: ", "))
        }
        // Stratified folds: each class's items shuffled (seeded), then dealt out in turn.
        var fold = [Int](repeating: 0, count: data.examples.count)
        var random = SeededRandom(seed: options.seed)
        var dealt = 0
        for var members in byClass where !members.isEmpty {
            random.shuffle(&members)
            for member in members {
                fold[member] = dealt % options.folds
                dealt += 1
            }
        }
        var settings = Learner.Settings.forModel(options.model)
        settings.seed = options.seed
        settings.shift = shift
        // Larger data needs fewer passes: about 400,000 examples seen per fold, 5 to 40 epochs.
        settings.epochs = max(3, min(settings.epochs, 200_000 / max(1, data.examples.count)))
        // On small data, three models per fold with different seeds, averaged: steadier
        // probabilities (measured on the digits: precision and recall up by about 0.02).
        let repeats = data.examples.count <= 20_000 ? 3 : 1
        let labels = data.examples.map(\.label)
        var out = [Float](repeating: 0, count: data.examples.count * k)
        for f in 0..<options.folds {
            progress("fold", f, options.folds)
            let train = fold.indices.filter { fold[$0] != f }, held = fold.indices.filter { fold[$0] == f }
            for r0 in 0..<repeats {
                var s = settings
                s.seed = settings.seed &+ UInt64(r0) &* 7919
                let learner = Learner(table, rows: train, labels: labels, classes: k, preprocessing: preprocessing, settings: s)
                let p = learner.probabilities(table, rows: held)
                for (r, row) in held.enumerated() { for j in 0..<k { out[row * k + j] += p[r * k + j] / Float(repeats) } }
            }
        }
        progress("fold", options.folds, options.folds)
        return out
    }

    /// The most common image size among `data`'s items, scaled down to fit 32x32 (aspect kept):
    /// small models learn best from small inputs, and the digits are 8x8.
    private func typicalSize(of data: SnapshotExamples) -> (Int, Int) {
        guard let (w, h) = data.commonSize, w > 0, h > 0 else { return (28, 28) }
        let scale = min(1, 32 / Double(max(w, h)))
        return (max(1, Int((Double(w) * scale).rounded())), max(1, Int((Double(h) * scale).rounded())))
    }

    /// A run's stored predictions for `data`'s items, in `data`'s class order.
    private func storedProbabilities(_ record: RunRecord, for data: SnapshotExamples) throws -> ([Float], String) {
        let k = data.classes.count
        let column = Dictionary(uniqueKeysWithValues: record.classes.enumerated().map { ($1, $0) })
        let missing = data.classes.filter { column[$0] == nil }
        guard missing.isEmpty else { throw LabelingClassMismatch.error(run: record.id, missing: missing) }
        let byBlob = try catalog.read { tx -> [BlobID: [Float]] in
            var out: [BlobID: [Float]] = [:]
            for p in try tx.predictions(runID: record.id) {
                if let item = try tx.item(id: p.itemID) { out[item.blobID] = p.probabilities }
            }
            return out
        }
        var probabilities = [Float](repeating: 0, count: data.examples.count * k)
        var absent = 0
        for (i, example) in data.examples.enumerated() {
            guard let p = byBlob[example.blobID], p.count == record.classes.count else {
                absent += 1
                continue
            }
            for (j, name) in data.classes.enumerated() { probabilities[i * k + j] = p[column[name]!] }
        }
        guard absent == 0 else {
            let how = record.isProgram ? "its program writes them to $CAIRN_RUN_DIR/predictions.jsonl, or `cairn predictions import \(record.id) FILE`"
                                       : "`cairn predict \(record.id) --data REF` stores them"
            throw TrainingError.badParameter("run \(record.id) has no stored predictions for \(absent) of the \(data.examples.count) labeled items "
                                             + "(\(how); they should be out-of-sample)")
        }
        return (probabilities, "run \(record.id)")
    }
}

/// The error for a run trained on other classes than the snapshot has.
enum LabelingClassMismatch {
    static func error(run: String, missing: [String]) -> TrainingError {
        .badParameter("run \(run) was trained without the classes \(missing.joined(separator: ", ")); its predictions cannot rank this snapshot")
    }
}
