import CairnCatalog
import Foundation

/// Work a labeling session starts and never waits for — the uncertainty queue's retraining: after
/// every N labels, snapshot, train, predict and reorder. The UI tells it of each label and polls it
/// between keys; what it finished is applied there, on the UI's thread.
public protocol BackgroundWork: AnyObject {
    /// Called after each label with the session's label count; starts work when it is due.
    func labeled(count: Int)
    /// What finished since the last poll: a new order for the queue, suggestions from a new model,
    /// and a line for the status bar (a failure says so and the session goes on). Nil when nothing did.
    func poll() -> BackgroundResult?
}

/// What a piece of background work produced.
public struct BackgroundResult: Sendable {
    public var message: String
    public var plan: QueuePlan?
    public var suggestions: Suggestions?

    public init(message: String, plan: QueuePlan? = nil, suggestions: Suggestions? = nil) {
        (self.message, self.plan, self.suggestions) = (message, plan, suggestions)
    }
}
