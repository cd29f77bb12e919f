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
        if let verdict { return .labeled(verdict) }
        let classes = Set(latest.values.compactMap { $0 })
        switch classes.count {
        case 0: return .unlabeled
        case 1: return .labeled(classes.first!)
        default: return .conflict(classes.sorted())
        }
    }
}
