import Foundation
import GRDB

/// How the two label histories, annotations and reviews, store a `Label` (schema/0005): a set of
/// one class in the row's `class_id`; any other set as a row with `multi = 1` whose classes are
/// listed in a member table. Everything that writes labels or reads them in SQL goes through here.
enum LabelRows: String {
    case annotations, reviews

    init(_ history: LabelHistory) { self = history == .annotations ? .annotations : .reviews }

    /// The member table and its column naming the row.
    private var members: (table: String, key: String) {
        switch self {
        case .annotations: ("annotation_classes", "annotation_id")
        case .reviews: ("review_classes", "review_id")
        }
    }

    /// The column naming who gave the label.
    var person: String { self == .annotations ? "annotator_id" : "reviewer_id" }

    /// Appends a label given by `personID` to `itemID`'s history: a set of one class in
    /// `class_id`, any other set (the empty one included) as a multi-label row with its members;
    /// nil `classIDs` is a skip. `stamp` is the row's place in the label order (`LabelOrder`):
    /// made here from the time and the classes' names, or kept as given for a row written elsewhere.
    func append(_ db: Database, itemID: Int64, personID: Int64, classIDs: [Int64]?, at time: Date, stamp: Data? = nil,
                suggestion: SuggestionShown? = nil) throws {
        let set = classIDs.map(Set.init)
        let multi = set.map { $0.count != 1 } ?? false
        let seconds = time.timeIntervalSince1970
        let order = try stamp ?? LabelOrder.stamp(at: seconds, label: set.map { Label(try Self.names(db, $0)) })
        if self == .annotations {
            let shown = try suggestion.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
            try db.cachedStatement(sql: """
                INSERT INTO annotations (item_id, annotator_id, class_id, multi, created_at, stamp, suggestion, accepted_suggestion)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [itemID, personID, multi ? nil : set?.first, multi, seconds, order, shown, suggestion?.accepted ?? false])
        } else {
            try db.cachedStatement(sql: "INSERT INTO reviews (item_id, reviewer_id, class_id, multi, created_at, stamp) VALUES (?, ?, ?, ?, ?, ?)")
                .execute(arguments: [itemID, personID, multi ? nil : set?.first, multi, seconds, order])
        }
        guard multi, let set else { return }
        let row = db.lastInsertedRowID
        let statement = try db.cachedStatement(sql: "INSERT INTO \(members.table) (\(members.key), class_id) VALUES (?, ?)")
        for classID in set { try statement.execute(arguments: [row, classID]) }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The suggestion recorded with a row (the JSON in `suggestion`), nil when none or unreadable.
    static func suggestion(_ json: String?) -> SuggestionShown? {
        json.flatMap { try? JSONDecoder().decode(SuggestionShown.self, from: Data($0.utf8)) }
    }

    /// The names of classes by id.
    /// - Throws: `CatalogError.notFound` for an id that names no class.
    private static func names(_ db: Database, _ ids: Set<Int64>) throws -> [String] {
        let statement = try db.cachedStatement(sql: "SELECT name FROM classes WHERE id = ?")
        return try ids.map { id in
            guard let name = try String.fetchOne(statement, arguments: [id]) else {
                throw CatalogError.notFound(kind: "class", name: "#\(id)")
            }
            return name
        }
    }

    /// SQL true when the row aliased `alias` is the latest of its item (and, for annotations, of
    /// its annotator) in the label order.
    func isLatestSQL(_ alias: String) -> String {
        switch self {
        case .annotations:
            "\(alias).stamp = (SELECT max(z.stamp) FROM annotations z WHERE z.item_id = \(alias).item_id AND z.annotator_id = \(alias).annotator_id)"
        case .reviews:
            "\(alias).stamp = (SELECT max(z.stamp) FROM reviews z WHERE z.item_id = \(alias).item_id)"
        }
    }

    /// SQL true when the row aliased `alias` is a label, not a skip.
    func isLabelSQL(_ alias: String) -> String { "(\(alias).class_id IS NOT NULL OR \(alias).multi = 1)" }

    /// SQL true when the label of the row aliased `alias` carries the class named by the parameter `name`.
    func carriesSQL(_ alias: String, classNamed name: String) -> String {
        """
        (\(alias).class_id = (SELECT id FROM classes WHERE name = \(name))
         OR EXISTS (SELECT 1 FROM \(members.table) x
                     WHERE x.\(members.key) = \(alias).id AND x.class_id = (SELECT id FROM classes WHERE name = \(name))))
        """
    }

    /// SQL giving a value equal for equal labels of rows aliased `alias`: the class id, or for a
    /// multi-label row its sorted class ids.
    func keySQL(_ alias: String) -> String {
        """
        CASE WHEN \(alias).multi = 1 THEN 'm' || coalesce((SELECT group_concat(class_id) FROM
            (SELECT class_id FROM \(members.table) x WHERE x.\(members.key) = \(alias).id ORDER BY class_id)), '')
        ELSE \(alias).class_id END
        """
    }

    /// Two result columns giving the label of the row aliased `alias`: its `multi` flag, and the
    /// class name (a one-class row) or a JSON list of class names (a multi-label row). Read them
    /// back with `label(_:at:)`.
    func labelSQL(_ alias: String) -> String {
        """
        \(alias).multi, CASE WHEN \(alias).multi = 1
            THEN (SELECT json_group_array(c.name) FROM \(members.table) x JOIN classes c ON c.id = x.class_id WHERE x.\(members.key) = \(alias).id)
            ELSE (SELECT c.name FROM classes c WHERE c.id = \(alias).class_id) END
        """
    }

    /// The label in the two columns `labelSQL` gives, starting at `index`; nil for a skip.
    static func label(_ row: Row, at index: Int) throws -> Label? {
        let multi: Bool = row[index]
        guard let text: String = row[index + 1] else { return nil }
        guard multi else { return .one(text) }
        guard let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
            throw CatalogError.corrupt("malformed multi-label row \(text)")
        }
        return Label(names)
    }

    /// The label of a row read as raw columns (`class_id`, `multi`, `id`), with `members` from
    /// `allMembers` and class names by id; nil for a skip.
    static func label(classID: Int64?, multi: Bool, row: Int64, members: [Int64: [Int64]], names: [Int64: String]) -> Label? {
        if multi { return Label((members[row] ?? []).map { names[$0] ?? "?" }) }
        return classID.map { .one(names[$0] ?? "?") }
    }

    /// The class ids of the multi-label rows of the items `itemCondition` selects (SQL on
    /// `item_id`, with its `arguments`), by row id: what a scan that reads class ids (not names)
    /// needs to finish its multi-label rows.
    func members(_ db: Database, itemCondition: String, _ arguments: StatementArguments) throws -> [Int64: [Int64]] {
        var out: [Int64: [Int64]] = [:]
        let cursor = itemCondition == "1"
            ? try Row.fetchCursor(db, sql: "SELECT \(members.key), class_id FROM \(members.table)")
            : try Row.fetchCursor(db, sql: """
                SELECT x.\(members.key), x.class_id FROM \(members.table) x JOIN \(rawValue) r ON r.id = x.\(members.key)
                WHERE r.multi = 1 AND r.\(itemCondition)
                """, arguments: arguments)
        while let row = try cursor.next() { out[row[0], default: []].append(row[1]) }
        return out
    }
}
