import CairnCatalog
import Foundation

/// What `classes remove` or `classes merge` did.
public struct ClassRemoval: Sendable, Codable, Equatable {
    public var removed: String
    /// Items given a verdict without the class (with `into` in its place, when given).
    public var relabeled: Int
    public var into: String?
    /// Items given a box verdict with the class's boxes relabeled `into`, or dropped.
    public var boxesChanged = 0
}

extension Repository {
    /// Takes class `name` out of the repository: from the class list, the labeling keys and every
    /// later snapshot; the history that names it stays. Items whose resolved label carries it get a
    /// verdict by `reviewer` with `into` in its place (`--relabel-to`, `merge`), or without it
    /// (`unlabel`: a one-class label becomes "no class applies"); items in conflict over it get one
    /// when replacing it settles them. Boxes the same way: resolved boxes of the class become `into`
    /// boxes, or go, in a box verdict; differing box sets that use it must be settled first. All in
    /// one transaction.
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
            // Boxes of the class become boxes of `into`, or go (`unlabel`), as box verdicts.
            var boxVerdicts: [(item: Int64, width: Int, height: Int, boxes: BoxSet)] = []
            func replaced(_ set: BoxSet) -> BoxSet {
                BoxSet(set.boxes.compactMap { box in
                    guard box.className == name else { return box }
                    guard let into else { return nil }
                    return Box(className: into, x: box.x, y: box.y, width: box.width, height: box.height, crowd: box.crowd, occluded: box.occluded)
                })
            }
            let removedItems = Set(try tx.removedItems().map(\.id))
            try tx.forEachItemRecord(ids: nil, includingRemoved: true) { item, record in
                let isRemoved = removedItems.contains(item)
                if let boxes = record.boxes {
                    if let resolved = boxes.resolved {
                        if resolved.boxes.contains(where: { $0.className == name }) {
                            boxVerdicts.append((item, record.width, record.height, replaced(resolved)))
                        }
                    } else if boxes.annotations.contains(where: { $0.boxes.boxes.contains { $0.className == name } }), !isRemoved {
                        unsettled += 1
                    }
                }
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
            if !verdicts.isEmpty || !boxVerdicts.isEmpty, into == nil, !unlabel {
                throw RepositoryError.classInUse(name: name, items: verdicts.count + boxVerdicts.count, hint: "give --relabel-to CLASS or --unlabel")
            }
            if !verdicts.isEmpty || !removedVerdicts.isEmpty || !boxVerdicts.isEmpty {
                let who = try tx.reviewer(named: reviewer)
                let now = Date()
                for (item, label) in verdicts + removedVerdicts {
                    try tx.appendVerdict(itemID: item, reviewer: who, classIDs: try tx.existingClassIDs(label.classes), at: now)
                }
                let classIDs = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0.id) })
                for entry in boxVerdicts {
                    try tx.appendBoxes(.verdicts, itemID: entry.item, width: entry.width, height: entry.height, personID: who.id, boxes: entry.boxes,
                                       classIDs: classIDs, at: now, stamp: nil)
                }
            }
            try tx.markClassRemoved(id: removed.id, at: Date())
            var removal = ClassRemoval(removed: name, relabeled: verdicts.count, into: into)
            removal.boxesChanged = boxVerdicts.count
            return removal
        }
    }
}
