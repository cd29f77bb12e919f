import CairnStore
import Foundation
import GRDB

/// How a training run ended, or that it is still going.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case running, finished, failed, interrupted
}

/// One training run as the catalog keeps it. `record` is the training module's JSON; the catalog
/// reads only the columns it needs for listing and for gc.
public struct RunRow: Sendable, Hashable {
    public var id: String
    public var name: String
    public var dataRef: String
    public var snapshotID: BlobID
    public var model: String
    public var status: RunStatus
    public var startedAt: Date
    public var endedAt: Date?
    public var checkpointID: BlobID?
    public var record: String

    public init(id: String, name: String, dataRef: String, snapshotID: BlobID, model: String, status: RunStatus,
                startedAt: Date, endedAt: Date?, checkpointID: BlobID?, record: String) {
        self.id = id
        self.name = name
        self.dataRef = dataRef
        self.snapshotID = snapshotID
        self.model = model
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.checkpointID = checkpointID
        self.record = record
    }
}

extension CatalogTransaction {
    private static let runColumns =
        "id, name, data_ref, snapshot_id, model, status, started_at, ended_at, checkpoint_id, record"

    private func runRow(_ row: Row) throws -> RunRow {
        let status: String = row[5]
        let checkpoint: String? = row[8]
        let ended: Double? = row[7]
        return RunRow(id: row[0], name: row[1], dataRef: row[2], snapshotID: try Self.blobID(row[3]), model: row[4],
                      status: RunStatus(rawValue: status) ?? .failed, startedAt: Date(timeIntervalSince1970: row[6]),
                      endedAt: ended.map(Date.init(timeIntervalSince1970:)),
                      checkpointID: try checkpoint.map(Self.blobID), record: row[9])
    }

    /// Records a new run. The snapshot must exist.
    public func insertRun(_ run: RunRow) throws {
        guard try snapshot(id: run.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: run.snapshotID.hex) }
        try db.execute(sql: "INSERT INTO runs (\(Self.runColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
            run.id, run.name, run.dataRef, run.snapshotID.hex, run.model, run.status.rawValue,
            run.startedAt.timeIntervalSince1970, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record,
        ])
    }

    /// Updates a run's outcome: status, end time, checkpoint and record.
    public func updateRun(_ run: RunRow) throws {
        try db.execute(
            sql: "UPDATE runs SET name = ?, status = ?, ended_at = ?, checkpoint_id = ?, record = ? WHERE id = ?",
            arguments: [run.name, run.status.rawValue, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record, run.id])
        guard db.changesCount == 1 else { throw CatalogError.notFound(kind: "run", name: run.id) }
    }

    /// Every run, oldest first.
    public func runs() throws -> [RunRow] {
        try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM runs ORDER BY seq").map(runRow)
    }

    /// The run whose id starts with `ref` (4+ characters) or whose name is `ref` (the latest such).
    /// - Throws: `CatalogError.notFound`, `CatalogError.ambiguous`.
    public func run(matching ref: String) throws -> RunRow {
        let lower = ref.lowercased()
        if lower.count >= 4, lower.count <= 12, lower.allSatisfy(\.isHexDigit) {
            let matches = try Row.fetchAll(
                db, sql: "SELECT \(Self.runColumns) FROM runs WHERE id >= ? AND id < ? ORDER BY seq LIMIT 6",
                arguments: [lower, lower + "g"]).map(runRow)
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw CatalogError.ambiguous(kind: "run", name: ref, matches: matches.map(\.id)) }
        }
        if let named = try Row.fetchOne(
            db, sql: "SELECT \(Self.runColumns) FROM runs WHERE name = ? ORDER BY seq DESC LIMIT 1", arguments: [ref]) {
            return try runRow(named)
        }
        if !lower.isEmpty, lower.count < 4, lower.allSatisfy(\.isHexDigit) { throw CatalogError.prefixTooShort(kind: "run", name: ref) }
        throw CatalogError.notFound(kind: "run", name: ref)
    }

    // MARK: Roots

    /// Every snapshot something still names: all snapshots, tags, tag history and runs. gc keeps
    /// and fsck checks everything reachable from these.
    public func rootSnapshotIDs() throws -> Set<BlobID> {
        Set(try allSnapshots().map(\.id) + tags().map(\.snapshotID) + snapshotIDsInTagHistory()
            + String.fetchAll(db, sql: "SELECT DISTINCT snapshot_id FROM runs").map(Self.blobID))
    }

    /// Objects outside any snapshot that something names: item blobs and run checkpoints.
    public func rootBlobs() throws -> Set<BlobID> {
        Set(try referencedBlobs()
            + String.fetchAll(db, sql: "SELECT checkpoint_id FROM runs WHERE checkpoint_id IS NOT NULL").map(Self.blobID))
    }
}
