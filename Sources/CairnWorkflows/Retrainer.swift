import CairnCatalog
import CairnLabeling
import CairnModels
import CairnQuality
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation
import Synchronization

/// `cairn label --queue uncertain --retrain-every N`: after every N labels, on a background queue,
/// snapshot the working state (incremental, cheap), train the same model pinned to that snapshot (a
/// normal run), predict the unlabeled items and hand the UI a new order and new suggestions. The UI
/// never waits for it; a failure is reported on its status line and labeling goes on.
public final class Retrainer: BackgroundWork, Sendable {
    private let repository: Repository
    private let base: RunRecord
    /// Nil for a program's run with embeddings: each round refits a classifier on them.
    private let parameters: RunParameters?
    private let every: Int
    private let explore: Double
    private let annotator: String
    private let cairnVersion: String
    private let worker = Worker("cairn.retrain")
    /// The label count the last round started at, the rounds started, and the last round's result until polled.
    private let state = Mutex<(last: Int, rounds: Int, result: BackgroundResult?)>((0, 0, nil))

    /// - Throws: `TrainingError.badParameter` for a run of another program without embeddings (cairn
    ///   retrains only its own models).
    public init(_ repository: Repository, run: RunRecord, every: Int, explore: Double, annotator: String, cairnVersion: String) throws {
        guard run.parameters != nil || run.program?.embeddings != nil else {
            throw TrainingError.badParameter("--retrain-every retrains a built-in model or refits on a run's embeddings; "
                                             + "run \(run.id) is a `cairn run` program without embeddings")
        }
        (self.repository, self.base, self.parameters, self.every, self.explore, self.annotator) = (repository, run, run.parameters, every, explore, annotator)
        self.cairnVersion = cairnVersion
    }

    public func labeled(count: Int) {
        guard state.withLock({ count - $0.last >= every }) else { return }
        worker.submitIfIdle { [self] in
            let round = state.withLock { s in
                s.last = count
                s.rounds += 1
                return s.rounds
            }
            let result: BackgroundResult
            do {
                result = try retrain(round: round, labels: count)
            } catch {
                result = BackgroundResult(message: "retraining failed: \(error); labeling goes on in the current order")
            }
            state.withLock { $0.result = result }
        }
    }

    public func poll() -> BackgroundResult? {
        state.withLock { s in
            defer { s.result = nil }
            return s.result
        }
    }

    /// The base run's name without the round a previous session added: m, m-r1 → m.
    private var baseName: String {
        guard let dash = base.name.range(of: "-r", options: .backwards), !base.name[dash.upperBound...].isEmpty,
              base.name[dash.upperBound...].allSatisfy(\.isNumber) else { return base.name }
        return String(base.name[..<dash.lowerBound])
    }

    private func retrain(round: Int, labels: Int) throws -> BackgroundResult {
        let started = Date()
        let training = Training(versioning: Versioning(repository: repository), cairnVersion: cairnVersion)
        guard var parameters = self.parameters else {
            let plan = try training.uncertainPlan(base, explore: explore, seed: UInt64(round))
            let suggestions = Suggestions(run: base.id, classes: base.classes, catalog: repository.catalog, compute: try training.modelFunction(base))
            return BackgroundResult(message: String(format: "refitted on run %@'s embeddings after %d labels, queue reordered (%.1f s)", base.id,
                                                    labels, Date().timeIntervalSince(started)), plan: plan, suggestions: suggestions)
        }
        parameters.threads = 1  // leave a core to the labeling UI
        let (record, plan) = try training.retrain(name: "\(baseName)-r\(round)", parameters: parameters,
                                                  message: "retrain \(round) after \(labels) labels", author: annotator,
                                                  explore: explore, seed: UInt64(round))
        let suggestions = Suggestions(run: record.id, classes: record.classes, catalog: repository.catalog,
                                      compute: try training.modelFunction(record))
        let accuracy = record.val.map { String(format: ", val accuracy %.1f%%", $0.accuracy * 100) } ?? ""
        return BackgroundResult(message: String(format: "retrained after %d labels: run %@%@, queue reordered (%.1f s)", labels,
                                                record.id, accuracy, Date().timeIntervalSince(started)),
                                plan: plan, suggestions: suggestions)
    }
}
