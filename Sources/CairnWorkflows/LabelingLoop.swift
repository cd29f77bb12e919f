import CairnCatalog
import CairnLabeling
import CairnQuality
import CairnRepository
import CairnTraining
import CairnVersioning

/// What `cairn label` and `cairn queue` take from a model: the run, its suggestions, and the order
/// of a queue a plan serves (uncertain, suspects).
public struct LabelingLoop {
    /// The run that suggests or orders (nil when neither is asked for).
    public let run: RunRecord?
    public let suggestions: Suggestions?
    public let plan: QueuePlan?

    /// - Parameters:
    ///   - suggest: show the run's suggestions.
    ///   - model: the run (id or name); nil is the latest finished run with these classes. Asked
    ///     for when suggesting or for `--queue uncertain`.
    ///   - progress: predictions made for the uncertain queue so far, of how many.
    /// - Throws: `TrainingError` when no run fits, `cairn suspects` has not been run for the
    ///   suspects queue, or the model cannot predict.
    public init(_ repository: Repository, suggest: Bool, model: String?, queue: LabelQueue, explore: Double, cairnVersion: String,
                progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws {
        let training = Training(versioning: Versioning(repository: repository), cairnVersion: cairnVersion)
        let record = suggest || queue == .uncertain ? try training.loopRun(model) : nil
        run = record
        suggestions = try record.flatMap { record in
            suggest ? Suggestions(run: record.id, classes: record.classes, catalog: repository.catalog,
                                  compute: try training.modelFunction(record)) : nil
        }
        switch queue {
        case .uncertain: plan = try training.uncertainPlan(record!, explore: explore, progress: progress)
        case .suspects: plan = try training.suspectsPlan()
        default: plan = nil
        }
    }
}
