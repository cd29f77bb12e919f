import Foundation
import GRDB

/// Which items a labeling session is offered.
public enum LabelQueue: String, Sendable, Hashable, Codable, CaseIterable {
    /// Items that still need labels: fewer than `overlap` annotators have labeled them (or hold them).
    case unlabeled
    /// Every item, in order.
    case all
    /// Items this annotator has labeled (to look over their own work).
    case mine
    /// Labeled items without a reviewer verdict (reviewers only).
    case review
    /// Items whose annotators gave different labels, without a verdict (reviewers only).
    case disagreements

    /// True for the queues whose keys record reviewer verdicts.
    public var isReview: Bool { self == .review || self == .disagreements }

    /// True when labeling an item takes it out of the queue (not for `all` and `mine`).
    public var labelsLeaveIt: Bool { self != .all && self != .mine }
}

/// Narrows a queue to one split and/or to items someone currently labels with a class (alone or in a set).
public struct QueueFilter: Sendable, Hashable {
    public var split: Split?
    public var className: String?

    public init(split: Split? = nil, className: String? = nil) {
        self.split = split
        self.className = className
    }

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

extension CatalogTransaction {
    /// Items with a current (non-skip) label from this many distinct annotators, per item, as SQL.
    private static let labelersSQL = """
        (SELECT count(DISTINCT a.annotator_id) FROM annotations a
          WHERE a.item_id = i.id AND \(LabelRows.annotations.isLabelSQL("a"))
            AND \(LabelRows.annotations.isLatestSQL("a")))
        """
    private static let othersLeasesSQL =
        "(SELECT count(*) FROM leases l WHERE l.item_id = i.id AND l.annotator_id != :me AND l.expires_at > :now)"

    private static func queueCondition(_ queue: LabelQueue) -> String {
        switch queue {
        case .unlabeled:
            """
            NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.annotator_id = :me)
            AND \(labelersSQL) + \(othersLeasesSQL) < :overlap
            """
        case .all:
            "\(othersLeasesSQL) < :overlap"
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

    /// The first item after `after` (item id order) that `queue` offers annotator `me`, without
    /// leasing it (a labeling UI renders it ahead; `leaseNext` decides).
    public func peekNext(queue: LabelQueue, filter: QueueFilter = QueueFilter(), annotatorID me: Int64, overlap: Int, after: Int64,
                         now: Date = Date()) throws -> Item? {
        var arguments: StatementArguments = ["me": me, "now": now.timeIntervalSince1970, "overlap": overlap, "after": after]
        filter.add(to: &arguments)
        guard let id = try Int64.fetchOne(db, sql: """
            SELECT i.id FROM items i WHERE i.id > :after AND \(Self.queueCondition(queue))\(filter.sql) ORDER BY i.id LIMIT 1
            """, arguments: arguments) else { return nil }
        return try item(id: id)
    }

    /// Leases the first item after `after` (item id order) that `queue` offers annotator `me`,
    /// for `duration` seconds, and drops the holder's other leases. Nil when the queue is empty.
    ///
    /// Two processes calling this at once get different items: the write transaction serializes
    /// them, and the second sees the first's lease.
    public func leaseNext(queue: LabelQueue, filter: QueueFilter = QueueFilter(), annotatorID me: Int64, overlap: Int, after: Int64,
                          host: String, pid: Int32, now: Date = Date(), duration: TimeInterval = 120) throws -> Item? {
        guard let item = try peekNext(queue: queue, filter: filter, annotatorID: me, overlap: overlap, after: after, now: now)
        else { return nil }
        try lease(itemID: item.id, annotatorID: me, host: host, pid: pid, until: now.addingTimeInterval(duration))
        return item
    }

    /// Holds item `itemID` for annotator `me` until `until`, releasing the holder's other leases.
    public func lease(itemID: Int64, annotatorID me: Int64, host: String, pid: Int32, until: Date) throws {
        try db.execute(sql: "DELETE FROM leases WHERE host = ? AND pid = ? AND item_id != ?", arguments: [host, pid, itemID])
        try db.execute(sql: """
            INSERT INTO leases (item_id, annotator_id, host, pid, expires_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (item_id, annotator_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, expires_at = excluded.expires_at
            """, arguments: [itemID, me, host, pid, until.timeIntervalSince1970])
    }

    /// Drops every lease of one labeling process.
    public func releaseLeases(host: String, pid: Int32) throws {
        try db.execute(sql: "DELETE FROM leases WHERE host = ? AND pid = ?", arguments: [host, pid])
    }

    /// How many items `queue` still offers annotator `me` (leases by others excluded).
    public func queueLength(queue: LabelQueue, filter: QueueFilter = QueueFilter(), annotatorID me: Int64, overlap: Int,
                            now: Date = Date()) throws -> Int {
        var arguments: StatementArguments = ["me": me, "now": now.timeIntervalSince1970, "overlap": overlap]
        filter.add(to: &arguments)
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM items i WHERE \(Self.queueCondition(queue))\(filter.sql)",
                                arguments: arguments) ?? 0
    }
}
