import Foundation
import GRDB

/// How the two label histories, annotations and reviews, store a `Label` (schema/0005): a set of
/// one class in the row's `class_id`; any other set as a row with `multi = 1` whose classes are
/// listed in a member table.
enum LabelRows: String {
    case annotations, reviews

    /// The member table and its column naming the row.
    private var members: (table: String, key: String) {
        switch self {
        case .annotations: ("annotation_classes", "annotation_id")
        case .reviews: ("review_classes", "review_id")
        }
    }

    /// The row's `class_id` and `multi` for a set of class ids (nil = skip).
    func columns(_ classIDs: [Int64]?) -> (classID: Int64?, multi: Bool) {
        guard let classIDs else { return (nil, false) }
        let set = Set(classIDs)
        return set.count == 1 ? (set.first, false) : (nil, true)
    }

    /// Lists a multi-label row's classes.
    func addMembers(_ db: Database, row: Int64, _ classIDs: [Int64]) throws {
        let statement = try db.cachedStatement(sql: "INSERT INTO \(members.table) (\(members.key), class_id) VALUES (?, ?)")
        for classID in Set(classIDs) { try statement.execute(arguments: [row, classID]) }
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
            throw CatalogError.invalid("catalog holds a malformed multi-label row: \(text)")
        }
        return Label(names)
    }

    /// Every multi-label row's class ids, by row id: what a scan that reads class ids (not
    /// names) needs to finish its multi-label rows.
    func allMembers(_ db: Database) throws -> [Int64: [Int64]] {
        var out: [Int64: [Int64]] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(members.key), class_id FROM \(members.table)")
        while let row = try cursor.next() { out[row[0], default: []].append(row[1]) }
        return out
    }
}
