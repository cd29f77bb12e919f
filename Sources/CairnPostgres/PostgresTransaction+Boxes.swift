import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

// MARK: Box histories

extension PostgresTransaction {
    func appendStoredBoxes(_ history: LabelHistory, itemID: Int64, personID: Int64, encoded: Data, at time: Date, stamp: Data,
                           suggestion: BoxSuggestionShown?) throws {
        // Sent without waiting, as a class label is: the next statement or COMMIT reads its answer.
        try executeLater("""
            INSERT INTO box_labels (item_id, person_id, verdict, created_at, stamp, boxes, suggestion) VALUES ($1, $2, $3, $4, $5, $6, $7)
            """, [itemID, personID, history == .verdicts, time.timeIntervalSince1970, stamp, encoded, try suggestion?.json()])
    }

    func storedBoxLabels(_ history: LabelHistory, itemID: Int64) throws -> [StoredBoxLabel] {
        try rows("""
            SELECT p.name, b.boxes, b.created_at, b.stamp, b.suggestion FROM box_labels b JOIN annotators p ON p.id = b.person_id
            WHERE b.item_id = $1 AND b.verdict = $2 ORDER BY b.stamp, p.name, b.id
            """, [itemID, history == .verdicts]).map(Self.storedBoxLabel)
    }

    func storedBoxEvents() throws -> [StoredBoxEvent] {
        try rows("""
            SELECT p.name, b.boxes, b.created_at, b.stamp, b.suggestion, i.blob_id, b.verdict FROM box_labels b
            JOIN annotators p ON p.id = b.person_id JOIN items i ON i.id = b.item_id ORDER BY i.blob_id, b.verdict, b.stamp, p.name, b.id
            """).map {
            StoredBoxEvent(item: try Self.blobID($0.get(5)), history: try $0.get(6, Bool.self) ? .verdicts : .annotations,
                           label: try Self.storedBoxLabel($0))
        }
    }

    func boxLabelCount() throws -> Int { try one(Int.self, "SELECT count(*) FROM box_labels") ?? 0 }

    private static func storedBoxLabel(_ row: PostgresRandomAccessRow) throws -> StoredBoxLabel {
        StoredBoxLabel(person: try row.get(0), encoded: try row.get(1), createdAt: date(try row.get(2)), stamp: try row.get(3),
                       suggestion: BoxSuggestionShown.stored(try row.get(4)))
    }

    /// The latest box sets (each annotator's per item, and each item's latest verdict) for the items `condition` (on alias `r`) selects.
    static func latestBoxesSQL(verdict: Bool, where condition: String) -> String {
        let distinct = verdict ? "r.item_id" : "r.item_id, r.person_id"
        return """
            SELECT DISTINCT ON (\(distinct)) r.item_id, r.person_id, r.boxes FROM box_labels r
            WHERE r.verdict = \(verdict) AND \(condition) ORDER BY \(distinct), r.stamp DESC, r.id DESC
            """
    }

    /// A box scan over rows already read (`BoxScan`), in item id order.
    static func boxScan(annotations: [PostgresRandomAccessRow], verdicts: [PostgresRandomAccessRow], people: [Int64: String],
                        classes: [Int64: String]) -> BoxScan {
        func stream(_ rows: [PostgresRandomAccessRow]) -> () throws -> BoxScan.Entry? {
            var index = 0
            return {
                guard index < rows.count else { return nil }
                defer { index += 1 }
                let row = rows[index]
                return (try row.get(0, Int64.self), PersonBoxes(person: people[try row.get(1, Int64.self)] ?? "?",
                                                                boxes: try BoxCoding.decode(try row.get(2, Data.self), classNames: classes)))
            }
        }
        return BoxScan(next: stream(annotations), nextVerdict: stream(verdicts))
    }
}
