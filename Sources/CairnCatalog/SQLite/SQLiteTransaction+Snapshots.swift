import CairnStore
import Foundation
import GRDB

// MARK: Snapshots

extension SQLiteTransaction {
    private static let snapshotColumns = "id, parent_id, message, author, created_at, item_count, counts"

    private func snapshots(_ sql: String, _ arguments: StatementArguments = []) throws -> [SnapshotRecord] {
        try Row.fetchAll(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshots \(sql)", arguments: arguments).map { row in
            let parent: String? = row[1]
            return SnapshotRecord(id: try Self.blobID(row[0]), parentID: try parent.map(Self.blobID), message: row[2], author: row[3],
                                  createdAt: Date(timeIntervalSince1970: row[4]), itemCount: row[5], counts: row[6])
        }
    }

    private func insert(_ snapshot: SnapshotRecord) throws {
        try db.execute(sql: """
            INSERT INTO snapshots (\(Self.snapshotColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO NOTHING
            """, arguments: [snapshot.id.hex, snapshot.parentID?.hex, snapshot.message, snapshot.author,
                             snapshot.createdAt.timeIntervalSince1970, snapshot.itemCount, snapshot.counts])
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
        try db.execute(sql: "INSERT OR REPLACE INTO snapshot_head (one, snapshot_id) VALUES (1, ?)", arguments: [id.hex])
    }

    func headSnapshot() throws -> SnapshotRecord? {
        guard let hex = try String.fetchOne(db, sql: "SELECT snapshot_id FROM snapshot_head") else { return nil }
        return try snapshot(id: try Self.blobID(hex))
    }

    func latestSnapshot() throws -> SnapshotRecord? { try snapshots("ORDER BY seq DESC LIMIT 1").first }

    func snapshot(id: BlobID) throws -> SnapshotRecord? { try snapshots("WHERE id = ?", [id.hex]).first }

    func snapshots(prefix: String, limit: Int) throws -> [SnapshotRecord] {
        try snapshots("WHERE id >= ? AND id < ? LIMIT ?", [prefix, prefix + "g", limit])
    }

    func allSnapshots() throws -> [SnapshotRecord] { try snapshots("ORDER BY seq DESC") }
}

// MARK: Change tracking

extension SQLiteTransaction {
    /// Triggers (schema/0002, 0005, 0006) put every inserted or updated item (a split change updates
    /// it) and every item that gets an annotation or verdict into `snapshot_dirty` with a rising
    /// `seq`. They run only once a head snapshot exists; before that, everything is pending. The
    /// position is the highest `seq` read, then — without a head — the highest item, annotation,
    /// review, split change and removal ids, so that what
    /// arrives while a first snapshot is built is marked when it settles.
    func pendingChanges() throws -> PendingChanges {
        let rows = try Row.fetchAll(db, sql: "SELECT item_id, seq FROM snapshot_dirty")
        var position = [rows.map { $0[1] as Int64 }.max() ?? 0]
        if try String.fetchOne(db, sql: "SELECT snapshot_id FROM snapshot_head") == nil {
            position += try ["items", "annotations", "reviews", "split_changes", "item_removals"].map {
                try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM \($0)") ?? 0
            }
        }
        return PendingChanges(itemIDs: rows.map { $0[0] }, position: position)
    }

    func settleChanges(_ changes: PendingChanges) throws {
        guard let sequence = changes.position.first else { return }
        try db.execute(sql: "DELETE FROM snapshot_dirty WHERE seq <= ?", arguments: [sequence])
        guard changes.position.count == 6 else { return }
        try db.execute(sql: """
            INSERT INTO snapshot_dirty (item_id, seq)
            SELECT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) FROM (
                SELECT id AS item_id FROM items WHERE id > ?
                UNION SELECT item_id FROM annotations WHERE id > ?
                UNION SELECT item_id FROM reviews WHERE id > ?
                UNION SELECT item_id FROM split_changes WHERE id > ?
                UNION SELECT item_id FROM item_removals WHERE id > ?) WHERE true
            ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq
            """, arguments: StatementArguments(changes.position.dropFirst()))
    }
}

// MARK: Tags

extension SQLiteTransaction {
    private func tags(_ sql: String, _ arguments: StatementArguments = []) throws -> [SnapshotTag] {
        try Row.fetchAll(db, sql: "SELECT name, snapshot_id, created_at, author FROM tags \(sql)", arguments: arguments).map {
            SnapshotTag(name: $0[0], snapshotID: try Self.blobID($0[1]), createdAt: Date(timeIntervalSince1970: $0[2]), author: $0[3])
        }
    }

    func tags() throws -> [SnapshotTag] { try tags("ORDER BY name") }

    func tag(named name: String) throws -> SnapshotTag? { try tags("WHERE name = ?", [name]).first }

    func recordTagEvent(_ event: TagEvent) throws {
        let at = event.at.timeIntervalSince1970
        switch event.action {
        case .create, .move:
            try db.execute(sql: """
                INSERT INTO tags (name, snapshot_id, created_at, author) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET snapshot_id = excluded.snapshot_id, created_at = excluded.created_at, author = excluded.author
                """, arguments: [event.name, event.snapshotID.hex, at, event.author])
        case .delete:
            try db.execute(sql: "DELETE FROM tags WHERE name = ?", arguments: [event.name])
        }
        try db.execute(sql: "INSERT INTO tag_history (name, snapshot_id, action, at, author) VALUES (?, ?, ?, ?, ?)",
                       arguments: [event.name, event.snapshotID.hex, event.action.rawValue, at, event.author])
    }

    func tagHistory(name: String?) throws -> [TagEvent] {
        try Row.fetchAll(db, sql: """
            SELECT name, snapshot_id, action, at, author FROM tag_history WHERE ? IS NULL OR name = ? ORDER BY id
            """, arguments: [name, name]).map {
            let action: String = $0[2]
            guard let kind = TagAction(rawValue: action) else { throw CatalogError.corrupt("tag history action '\(action)'") }
            return TagEvent(name: $0[0], snapshotID: try Self.blobID($0[1]), action: kind, at: Date(timeIntervalSince1970: $0[3]), author: $0[4])
        }
    }
}
