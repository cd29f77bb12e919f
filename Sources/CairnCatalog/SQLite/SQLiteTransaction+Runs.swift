import CairnStore
import Foundation
import GRDB

extension SQLiteTransaction {
    private static let runColumns = "id, name, data_ref, snapshot_id, model, status, started_at, ended_at, checkpoint_id, record"

    private func runs(_ sql: String, _ arguments: StatementArguments = []) throws -> [Run] {
        // Only the artifacts of the runs selected (the median rule reads one sweep's every epoch).
        var artifacts: [String: [BlobID]] = [:]
        let selected = "SELECT run_id, blob_id FROM run_artifacts WHERE run_id IN (SELECT id FROM runs \(sql))"
        for row in try Row.fetchAll(db, sql: selected, arguments: arguments) {
            artifacts[row[0], default: []].append(try Self.blobID(row[1]))
        }
        return try Row.fetchAll(db, sql: "SELECT \(Self.runColumns) FROM runs \(sql)", arguments: arguments).map { row in
            let status: String = row[5]
            let checkpoint: String? = row[8]
            let ended: Double? = row[7]
            return Run(id: row[0], name: row[1], dataRef: row[2], snapshotID: try Self.blobID(row[3]), model: row[4],
                       status: RunStatus(rawValue: status) ?? .failed, startedAt: Date(timeIntervalSince1970: row[6]),
                       endedAt: ended.map(Date.init(timeIntervalSince1970:)), checkpointID: try checkpoint.map(Self.blobID),
                       artifactIDs: artifacts[row[0]] ?? [], record: row[9])
        }
    }

    private func setArtifacts(_ run: Run) throws {
        try db.execute(sql: "DELETE FROM run_artifacts WHERE run_id = ?", arguments: [run.id])
        for blob in Set(run.artifactIDs) {
            try db.execute(sql: "INSERT INTO run_artifacts (run_id, blob_id) VALUES (?, ?)", arguments: [run.id, blob.hex])
        }
    }

    func insertRun(_ run: Run) throws {
        guard try snapshot(id: run.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: run.snapshotID.hex) }
        try db.execute(sql: "INSERT INTO runs (\(Self.runColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", arguments: [
            run.id, run.name, run.dataRef, run.snapshotID.hex, run.model, run.status.rawValue,
            run.startedAt.timeIntervalSince1970, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record,
        ])
        try setArtifacts(run)
    }

    func updateRun(_ run: Run) throws {
        try db.execute(
            sql: "UPDATE runs SET name = ?, status = ?, ended_at = ?, checkpoint_id = ?, record = ? WHERE id = ?",
            arguments: [run.name, run.status.rawValue, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record, run.id])
        guard db.changesCount == 1 else { throw CatalogError.notFound(kind: "run", name: run.id) }
        try setArtifacts(run)
    }

    func runs() throws -> [Run] { try runs("ORDER BY seq") }

    func runs(idPrefix prefix: String, limit: Int) throws -> [Run] {
        try runs("WHERE id >= ? AND id < ? ORDER BY seq LIMIT ?", [prefix, prefix + "g", limit])
    }

    func latestRun(named name: String) throws -> Run? { try runs("WHERE name = ? ORDER BY seq DESC LIMIT 1", [name]).first }

    func runs(inSweep id: String) throws -> [Run] { try runs("WHERE sweep_id = ? ORDER BY seq", [id]) }
}

// MARK: Sweeps

extension SQLiteTransaction {
    func insertSweep(_ sweep: SweepRow) throws {
        guard try snapshot(id: sweep.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: sweep.snapshotID.hex) }
        try db.execute(sql: "INSERT INTO sweeps (id, data_ref, snapshot_id, created_at, record) VALUES (?, ?, ?, ?, ?)",
                       arguments: [sweep.id, sweep.dataRef, sweep.snapshotID.hex, sweep.createdAt.timeIntervalSince1970, sweep.record])
    }

    func updateSweep(id: String, record: String) throws {
        try db.execute(sql: "UPDATE sweeps SET record = ? WHERE id = ?", arguments: [record, id])
        guard db.changesCount == 1 else { throw CatalogError.notFound(kind: "sweep", name: id) }
    }

    func sweeps() throws -> [SweepRow] {
        try Row.fetchAll(db, sql: "SELECT id, data_ref, snapshot_id, created_at, record FROM sweeps ORDER BY seq").map {
            SweepRow(id: $0[0], dataRef: $0[1], snapshotID: try Self.blobID($0[2]), createdAt: Date(timeIntervalSince1970: $0[3]), record: $0[4])
        }
    }
}

// MARK: Predictions

extension SQLiteTransaction {
    func replacePredictions(runID: String, _ predictions: [Prediction]) throws {
        guard try runs(idPrefix: runID, limit: 1).first?.id == runID else { throw CatalogError.notFound(kind: "run", name: runID) }
        try db.execute(sql: "DELETE FROM predictions WHERE run_id = ?", arguments: [runID])
        let statement = try db.cachedStatement(sql: "INSERT INTO predictions (run_id, item_id, probs) VALUES (?, ?, ?)")
        for prediction in predictions {
            var bytes = Data(capacity: prediction.probabilities.count * 4)
            for p in prediction.probabilities { withUnsafeBytes(of: p.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            try statement.execute(arguments: [runID, prediction.itemID, bytes])
        }
    }

    func predictions(runID: String) throws -> [Prediction] {
        try Row.fetchAll(db, sql: "SELECT item_id, probs FROM predictions WHERE run_id = ? ORDER BY item_id", arguments: [runID])
            .map(Self.prediction)
    }

    func prediction(runID: String, itemID: Int64) throws -> Prediction? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT item_id, probs FROM predictions WHERE run_id = ? AND item_id = ?"),
                         arguments: [runID, itemID]).map(Self.prediction)
    }

    private static func prediction(_ row: Row) -> Prediction {
        let bytes: Data = row[1]
        let probabilities = stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[bytes.startIndex + i]) | UInt32(bytes[bytes.startIndex + i + 1]) << 8
                  | UInt32(bytes[bytes.startIndex + i + 2]) << 16 | UInt32(bytes[bytes.startIndex + i + 3]) << 24)
        }
        return Prediction(itemID: row[0], probabilities: probabilities)
    }

    func predictionCounts() throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT run_id, count(*) FROM predictions GROUP BY run_id").map {
            ($0[0] as String, $0[1] as Int)
        })
    }
}

// MARK: Reports

extension SQLiteTransaction {
    func saveReport(_ report: SnapshotReport) throws {
        guard try snapshot(id: report.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: report.snapshotID.hex) }
        try db.execute(sql: "INSERT OR REPLACE INTO snapshot_reports (snapshot_id, kind, created_at, report) VALUES (?, ?, ?, ?)",
                       arguments: [report.snapshotID.hex, report.kind, report.createdAt.timeIntervalSince1970, report.json])
    }

    private func reports(_ sql: String, _ arguments: StatementArguments) throws -> [SnapshotReport] {
        try Row.fetchAll(db, sql: "SELECT snapshot_id, kind, created_at, report FROM snapshot_reports \(sql)", arguments: arguments).map {
            SnapshotReport(snapshotID: try Self.blobID($0[0]), kind: $0[1], createdAt: Date(timeIntervalSince1970: $0[2]), json: $0[3])
        }
    }

    func report(snapshot: BlobID, kind: String) throws -> SnapshotReport? {
        try reports("WHERE snapshot_id = ? AND kind = ?", [snapshot.hex, kind]).first
    }

    func reports(kind: String) throws -> [SnapshotReport] { try reports("WHERE kind = ? ORDER BY created_at DESC", [kind]) }
}
