import CairnCatalog
import CairnStore
import Foundation

/// What a snapshot records about one item. Leaves of the snapshot tree hold these, sorted by blob id.
public struct ItemRecord: Sendable, Hashable, Codable {
    public var blobID: BlobID
    /// Where the image was first imported.
    public var path: String
    public var format: String
    public var width: Int
    public var height: Int
    public var split: Split
    /// The resolved label: a class, or nil when unlabeled or in conflict (see `conflict`).
    public var label: String?
    /// The classes annotators disagree between, when unresolved; empty otherwise.
    public var conflict: [String]
    /// Each annotator's latest label, sorted by annotator (nil class = skipped).
    public var annotations: [AnnotatorLabel]
    /// The latest reviewer verdict, if any.
    public var verdict: Verdict?

    /// One annotator's latest label.
    public struct AnnotatorLabel: Sendable, Hashable, Codable {
        public var annotator: String
        public var className: String?
        public init(annotator: String, className: String?) {
            self.annotator = annotator
            self.className = className
        }
    }

    /// A reviewer's decision.
    public struct Verdict: Sendable, Hashable, Codable {
        public var reviewer: String
        public var className: String
        public init(reviewer: String, className: String) {
            self.reviewer = reviewer
            self.className = className
        }
    }

    public init(blobID: BlobID, path: String, format: String, width: Int, height: Int, split: Split,
                annotations: [AnnotatorLabel], verdict: Verdict?) {
        self.blobID = blobID
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.split = split
        self.annotations = annotations.sorted { utf8Precedes($0.annotator, $1.annotator) }
        self.verdict = verdict
        let resolved = LabelPolicy.resolve(
            latest: Dictionary(uniqueKeysWithValues: self.annotations.map { ($0.annotator, $0.className) }),
            verdict: verdict?.className)
        self.label = resolved.className
        if case .conflict(let names) = resolved { conflict = names } else { conflict = [] }
    }

    /// The record of an item's current working state.
    public init(_ state: ItemState) {
        self.init(blobID: state.item.blobID, path: state.item.path, format: state.item.format,
                  width: state.item.width, height: state.item.height, split: state.item.split,
                  annotations: state.latest.map { AnnotatorLabel(annotator: $0.key, className: $0.value) },
                  verdict: state.verdict.map { Verdict(reviewer: $0.reviewer, className: $0.className) })
    }

    /// Fraction of annotators (skips excluded) whose latest label equals the resolved label.
    public var agreement: Double? {
        let voted = annotations.compactMap(\.className)
        guard let label, !voted.isEmpty else { return nil }
        return Double(voted.filter { $0 == label }.count) / Double(voted.count)
    }
}
