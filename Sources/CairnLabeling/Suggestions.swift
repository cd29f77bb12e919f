import CairnCatalog
import CairnStore
import Foundation
import Synchronization

/// A model's most probable classes for the items a labeling session shows: read from the run's
/// stored predictions, or, for an item without one, made by `compute` (the run's checkpoint, which
/// the command line supplies: labeling never imports training). Worked out on the render-ahead
/// thread and kept, so a keystroke never waits for a model.
public final class Suggestions: Sendable {
    /// The run whose model suggests.
    public let run: String
    /// The run's classes, in the order of its probabilities.
    public let classes: [String]
    private let catalog: any Catalog
    private let compute: (@Sendable (BlobID) throws -> [Float])?
    private let made = Mutex<[Int64: [SuggestionShown.Candidate]]>([:])

    public init(run: String, classes: [String], catalog: any Catalog, compute: (@Sendable (BlobID) throws -> [Float])? = nil) {
        (self.run, self.classes, self.catalog, self.compute) = (run, classes, catalog, compute)
    }

    /// The three most probable classes for `item`, most probable first; empty when the run has
    /// nothing for it (no stored prediction and no model, or an image that does not decode).
    public func top(for item: Item) -> [SuggestionShown.Candidate] {
        if let known = made.withLock({ $0[item.id] }) { return known }
        var probabilities = (try? catalog.read { try $0.prediction(runID: run, itemID: item.id) })??.probabilities
        if probabilities == nil, let compute { probabilities = try? compute(item.blobID) }
        let candidates = (probabilities ?? []).enumerated()
            .sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
            .prefix(3)
            .compactMap { $0.offset < classes.count ? SuggestionShown.Candidate(className: classes[$0.offset], probability: Double($0.element)) : nil }
        made.withLock { $0[item.id] = candidates }
        return candidates
    }

    /// Works out `item`'s suggestions now (on the render-ahead thread), so `top` finds them made.
    public func prepare(_ item: Item) { _ = top(for: item) }

    /// What an annotation records when these suggestions were on screen.
    public func shown(for item: Item, accepted: Bool) -> SuggestionShown? {
        let candidates = top(for: item)
        return candidates.isEmpty ? nil : SuggestionShown(run: run, candidates: candidates, accepted: accepted)
    }
}
