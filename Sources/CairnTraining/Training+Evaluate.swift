import CairnCatalog
import CairnImaging
import CairnModels
import CairnStore
import Foundation

/// One image's most likely classes, or why it could not be read.
public struct ImagePrediction: Sendable, Hashable, Codable {
    public struct Candidate: Sendable, Hashable, Codable {
        public var className: String
        public var probability: Double
    }
    public var path: String
    /// Most likely first; empty when `error` says why the image could not be read.
    public var top: [Candidate]
    public var error: String?
}

extension Training {
    /// The model a run trained.
    /// - Throws: `TrainingError.noCheckpoint` for a run that failed before saving one.
    public func model(of record: RunRecord) throws -> TrainedModel {
        if record.isProgram { throw TrainingError.programRun(run: record.id) }
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
        let loaded = try loader().load(examples, model.preprocessing)
        let rows = loaded.usable(Array(examples.indices))
        guard !rows.isEmpty else { throw TrainingError.unusableData("none of its labeled images decode") }
        let evaluation = evaluate(model.network, loaded.table, rows: rows, labels: examples.map(\.label), classes: model.classes,
                                  normalization: model.checkpoint.header.normalization)
        let result = EvaluationRecord(dataRef: dataRef, snapshotID: snapshot.id.hex, split: split?.rawValue ?? "all", at: Date(),
                                      evaluation: evaluation, unknownClass: unknown, unlabeled: data.unlabeled + data.conflicts,
                                      multiLabel: data.multiLabel > 0 ? data.multiLabel : nil)
        record.evaluations.append(result)
        if !catalog.isReadOnly { try save(record) }
        return result
    }

    /// The `top` most likely classes for each image file, by run `runRef`'s model. A directory
    /// stands for every PNG and JPEG file under it (by extension, hidden files left out, in path
    /// order). A file that cannot be read or decoded gets a prediction with its `error`; the others
    /// are predicted all the same.
    public func predict(run runRef: String, images paths: [String], top: Int = 3) throws -> [ImagePrediction] {
        let model = try model(of: try run(runRef))
        let p = model.preprocessing
        var pixels: [UInt8] = []
        var out: [ImagePrediction] = []
        var rows: [Int] = []
        for path in try Self.imageFiles(paths) {
            do {
                let bytes = try Self.readImage(path)
                do {
                    pixels += try p.apply(bytes).pixels
                } catch {
                    throw TrainingError.unreadableImage(path: path, reason: "\(error)")
                }
                rows.append(out.count)
                out.append(ImagePrediction(path: path, top: []))
            } catch {
                out.append(ImagePrediction(path: path, top: [], error: "\(error)"))
            }
        }
        let table = PixelTable(sampleSize: p.sampleSize, pixels: pixels)
        let probabilities = model.probabilities(table, rows: Array(rows.indices))
        let k = model.classes.count
        for (i, at) in rows.enumerated() {
            let ranked = (0..<k).sorted { a, b in
                let (pa, pb) = (probabilities[i * k + a], probabilities[i * k + b])
                return pa > pb || (pa == pb && a < b)
            }
            out[at].top = ranked.prefix(max(1, top)).map { index in
                ImagePrediction.Candidate(className: model.classes[index], probability: Double(probabilities[i * k + index]))
            }
        }
        return out
    }

    /// `paths` with each directory replaced by the PNG and JPEG files under it.
    static func imageFiles(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                out.append(path)
                continue
            }
            guard let walker = FileManager.default.enumerator(atPath: path) else {
                throw TrainingError.unreadableImage(path: path, reason: "the directory cannot be read")
            }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                if name.hasPrefix(".") {
                    walker.skipDescendants()
                    continue
                }
                if ["png", "jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased()) {
                    found.append((path as NSString).appendingPathComponent(relative))
                }
            }
            if found.isEmpty { throw TrainingError.unreadableImage(path: path, reason: "the directory holds no .png, .jpg or .jpeg files") }
            out += found.sorted()
        }
        return out
    }

    /// A file's bytes, or why they cannot be read, in words.
    static func readImage(_ path: String) throws -> Data {
        do {
            let file = try POSIXFile(path: path, flags: O_RDONLY)
            return try file.read(count: Int(try file.size()), at: 0)
        } catch StoreError.io(_, _, EISDIR) {
            throw TrainingError.unreadableImage(path: path, reason: "it is a directory")
        } catch StoreError.io(_, _, ENOENT) {
            throw TrainingError.unreadableImage(path: path, reason: "no such file")
        } catch {
            throw TrainingError.unreadableImage(path: path, reason: "\(error)")
        }
    }
}
