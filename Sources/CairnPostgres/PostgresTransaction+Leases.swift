import CairnCatalog
import Foundation
import PostgresNIO

/// Queues and leases as SQLite's (SQLiteTransaction+Leases), with positional parameters:
/// $1 the annotator, $2 now, $3 the overlap, then the filter's split and class when set.
extension PostgresTransaction {
    private static let labelersSQL = """
        (SELECT count(DISTINCT a.annotator_id) FROM annotations a
          WHERE a.item_id = i.id AND \(PostgresLabelRows.annotations.isLabelSQL("a"))
            AND \(PostgresLabelRows.annotations.isLatestSQL("a")))
        """
    private static let othersLeasesSQL =
        "(SELECT count(*) FROM leases l WHERE l.item_id = i.id AND l.annotator_id != $1 AND l.expires_at > $2)"

    private static func offered(_ queue: LabelQueue) -> String {
        switch queue {
        case .unlabeled, .uncertain:
            """
            NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.annotator_id = $1)
            AND \(labelersSQL) + \(othersLeasesSQL) < $3
            """
        case .all:
            "\(othersLeasesSQL) < $3"
        case .suspects:
            "\(othersLeasesSQL) = 0"
        case .mine:
            "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.annotator_id = $1)"
        case .review:
            "NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_id = i.id) AND \(labelersSQL) >= 1 AND \(othersLeasesSQL) = 0"
        case .disagreements:
            """
            NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_id = i.id) AND \(othersLeasesSQL) = 0
            AND (SELECT count(DISTINCT \(PostgresLabelRows.annotations.keySQL("a"))) FROM annotations a
                  WHERE a.item_id = i.id AND \(PostgresLabelRows.annotations.isLabelSQL("a"))
                    AND \(PostgresLabelRows.annotations.isLatestSQL("a"))) >= 2
            """
        }
    }

    private static let boxLabelersSQL = "(SELECT count(DISTINCT b.person_id) FROM box_labels b WHERE b.item_id = i.id AND NOT b.verdict)"

    /// `offered` for box queues (SQLiteTransaction+Leases: equal sets have equal bytes).
    private static func offeredBoxes(_ queue: LabelQueue) -> String {
        switch queue {
        case .unlabeled, .uncertain:
            """
            NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND NOT b.verdict AND b.person_id = $1)
            AND \(boxLabelersSQL) + \(othersLeasesSQL) < $3
            """
        case .all:
            "\(othersLeasesSQL) < $3"
        case .suspects:
            "\(othersLeasesSQL) = 0"
        case .mine:
            "EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND NOT b.verdict AND b.person_id = $1)"
        case .review:
            "NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict) AND \(boxLabelersSQL) >= 1 AND \(othersLeasesSQL) = 0"
        case .disagreements:
            """
            NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict) AND \(othersLeasesSQL) = 0
            AND (SELECT count(DISTINCT b.boxes) FROM box_labels b
                  WHERE b.item_id = i.id AND NOT b.verdict
                    AND NOT EXISTS (SELECT 1 FROM box_labels l
                                     WHERE l.item_id = b.item_id AND NOT l.verdict AND l.person_id = b.person_id AND l.stamp > b.stamp)) >= 2
            """
        }
    }

    /// The queue's condition on items aliased `i` and its parameter values; more parameters follow from `next`.
    private static func condition(_ queue: AnnotatorQueue, now: Date) -> (sql: String, values: [Value]) {
        var sql = "NOT i.removed AND (\(queue.kind == .boxes ? offeredBoxes(queue.queue) : offered(queue.queue)))"
        // $1..$3 appear only in some queues' SQL: the binds carry their types, so unused ones are fine.
        var values: [Value] = [queue.annotatorID, now.timeIntervalSince1970, Int64(queue.overlap)]
        if let split = queue.filter.split {
            values.append(split.rawValue)
            sql += " AND i.split = $\(values.count)"
        }
        if let name = queue.filter.className {
            values.append(name)
            sql += """
                 AND EXISTS (SELECT 1 FROM annotations a
                  WHERE a.item_id = i.id
                    AND \(PostgresLabelRows.annotations.isLatestSQL("a"))
                    AND \(PostgresLabelRows.annotations.carriesSQL("a", classNamed: "$\(values.count)")))
                """
        }
        return (sql, values)
    }

    func nextItem(in queue: AnnotatorQueue, after: Int64, now: Date) throws -> Item? {
        var (sql, values) = Self.condition(queue, now: now)
        values.append(after)
        // The item's columns in the same statement: one round trip per keystroke fewer.
        let columns = Self.itemColumns.split(separator: ", ").map { "i." + $0 }.joined(separator: ", ")
        return try rows("SELECT \(columns) FROM items i WHERE i.id > $\(values.count) AND \(sql) ORDER BY i.id LIMIT 1", values)
            .first.map(Self.item(from:))
    }

    func itemCount(in queue: AnnotatorQueue, now: Date) throws -> Int {
        let (sql, values) = Self.condition(queue, now: now)
        return try one(Int.self, "SELECT count(*) FROM items i WHERE \(sql)", values) ?? 0
    }

    func lease(itemID: Int64, annotatorID me: Int64, host: String, pid: Int32, until: Date) throws {
        // The holder's other leases go and this one is taken in one statement, sent without waiting
        // (`executeLater`): COMMIT reads its answer.
        try executeLater("""
            WITH released AS (DELETE FROM leases WHERE host = $3 AND pid = $4 AND item_id != $1)
            INSERT INTO leases (item_id, annotator_id, host, pid, expires_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (item_id, annotator_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at
            """, [itemID, me, host, Int64(pid), until.timeIntervalSince1970])
    }

    /// The next item's choice and its lease in one statement (the holder's other leases dropped,
    /// as `lease` does), sent without waiting: COMMIT reads its answer, so a save that leases the
    /// next item waits once, and the write lock is not held while this process decodes an answer.
    func leaseNextLater(in queue: AnnotatorQueue, after: Int64, host: String, pid: Int32, now: Date, until: Date) throws -> Later<Item?> {
        var (sql, values) = Self.condition(queue, now: now)
        values += [after, host, Int64(pid), until.timeIntervalSince1970]
        let (afterN, hostN, pidN, untilN) = (values.count - 3, values.count - 2, values.count - 1, values.count)
        let columns = Self.itemColumns.split(separator: ", ").map { "i." + $0 }.joined(separator: ", ")
        // One snapshot for the three parts: `next` sees every lease committed before the write lock was taken.
        let sent = try sendLater("""
            WITH next AS (SELECT i.id FROM items i WHERE i.id > $\(afterN) AND \(sql) ORDER BY i.id LIMIT 1),
            released AS (DELETE FROM leases WHERE host = $\(hostN) AND pid = $\(pidN) AND EXISTS (SELECT 1 FROM next)
                         AND item_id NOT IN (SELECT id FROM next)),
            leased AS (INSERT INTO leases (item_id, annotator_id, host, pid, expires_at) SELECT id, $1, $\(hostN), $\(pidN), $\(untilN) FROM next
                       ON CONFLICT (item_id, annotator_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at)
            SELECT \(columns) FROM items i JOIN next ON i.id = next.id
            """, values)
        return Later { try sent.rows().first.map(Self.item(from:)) }
    }

    /// Which of `ids` `queue` offers.
    func offered(_ ids: [Int64], in queue: AnnotatorQueue, now: Date) throws -> Set<Int64> {
        var (sql, values) = Self.condition(queue, now: now)
        values.append(ids)
        return Set(try rows("SELECT i.id FROM items i WHERE i.id = ANY($\(values.count)) AND \(sql)", values).map { try $0.get(0, Int64.self) })
    }

    func releaseLeases(host: String, pid: Int32) throws {
        try execute("DELETE FROM leases WHERE host = $1 AND pid = $2", [host, Int64(pid)])
    }
}
