import CairnCatalog
import Foundation

/// What `classes remove` or `classes merge` did.
public struct ClassRemoval: Sendable, Codable, Equatable {
    public var removed: String
    /// Items given a verdict without the class (with `into` in its place, when given).
    public var relabeled: Int
    public var into: String?
}

extension Repository {
    /// Takes class `name` out of the repository: from the class list, the labeling keys and every
    /// later snapshot; the history that names it stays. Items whose resolved label carries it get a
    /// verdict by `reviewer` with `into` in its place (`--relabel-to`, `merge`), or without it
    /// (`unlabel`: a one-class label becomes "no class applies"); items in conflict over it get one
    /// when replacing it settles them. All in one transaction.
    /// - Throws: `CatalogError.notFound` for an unknown class or `into`; `RepositoryError.classInUse`
    ///   while items carry the class and neither `into` nor `unlabel` is given, or when conflicts
    ///   over it stay unsettled; `CatalogError.notAReviewer`. Nothing changes then.
    public func removeClass(_ name: String, into: String?, unlabel: Bool, reviewer: String) throws -> ClassRemoval {
        try catalog.write { tx in
            guard let removed = try tx.labelClass(named: name) else { throw CatalogError.notFound(kind: "class", name: name) }
            if let into {
                guard into != name else { throw RepositoryError.classInUse(name: name, items: 0, hint: "a class cannot be merged into itself") }
                guard try tx.labelClass(named: into) != nil else { throw CatalogError.notFound(kind: "class", name: into) }
            }
            func replaced(_ label: Label) -> Label {
                Label(label.classes.filter { $0 != name } + (into.map { label.classes.contains($0) ? [] : [$0] } ?? []))
            }
            var verdicts: [(Int64, Label)] = []
            // Items out of the working state (`rm`) get the same verdicts, so that `restore --items`
            // never brings back a label of a class that is gone; they neither block nor count.
            var removedVerdicts: [(Int64, Label)] = []
            var unsettled = 0
            let removedItems = Set(try tx.removedItems().map(\.id))
            try tx.forEachItemRecord(ids: nil, includingRemoved: true) { item, record in
                let isRemoved = removedItems.contains(item)
                switch record.resolved {
                case .labeled(let label) where label.classes.contains(name):
                    if isRemoved { removedVerdicts.append((item, replaced(label))) } else { verdicts.append((item, replaced(label))) }
                case .conflict(let labels) where labels.contains(where: { $0.classes.contains(name) }):
                    let settled = Set(labels.map(replaced))
                    if settled.count == 1, let label = settled.first, into != nil || isRemoved {
                        if isRemoved { removedVerdicts.append((item, label)) } else { verdicts.append((item, label)) }
                    } else if !isRemoved {
                        unsettled += 1
                    }
                default: return
                }
            }
            if unsettled > 0 {
                throw RepositoryError.classInUse(name: name, items: unsettled, hint: "annotators disagree over it; settle them first "
                                                 + "(`cairn label --queue disagreements --class \(name)`)")
            }
            if !verdicts.isEmpty, into == nil, !unlabel {
                throw RepositoryError.classInUse(name: name, items: verdicts.count, hint: "give --relabel-to CLASS or --unlabel")
            }
            if !verdicts.isEmpty || !removedVerdicts.isEmpty {
                let who = try tx.reviewer(named: reviewer)
                let now = Date()
                for (item, label) in verdicts + removedVerdicts {
                    try tx.appendVerdict(itemID: item, reviewer: who, classIDs: try tx.existingClassIDs(label.classes), at: now)
                }
            }
            try tx.markClassRemoved(id: removed.id, at: Date())
            return ClassRemoval(removed: name, relabeled: verdicts.count, into: into)
        }
    }
}
