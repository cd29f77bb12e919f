import CairnCatalog
import CairnImaging
import CairnStore
import Foundation

/// One image's most likely classes.
public struct Prediction: Sendable, Hashable, Codable {
    public struct Candidate: Sendable, Hashable, Codable {
        public var className: String
        public var probability: Double
    }
    public var path: String
    public var top: [Candidate]
}

extension Training {
    /// The model a run trained.
    /// - Throws: `TrainingError.noCheckpoint` for a run that failed before saving one.
    public func model(of record: RunRecord) throws -> TrainedModel {
        guard let hex = record.checkpoint, let id = BlobID(hex: hex) else {
            throw TrainingError.noCheckpoint(run: record.id, status: record.status.rawValue)
        }
        return try TrainedModel(store: repository.store, id: id)
    }

    /// Evaluates run `runRef`'s model on snapshot `dataRef` (its `split`, or every split when nil)
    /// and appends the result to the run's record.
    public func evaluate(run runRef: String, data dataRef: String, split: Split? = .test) throws -> EvaluationRecord {
        var record = try run(runRef)
        let model = try model(of: record)
        let snapshot = try versioning.resolve(dataRef)
        let data = try SnapshotExamples.read(snapshot.id, versioning: versioning)
        let modelIndex = Dictionary(uniqueKeysWithValues: model.classes.enumerated().map { ($1, Int32($0)) })
        var examples: [Example] = []
        var unknown = 0
        for var example in data.examples where split == nil || example.split == split {
            guard let index = modelIndex[data.classes[Int(example.label)]] else {
                unknown += 1
                continue
            }
            example.label = index
            examples.append(example)
        }
        guard !examples.isEmpty else {
            throw TrainingError.unusableData("no labeled items \(split.map { "in its \($0) split " } ?? "")have classes this model knows")
        }
        let (table, _) = try loader.load(examples, model.preprocessing)
        let rows = Array(examples.indices)
        let evaluation = evaluate(model.network, table, rows: rows, labels: examples.map(\.label), classes: model.classes,
                                  normalization: model.checkpoint.header.normalization)
        let result = EvaluationRecord(dataRef: dataRef, snapshotID: snapshot.id.hex, split: split?.rawValue ?? "all", at: Date(),
                                      evaluation: evaluation, unknownClass: unknown, unlabeled: data.unlabeled,
                                      multiLabel: data.multiLabel > 0 ? data.multiLabel : nil)
        record.evaluations.append(result)
        if !catalog.isReadOnly { try save(record) }
        return result
    }

    /// The `top` most likely classes for each image file, by run `runRef`'s model.
    public func predict(run runRef: String, images paths: [String], top: Int = 3) throws -> [Prediction] {
        let model = try model(of: try run(runRef))
        let p = model.preprocessing
        var pixels: [UInt8] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TrainingError.unreadableImage(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
            }
            do {
                pixels += try p.apply(data).pixels
            } catch {
                throw TrainingError.unreadableImage(path: path, reason: "\(error)")
            }
        }
        let table = PixelTable(sampleSize: p.sampleSize, pixels: pixels)
        let probabilities = model.probabilities(table, rows: Array(paths.indices))
        let k = model.classes.count
        var out: [Prediction] = []
        for (i, path) in paths.enumerated() {
            let ranked = (0..<k).sorted { a, b in
                let (pa, pb) = (probabilities[i * k + a], probabilities[i * k + b])
                return pa > pb || (pa == pb && a < b)
            }
            let candidates = ranked.prefix(max(1, top)).map { index in
                Prediction.Candidate(className: model.classes[index], probability: Double(probabilities[i * k + index]))
            }
            out.append(Prediction(path: path, top: Array(candidates)))
        }
        return out
    }
}
