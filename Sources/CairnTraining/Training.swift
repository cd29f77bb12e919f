import CairnCatalog
import CairnImaging
import CairnModels
import CairnRepository
import CairnStore
import CairnSupport
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

    package var repository: Repository { versioning.repository }
    package var catalog: any Catalog { repository.catalog }

    /// The loader for this repository, caching under the caller's `.cairn/cache/UID/tensors`;
    /// without a cache when the caller may not write one here (a read-only repository, or another
    /// user's marked safe); a cache entry that is unsafe (a planted link) is still an error.
    public func loader() throws -> Loader {
        let cache: String?
        do {
            cache = try repository.derivedCache() + "/tensors"
        } catch StoreError.permissionDenied, StoreError.readOnly {
            cache = nil
        }
        return Loader(store: repository.store, cacheDirectory: cache)
    }

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
    ///
    /// A sweep trial (`sweep`) is tagged with its sweep, and `prune` is asked after every epoch:
    /// a reason it returns ends the run as `pruned`, with its checkpoint.
    public func train(ref: String, name: String?, parameters: RunParameters, sweep: SweepTag? = nil,
                      events: @Sendable (TrainingEvent) -> Void = { _ in }, shouldStop: () -> Bool = { false },
                      prune: (EpochMetrics) -> String? = { _ in nil }) throws -> RunRecord {
        try parameters.validate()
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        let snapshot = try versioning.resolve(ref)
        BLAS.threads = parameters.threads
        let id = newRunID(snapshot.id)
        var record = RunRecord(
            id: id, name: name ?? "\(parameters.model.rawValue)-\(id.prefix(6))", dataRef: ref, snapshotID: snapshot.id.hex,
            parameters: parameters, environment: .current(cairnVersion: cairnVersion, sourceCommit: sourceCommit))
        record.sweep = sweep
        let row = try record.row
        try catalog.write { try $0.insertRun(row) }
        events(.started(record))
        do {
            try run(&record, parameters, snapshot: snapshot.id, events: events, shouldStop: shouldStop, prune: prune)
        } catch {
            record.status = .failed
            record.error = "\(error)"
            record.endedAt = Date()
            try? save(record)
            throw error
        }
        return record
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
            predicted.append(Int32(probabilities.argmax()!))
        }
        return Evaluation(classes: classes, truth: rows.map { labels[$0] }, predicted: predicted,
                          loss: rows.isEmpty ? 0 : loss / Double(rows.count))
    }
}
