import CairnStore
import Foundation
import GRDB

// MARK: Label history

extension SQLiteTransaction {
    func appendLabel(_ history: LabelHistory, itemID: Int64, personID: Int64, classIDs: [Int64]?, at time: Date, stamp: Data?,
                     suggestion: SuggestionShown?) throws {
        if history == .verdicts, classIDs == nil { throw CatalogError.corrupt("a verdict without a label") }
        try LabelRows(history).append(db, itemID: itemID, personID: personID, classIDs: classIDs, at: time, stamp: stamp, suggestion: suggestion)
    }

    func latestAnnotation(itemID: Int64, annotatorID: Int64, before: Data?) throws -> Label?? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT \(LabelRows.annotations.labelSQL("a")) FROM annotations a
            WHERE a.item_id = ? AND a.annotator_id = ? AND (? IS NULL OR a.stamp < ?) ORDER BY a.stamp DESC, a.id DESC LIMIT 1
            """), arguments: [itemID, annotatorID, before, before]) else { return nil }
        return .some(try LabelRows.label(row, at: 0))
    }

    func labels(_ history: LabelHistory, itemID: Int64) throws -> [Annotation] {
        let rows = LabelRows(history)
        let suggestion = history == .annotations ? "r.suggestion" : "NULL"
        return try Row.fetchAll(db, sql: """
            SELECT r.id, r.item_id, p.name, r.created_at, \(rows.labelSQL("r")), \(suggestion) FROM \(rows.rawValue) r
            JOIN annotators p ON p.id = r.\(rows.person) WHERE r.item_id = ? ORDER BY r.stamp, p.name, r.id
            """, arguments: [itemID]).map {
            Annotation(id: $0[0], itemID: $0[1], annotator: $0[2], label: try LabelRows.label($0, at: 4),
                       createdAt: Date(timeIntervalSince1970: $0[3]), suggestion: LabelRows.suggestion($0[6]))
        }
    }

    func annotationCount() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM annotations") ?? 0 }

    func activity(since: Date, now: Date) throws -> [Int64: PersonActivity] {
        var out: [Int64: PersonActivity] = [:]
        for (history, table, person) in [(LabelHistory.annotations, "annotations", "annotator_id"), (.verdicts, "reviews", "reviewer_id")] {
            let sql = "SELECT \(person), count(*), sum(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), max(created_at) FROM \(table) GROUP BY 1"
            for row in try Row.fetchAll(db, sql: sql, arguments: [since.timeIntervalSince1970]) {
                out[row[0], default: PersonActivity()].add(history, count: row[1], recent: row[2], last: row[3])
            }
        }
        let leases = "SELECT annotator_id, host, count(*) FROM leases WHERE expires_at > ? GROUP BY 1, 2"
        for row in try Row.fetchAll(db, sql: leases, arguments: [now.timeIntervalSince1970]) {
            out[row[0], default: PersonActivity()].leases[row[1]] = row[2]
        }
        return out
    }
}

// MARK: Item records

extension SQLiteTransaction {
    /// Merges three scans in item id order — the items, each annotator's latest annotation per
    /// item, each item's latest verdict — with no dictionary of the whole catalog. The GROUP BY
    /// scans walk the (item_id, …, stamp) indexes, so their ORDER BY costs no sort (a test checks
    /// the query plans). A list of ids is scanned in chunks of 500.
    func forEachItemRecord(ids: [Int64]?, includingRemoved: Bool, boxes: Bool, _ body: (Int64, ItemRecord) throws -> Void) throws {
        let people = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM annotators")
            .map { ($0[0] as Int64, $0[1] as String) })
        let classes = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM classes")
            .map { ($0[0] as Int64, $0[1] as String) })
        guard let ids else {
            return try scanRecords(itemCondition: includingRemoved ? "1" : "removed = 0", labelCondition: "1", arguments: [],
                                   people: people, classes: classes, boxes: boxes, body)
        }
        let sorted = Array(Set(ids)).sorted()
        for start in stride(from: 0, to: sorted.count, by: 500) {
            let chunk = Array(sorted[start..<min(start + 500, sorted.count)])
            let list = "(" + chunk.map { _ in "?" }.joined(separator: ",") + ")"
            try scanRecords(itemCondition: "id IN \(list)" + (includingRemoved ? "" : " AND removed = 0"), labelCondition: "item_id IN \(list)",
                            arguments: StatementArguments(chunk),
                            people: people, classes: classes, boxes: boxes, body)
        }
    }

    private func scanRecords(itemCondition: String, labelCondition: String, arguments: StatementArguments, people: [Int64: String],
                             classes: [Int64: String], boxes withBoxes: Bool, _ body: (Int64, ItemRecord) throws -> Void) throws {
        // Multi-label rows are rare next to one-class rows: their classes are looked up by row id.
        let annotationSets = try LabelRows.annotations.members(db, itemCondition: labelCondition, arguments)
        let verdictSets = try LabelRows.reviews.members(db, itemCondition: labelCondition, arguments)
        let items = try Row.fetchCursor(db, sql: """
            SELECT id, blob_id, path, format, width, height, split FROM items WHERE (\(itemCondition)) ORDER BY id
            """, arguments: arguments)
        let labels = try Row.fetchCursor(db, sql: """
            SELECT item_id, annotator_id, class_id, multi, id, max(stamp) FROM annotations WHERE \(labelCondition)
            GROUP BY item_id, annotator_id ORDER BY item_id, annotator_id
            """, arguments: arguments)
        let verdicts = try Row.fetchCursor(db, sql: """
            SELECT item_id, reviewer_id, class_id, multi, id, max(stamp) FROM reviews WHERE \(labelCondition)
            GROUP BY item_id ORDER BY item_id
            """, arguments: arguments)
        typealias Scanned = (item: Int64, who: Int64, label: Label?)
        func scanned(_ row: Row?, _ members: [Int64: [Int64]]) -> Scanned? {
            row.map { ($0[0], $0[1], LabelRows.label(classID: $0[2], multi: $0[3], row: $0[4], members: members, names: classes)) }
        }
        var boxes = withBoxes ? try boxScan(labelCondition: labelCondition, arguments, people: people) : nil
        var nextLabel = scanned(try labels.next(), annotationSets)
        var nextVerdict = scanned(try verdicts.next(), verdictSets)
        while let row = try items.next() {
            let itemID: Int64 = row[0]
            let splitName: String = row[6]
            var annotations: [ItemRecord.AnnotatorLabel] = []
            var verdict: ItemRecord.Verdict?
            while let next = nextLabel, next.item <= itemID {
                if next.item == itemID { annotations.append(.init(annotator: people[next.who] ?? "?", label: next.label)) }
                nextLabel = scanned(try labels.next(), annotationSets)
            }
            while let next = nextVerdict, next.item <= itemID {
                if next.item == itemID, let label = next.label { verdict = .init(reviewer: people[next.who] ?? "?", label: label) }
                nextVerdict = scanned(try verdicts.next(), verdictSets)
            }
            try body(itemID, ItemRecord(blobID: try Self.blobID(row[1]), path: row[2], format: row[3], width: row[4], height: row[5],
                                        split: Split(rawValue: splitName) ?? .train, annotations: annotations, verdict: verdict,
                                        boxes: try boxes?.record(for: itemID)))
        }
    }
}

// MARK: Exchange

extension SQLiteTransaction {
    func labelEvents(_ history: LabelHistory) throws -> [LabelEvent] {
        let rows = LabelRows(history)
        let suggestion = history == .annotations ? "r.suggestion" : "NULL"
        return try Row.fetchAll(db, sql: """
            SELECT i.blob_id, p.name, r.created_at, r.stamp, \(rows.labelSQL("r")), \(suggestion) FROM \(rows.rawValue) r
            JOIN items i ON i.id = r.item_id JOIN annotators p ON p.id = r.\(rows.person) ORDER BY i.blob_id, r.stamp, r.id
            """).map {
            LabelEvent(item: try Self.blobID($0[0]), person: $0[1], label: try LabelRows.label($0, at: 4),
                       at: Date(timeIntervalSince1970: $0[2]), stamp: $0[3], suggestion: LabelRows.suggestion($0[6]))
        }
    }

    func changeFingerprint() throws -> String {
        let parts = try [
            "SELECT count(*), coalesce(max(id), 0) FROM items", "SELECT count(*), coalesce(max(id), 0) FROM annotations",
            "SELECT count(*), coalesce(max(id), 0) FROM reviews", "SELECT count(*), coalesce(max(seq), 0) FROM snapshots",
            "SELECT count(*), coalesce(max(seq), 0) FROM runs", "SELECT count(*), coalesce(max(id), 0) FROM classes",
            "SELECT count(*), coalesce(max(id), 0) FROM annotators", "SELECT count(*), coalesce(max(id), 0) FROM split_changes",
            "SELECT count(*), coalesce(max(id), 0) FROM item_removals", "SELECT count(*), coalesce(max(created_at), 0) FROM purges",
            "SELECT count(*), coalesce(max(id), 0) FROM box_labels",
            "SELECT coalesce(group_concat(status || coalesce(checkpoint_id, '') || length(record)), '') FROM runs",
            "SELECT coalesce(group_concat(name || coalesce(hotkey, '') || coalesce(removed_at, '')), '') FROM classes",
        ].map { sql in try Row.fetchOne(db, sql: sql).map { row in (0..<row.count).map { "\(row[$0] as DatabaseValue)" }.joined(separator: ",") } ?? "" }
        return parts.joined(separator: ";")
    }
}
