import Foundation
import GRDB

extension QueueFilter {
    var sql: String {
        var out = ""
        if split != nil { out += " AND i.split = :split" }
        if className != nil {
            out += """
                 AND EXISTS (SELECT 1 FROM annotations a
                  WHERE a.item_id = i.id
                    AND \(LabelRows.annotations.isLatestSQL("a"))
                    AND \(LabelRows.annotations.carriesSQL("a", classNamed: ":class")))
                """
        }
        return out
    }

    func add(to arguments: inout StatementArguments) {
        if let split { arguments += ["split": split.rawValue] }
        if let className { arguments += ["class": className] }
    }
}

extension SQLiteTransaction {
    /// Items with a current (non-skip) label from this many distinct annotators, per item, as SQL.
    private static let labelersSQL = """
        (SELECT count(DISTINCT a.annotator_id) FROM annotations a
          WHERE a.item_id = i.id AND \(LabelRows.annotations.isLabelSQL("a"))
            AND \(LabelRows.annotations.isLatestSQL("a")))
        """
    private static let othersLeasesSQL =
        "(SELECT count(*) FROM leases l WHERE l.item_id = i.id AND l.annotator_id != :me AND l.expires_at > :now)"

    /// Which items a queue offers (never a removed one).
    private static func queueCondition(_ queue: AnnotatorQueue) -> String {
        "i.removed = 0 AND (" + (queue.kind == .boxes ? offeredBoxes(queue.queue) : offered(queue.queue)) + ")"
    }

    /// Annotators with a box set (the empty set included: "no objects" is an answer), per item, as SQL.
    private static let boxLabelersSQL = "(SELECT count(DISTINCT b.person_id) FROM box_labels b WHERE b.item_id = i.id AND b.verdict = 0)"

    /// `offered` for box queues, from the box histories. A box set is encoded canonically
    /// (`BoxCoding`), so two annotators' latest sets are equal exactly when their bytes are.
    private static func offeredBoxes(_ queue: LabelQueue) -> String {
        switch queue {
        case .unlabeled, .uncertain:
            """
            NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict = 0 AND b.person_id = :me)
            AND \(boxLabelersSQL) + \(othersLeasesSQL) < :overlap
            """
        case .all:
            "\(othersLeasesSQL) < :overlap"
        case .suspects:
            "\(othersLeasesSQL) = 0"
        case .mine:
            "EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict = 0 AND b.person_id = :me)"
        case .review:
            "NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict = 1) AND \(boxLabelersSQL) >= 1 AND \(othersLeasesSQL) = 0"
        case .disagreements:
            """
            NOT EXISTS (SELECT 1 FROM box_labels b WHERE b.item_id = i.id AND b.verdict = 1) AND \(othersLeasesSQL) = 0
            AND (SELECT count(DISTINCT b.boxes) FROM box_labels b
                  WHERE b.item_id = i.id AND b.verdict = 0
                    AND NOT EXISTS (SELECT 1 FROM box_labels l
                                     WHERE l.item_id = b.item_id AND l.verdict = 0 AND l.person_id = b.person_id AND l.stamp > b.stamp)) >= 2
            """
        }
    }

    private static func offered(_ queue: LabelQueue) -> String {
        switch queue {
        case .unlabeled, .uncertain:
            """
            NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.annotator_id = :me)
            AND \(labelersSQL) + \(othersLeasesSQL) < :overlap
            """
        case .all:
            "\(othersLeasesSQL) < :overlap"
        case .suspects:
            "\(othersLeasesSQL) = 0"
        case .mine:
            "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.annotator_id = :me)"
        case .review:
            "NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_id = i.id) AND \(labelersSQL) >= 1 AND \(othersLeasesSQL) = 0"
        case .disagreements:
            """
            NOT EXISTS (SELECT 1 FROM reviews r WHERE r.item_id = i.id) AND \(othersLeasesSQL) = 0
            AND (SELECT count(DISTINCT \(LabelRows.annotations.keySQL("a"))) FROM annotations a
                  WHERE a.item_id = i.id AND \(LabelRows.annotations.isLabelSQL("a"))
                    AND \(LabelRows.annotations.isLatestSQL("a"))) >= 2
            """
        }
    }

    private static func arguments(_ queue: AnnotatorQueue, now: Date) -> StatementArguments {
        var arguments: StatementArguments = ["me": queue.annotatorID, "now": now.timeIntervalSince1970, "overlap": queue.overlap]
        queue.filter.add(to: &arguments)
        return arguments
    }

    func nextItem(in queue: AnnotatorQueue, after: Int64, now: Date) throws -> Item? {
        var arguments = Self.arguments(queue, now: now)
        arguments += ["after": after]
        guard let id = try Int64.fetchOne(db, sql: """
            SELECT i.id FROM items i WHERE i.id > :after AND \(Self.queueCondition(queue))\(queue.filter.sql) ORDER BY i.id LIMIT 1
            """, arguments: arguments) else { return nil }
        return try item(id: id)
    }

    func itemCount(in queue: AnnotatorQueue, now: Date) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM items i WHERE \(Self.queueCondition(queue))\(queue.filter.sql)",
                         arguments: Self.arguments(queue, now: now)) ?? 0
    }

    func lease(itemID: Int64, annotatorID me: Int64, host: String, pid: Int32, until: Date) throws {
        try db.execute(sql: "DELETE FROM leases WHERE host = ? AND pid = ? AND item_id != ?", arguments: [host, pid, itemID])
        try db.execute(sql: """
            INSERT INTO leases (item_id, annotator_id, host, pid, expires_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (item_id, annotator_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at
            """, arguments: [itemID, me, host, pid, until.timeIntervalSince1970])
    }

    /// Which of `ids` `queue` offers.
    func offered(_ ids: [Int64], in queue: AnnotatorQueue, now: Date) throws -> Set<Int64> {
        var arguments = Self.arguments(queue, now: now)
        var names: [String] = []
        for (i, id) in ids.enumerated() {
            names.append(":c\(i)")
            arguments += ["c\(i)": id]
        }
        return Set(try Int64.fetchAll(db, sql: """
            SELECT i.id FROM items i WHERE i.id IN (\(names.joined(separator: ","))) AND \(Self.queueCondition(queue))\(queue.filter.sql)
            """, arguments: arguments))
    }

    func releaseLeases(host: String, pid: Int32) throws {
        try db.execute(sql: "DELETE FROM leases WHERE host = ? AND pid = ?", arguments: [host, pid])
    }
}
