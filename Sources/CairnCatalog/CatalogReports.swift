import CairnStore
import Foundation

/// A result computed for a snapshot and kept with it (`cairn suspects`, `cairn check`): JSON the
/// module that made it reads back.
public struct SnapshotReport: Sendable, Hashable {
    public var snapshotID: BlobID
    public var kind: String
    public var createdAt: Date
    public var json: String

    public init(snapshotID: BlobID, kind: String, createdAt: Date, json: String) {
        (self.snapshotID, self.kind, self.createdAt, self.json) = (snapshotID, kind, createdAt, json)
    }
}

/// What a read transaction offers of `CatalogReports`.
public protocol CatalogReportsReading {
    /// The snapshot's report of `kind`, if one was made.
    func report(snapshot: BlobID, kind: String) throws -> SnapshotReport?
    /// Every report of `kind`, newest first.
    func reports(kind: String) throws -> [SnapshotReport]
}

/// Reports kept per snapshot, one per kind (a new one replaces the old).
public protocol CatalogReports: CatalogReportsReading {
    /// Keeps `report`, replacing the snapshot's earlier one of its kind.
    /// - Throws: `CatalogError.notFound` when the snapshot is not recorded.
    func saveReport(_ report: SnapshotReport) throws
}
