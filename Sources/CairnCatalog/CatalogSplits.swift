import CairnStore
import Foundation

/// One move of an item to a split, with what names it outside this catalog (bundles carry it).
public struct SplitEvent: Sendable, Hashable {
    public var item: BlobID
    public var person: String
    public var split: Split
    public var at: Date
    /// The event's place in the order every replica computes (`LabelOrder.stamp(at:text:)` of `split:NAME`).
    public var stamp: Data

    public init(item: BlobID, person: String, split: Split, at: Date, stamp: Data) {
        (self.item, self.person, self.split, self.at, self.stamp) = (item, person, split, at, stamp)
    }

    /// The stamp a split change recorded at `time` gets.
    public static func stamp(at time: Date, split: Split) -> Data {
        LabelOrder.stamp(at: time.timeIntervalSince1970, text: "split:" + split.rawValue)
    }
}

/// What a read transaction offers of `CatalogSplits`.
public protocol CatalogSplitsReading {
    /// Every split change, by item blob id, then in stamp order.
    func splitEvents() throws -> [SplitEvent]
}

/// Moving items between splits (`cairn split set`, `split regroup`): append-only events; an item's
/// split is the one its latest change (greatest stamp) gives, else the one it was imported with.
public protocol CatalogSplits: CatalogSplitsReading {
    /// Records that `personID` moved the items to `split` at `time` (each an event, with `stamp`
    /// or the one the change gives), and updates their current split.
    func changeSplit(itemIDs: [Int64], to split: Split, personID: Int64, at time: Date, stamp: Data?) throws
}

/// One removal of an item from the working state, or its return (`removed` false).
public struct RemovalEvent: Sendable, Hashable {
    public var item: BlobID
    public var person: String
    public var removed: Bool
    public var at: Date
    /// Its place in the order every replica computes (`LabelOrder.stamp(at:text:)` of `removed`/`present`).
    public var stamp: Data

    public init(item: BlobID, person: String, removed: Bool, at: Date, stamp: Data) {
        (self.item, self.person, self.removed, self.at, self.stamp) = (item, person, removed, at, stamp)
    }

    public static func stamp(at time: Date, removed: Bool) -> Data {
        LabelOrder.stamp(at: time.timeIntervalSince1970, text: removed ? "removed" : "present")
    }
}

/// What a read transaction offers of `CatalogRemovals`.
public protocol CatalogRemovalsReading {
    /// Every removal and return, by item blob id, then in stamp order.
    func removalEvents() throws -> [RemovalEvent]
    /// The removed items, in id order.
    func removedItems() throws -> [Item]
    /// Whether item `itemID` is removed.
    func isRemoved(itemID: Int64) throws -> Bool
}

/// Removing items from the working state (`cairn rm`) and bringing them back: append-only events;
/// an item is removed when its latest event says so. A removed item is in no list, queue, count or
/// later snapshot; older snapshots keep it, and its history stays.
public protocol CatalogRemovals: CatalogRemovalsReading {
    /// Records that `personID` removed the items (or brought them back) at `time`, and updates them.
    func setRemoved(itemIDs: [Int64], removed: Bool, personID: Int64, at time: Date, stamp: Data?) throws
}

/// A purge: an image's bytes deleted because they had to go, even though snapshots name them.
public struct PurgeRecord: Sendable, Hashable, Codable {
    public var blob: BlobID
    public var person: String
    public var reason: String
    public var at: Date

    public init(blob: BlobID, person: String, reason: String, at: Date) {
        (self.blob, self.person, self.reason, self.at) = (blob, person, reason, at)
    }

    /// "purged by ada on 2026-11-30: removal request": for messages about a purged item.
    public var summary: String {
        let day = ISO8601DateFormatter.string(from: at, timeZone: .gmt, formatOptions: [.withFullDate])
        return "purged by \(person) on \(day)" + (reason.isEmpty ? "" : ": \(reason)")
    }
}

/// What a read transaction offers of `CatalogPurges`.
public protocol CatalogPurgesReading {
    /// Every purge, in blob id order.
    func purges() throws -> [PurgeRecord]
    /// Every held purge, in blob id order.
    func heldPurges() throws -> [PurgeRecord]
}

/// Purges (`cairn purge`): permanent records, one per image (by blob id), never undone.
public protocol CatalogPurges: CatalogPurgesReading {
    /// Records that `personID` purged `blob` at `time` for `reason`; false when it already was.
    @discardableResult
    func recordPurge(blob: BlobID, personID: Int64, reason: String, at time: Date) throws -> Bool
    /// Keeps a pulled purge that nobody trusted here recorded, to be applied or dismissed by someone
    /// here; false when `blob` is already purged or held.
    @discardableResult
    func holdPurge(blob: BlobID, personID: Int64, reason: String, at time: Date, heldAt: Date) throws -> Bool
    /// Forgets the held purge of `blob` (applied or dismissed); false when none was held.
    @discardableResult
    func releaseHeldPurge(blob: BlobID) throws -> Bool
}

extension CatalogPurgesReading {
    /// The blob ids of every purge.
    public func purgedBlobs() throws -> Set<BlobID> { Set(try purges().map(\.blob)) }
}
