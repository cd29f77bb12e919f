import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

// MARK: Snapshots

extension PostgresTransaction {
    private static let snapshotColumns = "id, parent_id, message, author, created_at, item_count, counts"

    private func snapshots(_ sql: String, _ values: [Value] = []) throws -> [SnapshotRecord] {
        try rows("SELECT \(Self.snapshotColumns) FROM snapshots \(sql)", values).map { row in
            SnapshotRecord(id: try Self.blobID(row.get(0)), parentID: try row.get(1, String?.self).map(Self.blobID), message: try row.get(2),
                           author: try row.get(3), createdAt: Self.date(try row.get(4)), itemCount: try row.get(5), counts: try row.get(6))
        }
    }

    private func insert(_ snapshot: SnapshotRecord) throws {
        try execute("""
            INSERT INTO snapshots (\(Self.snapshotColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING
            """, [snapshot.id.hex, snapshot.parentID?.hex, snapshot.message, snapshot.author, snapshot.createdAt.timeIntervalSince1970,
                  snapshot.itemCount, snapshot.counts])
    }

    func recordSnapshot(_ snapshot: SnapshotRecord) throws {
        try insert(snapshot)
        try setHead(snapshot.id)
    }

    func importSnapshot(_ snapshot: SnapshotRecord) throws {
        var row = snapshot
        if let parent = row.parentID, try self.snapshot(id: parent) == nil { row.parentID = nil }
        try insert(row)
    }

    func setHead(_ id: BlobID) throws {
        try execute("""
            INSERT INTO snapshot_head (one, snapshot_id) VALUES (1, $1) ON CONFLICT (one) DO UPDATE SET snapshot_id = excluded.snapshot_id
            """, [id.hex])
    }

    func headSnapshot() throws -> SnapshotRecord? {
        guard let hex = try one(String.self, "SELECT snapshot_id FROM snapshot_head") else { return nil }
        return try snapshot(id: try Self.blobID(hex))
    }

    func latestSnapshot() throws -> SnapshotRecord? { try snapshots("ORDER BY seq DESC LIMIT 1").first }

    func snapshot(id: BlobID) throws -> SnapshotRecord? { try snapshots("WHERE id = $1", [id.hex]).first }

    func snapshots(prefix: String, limit: Int) throws -> [SnapshotRecord] {
        try snapshots("WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3", [prefix, prefix + "g", limit])
    }

    func allSnapshots() throws -> [SnapshotRecord] { try snapshots("ORDER BY seq DESC") }
}

// MARK: Change tracking

extension PostgresTransaction {
    /// As SQLite's: triggers (schema/postgres) mark changed items in `snapshot_dirty` once a head
    /// exists; before that the position also holds the highest ids, so what arrives while a first
    /// snapshot is built is marked when it settles. Writers hold the write lock, so ids below the
    /// highest read are all committed.
    func pendingChanges() throws -> PendingChanges {
        let rows = try rows("SELECT item_id, seq FROM snapshot_dirty")
        var position = [try rows.map { try $0.get(1, Int64.self) }.max() ?? 0]
        if try one(String.self, "SELECT snapshot_id FROM snapshot_head") == nil {
            for table in ["items", "annotations", "reviews", "split_changes", "item_removals"] {
                position.append(try one(Int64.self, "SELECT coalesce(max(id), 0) FROM \(table)") ?? 0)
            }
        }
        return PendingChanges(itemIDs: try rows.map { try $0.get(0, Int64.self) }, position: position)
    }

    func settleChanges(_ changes: PendingChanges) throws {
        guard let sequence = changes.position.first else { return }
        try execute("DELETE FROM snapshot_dirty WHERE seq <= $1", [sequence])
        guard changes.position.count == 6 else { return }
        let after = Array(changes.position.dropFirst())
        try execute("""
            INSERT INTO snapshot_dirty (item_id, seq)
            SELECT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) FROM (
                SELECT id AS item_id FROM items WHERE id > $1
                UNION SELECT item_id FROM annotations WHERE id > $2
                UNION SELECT item_id FROM reviews WHERE id > $3
                UNION SELECT item_id FROM split_changes WHERE id > $4
                UNION SELECT item_id FROM item_removals WHERE id > $5) AS arrived
            ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq
            """, after.map { $0 })
    }
}

// MARK: Tags

extension PostgresTransaction {
    private func tags(_ sql: String, _ values: [Value] = []) throws -> [SnapshotTag] {
        try rows("SELECT name, snapshot_id, created_at, author FROM tags \(sql)", values).map {
            SnapshotTag(name: try $0.get(0), snapshotID: try Self.blobID($0.get(1)), createdAt: Self.date(try $0.get(2)), author: try $0.get(3))
        }
    }

    func tags() throws -> [SnapshotTag] { try tags("ORDER BY name") }

    func tag(named name: String) throws -> SnapshotTag? { try tags("WHERE name = $1", [name]).first }

    func recordTagEvent(_ event: TagEvent) throws {
        let at = event.at.timeIntervalSince1970
        switch event.action {
        case .create, .move:
            try execute("""
                INSERT INTO tags (name, snapshot_id, created_at, author) VALUES ($1, $2, $3, $4)
                ON CONFLICT (name) DO UPDATE SET snapshot_id = excluded.snapshot_id, created_at = excluded.created_at, author = excluded.author
                """, [event.name, event.snapshotID.hex, at, event.author])
        case .delete:
            try execute("DELETE FROM tags WHERE name = $1", [event.name])
        }
        try execute("INSERT INTO tag_history (name, snapshot_id, action, at, author) VALUES ($1, $2, $3, $4, $5)",
                    [event.name, event.snapshotID.hex, event.action.rawValue, at, event.author])
    }

    func tagHistory(name: String?) throws -> [TagEvent] {
        try rows("SELECT name, snapshot_id, action, at, author FROM tag_history WHERE $1::text IS NULL OR name = $1 ORDER BY id", [name]).map {
            let action = try $0.get(2, String.self)
            guard let kind = TagAction(rawValue: action) else { throw CatalogError.corrupt("tag history action '\(action)'") }
            return TagEvent(name: try $0.get(0), snapshotID: try Self.blobID($0.get(1)), action: kind, at: Self.date(try $0.get(3)),
                            author: try $0.get(4))
        }
    }
}
