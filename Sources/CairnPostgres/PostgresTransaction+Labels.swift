import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO

/// How the two label histories store a `Label`, as in SQLite (schema/0005): a set of one class in
/// the row's `class_id`; any other set as a `multi` row whose classes are in a member table.
enum PostgresLabelRows: String {
    case annotations, reviews

    init(_ history: LabelHistory) { self = history == .annotations ? .annotations : .reviews }

    var members: (table: String, key: String) {
        switch self {
        case .annotations: ("annotation_classes", "annotation_id")
        case .reviews: ("review_classes", "review_id")
        }
    }

    var person: String { self == .annotations ? "annotator_id" : "reviewer_id" }

    /// SQL true when the row aliased `alias` is the latest of its item (and, for annotations, of its
    /// annotator); bytea has no max(), so the latest is the first in descending stamp order.
    func isLatestSQL(_ alias: String) -> String {
        switch self {
        case .annotations:
            """
            \(alias).stamp = (SELECT z.stamp FROM annotations z WHERE z.item_id = \(alias).item_id AND z.annotator_id = \(alias).annotator_id
                              ORDER BY z.stamp DESC LIMIT 1)
            """
        case .reviews:
            "\(alias).stamp = (SELECT z.stamp FROM reviews z WHERE z.item_id = \(alias).item_id ORDER BY z.stamp DESC LIMIT 1)"
        }
    }

    /// SQL true when the row aliased `alias` is a label, not a skip.
    func isLabelSQL(_ alias: String) -> String { "(\(alias).class_id IS NOT NULL OR \(alias).multi)" }

    /// SQL true when the label of the row aliased `alias` carries the class named by the parameter `name`.
    func carriesSQL(_ alias: String, classNamed name: String) -> String {
        """
        (\(alias).class_id = (SELECT id FROM classes WHERE name = \(name))
         OR EXISTS (SELECT 1 FROM \(members.table) x
                     WHERE x.\(members.key) = \(alias).id AND x.class_id = (SELECT id FROM classes WHERE name = \(name))))
        """
    }

    /// SQL text equal for equal labels of rows aliased `alias`.
    func keySQL(_ alias: String) -> String {
        """
        CASE WHEN \(alias).multi THEN 'm' || coalesce((SELECT string_agg(x.class_id::text, ',' ORDER BY x.class_id) FROM \(members.table) x
            WHERE x.\(members.key) = \(alias).id), '')
        ELSE \(alias).class_id::text END
        """
    }

    /// Two result columns giving the label of the row aliased `alias`: `multi`, and the class name
    /// or a JSON list of names. Read back with `label(_:at:)`.
    func labelSQL(_ alias: String) -> String {
        """
        \(alias).multi, CASE WHEN \(alias).multi
            THEN (SELECT coalesce(json_agg(c.name), '[]')::text FROM \(members.table) x JOIN classes c ON c.id = x.class_id
                  WHERE x.\(members.key) = \(alias).id)
            ELSE (SELECT c.name FROM classes c WHERE c.id = \(alias).class_id) END
        """
    }

    static func label(_ row: PostgresRandomAccessRow, at index: Int) throws -> Label? {
        let multi = try row.get(index, Bool.self)
        guard let text = try row.get(index + 1, String?.self) else { return nil }
        guard multi else { return .one(text) }
        guard let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            throw CatalogError.corrupt("malformed multi-label row \(text)")
        }
        return Label(names)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func suggestion(_ json: String?) -> SuggestionShown? {
        json.flatMap { try? JSONDecoder().decode(SuggestionShown.self, from: Data($0.utf8)) }
    }
}

// MARK: Label history

extension PostgresTransaction {
    func appendLabel(_ history: LabelHistory, itemID: Int64, personID: Int64, classIDs: [Int64]?, at time: Date, stamp: Data?,
                     suggestion: SuggestionShown?) throws {
        if history == .verdicts, classIDs == nil { throw CatalogError.corrupt("a verdict without a label") }
        let set = classIDs.map(Set.init)
        let multi = set.map { $0.count != 1 } ?? false
        let seconds = time.timeIntervalSince1970
        let order = try stamp ?? LabelOrder.stamp(at: seconds, label: set.map { Label(try names(of: $0)) })
        let single: Int64? = multi ? nil : set?.first
        let rows = PostgresLabelRows(history)
        var columns = "item_id, \(rows.person), class_id, multi, created_at, stamp"
        var values: [Value] = [itemID, personID, single, multi, seconds, order]
        if history == .annotations {
            columns += ", suggestion, accepted_suggestion"
            values += [try suggestion.map { String(decoding: try PostgresLabelRows.encoder.encode($0), as: UTF8.self) }, suggestion?.accepted ?? false]
        }
        values.append(multi ? set.map { $0.sorted() } ?? [] : [Int64]())
        let placeholders = (1..<values.count).map { "$\($0)" }.joined(separator: ", ")
        // One statement with the member rows, sent without waiting (`executeLater`): a save reads
        // its answer with the next item's.
        try executeLater("""
            WITH added AS (INSERT INTO \(rows.rawValue) (\(columns)) VALUES (\(placeholders)) RETURNING id)
            INSERT INTO \(rows.members.table) (\(rows.members.key), class_id) SELECT added.id, unnest($\(values.count)::bigint[]) FROM added
            """, values)
    }

    /// The names of classes by id.
    /// - Throws: `CatalogError.notFound` for an id that names no class.
    private func names(of ids: Set<Int64>) throws -> [String] {
        let found = Dictionary(uniqueKeysWithValues: try rows("SELECT id, name FROM classes WHERE id = ANY($1)", [Array(ids)]).map {
            (try $0.get(0, Int64.self), try $0.get(1, String.self))
        })
        return try ids.map { id in
            guard let name = found[id] else { throw CatalogError.notFound(kind: "class", name: "#\(id)") }
            return name
        }
    }

    func latestAnnotation(itemID: Int64, annotatorID: Int64, before: Data?) throws -> Label?? {
        guard let row = try rows("""
            SELECT \(PostgresLabelRows.annotations.labelSQL("a")) FROM annotations a
            WHERE a.item_id = $1 AND a.annotator_id = $2 AND ($3::bytea IS NULL OR a.stamp < $3) ORDER BY a.stamp DESC, a.id DESC LIMIT 1
            """, [itemID, annotatorID, before]).first else { return nil }
        return .some(try PostgresLabelRows.label(row, at: 0))
    }

    func labels(_ history: LabelHistory, itemID: Int64) throws -> [Annotation] {
        let rows = PostgresLabelRows(history)
        let suggestion = history == .annotations ? "r.suggestion" : "NULL::text"
        return try self.rows("""
            SELECT r.id, r.item_id, p.name, r.created_at, \(rows.labelSQL("r")), \(suggestion) FROM \(rows.rawValue) r
            JOIN annotators p ON p.id = r.\(rows.person) WHERE r.item_id = $1 ORDER BY r.stamp, p.name, r.id
            """, [itemID]).map {
            Annotation(id: try $0.get(0), itemID: try $0.get(1), annotator: try $0.get(2), label: try PostgresLabelRows.label($0, at: 4),
                       createdAt: Self.date(try $0.get(3)), suggestion: PostgresLabelRows.suggestion(try $0.get(6)))
        }
    }

    func annotationCount() throws -> Int { try one(Int.self, "SELECT count(*) FROM annotations") ?? 0 }

    func activity(since: Date, now: Date) throws -> [Int64: PersonActivity] {
        var out: [Int64: PersonActivity] = [:]
        for (history, table, person) in [(LabelHistory.annotations, "annotations", "annotator_id"), (.verdicts, "reviews", "reviewer_id")] {
            let sql = "SELECT \(person), count(*), sum(CASE WHEN created_at >= $1 THEN 1 ELSE 0 END), max(created_at) FROM \(table) GROUP BY 1"
            for row in try rows(sql, [since.timeIntervalSince1970]) {
                out[try row.get(0, Int64.self), default: PersonActivity()]
                    .add(history, count: try row.get(1), recent: try row.get(2), last: try row.get(3, Double?.self))
            }
        }
        let leases = "SELECT annotator_id, host, count(*) FROM leases WHERE expires_at > $1 GROUP BY 1, 2"
        for row in try rows(leases, [now.timeIntervalSince1970]) {
            out[try row.get(0, Int64.self), default: PersonActivity()].leases[try row.get(1)] = try row.get(2)
        }
        return out
    }
}

// MARK: Item records

extension PostgresTransaction {
    /// Items in pages of `pageSize` ids in id order, each page with its items' latest label per
    /// annotator and latest verdict (`DISTINCT ON` over the (item, …, stamp) indexes): memory bounded
    /// by a page, whatever the catalog's size. A full scan sends the next page's three queries before
    /// it decodes this one's, so the server reads a page while this process decodes the last.
    func forEachItemRecord(ids: [Int64]?, includingRemoved: Bool, boxes withBoxes: Bool, _ body: (Int64, ItemRecord) throws -> Void) throws {
        let people = Dictionary(uniqueKeysWithValues: try rows("SELECT id, name FROM annotators").map {
            (try $0.get(0, Int64.self), try $0.get(1, String.self))
        })
        let classes = Dictionary(uniqueKeysWithValues: try rows("SELECT id, name FROM classes").map {
            (try $0.get(0, Int64.self), try $0.get(1, String.self))
        })
        let removed = includingRemoved ? "" : " AND NOT removed"
        let columns = "SELECT id, blob_id, path, format, width, height, split FROM items"
        // Box sets are read only when there are any, so class-only work sends nothing more.
        let hasBoxes = try withBoxes && (one(Bool.self, "SELECT EXISTS (SELECT 1 FROM box_labels)") ?? false)
        func emit(_ page: RecordPage) throws {
            let boxes = try page.boxes.map {
                Self.boxScan(annotations: try $0.annotations.rows(), verdicts: try $0.verdicts.rows(), people: people, classes: classes)
            }
            try emitRecords(try page.items.rows(), annotations: try page.annotations.rows(), verdicts: try page.verdicts.rows(), boxes: boxes,
                            people: people, classes: classes, body)
        }
        func boxQueries(_ condition: String, _ values: [Value]) throws -> (annotations: SentQuery, verdicts: SentQuery)? {
            guard hasBoxes else { return nil }
            return (try send(Self.latestBoxesSQL(verdict: false, where: condition), values), try send(Self.latestBoxesSQL(verdict: true, where: condition), values))
        }
        if let ids {
            let sorted = Array(Set(ids)).sorted()
            for start in stride(from: 0, to: sorted.count, by: Self.pageSize) {
                let page = Array(sorted[start..<min(start + Self.pageSize, sorted.count)])
                try emit(RecordPage(items: try send("\(columns) WHERE id = ANY($1)\(removed) ORDER BY id", [page]),
                                    annotations: try send(Self.latestLabelsSQL(.annotations, where: "r.item_id = ANY($1)"), [page]),
                                    verdicts: try send(Self.latestLabelsSQL(.reviews, where: "r.item_id = ANY($1)"), [page]),
                                    boxes: try boxQueries("r.item_id = ANY($1)", [page])))
            }
            return
        }
        guard let last = try one(Int64.self, "SELECT max(id) FROM items") else { return }
        let range = "r.item_id > $1 AND r.item_id <= $2"
        func page(after low: Int64) throws -> RecordPage {
            let high = low + Int64(Self.pageSize)
            return RecordPage(items: try send("\(columns) WHERE id > $1 AND id <= $2\(removed) ORDER BY id", [low, high]),
                              annotations: try send(Self.latestLabelsSQL(.annotations, where: range), [low, high]),
                              verdicts: try send(Self.latestLabelsSQL(.reviews, where: range), [low, high]),
                              boxes: try boxQueries(range, [low, high]))
        }
        var low: Int64 = 0
        var next: RecordPage? = try page(after: low)
        while let current = next {
            low += Int64(Self.pageSize)
            next = low < last ? try page(after: low) : nil
            do {
                try emit(current)
            } catch {
                // The queries sent ahead still answer on this connection: wait for them before it is used again.
                if let next {
                    _ = try? next.items.rows(); _ = try? next.annotations.rows(); _ = try? next.verdicts.rows()
                    _ = try? next.boxes?.annotations.rows(); _ = try? next.boxes?.verdicts.rows()
                }
                throw error
            }
        }
    }

    static let pageSize = 20_000

    /// One page's three queries, sent and not yet read.
    private struct RecordPage {
        var items: SentQuery
        var annotations: SentQuery
        var verdicts: SentQuery
        /// Each annotator's latest box set and the latest box verdict, when the catalog has boxes.
        var boxes: (annotations: SentQuery, verdicts: SentQuery)?
    }

    /// Each item's latest label per annotator (`.annotations`) or latest verdict (`.reviews`), for the items `condition` selects.
    private static func latestLabelsSQL(_ rows: PostgresLabelRows, where condition: String) -> String {
        let members = rows.members
        let distinct = rows == .annotations ? "r.item_id, r.annotator_id" : "r.item_id"
        return """
            SELECT DISTINCT ON (\(distinct)) r.item_id, r.\(rows.person), r.class_id, r.multi,
                (SELECT array_agg(x.class_id) FROM \(members.table) x WHERE x.\(members.key) = r.id AND r.multi)
            FROM \(rows.rawValue) r WHERE \(condition) ORDER BY \(distinct), r.stamp DESC, r.id DESC
            """
    }

    private func emitRecords(_ items: [PostgresRandomAccessRow], annotations: [PostgresRandomAccessRow], verdicts: [PostgresRandomAccessRow],
                             boxes: BoxScan?, people: [Int64: String], classes: [Int64: String], _ body: (Int64, ItemRecord) throws -> Void) throws {
        func latest(_ rows: [PostgresRandomAccessRow]) throws -> [Int64: [(who: Int64, label: Label?)]] {
            var out: [Int64: [(who: Int64, label: Label?)]] = [:]
            for row in rows {
                let label: Label?
                if try row.get(3, Bool.self) {
                    label = Label((try row.get(4, [Int64]?.self) ?? []).map { classes[$0] ?? "?" })
                } else {
                    label = try row.get(2, Int64?.self).map { .one(classes[$0] ?? "?") }
                }
                out[try row.get(0), default: []].append((try row.get(1), label))
            }
            return out
        }
        let annotations = try latest(annotations)
        let verdicts = try latest(verdicts)
        var boxes = boxes
        for row in items {
            let itemID = try row.get(0, Int64.self)
            let split = try row.get(6, String.self)
            let labels = (annotations[itemID] ?? []).map { ItemRecord.AnnotatorLabel(annotator: people[$0.who] ?? "?", label: $0.label) }
            let verdict = verdicts[itemID]?.first.flatMap { entry in
                entry.label.map { ItemRecord.Verdict(reviewer: people[entry.who] ?? "?", label: $0) }
            }
            try body(itemID, ItemRecord(blobID: try Self.blobID(row.get(1)), path: try row.get(2), format: try row.get(3), width: try row.get(4),
                                        height: try row.get(5), split: Split(rawValue: split) ?? .train, annotations: labels, verdict: verdict,
                                        boxes: try boxes?.record(for: itemID)))
        }
    }
}

// MARK: Exchange

extension PostgresTransaction {
    func labelEvents(_ history: LabelHistory) throws -> [LabelEvent] {
        let rows = PostgresLabelRows(history)
        let suggestion = history == .annotations ? "r.suggestion" : "NULL::text"
        return try self.rows("""
            SELECT i.blob_id, p.name, r.created_at, r.stamp, \(rows.labelSQL("r")), \(suggestion) FROM \(rows.rawValue) r
            JOIN items i ON i.id = r.item_id JOIN annotators p ON p.id = r.\(rows.person) ORDER BY i.blob_id, r.stamp, r.id
            """).map {
            LabelEvent(item: try Self.blobID($0.get(0)), person: try $0.get(1), label: try PostgresLabelRows.label($0, at: 4),
                       at: Self.date(try $0.get(2)), stamp: try $0.get(3), suggestion: PostgresLabelRows.suggestion(try $0.get(6)))
        }
    }

    func changeFingerprint() throws -> String {
        let parts = [
            "SELECT count(*), coalesce(max(id), 0)::text FROM items", "SELECT count(*), coalesce(max(id), 0)::text FROM annotations",
            "SELECT count(*), coalesce(max(id), 0)::text FROM reviews", "SELECT count(*), coalesce(max(seq), 0)::text FROM snapshots",
            "SELECT count(*), coalesce(max(seq), 0)::text FROM runs", "SELECT count(*), coalesce(max(id), 0)::text FROM classes",
            "SELECT count(*), coalesce(max(id), 0)::text FROM annotators", "SELECT count(*), coalesce(max(id), 0)::text FROM split_changes",
            "SELECT count(*), coalesce(max(id), 0)::text FROM item_removals", "SELECT count(*), coalesce(max(created_at), 0)::text FROM purges",
            "SELECT count(*), coalesce(max(id), 0)::text FROM box_labels",
            "SELECT count(*), coalesce(string_agg(status || coalesce(checkpoint_id, '') || length(record), ',' ORDER BY seq), '') FROM runs",
            "SELECT count(*), coalesce(string_agg(name || coalesce(hotkey, '') || coalesce(removed_at::text, ''), ',' ORDER BY id), '') FROM classes",
        ]
        return try parts.map { sql in
            guard let row = try rows(sql).first else { return "" }
            return "\(try row.get(0, Int64.self)),\(try row.get(1, String.self))"
        }.joined(separator: ";")
    }
}
