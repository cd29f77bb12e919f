import CairnStore
import Foundation

/// What a read transaction offers of `CatalogSnapshots`.
public protocol CatalogSnapshotsReading {
    /// The head snapshot, if any.
    func headSnapshot() throws -> SnapshotRecord?
    /// The snapshot recorded last, if any.
    func latestSnapshot() throws -> SnapshotRecord?
    /// The snapshot with this id.
    func snapshot(id: BlobID) throws -> SnapshotRecord?
    /// Snapshots whose id starts with `prefix` (lowercase hex), at most `limit`.
    func snapshots(prefix: String, limit: Int) throws -> [SnapshotRecord]
    /// Every snapshot, newest first.
    func allSnapshots() throws -> [SnapshotRecord]
    /// The items whose records may have changed since the head snapshot: every insert, label and
    /// verdict marks its item, in the same transaction.
    func pendingChanges() throws -> PendingChanges
    /// Every tag by name.
    func tags() throws -> [SnapshotTag]
    /// The tag named `name`, if any.
    func tag(named name: String) throws -> SnapshotTag?
    /// The history of every tag (or of one), oldest first.
    func tagHistory(name: String?) throws -> [TagEvent]
}

/// Snapshots as the catalog records them, the changes since the head snapshot, and tags.
public protocol CatalogSnapshots: CatalogSnapshotsReading {
    /// Records a snapshot made here (nothing when it is known) and makes it the head.
    func recordSnapshot(_ snapshot: SnapshotRecord) throws
    /// Records a snapshot described elsewhere (a remote) without moving the head; a parent this
    /// catalog does not know is left unset. Does nothing when the snapshot is known.
    func importSnapshot(_ snapshot: SnapshotRecord) throws
    /// Makes `id` the head: the snapshot the working state was last frozen into.
    func setHead(_ id: BlobID) throws
    /// Forgets `changes` (read before a snapshot was made): the snapshot now holds them. Changes
    /// made since they were read stay pending.
    func settleChanges(_ changes: PendingChanges) throws
    /// Applies a tag event (create or move the tag, or delete it) and appends it to the tag
    /// history. Callers use `setTag` and `deleteTag`, which check names and immutability.
    func recordTagEvent(_ event: TagEvent) throws
}

/// What changed since the head snapshot.
public struct PendingChanges: Sendable, Hashable {
    /// Catalog ids of the items to recompute.
    public var itemIDs: [Int64]
    /// Where the change log stood when read; only the backend that made it reads it.
    public var position: [Int64]

    public init(itemIDs: [Int64], position: [Int64]) {
        self.itemIDs = itemIDs
        self.position = position
    }
}

extension CatalogSnapshots {
    /// Creates a tag or (when `force`) moves it, recording the change in the tag history.
    /// - Throws: `CatalogError.invalidName` for a name `SnapshotTag.problem` refuses,
    ///   `.tagImmutable` for a tag that names another snapshot without `force`.
    public func setTag(_ name: String, to id: BlobID, author: String, force: Bool) throws {
        if let problem = SnapshotTag.problem(name: name) { throw CatalogError.invalidName(kind: "tag", name: name, reason: problem) }
        let existing = try tag(named: name)
        if let existing {
            if existing.snapshotID == id { return }
            guard force else { throw CatalogError.tagImmutable(name: name, snapshot: existing.snapshotID) }
        }
        try recordTagEvent(TagEvent(name: name, snapshotID: id, action: existing == nil ? .create : .move, at: Date(), author: author))
    }

    /// Deletes a tag (its history keeps what it named, and gc keeps that).
    /// - Throws: `CatalogError.notFound` for an unknown tag.
    public func deleteTag(_ name: String, author: String) throws {
        guard let existing = try tag(named: name) else { throw CatalogError.notFound(kind: "tag", name: name) }
        try recordTagEvent(TagEvent(name: name, snapshotID: existing.snapshotID, action: .delete, at: Date(), author: author))
    }
}

extension CatalogSnapshotsReading {
    /// Every tag event, oldest first.
    public func tagHistory() throws -> [TagEvent] { try tagHistory(name: nil) }

    /// Every snapshot id named anywhere in tag history (kept by gc even after a move).
    public func snapshotIDsInTagHistory() throws -> Set<BlobID> { Set(try tagHistory(name: nil).map(\.snapshotID)) }
}
