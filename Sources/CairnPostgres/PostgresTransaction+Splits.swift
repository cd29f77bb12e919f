import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

extension PostgresTransaction {
    func changeSplit(itemIDs: [Int64], to split: Split, personID: Int64, at time: Date, stamp: Data?) throws {
        guard !itemIDs.isEmpty else { return }
        let stamp = stamp ?? SplitEvent.stamp(at: time, split: split)
        try execute("""
            INSERT INTO split_changes (item_id, annotator_id, split, created_at, stamp) SELECT unnest($1::bigint[]), $2, $3, $4, $5
            """, [itemIDs, personID, split.rawValue, time.timeIntervalSince1970, stamp])
        // The item's split is its latest change's: an event merged late with an older stamp changes nothing.
        let latest = "(SELECT c.split FROM split_changes c WHERE c.item_id = items.id ORDER BY c.stamp DESC LIMIT 1)"
        try execute("UPDATE items SET split = \(latest) WHERE id = ANY($1) AND split IS DISTINCT FROM \(latest)", [itemIDs])
    }

    func splitEvents() throws -> [SplitEvent] {
        try rows("""
            SELECT i.blob_id, p.name, c.split, c.created_at, c.stamp FROM split_changes c
            JOIN items i ON i.id = c.item_id JOIN annotators p ON p.id = c.annotator_id
            ORDER BY i.blob_id, c.stamp, p.name
            """).map {
            let name = try $0.get(2, String.self)
            guard let split = Split(rawValue: name) else { throw CatalogError.corrupt("split change to '\(name)'") }
            return SplitEvent(item: try Self.blobID($0.get(0)), person: try $0.get(1), split: split, at: Self.date(try $0.get(3)),
                              stamp: try $0.get(4))
        }
    }
}

extension PostgresTransaction {
    func setRemoved(itemIDs: [Int64], removed: Bool, personID: Int64, at time: Date, stamp: Data?) throws {
        guard !itemIDs.isEmpty else { return }
        let stamp = stamp ?? RemovalEvent.stamp(at: time, removed: removed)
        try execute("""
            INSERT INTO item_removals (item_id, annotator_id, removed, created_at, stamp) SELECT unnest($1::bigint[]), $2, $3, $4, $5
            """, [itemIDs, personID, removed, time.timeIntervalSince1970, stamp])
        let latest = "(SELECT r.removed FROM item_removals r WHERE r.item_id = items.id ORDER BY r.stamp DESC LIMIT 1)"
        try execute("UPDATE items SET removed = \(latest) WHERE id = ANY($1) AND removed IS DISTINCT FROM \(latest)", [itemIDs])
    }

    func isRemoved(itemID: Int64) throws -> Bool {
        try one(Bool.self, "SELECT removed FROM items WHERE id = $1", [itemID]) ?? false
    }

    func removalEvents() throws -> [RemovalEvent] {
        try rows("""
            SELECT i.blob_id, p.name, r.removed, r.created_at, r.stamp FROM item_removals r
            JOIN items i ON i.id = r.item_id JOIN annotators p ON p.id = r.annotator_id
            ORDER BY i.blob_id, r.stamp, p.name
            """).map {
            RemovalEvent(item: try Self.blobID($0.get(0)), person: try $0.get(1), removed: try $0.get(2), at: Self.date(try $0.get(3)),
                         stamp: try $0.get(4))
        }
    }
}

extension PostgresTransaction {
    func recordPurge(blob: BlobID, personID: Int64, reason: String, at time: Date) throws -> Bool {
        try execute("INSERT INTO purges (blob_id, annotator_id, reason, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    [blob.hex, personID, reason, time.timeIntervalSince1970]) > 0
    }

    func purges() throws -> [PurgeRecord] { try purgeRecords(in: "purges") }

    func holdPurge(blob: BlobID, personID: Int64, reason: String, at time: Date, heldAt: Date) throws -> Bool {
        guard try one(Int.self, "SELECT 1 FROM purges WHERE blob_id = $1", [blob.hex]) == nil else { return false }
        return try execute("""
            INSERT INTO held_purges (blob_id, annotator_id, reason, created_at, held_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
            """, [blob.hex, personID, reason, time.timeIntervalSince1970, heldAt.timeIntervalSince1970]) > 0
    }

    func heldPurges() throws -> [PurgeRecord] { try purgeRecords(in: "held_purges") }

    func releaseHeldPurge(blob: BlobID) throws -> Bool {
        try execute("DELETE FROM held_purges WHERE blob_id = $1", [blob.hex]) > 0
    }

    /// The rows of `purges` or `held_purges` (a fixed table name, never input), in blob id order.
    private func purgeRecords(in table: String) throws -> [PurgeRecord] {
        try rows("""
            SELECT u.blob_id, p.name, u.reason, u.created_at FROM \(table) u JOIN annotators p ON p.id = u.annotator_id ORDER BY u.blob_id
            """).map { PurgeRecord(blob: try Self.blobID($0.get(0)), person: try $0.get(1), reason: try $0.get(2), at: Self.date(try $0.get(3))) }
    }
}
