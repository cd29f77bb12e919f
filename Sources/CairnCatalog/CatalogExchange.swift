import CairnStore
import Foundation

/// One row of label history with everything that names it outside this catalog: what a
/// `CatalogBundle` carries to other replicas.
public struct LabelEvent: Sendable, Hashable {
    public var item: BlobID
    public var person: String
    /// The label given; nil for a skip.
    public var label: Label?
    public var at: Date
    /// The row's place in the label order (`LabelOrder`).
    public var stamp: Data
    /// What a model showed while the label was given (annotations only).
    public var suggestion: SuggestionShown?

    public init(item: BlobID, person: String, label: Label?, at: Date, stamp: Data, suggestion: SuggestionShown? = nil) {
        (self.item, self.person, self.label, self.at, self.stamp, self.suggestion) = (item, person, label, at, stamp, suggestion)
    }
}

/// What replicas exchange beyond the other parts: whole label histories, and a cheap way to tell
/// that nothing changed.
public protocol CatalogExchange {
    /// Every row of a label history, by item blob id, then in the label order.
    func labelEvents(_ history: LabelHistory) throws -> [LabelEvent]
    /// A value that changes whenever anything a `CatalogBundle` carries is added or changed.
    func changeFingerprint() throws -> String
}
