import Foundation

/// An item's label after applying the resolution policy.
public enum ResolvedLabel: Sendable, Hashable {
    /// Nobody labeled it (skips do not count).
    case unlabeled
    /// The policy settled on this class.
    case labeled(String)
    /// Annotators disagree and no reviewer has decided.
    case conflict([String])

    /// The class name when resolved, else nil.
    public var className: String? {
        if case .labeled(let name) = self { return name }
        return nil
    }
}

/// The one place that decides an item's label (documented in Docs/LABELS.md):
/// 1. a reviewer's latest verdict, when there is one;
/// 2. else, when every annotator who labeled the item (their latest label, skips ignored)
///    chose the same class, that class; `import` counts as one annotator;
/// 3. else unresolved: a conflict when labels differ, unlabeled when there are none.
public enum LabelPolicy {
    /// Resolves from each annotator's latest label (nil = skipped) and an optional verdict.
    public static func resolve(latest: [String: String?], verdict: String? = nil) -> ResolvedLabel {
        resolve(labels: Array(latest.values), verdict: verdict)
    }

    /// Resolves from the annotators' latest labels in any order (nil = skipped).
    public static func resolve(labels: some Collection<String?>, verdict: String? = nil) -> ResolvedLabel {
        if let verdict { return .labeled(verdict) }
        var first: String? = nil
        var others: Set<String> = []
        for case let label? in labels {
            if first == nil { first = label } else if label != first { others.insert(label) }
        }
        guard let first else { return .unlabeled }
        if others.isEmpty { return .labeled(first) }
        others.insert(first)
        return .conflict(others.sorted(by: utf8Precedes))
    }
}

/// Orders strings by their UTF-8 bytes: the order snapshots and their ids are defined by.
public func utf8Precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
