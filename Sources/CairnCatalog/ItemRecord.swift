import CairnStore
import Foundation

/// Everything a snapshot records about one item, as the catalog has it now or as a snapshot
/// tree's leaf holds it (sorted by blob id there). The one item-state type: the catalog streams
/// these, versioning writes and reads them.
public struct ItemRecord: Sendable, Hashable, Codable {
    public var blobID: BlobID
    /// Where the image was first imported.
    public var path: String
    public var format: String
    public var width: Int
    public var height: Int
    public var split: Split
    /// The resolved label: a class (or in multi-label work a set), nil when unlabeled or in
    /// conflict (see `conflict`).
    public var label: Label?
    /// The labels annotators disagree between, when unresolved; empty otherwise.
    public var conflict: [Label]
    /// Each annotator's latest label, sorted by annotator (nil class = skipped).
    public var annotations: [AnnotatorLabel]
    /// The latest reviewer verdict, if any.
    public var verdict: Verdict?
    /// The item's boxes (each annotator's latest set, the latest verdict), nil when nobody drew any.
    public var boxes: BoxRecord?

    /// One annotator's latest label (nil = skipped).
    public struct AnnotatorLabel: Sendable, Hashable, Codable {
        public var annotator: String
        public var label: Label?
        public init(annotator: String, label: Label?) {
            self.annotator = annotator
            self.label = label
        }

        private enum CodingKeys: String, CodingKey, LegacyLabelKeys { case annotator, label, className }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            annotator = try c.decode(String.self, forKey: .annotator)
            label = try c.decodeLabel()
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(annotator, forKey: .annotator)
            try c.encodeIfPresent(label, forKey: .label)
        }
    }

    /// A reviewer's decision.
    public struct Verdict: Sendable, Hashable, Codable {
        public var reviewer: String
        public var label: Label
        public init(reviewer: String, label: Label) {
            self.reviewer = reviewer
            self.label = label
        }

        private enum CodingKeys: String, CodingKey, LegacyLabelKeys { case reviewer, label, className }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reviewer = try c.decode(String.self, forKey: .reviewer)
            guard let label = try c.decodeLabel() else {
                throw DecodingError.keyNotFound(CodingKeys.label, .init(codingPath: c.codingPath, debugDescription: "a verdict without a label"))
            }
            self.label = label
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(reviewer, forKey: .reviewer)
            try c.encode(label, forKey: .label)
        }
    }

    public init(blobID: BlobID, path: String, format: String, width: Int, height: Int, split: Split,
                annotations: [AnnotatorLabel], verdict: Verdict?, boxes: BoxRecord? = nil) {
        self.blobID = blobID
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.split = split
        self.annotations = annotations.count > 1 ? annotations.sorted { utf8Precedes($0.annotator, $1.annotator) } : annotations
        self.verdict = verdict
        self.boxes = boxes
        let resolved = LabelPolicy.resolve(labels: self.annotations.lazy.map(\.label), verdict: verdict?.label)
        self.label = resolved.label
        if case .conflict(let names) = resolved { conflict = names } else { conflict = [] }
    }

    /// The label as the policy resolved it.
    public var resolved: ResolvedLabel { label.map { .labeled($0) } ?? (conflict.isEmpty ? .unlabeled : .conflict(conflict)) }

    /// What the item is to work that takes one class per item (training, a WebDataset export).
    public enum SingleClass: Sendable, Equatable {
        /// One class, at this index of the classes asked about.
        case index(Int)
        case unlabeled, conflict
        /// A set of classes, or a class not among those asked about.
        case multiLabel
    }

    /// The item's one class as its index in `classes` (name → index), or why it has none.
    public func singleClass(in classes: [String: Int]) -> SingleClass {
        switch resolved {
        case .unlabeled: .unlabeled
        case .conflict: .conflict
        case .labeled(let label): label.single.flatMap { classes[$0] }.map { .index($0) } ?? .multiLabel
        }
    }

    /// Fraction of annotators (skips excluded) whose latest label equals the resolved label.
    public var agreement: Double? {
        let voted = annotations.compactMap(\.label)
        guard let label, !voted.isEmpty else { return nil }
        return Double(voted.filter { $0 == label }.count) / Double(voted.count)
    }
}

/// Items counted by class and by split, with the unlabeled and conflicting ones: what a snapshot
/// records beside its tree and what `status` reports.
public struct ItemCounts: Sendable, Hashable, Codable {
    /// Labeled items carrying each class (an item labeled with a set counts for each of its classes).
    public var classes: [String: Int] = [:]
    public var splits: [String: Int] = [:]
    public var unlabeled = 0
    public var conflicts = 0
    /// Boxes of each class among the items' resolved boxes; nil when no item has any (and in
    /// counts written before boxes existed).
    public var boxes: [String: Int]?
    /// Items whose annotators' box sets differ with no verdict; nil when none.
    public var boxConflicts: Int?

    public init() {}

    /// The labeled items, each once.
    public var labeled: Int { splits.values.reduce(0, +) - unlabeled - conflicts }

    /// Counts `record` in (`sign` 1) or out (-1).
    public mutating func add(_ record: ItemRecord, _ sign: Int = 1) {
        splits[record.split.rawValue, default: 0] += sign
        switch record.resolved {
        case .labeled(let label):
            for name in label.classes {
                classes[name, default: 0] += sign
                if classes[name] == 0 { classes[name] = nil }
            }
        case .unlabeled: unlabeled += sign
        case .conflict: conflicts += sign
        }
        guard let record = record.boxes else { return }
        guard let resolved = record.resolved else {
            boxConflicts = (boxConflicts ?? 0) + sign
            if boxConflicts == 0 { boxConflicts = nil }
            return
        }
        for (name, count) in resolved.classCounts {
            var counts = boxes ?? [:]
            counts[name, default: 0] += sign * count
            if counts[name] == 0 { counts[name] = nil }
            boxes = counts.isEmpty ? nil : counts
        }
    }
}

/// Coding keys of a record with a label, which exports written before multi-label support name `className`.
private protocol LegacyLabelKeys: CodingKey {
    static var label: Self { get }
    static var className: Self { get }
}

extension KeyedDecodingContainer where Key: LegacyLabelKeys {
    /// The `label` field, or `className` in older files; nil when neither is there.
    func decodeLabel() throws -> Label? {
        try decodeIfPresent(Label.self, forKey: .label) ?? decodeIfPresent(Label.self, forKey: .className)
    }
}
