import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

extension PostgresTransaction {
    private static let runColumns = "id, name, data_ref, snapshot_id, model, status, started_at, ended_at, checkpoint_id, record"

    private func runs(_ sql: String, _ values: [Value] = []) throws -> [Run] {
        var artifacts: [String: [BlobID]] = [:]
        for row in try rows("SELECT run_id, blob_id FROM run_artifacts WHERE run_id IN (SELECT id FROM runs \(sql)) ORDER BY run_id, blob_id",
                            values) {
            artifacts[try row.get(0), default: []].append(try Self.blobID(row.get(1)))
        }
        return try rows("SELECT \(Self.runColumns) FROM runs \(sql)", values).map { row in
            let id = try row.get(0, String.self)
            return Run(id: id, name: try row.get(1), dataRef: try row.get(2), snapshotID: try Self.blobID(row.get(3)), model: try row.get(4),
                       status: RunStatus(rawValue: try row.get(5)) ?? .failed, startedAt: Self.date(try row.get(6)),
                       endedAt: try row.get(7, Double?.self).map(Self.date), checkpointID: try row.get(8, String?.self).map(Self.blobID),
                       artifactIDs: artifacts[id] ?? [], record: try row.get(9))
        }
    }

    /// The sweep a run belongs to: `sweep.id` in its record (CairnTraining's RunRecord), as SQLite's
    /// generated column reads it; none when the record is not JSON.
    static func sweepID(ofRecord record: String) -> String? {
        struct Record: Decodable {
            struct Sweep: Decodable { var id: String? }
            var sweep: Sweep?
        }
        return (try? JSONDecoder().decode(Record.self, from: Data(record.utf8)))?.sweep?.id
    }

    private func setArtifacts(_ run: Run) throws {
        try execute("DELETE FROM run_artifacts WHERE run_id = $1", [run.id])
        let blobs = Set(run.artifactIDs).map(\.hex).sorted()
        guard !blobs.isEmpty else { return }
        try execute("INSERT INTO run_artifacts (run_id, blob_id) SELECT $1, unnest($2::text[])", [run.id, blobs])
    }

    func insertRun(_ run: Run) throws {
        guard try snapshot(id: run.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: run.snapshotID.hex) }
        try execute("INSERT INTO runs (\(Self.runColumns), sweep_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", [
            run.id, run.name, run.dataRef, run.snapshotID.hex, run.model, run.status.rawValue,
            run.startedAt.timeIntervalSince1970, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record,
            Self.sweepID(ofRecord: run.record),
        ])
        try setArtifacts(run)
    }

    func updateRun(_ run: Run) throws {
        let changed = try execute("""
            UPDATE runs SET name = $1, status = $2, ended_at = $3, checkpoint_id = $4, record = $5, sweep_id = $6 WHERE id = $7
            """, [run.name, run.status.rawValue, run.endedAt?.timeIntervalSince1970, run.checkpointID?.hex, run.record,
                  Self.sweepID(ofRecord: run.record), run.id])
        guard changed == 1 else { throw CatalogError.notFound(kind: "run", name: run.id) }
        try setArtifacts(run)
    }

    func runs() throws -> [Run] { try runs("ORDER BY seq") }

    func runs(idPrefix prefix: String, limit: Int) throws -> [Run] {
        try runs("WHERE id >= $1 AND id < $2 ORDER BY seq LIMIT $3", [prefix, prefix + "g", limit])
    }

    func latestRun(named name: String) throws -> Run? { try runs("WHERE name = $1 ORDER BY seq DESC LIMIT 1", [name]).first }

    func runs(inSweep id: String) throws -> [Run] { try runs("WHERE sweep_id = $1 ORDER BY seq", [id]) }
}

// MARK: Sweeps

extension PostgresTransaction {
    func insertSweep(_ sweep: SweepRow) throws {
        guard try snapshot(id: sweep.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: sweep.snapshotID.hex) }
        try execute("INSERT INTO sweeps (id, data_ref, snapshot_id, created_at, record) VALUES ($1, $2, $3, $4, $5)",
                    [sweep.id, sweep.dataRef, sweep.snapshotID.hex, sweep.createdAt.timeIntervalSince1970, sweep.record])
    }

    func updateSweep(id: String, record: String) throws {
        guard try execute("UPDATE sweeps SET record = $1 WHERE id = $2", [record, id]) == 1 else {
            throw CatalogError.notFound(kind: "sweep", name: id)
        }
    }

    func sweeps() throws -> [SweepRow] {
        try rows("SELECT id, data_ref, snapshot_id, created_at, record FROM sweeps ORDER BY seq").map {
            SweepRow(id: try $0.get(0), dataRef: try $0.get(1), snapshotID: try Self.blobID($0.get(2)), createdAt: Self.date(try $0.get(3)),
                     record: try $0.get(4))
        }
    }
}

// MARK: Predictions

extension PostgresTransaction {
    func replacePredictions(runID: String, _ predictions: [Prediction]) throws {
        guard try runs(idPrefix: runID, limit: 1).first?.id == runID else { throw CatalogError.notFound(kind: "run", name: runID) }
        try execute("DELETE FROM predictions WHERE run_id = $1", [runID])
        // One statement per thousand predictions: an array of item ids and one of their probabilities' bytes.
        for start in stride(from: 0, to: predictions.count, by: 1_000) {
            let page = predictions[start..<min(start + 1_000, predictions.count)]
            let items = page.map(\.itemID)
            // bytea[] has no Swift array type in postgres-nio: the bytes travel as hex and are decoded there.
            let probabilities: [String] = page.map { prediction in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(prediction.probabilities.count * 4)
                for p in prediction.probabilities { withUnsafeBytes(of: p.bitPattern.littleEndian) { bytes += $0 } }
                return Self.hex(bytes)
            }
            try execute("INSERT INTO predictions (run_id, item_id, probs) SELECT $1, item, decode(probs, 'hex') FROM unnest($2::bigint[], $3::text[]) AS p(item, probs)",
                        [runID, items, probabilities])
        }
    }

    func predictions(runID: String) throws -> [Prediction] {
        try rows("SELECT item_id, probs FROM predictions WHERE run_id = $1 ORDER BY item_id", [runID]).map(Self.prediction)
    }

    func prediction(runID: String, itemID: Int64) throws -> Prediction? {
        try rows("SELECT item_id, probs FROM predictions WHERE run_id = $1 AND item_id = $2", [runID, itemID]).first.map(Self.prediction)
    }

    private static func prediction(_ row: PostgresRandomAccessRow) throws -> Prediction {
        let bytes = try row.get(1, Data.self)
        let probabilities = stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[bytes.startIndex + i]) | UInt32(bytes[bytes.startIndex + i + 1]) << 8
                  | UInt32(bytes[bytes.startIndex + i + 2]) << 16 | UInt32(bytes[bytes.startIndex + i + 3]) << 24)
        }
        return Prediction(itemID: try row.get(0), probabilities: probabilities)
    }

    func predictionCounts() throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try rows("SELECT run_id, count(*) FROM predictions GROUP BY run_id").map {
            (try $0.get(0, String.self), try $0.get(1, Int.self))
        })
    }
}

// MARK: Reports

extension PostgresTransaction {
    func saveReport(_ report: SnapshotReport) throws {
        guard try snapshot(id: report.snapshotID) != nil else { throw CatalogError.notFound(kind: "snapshot", name: report.snapshotID.hex) }
        try execute("""
            INSERT INTO snapshot_reports (snapshot_id, kind, created_at, report) VALUES ($1, $2, $3, $4)
            ON CONFLICT (snapshot_id, kind) DO UPDATE SET created_at = excluded.created_at, report = excluded.report
            """, [report.snapshotID.hex, report.kind, report.createdAt.timeIntervalSince1970, report.json])
    }

    private func reports(_ sql: String, _ values: [Value]) throws -> [SnapshotReport] {
        try rows("SELECT snapshot_id, kind, created_at, report FROM snapshot_reports \(sql)", values).map {
            SnapshotReport(snapshotID: try Self.blobID($0.get(0)), kind: try $0.get(1), createdAt: Self.date(try $0.get(2)), json: try $0.get(3))
        }
    }

    func report(snapshot: BlobID, kind: String) throws -> SnapshotReport? {
        try reports("WHERE snapshot_id = $1 AND kind = $2", [snapshot.hex, kind]).first
    }

    func reports(kind: String) throws -> [SnapshotReport] { try reports("WHERE kind = $1 ORDER BY created_at DESC", [kind]) }
}
