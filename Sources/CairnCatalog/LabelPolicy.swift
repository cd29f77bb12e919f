import Foundation

/// An item's label after applying the resolution policy.
public enum ResolvedLabel: Sendable, Hashable {
    /// Nobody labeled it (skips do not count).
    case unlabeled
    /// The policy settled on this label.
    case labeled(Label)
    /// Annotators disagree and no reviewer has decided: the labels given, in canonical order.
    case conflict([Label])

    /// The label when resolved, else nil.
    public var label: Label? {
        if case .labeled(let label) = self { return label }
        return nil
    }
}

/// The one place that decides an item's label (documented in Docs/LABELS.md):
/// 1. a reviewer's latest verdict, when there is one;
/// 2. else, when every annotator who labeled the item (their latest label, skips ignored)
///    gave the same label (the same class, or in multi-label work the same set), that label;
///    `import` counts as one annotator;
/// 3. else unresolved: a conflict when labels differ, unlabeled when there are none.
public enum LabelPolicy {
    /// Resolves from each annotator's latest label (nil = skipped) and an optional verdict.
    public static func resolve(latest: [String: Label?], verdict: Label? = nil) -> ResolvedLabel {
        resolve(labels: Array(latest.values), verdict: verdict)
    }

    /// Resolves from the annotators' latest labels in any order (nil = skipped).
    public static func resolve(labels: some Collection<Label?>, verdict: Label? = nil) -> ResolvedLabel {
        if let verdict { return .labeled(verdict) }
        var first: Label? = nil
        var others: Set<Label> = []
        for case let label? in labels {
            if first == nil { first = label } else if label != first { others.insert(label) }
        }
        guard let first else { return .unlabeled }
        if others.isEmpty { return .labeled(first) }
        others.insert(first)
        return .conflict(others.sorted())
    }
}

/// Orders strings by their UTF-8 bytes: the order snapshots and their ids are defined by.
public func utf8Precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
