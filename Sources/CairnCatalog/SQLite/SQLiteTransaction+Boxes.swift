import CairnStore
import Foundation
import GRDB

// MARK: Box histories

extension SQLiteTransaction {
    func appendStoredBoxes(_ history: LabelHistory, itemID: Int64, personID: Int64, encoded: Data, at time: Date, stamp: Data,
                           suggestion: BoxSuggestionShown?) throws {
        try db.execute(sql: """
            INSERT INTO box_labels (item_id, person_id, verdict, created_at, stamp, boxes, suggestion) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [itemID, personID, history == .verdicts ? 1 : 0, time.timeIntervalSince1970, stamp, encoded, try suggestion?.json()])
    }

    func storedBoxLabels(_ history: LabelHistory, itemID: Int64) throws -> [StoredBoxLabel] {
        try Row.fetchAll(db, sql: """
            SELECT p.name, b.boxes, b.created_at, b.stamp, b.suggestion FROM box_labels b JOIN annotators p ON p.id = b.person_id
            WHERE b.item_id = ? AND b.verdict = ? ORDER BY b.stamp, p.name, b.id
            """, arguments: [itemID, history == .verdicts ? 1 : 0]).map(Self.storedBoxLabel)
    }

    func storedBoxEvents() throws -> [StoredBoxEvent] {
        try Row.fetchAll(db, sql: """
            SELECT p.name, b.boxes, b.created_at, b.stamp, b.suggestion, i.blob_id, b.verdict FROM box_labels b
            JOIN annotators p ON p.id = b.person_id JOIN items i ON i.id = b.item_id ORDER BY i.blob_id, b.verdict, b.stamp, p.name, b.id
            """).map { StoredBoxEvent(item: try Self.blobID($0[5]), history: ($0[6] as Int64) == 1 ? .verdicts : .annotations, label: Self.storedBoxLabel($0)) }
    }

    func boxLabelCount() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM box_labels") ?? 0 }

    private static func storedBoxLabel(_ row: Row) -> StoredBoxLabel {
        StoredBoxLabel(person: row[0], encoded: row[1], createdAt: Date(timeIntervalSince1970: row[2]), stamp: row[3],
                       suggestion: BoxSuggestionShown.stored(row[4]))
    }

    /// Each item's box record for the items `labelCondition` selects, merged into the record scan in
    /// item id order: each annotator's latest set and the latest verdict. Nil when the catalog has no
    /// boxes, so class-only work reads nothing more.
    func boxScan(labelCondition: String, _ arguments: StatementArguments, people: [Int64: String]) throws -> BoxScan? {
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM box_labels)") == true else { return nil }
        let names = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM classes").map { ($0[0] as Int64, $0[1] as String) })
        let latest = { (verdict: Int, group: String) in
            try Row.fetchCursor(self.db, sql: """
                SELECT item_id, person_id, boxes, max(stamp) FROM box_labels WHERE verdict = \(verdict) AND \(labelCondition)
                GROUP BY \(group) ORDER BY \(group)
                """, arguments: arguments)
        }
        let annotations = try latest(0, "item_id, person_id"), verdicts = try latest(1, "item_id")
        return BoxScan(next: {
            guard let row = try annotations.next() else { return nil }
            return (row[0], PersonBoxes(person: people[row[1]] ?? "?", boxes: try BoxCoding.decode(row[2], classNames: names)))
        }, nextVerdict: {
            guard let row = try verdicts.next() else { return nil }
            return (row[0], PersonBoxes(person: people[row[1]] ?? "?", boxes: try BoxCoding.decode(row[2], classNames: names)))
        })
    }
}
