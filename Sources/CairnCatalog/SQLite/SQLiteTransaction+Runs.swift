import CairnStore
import Foundation
import GRDB

extension SQLiteTransaction {
    private static let runColumns = "id, name, data_ref, snapshot_id, model, status, started_at, ended_at, checkpoint_id, record"

    private func runs(_ sql: String, _ arguments: StatementArguments = []) throws -> [Run] {
        try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM runs \(sql)", arguments: arguments).map { row in
            let status: String = row[5]
            let checkpoint: String? = row[8]
            let ended: Double? = row[7]
            return Run(id: row[0], name: row[1], dataRef: row[2], snapshotID: try Self.blobID(row[3]), model: row[4],
                       status: RunStatus(rawValue: status) ?? .failed, startedAt: Date(timeIntervalSince1970: row[6]),
                       endedAt: ended.map(Date.init(timeIntervalSince1970:)), checkpointID: try checkpoint.map(Self.blobID), record: row[9])
        }
    }

    func insertRun(_ run: Run) throws {
        guard try snapshot(id: run.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: run.snapshotID.hex) }
        try db.execute(sql: "INSERT INTO runs (\(Self.runColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
            run.id, run.name, run.dataRef, run.snapshotID.hex, run.model, run.status.rawValue,
            run.startedAt.timeIntervalSince1970, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record,
        ])
    }

    func updateRun(_ run: Run) throws {
        try db.execute(
            sql: "UPDATE runs SET name = ?, status = ?, ended_at = ?, checkpoint_id = ?, record = ? WHERE id = ?",
            arguments: [run.name, run.status.rawValue, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record, run.id])
        guard db.changesCount == 1 else { throw CatalogError.notFound(kind: "run", name: run.id) }
    }

    func runs() throws -> [Run] { try runs("ORDER BY seq") }

    func runs(idPrefix prefix: String, limit: Int) throws -> [Run] {
        try runs("WHERE id >= ? AND id < ? ORDER BY seq LIMIT ?", [prefix, prefix + "g", limit])
    }

    func latestRun(named name: String) throws -> Run? { try runs("WHERE name = ? ORDER BY seq DESC LIMIT 1", [name]).first }
}
