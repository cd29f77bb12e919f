import CairnCatalog
import CairnStore
import Foundation
import Glibc

/// What `status` reports: the items, their labels by class and split, formats and history size.
public struct RepositorySummary: Sendable, Encodable {
    public var root: String
    public var items: Int
    public var bytes: Int64
    /// Labeled items per class, every class present (zero when unused).
    public var classes: [String: Int]
    public var classOrder: [String]
    public var splits: [String: Int]
    public var formats: [String: Int]
    public var labeled: Int
    public var unlabeled: Int
    public var conflicts: Int
    public var annotations: Int
    /// Resolved boxes per class, and items whose box sets wait for a reviewer; nil when none.
    public var boxes: [String: Int]?
    public var boxConflicts: Int?
}

/// Which items `items(where:)` lists.
public struct ItemFilter: Sendable {
    /// Only items whose resolved label carries this class (alone or in a set).
    public var className: String?
    public var split: Split?
    /// Only items nobody has labeled.
    public var unlabeled = false
    /// Only items whose annotators disagree, with no verdict.
    public var conflicting = false
    /// Only these items (by blob), with why each is listed (`ls --undecodable`).
    public var only: [BlobID: String]?
    /// Only items whose path matches this shell pattern (`*`, `?`, `[...]`; `*` also matches `/`).
    public var pathPattern: String?

    public init(className: String? = nil, split: Split? = nil, unlabeled: Bool = false, conflicting: Bool = false,
                only: [BlobID: String]? = nil, pathPattern: String? = nil) {
        (self.className, self.split, self.unlabeled, self.conflicting, self.only) = (className, split, unlabeled, conflicting, only)
        self.pathPattern = pathPattern
    }

    /// Whether an item with this path, split and resolved label passes the filter (all but `only`):
    /// the one rule for the working state and for a past snapshot.
    public func admits(path: String, split: Split, resolved: ResolvedLabel) -> Bool {
        if let wanted = self.split, split != wanted { return false }
        if let name = className, resolved.label?.contains(name) != true { return false }
        if unlabeled, resolved != .unlabeled { return false }
        if conflicting { guard case .conflict = resolved else { return false } }
        if let pattern = pathPattern, fnmatch(pattern, path, 0) != 0 { return false }
        return true
    }
}

/// One item as `ls` lists it: the item, its resolved label, and why it is listed (with `only`).
public struct ItemListing: Sendable {
    public var item: Item
    public var resolved: ResolvedLabel
    public var problem: String?
}

/// One item in full, as `show` prints it.
public struct ItemDetails: Sendable, Encodable {
    public var item: Item
    public var label: Label?
    /// The labels annotators disagree between, when unresolved.
    public var conflict: [Label]?
    public var history: [Annotation]
    public var verdicts: [Annotation]
    /// Set when the item's bytes were purged (`cairn purge`).
    public var purge: PurgeRecord?
    /// True when the item is out of the working state (`cairn rm`, `cairn purge`).
    public var removed = false
    /// The item's boxes (latest sets, verdict, resolved) and their history; nil and empty when nobody drew any.
    public var boxes: BoxRecord?
    public var boxHistory: [BoxLabel] = []
    public var boxVerdicts: [BoxLabel] = []
}

extension Repository {
    /// Counts of the working state, in one consistent read.
    ///
    /// `known`, when given, may supply the label counts without reading every item (`Versioning`
    /// takes them from the head snapshot and the items changed since); counts whose splits do not
    /// add up to the catalog's are not trusted, and every item is read instead.
    public func summary(known: ((any CatalogReadTransaction) throws -> ItemCounts?)? = nil) throws -> RepositorySummary {
        try catalog.read { tx in
            let splits = try tx.itemCounts(by: .split)
            var counts = ItemCounts()
            if let given = try known?(tx), given.splits.filter({ $0.value != 0 }) == Dictionary(uniqueKeysWithValues: splits) {
                counts = given
            } else {
                try tx.forEachItemRecord(ids: nil) { _, record in counts.add(record) }
            }
            let classes = try tx.classes()
            var byClass = counts.classes
            for c in classes where byClass[c.name] == nil { byClass[c.name] = 0 }
            return RepositorySummary(
                root: root, items: splits.reduce(0) { $0 + $1.1 }, bytes: try tx.byteCount(), classes: byClass, classOrder: classes.map(\.name),
                splits: Dictionary(uniqueKeysWithValues: splits),
                formats: Dictionary(uniqueKeysWithValues: try tx.itemCounts(by: .format)),
                labeled: counts.labeled, unlabeled: counts.unlabeled, conflicts: counts.conflicts, annotations: try tx.annotationCount(),
                boxes: counts.boxes, boxConflicts: counts.boxConflicts)
        }
    }

    /// The items `filter` selects, in catalog order.
    /// - Throws: `CatalogError.notFound` for a class filter that names no class.
    public func items(where filter: ItemFilter) throws -> [ItemListing] {
        try catalog.read { tx in
            if let name = filter.className, try tx.labelClass(named: name) == nil { throw CatalogError.notFound(kind: "class", name: name) }
            let resolved = try tx.resolvedLabels()
            return try tx.allItems(split: filter.split).compactMap { item in
                let label = resolved[item.id] ?? .unlabeled
                guard filter.admits(path: item.path, split: item.split, resolved: label) else { return nil }
                if let only = filter.only, only[item.blobID] == nil { return nil }
                return ItemListing(item: item, resolved: label, problem: filter.only?[item.blobID])
            }
        }
    }

    /// The item `ref` names (blob id, 4+ hex digit prefix, or imported path) with its label and history.
    public func details(of ref: String) throws -> ItemDetails {
        try catalog.read { tx in
            let item = try tx.item(matching: ref)
            // A removed item's label too: it is what a restore would bring back.
            var resolved = ResolvedLabel.unlabeled
            var boxes: BoxRecord?
            try tx.forEachItemRecord(ids: [item.id], includingRemoved: true) { _, record in (resolved, boxes) = (record.resolved, record.boxes) }
            var conflict: [Label]? = nil
            if case .conflict(let labels) = resolved { conflict = labels }
            return ItemDetails(item: item, label: resolved.label, conflict: conflict, history: try tx.history(itemID: item.id),
                               verdicts: try tx.verdicts(itemID: item.id), purge: try tx.purges().first { $0.blob == item.blobID },
                               removed: try tx.isRemoved(itemID: item.id), boxes: boxes,
                               boxHistory: try tx.boxLabels(.annotations, itemID: item.id), boxVerdicts: try tx.boxLabels(.verdicts, itemID: item.id))
        }
    }

    /// The blob `ref` names: a full blob id as given, else the blob of the item it names.
    /// - Throws: `RepositoryError.purged` for the bytes of a purged image.
    public func blobID(of ref: String) throws -> BlobID {
        try catalog.read { tx in
            let id = try BlobID(hex: ref) ?? tx.item(matching: ref).blobID
            if let purge = try tx.purges().first(where: { $0.blob == id }) { throw RepositoryError.purged(id, summary: purge.summary) }
            if let held = try tx.heldPurges().first(where: { $0.blob == id }), try !store.contains(id) {
                throw RepositoryError.purged(id, summary: "never fetched: a pull brought a purge that is held here (`cairn purge --held`), "
                                             + held.summary)
            }
            return id
        }
    }
}
