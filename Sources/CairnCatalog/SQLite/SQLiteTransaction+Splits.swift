import CairnStore
import Foundation
import GRDB

extension SQLiteTransaction {
    func changeSplit(itemIDs: [Int64], to split: Split, personID: Int64, at time: Date, stamp: Data?) throws {
        let stamp = stamp ?? SplitEvent.stamp(at: time, split: split)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO split_changes (item_id, annotator_id, split, created_at, stamp) VALUES (?, ?, ?, ?, ?)
            """)
        // The item's split is its latest change's: an event merged late with an older stamp changes nothing.
        let update = try db.cachedStatement(sql: """
            UPDATE items SET split = (SELECT c.split FROM split_changes c WHERE c.item_id = items.id ORDER BY c.stamp DESC LIMIT 1)
            WHERE id = ? AND split IS NOT (SELECT c.split FROM split_changes c WHERE c.item_id = items.id ORDER BY c.stamp DESC LIMIT 1)
            """)
        for id in itemIDs {
            try insert.execute(arguments: [id, personID, split.rawValue, time.timeIntervalSince1970, stamp])
            try update.execute(arguments: [id])
        }
    }

    func splitEvents() throws -> [SplitEvent] {
        try Row.fetchAll(db, sql: """
            SELECT i.blob_id, p.name, c.split, c.created_at, c.stamp FROM split_changes c
            JOIN items i ON i.id = c.item_id JOIN annotators p ON p.id = c.annotator_id
            ORDER BY i.blob_id, c.stamp, p.name
            """).map {
            let name: String = $0[2]
            guard let split = Split(rawValue: name) else { throw CatalogError.corrupt("split change to '\(name)'") }
            return SplitEvent(item: try Self.blobID($0[0]), person: $0[1], split: split, at: Date(timeIntervalSince1970: $0[3]), stamp: $0[4])
        }
    }
}

extension SQLiteTransaction {
    func setRemoved(itemIDs: [Int64], removed: Bool, personID: Int64, at time: Date, stamp: Data?) throws {
        let stamp = stamp ?? RemovalEvent.stamp(at: time, removed: removed)
        let insert = try db.cachedStatement(sql: """
            INSERT INTO item_removals (item_id, annotator_id, removed, created_at, stamp) VALUES (?, ?, ?, ?, ?)
            """)
        let latest = "(SELECT r.removed FROM item_removals r WHERE r.item_id = items.id ORDER BY r.stamp DESC LIMIT 1)"
        let update = try db.cachedStatement(sql: "UPDATE items SET removed = \(latest) WHERE id = ? AND removed IS NOT \(latest)")
        for id in itemIDs {
            try insert.execute(arguments: [id, personID, removed ? 1 : 0, time.timeIntervalSince1970, stamp])
            try update.execute(arguments: [id])
        }
    }

    func isRemoved(itemID: Int64) throws -> Bool {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT removed FROM items WHERE id = ?"), arguments: [itemID]) == 1
    }

    func removalEvents() throws -> [RemovalEvent] {
        try Row.fetchAll(db, sql: """
            SELECT i.blob_id, p.name, r.removed, r.created_at, r.stamp FROM item_removals r
            JOIN items i ON i.id = r.item_id JOIN annotators p ON p.id = r.annotator_id
            ORDER BY i.blob_id, r.stamp, p.name
            """).map {
            RemovalEvent(item: try Self.blobID($0[0]), person: $0[1], removed: ($0[2] as Int) == 1, at: Date(timeIntervalSince1970: $0[3]), stamp: $0[4])
        }
    }
}

extension SQLiteTransaction {
    func recordPurge(blob: BlobID, personID: Int64, reason: String, at time: Date) throws -> Bool {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO purges (blob_id, annotator_id, reason, created_at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [blob.hex, personID, reason, time.timeIntervalSince1970])
        return db.changesCount > 0
    }

    func purges() throws -> [PurgeRecord] { try purgeRecords(in: "purges") }

    func holdPurge(blob: BlobID, personID: Int64, reason: String, at time: Date, heldAt: Date) throws -> Bool {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM purges WHERE blob_id = ?", arguments: [blob.hex]) == nil else { return false }
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO held_purges (blob_id, annotator_id, reason, created_at, held_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [blob.hex, personID, reason, time.timeIntervalSince1970, heldAt.timeIntervalSince1970])
        return db.changesCount > 0
    }

    func heldPurges() throws -> [PurgeRecord] { try purgeRecords(in: "held_purges") }

    func releaseHeldPurge(blob: BlobID) throws -> Bool {
        try db.execute(sql: "DELETE FROM held_purges WHERE blob_id = ?", arguments: [blob.hex])
        return db.changesCount > 0
    }

    /// The rows of `purges` or `held_purges` (a fixed table name, never input), in blob id order.
    private func purgeRecords(in table: String) throws -> [PurgeRecord] {
        try Row.fetchAll(db, sql: """
            SELECT u.blob_id, p.name, u.reason, u.created_at FROM \(table) u JOIN annotators p ON p.id = u.annotator_id ORDER BY u.blob_id
            """).map { PurgeRecord(blob: try Self.blobID($0[0]), person: $0[1], reason: $0[2], at: Date(timeIntervalSince1970: $0[3])) }
    }
}
