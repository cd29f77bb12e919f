import CairnCatalog
import CairnStore
import Foundation

/// How two snapshots differ.
public struct SnapshotDiff: Sendable, Codable, Equatable {
    /// One item's change of label or split (or, in `otherwiseChanged`, of path or provenance).
    public struct Change: Sendable, Codable, Equatable {
        public var blobID: BlobID
        public var path: String
        public var old: String?
        public var new: String?
        /// What else changed, in words: `path a.png -> b.png`, `ada: cat -> dog`, `verdict by grace: dog`.
        public var details: [String]?
    }

    public var from: BlobID
    public var to: BlobID
    public var added: [ItemRecord] = []
    public var removed: [ItemRecord] = []
    public var labelsChanged: [Change] = []
    public var splitsChanged: [Change] = []
    /// Items whose stored path or provenance changed but whose label and split did not.
    public var otherwiseChanged: [Change] = []
    /// One item's change of boxes: its resolved boxes before and after paired by IoU, or a change
    /// of state (`unresolved` while annotators' sets differ unreviewed, `none` when nobody drew).
    public struct BoxChange: Sendable, Codable, Equatable {
        public var blobID: BlobID
        public var path: String
        public var changes: BoxChanges
        public var oldState: String?
        public var newState: String?
    }

    /// Per-class count change (new − old), classes with no change left out.
    public var classDeltas: [String: Int] = [:]
    /// Items whose resolved boxes (or their state) changed; kept items' boxes only.
    public var boxesChanged: [BoxChange] = []
    /// Per-class change of resolved boxes (new − old), over every item; classes with no change left out.
    public var boxDeltas: [String: Int] = [:]
    public var classesChanged: Bool = false
    /// Tree objects skipped because both sides held the same subtree.
    public var sharedSubtrees = 0

    /// True when the two snapshots hold the same images with the same labels and splits.
    public var sameImagesLabelsAndSplits: Bool {
        added.isEmpty && removed.isEmpty && labelsChanged.isEmpty && splitsChanged.isEmpty && boxesChanged.isEmpty
    }
}

extension Versioning {
    /// Compares two snapshots by walking both trees, skipping subtrees with equal ids.
    ///
    /// - Complexity: proportional to the number of differing leaves, not to the dataset.
    public func diff(_ a: String, _ b: String) throws -> SnapshotDiff {
        let rowA = try resolve(a), rowB = try resolve(b)
        let rootA = try tree.root(rowA.id), rootB = try tree.root(rowB.id)
        var diff = SnapshotDiff(from: rowA.id, to: rowB.id)
        diff.classesChanged = rootA.classes != rootB.classes
        try compare(rootA.items, rootB.items, depth: 0, into: &diff)
        for item in diff.added {
            Self.count(item.label, 1, into: &diff.classDeltas)
            Self.countBoxes(item.boxes?.resolved, 1, into: &diff.boxDeltas)
        }
        for item in diff.removed {
            Self.count(item.label, -1, into: &diff.classDeltas)
            Self.countBoxes(item.boxes?.resolved, -1, into: &diff.boxDeltas)
        }
        diff.classDeltas = diff.classDeltas.filter { $0.value != 0 }
        diff.boxDeltas = diff.boxDeltas.filter { $0.value != 0 }
        return diff
    }

    private func compare(_ a: BlobID?, _ b: BlobID?, depth: Int, into diff: inout SnapshotDiff) throws {
        if a == b {
            if a != nil { diff.sharedSubtrees += 1 }
            return
        }
        let nodeA = try a.map(tree.node), nodeB = try b.map(tree.node)
        if case .interior(let childrenA)? = nodeA, case .interior(let childrenB)? = nodeB {
            for digit in 0..<TreeFormat.fanout { try compare(childrenA[digit]?.id, childrenB[digit]?.id, depth: depth + 1, into: &diff) }
            return
        }
        // At least one side is a leaf (or absent): compare the items directly.
        let itemsA = try tree.items(under: a), itemsB = try tree.items(under: b)
        var i = 0, j = 0
        while i < itemsA.count || j < itemsB.count {
            if j >= itemsB.count || (i < itemsA.count && itemsA[i].blobID < itemsB[j].blobID) {
                diff.removed.append(itemsA[i])
                i += 1
            } else if i >= itemsA.count || itemsB[j].blobID < itemsA[i].blobID {
                diff.added.append(itemsB[j])
                j += 1
            } else {
                let old = itemsA[i], new = itemsB[j]
                if old != new {
                    var any = false
                    if old.label != new.label || old.conflict != new.conflict {
                        diff.labelsChanged.append(.init(blobID: new.blobID, path: new.path, old: Self.describe(old), new: Self.describe(new),
                                                        details: Self.provenanceChanges(old, new)))
                        Self.count(old.label, -1, into: &diff.classDeltas)
                        Self.count(new.label, 1, into: &diff.classDeltas)
                        any = true
                    }
                    if old.split != new.split {
                        diff.splitsChanged.append(.init(blobID: new.blobID, path: new.path, old: old.split.rawValue, new: new.split.rawValue))
                        any = true
                    }
                    let (boxesBefore, boxesAfter) = (old.boxes?.resolved, new.boxes?.resolved)
                    let (stateBefore, stateAfter) = (Self.boxState(old), Self.boxState(new))
                    if boxesBefore != boxesAfter || stateBefore != stateAfter {
                        let changes = (boxesBefore ?? BoxSet([])).changes(to: boxesAfter ?? BoxSet([]))
                        diff.boxesChanged.append(.init(blobID: new.blobID, path: new.path, changes: changes, oldState: stateBefore, newState: stateAfter))
                        Self.countBoxes(boxesBefore, -1, into: &diff.boxDeltas)
                        Self.countBoxes(boxesAfter, 1, into: &diff.boxDeltas)
                        any = true
                    }
                    if !any {
                        diff.otherwiseChanged.append(.init(blobID: new.blobID, path: new.path, old: old.path, new: new.path,
                                                           details: Self.provenanceChanges(old, new)))
                    }
                }
                i += 1
                j += 1
            }
        }
    }

    /// How the path, the annotators' latest labels and the verdict of one item differ, in words.
    static func provenanceChanges(_ old: ItemRecord, _ new: ItemRecord) -> [String] {
        var out: [String] = []
        if old.path != new.path { out.append("path \(old.path) -> \(new.path)") }
        func text(_ label: Label?) -> String { label?.description ?? "skip" }
        let before = Dictionary(uniqueKeysWithValues: old.annotations.map { ($0.annotator, $0.label) })
        let after = Dictionary(uniqueKeysWithValues: new.annotations.map { ($0.annotator, $0.label) })
        for name in Set(before.keys).union(after.keys).sorted(by: utf8Precedes) {
            switch (before[name], after[name]) {
            case (nil, let now?): out.append("\(name): \(text(now)) (new)")
            case (let was?, nil): out.append("\(name): \(text(was)) (gone)")
            case (let was?, let now?) where was != now: out.append("\(name): \(text(was)) -> \(text(now))")
            default: break
            }
        }
        if old.verdict != new.verdict {
            switch (old.verdict, new.verdict) {
            case (nil, let now?): out.append("verdict by \(now.reviewer): \(now.label)")
            case (let was?, nil): out.append("verdict by \(was.reviewer) gone")
            case (let was?, let now?): out.append("verdict \(was.reviewer): \(was.label) -> \(now.reviewer): \(now.label)")
            default: break
            }
        }
        return out
    }

    /// A label as diff shows it: the class (`a+b` for a set), `conflict(a|b)`, or nil when unlabeled.
    static func describe(_ item: ItemRecord) -> String? {
        item.label?.description ?? (item.conflict.isEmpty ? nil : "conflict(" + item.conflict.map(\.description).joined(separator: "|") + ")")
    }

    /// `unresolved` while an item's box sets differ unreviewed, `none` when nobody drew on it, else nil.
    static func boxState(_ item: ItemRecord) -> String? {
        guard let boxes = item.boxes else { return "none" }
        return boxes.resolved == nil ? "unresolved" : nil
    }

    private static func countBoxes(_ set: BoxSet?, _ sign: Int, into deltas: inout [String: Int]) {
        for box in set?.boxes ?? [] { deltas[box.className, default: 0] += sign }
    }

    /// Adds a resolved label to per-class counts (each class of a set counts), as `ItemCounts` does.
    private static func count(_ label: Label?, _ sign: Int, into deltas: inout [String: Int]) {
        for name in label?.classes ?? [] { deltas[name, default: 0] += sign }
    }
}
