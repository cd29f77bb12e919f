import CairnStore
import Foundation

/// What a read transaction offers of `CatalogItems`.
public protocol CatalogItemsReading {
    /// The item holding `blobID`, if any.
    func item(blobID: BlobID) throws -> Item?
    /// The item with this catalog id, if any.
    func item(id: Int64) throws -> Item?
    /// Items whose blob id starts with `prefix` (lowercase hex), at most `limit`.
    func items(blobPrefix prefix: String, limit: Int) throws -> [Item]
    /// Items first imported at `path`, at most `limit`.
    func items(path: String, limit: Int) throws -> [Item]
    /// All items in id order, optionally only one split.
    func allItems(split: Split?) throws -> [Item]
    /// Number of items.
    func itemCount() throws -> Int
    /// The bytes of every item's image, added up (items in the working state).
    func byteCount() throws -> Int64
    /// Every blob id the catalog's items reference.
    func referencedBlobs() throws -> [BlobID]
    /// Item counts by split or by format, sorted by key.
    func itemCounts(by grouping: ItemGrouping) throws -> [(String, Int)]
    /// Adds every remembered file under `prefix` (an absolute directory path) to `states`.
    func importStates(under prefix: String, into states: inout [String: ImportState]) throws
    /// What import last saw at exactly `path`, if anything.
    func importState(path: String) throws -> ImportState?
}

/// Items (images by the blob holding their bytes) and what import remembers about files.
public protocol CatalogItems: CatalogItemsReading {
    /// Inserts `item` unless its blob is already an item; returns the item and whether it was new.
    func insertItem(_ item: NewItem, addedAt: Date) throws -> (item: Item, isNew: Bool)
    /// `insertItem` of each of `items` in order, in as few round trips as the backend can (import's
    /// batches); a blob twice in `items` is new the first time only.
    func insertItems(_ items: [NewItem], addedAt: Date) throws -> [(item: Item, isNew: Bool)]
    /// Remembers what import saw at a path.
    func setImportState(_ state: ImportState) throws
    /// `setImportState` of each of `states` in order (the last for a path twice wins).
    func setImportStates(_ states: [ImportState]) throws
}

extension CatalogItems {
    /// One statement per item: what a backend whose statements cost no round trip (SQLite) needs.
    public func insertItems(_ items: [NewItem], addedAt: Date) throws -> [(item: Item, isNew: Bool)] {
        try items.map { try insertItem($0, addedAt: addedAt) }
    }

    public func setImportStates(_ states: [ImportState]) throws {
        for state in states { try setImportState(state) }
    }
}

/// What items can be counted by.
public enum ItemGrouping: String, Sendable {
    case split, format
}

extension CatalogItems {
    /// Inserts `item` now (see `insertItem(_:addedAt:)`).
    public func insertItem(_ item: NewItem) throws -> (item: Item, isNew: Bool) { try insertItem(item, addedAt: Date()) }
}

extension CatalogItemsReading {
    /// All items in id order.
    public func allItems() throws -> [Item] { try allItems(split: nil) }

    /// Resolves what a user typed: a full blob id, an unambiguous hex prefix (4+ digits) of
    /// one, or an imported path.
    /// - Throws: `CatalogError.notFound`, `.ambiguous`, `.prefixTooShort`.
    public func item(matching ref: String) throws -> Item {
        let lower = ref.lowercased()
        if lower.count >= 4, lower.count <= 64, lower.allSatisfy(\.isHexDigit) {
            let matches = try items(blobPrefix: lower, limit: 6)
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw CatalogError.ambiguous(kind: "item", name: ref, matches: matches.map(\.blobID.hex)) }
        }
        let byPath = try items(path: ref, limit: 6)
        if byPath.count == 1 { return byPath[0] }
        if byPath.count > 1 { throw CatalogError.ambiguous(kind: "item", name: ref, matches: byPath.map(\.blobID.hex)) }
        if !lower.isEmpty, lower.count < 4, lower.allSatisfy(\.isHexDigit) { throw CatalogError.prefixTooShort(kind: "item", name: ref) }
        throw CatalogError.notFound(kind: "item", name: ref)
    }

    /// Every remembered file under `prefix` (an absolute directory path).
    public func importStates(under prefix: String) throws -> [String: ImportState] {
        var states: [String: ImportState] = [:]
        try importStates(under: prefix, into: &states)
        return states
    }
}
