import CairnCatalog
import CairnImaging
import CairnRepository
import CairnStore
import CairnVersioning
import Foundation

/// What training reports while it works.
public enum TrainingEvent: Sendable {
    /// The run is recorded (before any data is read).
    case started(RunRecord)
    /// Images loaded so far.
    case loading(done: Int, total: Int)
    case loaded(LoadReport, DataCounts)
    /// One optimizer step of `steps` in this epoch.
    case step(epoch: Int, step: Int, steps: Int, loss: Double)
    case epoch(EpochMetrics)
}

/// Trains, evaluates and predicts against snapshots of one repository, recording every run.
public struct Training: Sendable {
    public let versioning: Versioning
    public let cairnVersion: String
    public let sourceCommit: String?

    public init(versioning: Versioning, cairnVersion: String, sourceCommit: String? = nil) {
        self.versioning = versioning
        self.cairnVersion = cairnVersion
        self.sourceCommit = sourceCommit
    }

    var repository: Repository { versioning.repository }
    var catalog: any Catalog { repository.catalog }

    /// The loader for this repository, caching under `.cairn/cache/tensors`.
    public var loader: Loader { Loader(store: repository.store, cacheDirectory: repository.cairnDirectory + "/cache/tensors") }

    /// Where a run's plots go.
    public func runDirectory(_ id: String) -> String { repository.cairnDirectory + "/runs/" + id }

    // MARK: Runs

    /// Every run, oldest first.
    public func runs() throws -> [RunRecord] { try catalog.read { try $0.runs() }.map(RunRecord.init) }

    /// The run whose id starts with `ref` or whose name is `ref` (the latest of that name).
    public func run(_ ref: String) throws -> RunRecord { try RunRecord(catalog.read { try $0.run(matching: ref) }) }

    /// `record` with its plots present on disk: plots a clone or pull did not bring (they are
    /// derived from the record) are drawn again from it; where they cannot be (a read-only
    /// repository), they are not listed.
    public func withPlots(_ record: RunRecord) -> RunRecord {
        var record = record
        let missing = record.plots.contains { !FileManager.default.fileExists(atPath: repository.root + "/" + $0) }
        guard missing || (record.plots.isEmpty && !record.epochs.isEmpty) else { return record }
        if !catalog.isReadOnly, let drawn = try? Plots.write(record, to: runDirectory(record.id), relativeTo: repository.root) {
            record.plots = drawn
        } else {
            record.plots = record.plots.filter { FileManager.default.fileExists(atPath: repository.root + "/" + $0) }
        }
        return record
    }

    func save(_ record: RunRecord) throws {
        let row = try record.row
        try catalog.write { try $0.updateRun(row) }
    }

    // MARK: Train

    /// Trains a model on the snapshot `ref` names and records the run.
    ///
    /// The run is recorded, with the snapshot id `ref` resolved to, before any data is read. A run
    /// that fails (bad data, a diverging loss) or is stopped by `shouldStop` keeps its record with
    /// that status; an interrupted run keeps a checkpoint of its last step.
    ///
    /// - Throws: `TrainingError`, or the store's and catalog's errors; the run is marked failed first.
    public func train(ref: String, name: String?, parameters: RunParameters,
                      events: @Sendable (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> RunRecord {
        try parameters.validate()
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        let snapshot = try versioning.resolve(ref)
        BLAS.threads = parameters.threads
        let started = Date()
        var idSource = Array(snapshot.id.hex.utf8)
        idSource += Array("\(started.timeIntervalSince1970) \(getpid()) \(UInt64.random(in: 0...UInt64.max))".utf8)
        let id = String(BlobID(hashing: idSource).hex.prefix(12))
        var record = RunRecord(
            id: id, name: name ?? "\(parameters.model.rawValue)-\(id.prefix(6))", dataRef: ref, snapshotID: snapshot.id.hex,
            parameters: parameters, environment: .current(cairnVersion: cairnVersion, sourceCommit: sourceCommit))
        let row = try record.row
        try catalog.write { try $0.insertRun(row) }
        events(.started(record))
        do {
            try run(&record, snapshot: snapshot.id, events: events, shouldStop: shouldStop)
        } catch {
            record.status = .failed
            record.error = "\(error)"
            record.endedAt = Date()
            try? save(record)
            throw error
        }
        return record
    }

    private func run(_ record: inout RunRecord, snapshot: BlobID, events: @Sendable (TrainingEvent) -> Void, shouldStop: () -> Bool) throws {
        let p = record.parameters
        let data = try SnapshotExamples.read(snapshot, versioning: versioning)
        record.classes = data.classes
        record.counts.unlabeled = data.unlabeled
        record.counts.conflicts = data.conflicts > 0 ? data.conflicts : nil
        record.counts.notFetched = data.notFetched > 0 ? data.notFetched : nil
        record.counts.multiLabel = data.multiLabel > 0 ? data.multiLabel : nil
        guard !data.examples.isEmpty else {
            throw TrainingError.unusableData("it has no items labeled with one class (\(data.unlabeled) unlabeled, \(data.conflicts) in conflict, "
                                             + "\(data.multiLabel) labeled with a set of classes, which training does not take); label some first")
        }
        let present = Set(data.examples.map(\.label))
        guard present.count >= 2 else {
            throw TrainingError.unusableData("every labeled item is '\(data.classes[Int(present.first!)])'; a classifier needs at least two classes")
        }
        var train = data.examples.filter { $0.split == .train }
        let val = data.examples.filter { $0.split == .val }, test = data.examples.filter { $0.split == .test }
        guard !train.isEmpty else { throw TrainingError.unusableData("its train split has no labeled items") }
        var random = SeededRandom(seed: p.seed)
        let fullTrain = train.count
        if p.overfitBatch || p.limit != nil {
            random.shuffle(&train)
            train = Array(train.prefix(p.overfitBatch ? p.batch : p.limit!))
        }
        record.counts.limitedOut = fullTrain - train.count
        (record.counts.train, record.counts.val, record.counts.test) = (train.count, val.count, test.count)

        let preprocessing = Preprocessing(width: p.width, height: p.height, channels: p.channels)
        let all = train + val + test
        let spec = ModelSpec(kind: p.model, hidden: p.hidden, width: p.width, height: p.height, channels: p.channels,
                             classes: data.classes.count)
        try MemoryEstimate.check(spec: spec, batch: p.batch, examples: all.count)
        let loaded = try loader.load(all, preprocessing) { done, total in events(.loading(done: done, total: total)) }
        let table = loaded.table
        record.loading = loaded.report
        // Images that do not decode are left out of every split, counted and named in the record.
        let trainRows = loaded.usable(Array(0..<train.count))
        let valRows = loaded.usable(Array(train.count..<train.count + val.count))
        let testRows = loaded.usable(Array(train.count + val.count..<all.count))
        record.counts.undecodable = loaded.undecodableRows.isEmpty ? nil : loaded.undecodableRows.count
        (record.counts.train, record.counts.val, record.counts.test) = (trainRows.count, valRows.count, testRows.count)
        events(.loaded(loaded.report, record.counts))
        guard !trainRows.isEmpty else {
            throw TrainingError.unusableData("none of its labeled training images decode (\(loaded.undecodableRows.count) undecodable; `cairn ls --undecodable` lists them)")
        }
        let labels = all.map(\.label)
        let normalization = Normalization.fit(table, rows: trainRows, channels: p.channels)
        record.normalization = normalization

        let network = Network(spec: spec, seed: p.seed)
        let optimizer = Optimizer(kind: p.optimizer, learningRate: p.learningRate)
        var order = trainRows
        var buffers = Network.StepBuffers()
        var interrupted = false
        epochs: for epoch in 1...p.epochs {
            let epochStart = Date()
            random.shuffle(&order)
            let steps = (order.count + p.batch - 1) / p.batch
            var lossSum = 0.0
            for step in 0..<steps {
                if shouldStop() {
                    interrupted = true
                    break epochs
                }
                let rows = order[step * p.batch..<min(order.count, (step + 1) * p.batch)]
                let loss = network.trainStep(table, rows: rows, labels: labels, normalization: normalization, optimizer: optimizer,
                                             buffers: &buffers)
                guard loss.isFinite else {
                    throw TrainingError.diverged(epoch: epoch, step: step + 1, loss: loss, learningRate: p.learningRate)
                }
                lossSum += loss * Double(rows.count)
                events(.step(epoch: epoch, step: step + 1, steps: steps, loss: loss))
            }
            var metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(order.count), valLoss: nil, valAccuracy: nil,
                                       seconds: 0)
            // Guessing uniformly costs ln(k); a whole epoch ten times worse is divergence, not learning.
            if metrics.trainLoss > 10 * log(Double(data.classes.count)) {
                throw TrainingError.diverged(epoch: epoch, step: steps, loss: metrics.trainLoss, learningRate: p.learningRate)
            }
            if !valRows.isEmpty && !p.overfitBatch {
                let evaluation = evaluate(network, table, rows: valRows, labels: labels, classes: data.classes, normalization: normalization)
                (metrics.valLoss, metrics.valAccuracy) = (evaluation.loss, evaluation.accuracy)
            }
            metrics.seconds = Date().timeIntervalSince(epochStart)
            record.epochs.append(metrics)
            events(.epoch(metrics))
        }

        // Final figures: train, val, test, and the majority baseline beside them.
        let trainEvaluation = evaluate(network, table, rows: trainRows, labels: labels, classes: data.classes, normalization: normalization)
        record.trainAccuracy = trainEvaluation.accuracy
        if !valRows.isEmpty { record.val = evaluate(network, table, rows: valRows, labels: labels, classes: data.classes, normalization: normalization) }
        if !testRows.isEmpty { record.test = evaluate(network, table, rows: testRows, labels: labels, classes: data.classes, normalization: normalization) }
        var frequency = [Int](repeating: 0, count: data.classes.count)
        for row in trainRows { frequency[Int(labels[row])] += 1 }
        let majority = frequency.indices.max { frequency[$0] < frequency[$1] || (frequency[$0] == frequency[$1] && $0 > $1) }!
        let baselineRows = testRows.isEmpty ? (valRows.isEmpty ? trainRows : valRows) : testRows
        record.baseline = Baseline(
            className: data.classes[majority],
            accuracy: Double(baselineRows.filter { labels[$0] == Int32(majority) }.count) / Double(baselineRows.count))
        record.diagnosis = FitDiagnosis(train: trainEvaluation.accuracy, val: record.val?.accuracy, test: record.test?.accuracy,
                                        baseline: record.baseline!.accuracy, overfitBatch: p.overfitBatch)
        if p.overfitBatch {
            let last = record.epochs.last?.trainLoss ?? .infinity
            record.overfitPassed = last < 0.05
            record.overfitCheck = last < 0.05
                ? String(format: "passed: the loss on one batch of %d fell to %.4f", train.count, last)
                : String(format: "FAILED: the loss on one batch of %d is still %.4f after %d steps; a model that cannot fit one batch "
                         + "points to a bug (labels, preprocessing, learning rate)", train.count, last, record.epochs.count)
        }

        // The checkpoint is a blob, so gc keeps it for as long as the run exists.
        let checkpoint = Checkpoint(
            header: .init(spec: spec, classes: data.classes, preprocessing: preprocessing, normalization: normalization,
                          weightCount: network.parameterCount),
            weights: network.flatWeights())
        let blob = HashedBlob(try checkpoint.encoded())
        try repository.store.put(blob)
        try repository.store.flush()
        record.checkpoint = blob.id.hex
        record.status = interrupted ? .interrupted : .finished
        if interrupted { record.error = "interrupted after \(record.epochs.count) complete epochs; the checkpoint holds the last step" }
        record.endedAt = Date()
        record.plots = (try? Plots.write(record, to: runDirectory(record.id), relativeTo: repository.root)) ?? []
        try save(record)
    }

    /// Mean loss, accuracy and per-class figures of `network` on `rows`.
    func evaluate(_ network: Network, _ table: PixelTable, rows: [Int], labels: [Int32], classes: [String],
                  normalization: Normalization) -> Evaluation {
        let k = classes.count
        let p = network.probabilities(table, rows: rows, normalization: normalization)
        var predicted: [Int32] = []
        var loss = 0.0
        for (i, row) in rows.enumerated() {
            let probabilities = p[i * k..<(i + 1) * k]
            loss -= log(Double(max(probabilities[i * k + Int(labels[row])], .leastNormalMagnitude)))
            predicted.append(Int32(probabilities.indices.max { probabilities[$0] < probabilities[$1] }! - i * k))
        }
        return Evaluation(classes: classes, truth: rows.map { labels[$0] }, predicted: predicted,
                          loss: rows.isEmpty ? 0 : loss / Double(rows.count))
    }
}
