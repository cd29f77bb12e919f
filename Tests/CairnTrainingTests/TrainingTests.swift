@testable import CairnModels
@testable import CairnTraining
import CairnCatalog
import CairnImaging
import CairnRepository
import CairnStore
import CairnTestSupport
import CairnVersioning
import Foundation
import Testing

@Suite struct TrainingTests {
    @Test(arguments: ModelKind.allCases)
    func everyModelLearnsAndRecordsTheRun(model: ModelKind) throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        let record = try training.train(ref: "v1", name: "first", parameters: smallParameters(model, epochs: 8))
        #expect(record.status == .finished)
        #expect(record.snapshotID == (try training.versioning.resolve("v1")).id.hex)
        #expect(record.dataRef == "v1")
        #expect(record.epochs.count == 8)
        #expect((record.trainAccuracy ?? 0) > 0.95, "train accuracy \(record.trainAccuracy ?? -1)")
        #expect(record.counts.train + record.counts.val + record.counts.test == 120)
        #expect(record.baseline != nil && record.diagnosis != nil)
        // Stored in the catalog, with the checkpoint in the store and the plots on disk.
        let stored = try training.run("first")
        #expect(stored == record)
        let checkpoint = try #require(record.checkpoint.flatMap { BlobID(hex: $0) })
        #expect(try fixture.repository.store.contains(checkpoint))
        #expect(record.plots.count == 3)
        for plot in record.plots {
            let image = try ImageCodec.decode(try Data(contentsOf: URL(fileURLWithPath: fixture.root + "/" + plot)))
            #expect(image.width > 100)
        }
    }

    @Test func sameSeedGivesIdenticalMetricsAndOtherSeedsDiffer() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        let a = try training.train(ref: "v1", name: nil, parameters: smallParameters())
        let b = try training.train(ref: "v1", name: nil, parameters: smallParameters())  // from the tensor cache
        #expect(a.loading?.decoded == 120 && b.loading?.cached == 120 && b.loading?.decoded == 0)
        #expect(a.epochs.map(\.trainLoss) == b.epochs.map(\.trainLoss))
        #expect(a.epochs.map(\.valLoss) == b.epochs.map(\.valLoss))
        #expect(a.test == b.test && a.checkpoint == b.checkpoint)
        var other = smallParameters()
        other.seed = 1
        let c = try training.train(ref: "v1", name: nil, parameters: other)
        #expect(c.epochs.map(\.trainLoss) != a.epochs.map(\.trainLoss))
    }

    @Test func overfitBatchDrivesTheLossToZero() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        var p = smallParameters()
        p.overfitBatch = true
        p.epochs = 150
        let record = try training.train(ref: "v1", name: nil, parameters: p)
        #expect(record.overfitPassed == true, "\(record.overfitCheck ?? "")")
        #expect(record.counts.train == 16 && record.counts.limitedOut > 0)
    }

    @Test func limitTrainsOnASubset() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        var p = smallParameters(epochs: 1)
        p.limit = 10
        let record = try training.train(ref: "v1", name: nil, parameters: p)
        #expect(record.counts.train == 10)
    }

    @Test func divergingLossFailsTheRunAndKeepsTheRecord() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        var p = smallParameters(epochs: 30)
        p.optimizer = .sgd
        p.learningRate = 100
        #expect(throws: TrainingError.self) { try training.train(ref: "v1", name: "boom", parameters: p) }
        let record = try training.run("boom")
        #expect(record.status == .failed)
        #expect(record.error?.contains("learning rate 100.0 is too high") == true, "\(record.error ?? "")")
    }

    @Test func interruptionKeepsACheckpoint() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        var steps = 0
        let record = try training.train(ref: "v1", name: "stopped", parameters: smallParameters(epochs: 50), shouldStop: {
            steps += 1
            return steps > 12
        })
        #expect(record.status == .interrupted)
        #expect(record.epochs.count < 50)
        #expect(try training.run("stopped").checkpoint != nil)
        _ = try training.model(of: record)
    }

    @Test func badDataIsRefusedClearly() throws {
        let (fixture, training) = try learnableRepository(count: 12, classes: ["only"])
        defer { fixture.remove() }
        #expect(throws: VersioningError.self) { try training.train(ref: "nope", name: nil, parameters: smallParameters()) }
        #expect(try training.runs().isEmpty, "an unknown ref records no run")
        do {
            _ = try training.train(ref: "v1", name: "one", parameters: smallParameters())
            Issue.record("a one-class snapshot trained")
        } catch let error as TrainingError {
            #expect("\(error)".contains("at least two classes"))
        }
        // The run was recorded (with its snapshot) before the data was read, and marked failed.
        let failed = try training.run("one")
        #expect(failed.status == .failed && failed.snapshotID.count == 64)
        var zero = smallParameters()
        zero.width = 0
        #expect(throws: TrainingError.self) { try training.train(ref: "v1", name: nil, parameters: zero) }
        var huge = smallParameters()
        (huge.width, huge.height) = (100_000, 100_000)
        #expect(throws: TrainingError.self) { try training.train(ref: "v1", name: nil, parameters: huge) }
        #expect(throws: CatalogError.self) { try training.run("ffffffffffff") }
    }

    @Test func aCorruptBlobFailsTheRunNamingIt() throws {
        let (fixture, training) = try learnableRepository(count: 20)
        defer { fixture.remove() }
        // Damage every pack: the first item read fails its hash check.
        let packs = fixture.root + "/.cairn/packs"
        for name in try FileManager.default.contentsOfDirectory(atPath: packs) where name.hasSuffix(".pack") {
            let handle = try #require(FileHandle(forUpdatingAtPath: packs + "/" + name))
            let size = try handle.seekToEnd()
            for offset in stride(from: UInt64(64), to: size, by: 97) {
                try handle.seek(toOffset: offset)
                try handle.write(contentsOf: Data([0x5A]))
            }
            try handle.close()
        }
        var thrown: (any Error)?
        do { _ = try training.train(ref: "v1", name: "rot", parameters: smallParameters()) } catch { thrown = error }
        let message = "\(thrown.map { "\($0)" } ?? "no error")"
        #expect(message.contains("blob") || message.contains("corrupt"), "\(message)")
        #expect(try training.run("rot").status == .failed)
    }

    @Test func evaluateAndPredictWithATrainedModel() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        let record = try training.train(ref: "v1", name: "m", parameters: smallParameters(epochs: 8))
        let evaluation = try training.evaluate(run: "m", data: "v1", split: nil)
        #expect(evaluation.evaluation.count == 120)
        #expect(evaluation.evaluation.accuracy > 0.9)
        #expect(try training.run(record.id).evaluations.count == 1)
        let left = fixture.inputs + "/left/0.png", right = fixture.inputs + "/right/1.png"
        let predictions = try training.predict(run: "m", images: [left, right], top: 2)
        #expect(predictions.map { $0.top[0].className } == ["left", "right"])
        #expect(abs(predictions[0].top.reduce(0) { $0 + $1.probability } - 1) < 1e-4)
        // A file that cannot be read is reported beside the others, which are still predicted.
        let mixed = try training.predict(run: "m", images: [left, fixture.inputs + "/missing.png", fixture.inputs])
        #expect(mixed[0].top.first?.className == "left" && mixed[0].error == nil)
        #expect(mixed[1].top.isEmpty && mixed[1].error?.contains("no such file") == true)
        // A directory stands for the images under it.
        #expect(mixed.count > 3 && mixed.dropFirst(2).allSatisfy { $0.error == nil && !$0.top.isEmpty })
    }

    @Test func gcKeepsWhatARunNeedsAfterItsTagIsGone() throws {
        let (fixture, training) = try learnableRepository()
        defer { fixture.remove() }
        let record = try training.train(ref: "v1", name: "keep", parameters: smallParameters(epochs: 2))
        let versioning = training.versioning
        // A second snapshot after relabeling, then v1 and its snapshot row's tag deleted.
        try fixture.repository.catalog.write { tx in
            let item = try #require(try tx.allItems().first)
            let annotator = try tx.ensureAnnotator("ann", role: .annotator)
            try tx.appendAnnotation(itemID: item.id, annotatorID: annotator.id, classIDs: [try tx.ensureClass("right").id])
        }
        _ = try versioning.snapshot(message: "v2", author: "t")
        let live = try versioning.reachableObjects()
        #expect(live.contains(try #require(BlobID(hex: record.checkpoint!))))
        #expect(live.contains(try #require(BlobID(hex: record.snapshotID))))
        _ = try versioning.gc(gracePeriod: 0)
        let evaluation = try training.evaluate(run: "keep", data: record.snapshotID, split: nil)
        #expect(evaluation.evaluation.count == 120)
        #expect(try versioning.fsck().isClean)
    }
}

@Suite struct FitDiagnosisTests {
    @Test func theVerdictSaysOnlyWhatItCanMeasure() {
        #expect(FitDiagnosis(train: 0.99, val: 0.97, test: nil, baseline: 0.1).verdict == .balanced)
        #expect(FitDiagnosis(train: 0.99, val: 0.80, test: nil, baseline: 0.1).verdict == .overfitting)
        #expect(FitDiagnosis(train: 0.50, val: 0.50, test: nil, baseline: 0.1).verdict == .underfitting)
        // Nothing held out: the gap cannot be measured, so no "balanced".
        let none = FitDiagnosis(train: 0.99, val: nil, test: nil, baseline: 0.1)
        #expect(none.verdict == .notMeasured && none.explanation.hasPrefix("not measured"))
        // An --overfit-batch run fits one batch on purpose: it is not told it over-fits.
        #expect(FitDiagnosis(train: 1.0, val: 0.3, test: nil, baseline: 0.1, overfitBatch: true).verdict == .overfitCheck)
    }
}

@Suite struct TrainingSafetyTests {
    /// A flipped byte in the tensor cache is found (each segment carries its SHA-256), the segment
    /// dropped and its images decoded again: the run's weights are those of a clean run.
    @Test func aDamagedTensorCacheIsRebuiltNotTrainedOn() throws {
        let (fixture, training) = try learnableRepository(count: 40)
        defer { fixture.remove() }
        let first = try training.train(ref: "v1", name: "a", parameters: smallParameters(epochs: 2))
        let cached = try training.train(ref: "v1", name: "b", parameters: smallParameters(epochs: 2))
        #expect(cached.loading?.decoded == 0 && cached.checkpoint == first.checkpoint)
        let directory = try fixture.repository.derivedCache() + "/tensors/8x8x1-area-v1"
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + segment))
        bytes[100] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: directory + "/" + segment))
        let rebuilt = try training.train(ref: "v1", name: "c", parameters: smallParameters(epochs: 2))
        #expect(rebuilt.loading?.decoded == 40, "the damaged segment was decoded again")
        #expect(rebuilt.checkpoint == first.checkpoint, "the same weights as a clean run")
    }

    /// Checkpoint headers from elsewhere (a pulled run) are checked before anything is allocated
    /// from them: huge or negative counts and shapes are errors, never traps.
    @Test func hostileCheckpointHeadersAreRefused() throws {
        let (fixture, training) = try learnableRepository(count: 40)
        defer { fixture.remove() }
        let record = try training.train(ref: "v1", name: "a", parameters: smallParameters(epochs: 1))
        let good = try fixture.repository.store.get(try #require(record.checkpoint.flatMap { BlobID(hex: $0) }))
        let checkpoint = try Checkpoint(decoding: good)
        #expect(checkpoint.header.spec.parameterCount() == checkpoint.weights.count)
        func forged(_ edit: (inout [String: Any]) -> Void, weights: Data = Data()) throws -> Data {
            let length = Int(good[8]) | Int(good[9]) << 8 | Int(good[10]) << 16 | Int(good[11]) << 24
            var header = try JSONSerialization.jsonObject(with: good[12..<12 + length]) as! [String: Any]
            edit(&header)
            let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
            var out = Data("CAIRNCK1".utf8)
            withUnsafeBytes(of: UInt32(json.count).littleEndian) { out.append(contentsOf: $0) }
            return out + json + weights
        }
        let cases: [(String, Data)] = [
            ("2^62 weights", try forged { $0["weightCount"] = 1 << 62 }),
            ("a negative width", try forged { var s = $0["spec"] as! [String: Any]; s["width"] = -8; $0["spec"] = s }),
            ("a huge hidden layer", try forged { var s = $0["spec"] as! [String: Any]; s["hidden"] = [1 << 40]; $0["spec"] = s }),
            ("a header length of 2^32 - 1", Data("CAIRNCK1".utf8) + Data([0xFF, 0xFF, 0xFF, 0xFF]) + Data(count: 16)),
            ("classes that do not match", try forged { $0["classes"] = ["one"] }),
            ("weights cut short", try forged({ _ in }, weights: Data(count: 8))),
        ]
        for (name, bytes) in cases {
            #expect(throws: TrainingError.self, "\(name)") { try Checkpoint(decoding: bytes) }
        }
    }

    /// The memory estimate counts what a run allocates: a model of tens of GB is refused.
    @Test func theMemoryEstimateRefusesWhatCannotFit() throws {
        let small = ModelSpec(kind: .mlp, hidden: [256], width: 28, height: 28, channels: 1, classes: 10)
        try MemoryEstimate.check(spec: small, batch: 128, examples: 60_000, available: 1 << 30)
        let huge = ModelSpec(kind: .mlp, hidden: [65_536, 65_536], width: 28, height: 28, channels: 1, classes: 10)
        #expect(throws: TrainingError.self) { try MemoryEstimate.check(spec: huge, batch: 128, examples: 100, available: 24 << 30) }
        let wideCNN = ModelSpec(kind: .cnn, hidden: [64], width: 1024, height: 1024, channels: 3, classes: 10)
        #expect(throws: TrainingError.self) { try MemoryEstimate.check(spec: wideCNN, batch: 128, examples: 100, available: 24 << 30) }
    }
}
