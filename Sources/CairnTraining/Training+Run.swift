import CairnModels
import CairnStore
import CairnSupport
import Foundation

/// One training run's phases: read the snapshot's examples, load their images, fit, measure,
/// and keep the checkpoint. `Training.train` records the run around them.
extension Training {
    /// The data of a run once loaded: the model it trains, the images as a table, and which rows
    /// of it are each split (images that do not decode are in none).
    struct LoadedData {
        let classes: [String]
        let spec: ModelSpec
        let preprocessing: Preprocessing
        let table: PixelTable
        let labels: [Int32]
        let train: [Int], val: [Int], test: [Int]
        /// Training rows before the usable ones were picked (what `--overfit-batch` reports).
        let trainCount: Int
        let normalization: Normalization
    }

    func run(_ record: inout RunRecord, _ p: RunParameters, snapshot: BlobID, events: @Sendable (TrainingEvent) -> Void,
             shouldStop: () -> Bool, prune: (EpochMetrics) -> String? = { _ in nil }) throws {
        var random = SeededRandom(seed: p.seed)
        let data = try load(&record, p, snapshot: snapshot, random: &random, events: events)
        let network = Network(spec: data.spec, seed: p.seed)
        let stop = try fit(network, data, &record, p, random: &random, events: events, shouldStop: shouldStop, prune: prune)
        measure(network, data, &record, p)
        try keepCheckpoint(network, data, &record, stop: stop)
    }

    /// Why training ended before its last epoch, if it did.
    enum Stop {
        case completed, interrupted
        case pruned(String)
    }

    /// Reads the snapshot's examples into `record`'s counts, picks the splits, and loads the images.
    /// - Throws: `TrainingError.unusableData` for data no classifier can be trained on.
    private func load(_ record: inout RunRecord, _ p: RunParameters, snapshot: BlobID, random: inout SeededRandom,
                      events: @Sendable (TrainingEvent) -> Void) throws -> LoadedData {
        let data = try SnapshotExamples.read(snapshot, versioning: versioning)
        record.classes = data.classes
        record.counts.unlabeled = data.unlabeled
        record.counts.conflicts = data.conflicts > 0 ? data.conflicts : nil
        record.counts.notFetched = data.notFetched > 0 ? data.notFetched : nil
        record.counts.multiLabel = data.multiLabel > 0 ? data.multiLabel : nil
        record.counts.purged = data.purged > 0 ? data.purged : nil
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
        let loaded = try loader().load(all, preprocessing) { done, total in events(.loading(done: done, total: total)) }
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
        let normalization = Normalization.fit(loaded.table, rows: trainRows, channels: p.channels)
        record.normalization = normalization
        return LoadedData(classes: data.classes, spec: spec, preprocessing: preprocessing, table: loaded.table, labels: all.map(\.label),
                          train: trainRows, val: valRows, test: testRows, trainCount: train.count, normalization: normalization)
    }

    /// Runs the epochs, recording each one's metrics, until the last, `shouldStop` (interrupted) or
    /// `prune` (asked after each epoch).
    /// - Throws: `TrainingError.diverged` when the loss stops being a number or explodes.
    private func fit(_ network: Network, _ data: LoadedData, _ record: inout RunRecord, _ p: RunParameters, random: inout SeededRandom,
                     events: @Sendable (TrainingEvent) -> Void, shouldStop: () -> Bool, prune: (EpochMetrics) -> String?) throws -> Stop {
        let optimizer = Optimizer(kind: p.optimizer, learningRate: p.learningRate)
        var order = data.train
        var buffers = Network.StepBuffers()
        for epoch in 1...p.epochs {
            let epochStart = Date()
            random.shuffle(&order)
            let steps = (order.count + p.batch - 1) / p.batch
            var lossSum = 0.0
            for step in 0..<steps {
                if shouldStop() { return .interrupted }
                let rows = order[step * p.batch..<min(order.count, (step + 1) * p.batch)]
                let loss = network.trainStep(data.table, rows: rows, labels: data.labels, normalization: data.normalization,
                                             optimizer: optimizer, buffers: &buffers)
                guard loss.isFinite else {
                    throw TrainingError.diverged(epoch: epoch, step: step + 1, loss: loss, learningRate: p.learningRate)
                }
                lossSum += loss * Double(rows.count)
                events(.step(epoch: epoch, step: step + 1, steps: steps, loss: loss))
            }
            var metrics = EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(order.count), valLoss: nil, valAccuracy: nil, seconds: 0)
            // Guessing uniformly costs ln(k); a whole epoch ten times worse is divergence, not learning.
            if metrics.trainLoss > 10 * log(Double(data.classes.count)) {
                throw TrainingError.diverged(epoch: epoch, step: steps, loss: metrics.trainLoss, learningRate: p.learningRate)
            }
            if !data.val.isEmpty && !p.overfitBatch {
                let evaluation = evaluate(network, data, rows: data.val)
                (metrics.valLoss, metrics.valAccuracy) = (evaluation.loss, evaluation.accuracy)
            }
            metrics.seconds = Date().timeIntervalSince(epochStart)
            record.epochs.append(metrics)
            events(.epoch(metrics))
            if epoch < p.epochs, let why = prune(metrics) { return .pruned(why) }
        }
        return .completed
    }

    /// The final figures: train, val and test, the majority baseline beside them, the fit verdict,
    /// and for `--overfit-batch` whether the batch was fitted.
    private func measure(_ network: Network, _ data: LoadedData, _ record: inout RunRecord, _ p: RunParameters) {
        let trainEvaluation = evaluate(network, data, rows: data.train)
        record.trainAccuracy = trainEvaluation.accuracy
        if !data.val.isEmpty { record.val = evaluate(network, data, rows: data.val) }
        if !data.test.isEmpty { record.test = evaluate(network, data, rows: data.test) }
        var frequency = [Int](repeating: 0, count: data.classes.count)
        for row in data.train { frequency[Int(data.labels[row])] += 1 }
        let majority = frequency.argmax()!
        let baselineRows = data.test.isEmpty ? (data.val.isEmpty ? data.train : data.val) : data.test
        record.baseline = Baseline(
            className: data.classes[majority],
            accuracy: Double(baselineRows.filter { data.labels[$0] == Int32(majority) }.count) / Double(baselineRows.count))
        record.diagnosis = FitDiagnosis(train: trainEvaluation.accuracy, val: record.val?.accuracy, test: record.test?.accuracy,
                                        baseline: record.baseline!.accuracy, overfitBatch: p.overfitBatch)
        if p.overfitBatch {
            let last = record.epochs.last?.trainLoss ?? .infinity
            record.overfitPassed = last < 0.05
            record.overfitCheck = last < 0.05
                ? String(format: "passed: the loss on one batch of %d fell to %.4f", data.trainCount, last)
                : String(format: "FAILED: the loss on one batch of %d is still %.4f after %d steps; a model that cannot fit one batch "
                         + "points to a bug (labels, preprocessing, learning rate)", data.trainCount, last, record.epochs.count)
        }
    }

    /// Stores the checkpoint (a blob, so gc keeps it for as long as the run exists), draws the
    /// plots and saves the finished or interrupted record.
    private func keepCheckpoint(_ network: Network, _ data: LoadedData, _ record: inout RunRecord, stop: Stop) throws {
        let checkpoint = Checkpoint(
            header: .init(spec: data.spec, classes: data.classes, preprocessing: data.preprocessing, normalization: data.normalization,
                          weightCount: network.parameterCount),
            weights: network.flatWeights())
        let blob = HashedBlob(try checkpoint.encoded())
        try repository.store.put(blob)
        try repository.store.flush()
        record.checkpoint = blob.id.hex
        switch stop {
        case .completed: record.status = .finished
        case .interrupted:
            record.status = .interrupted
            record.error = "interrupted after \(record.epochs.count) complete epochs; the checkpoint holds the last step"
        case .pruned(let why):
            record.status = .pruned
            record.error = why
        }
        record.endedAt = Date()
        record.plots = (try? Plots.write(record, to: runDirectory(record.id), relativeTo: repository.root)) ?? []
        try save(record)
    }

    /// `network`'s figures on `rows` of the loaded data.
    private func evaluate(_ network: Network, _ data: LoadedData, rows: [Int]) -> Evaluation {
        evaluate(network, data.table, rows: rows, labels: data.labels, classes: data.classes, normalization: data.normalization)
    }
}
