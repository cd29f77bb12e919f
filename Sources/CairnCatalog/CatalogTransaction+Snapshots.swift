import CairnStore
import Foundation
import GRDB

/// A snapshot as the catalog records it: the content id plus what is recorded beside it.
public struct SnapshotRow: Sendable, Hashable, Codable {
    public var id: BlobID
    public var parentID: BlobID?
    public var message: String
    public var author: String
    public var createdAt: Date
    public var itemCount: Int
    /// JSON-encoded `SnapshotCounts`, kept opaque to the catalog.
    public var counts: String

    public init(id: BlobID, parentID: BlobID?, message: String, author: String, createdAt: Date, itemCount: Int, counts: String) {
        self.id = id
        self.parentID = parentID
        self.message = message
        self.author = author
        self.createdAt = createdAt
        self.itemCount = itemCount
        self.counts = counts
    }
}

/// A tag: an immutable name for a snapshot.
public struct TagRow: Sendable, Hashable, Codable {
    public var name: String
    public var snapshotID: BlobID
    public var createdAt: Date
    public var author: String

    /// Why `name` cannot be a tag, or nil when it can: 1 to 128 characters, no `/`, `\`, `..`,
    /// whitespace or control characters, not starting with `-`, `.` or `HEAD`, and not 64 hex
    /// digits (the form of a snapshot id, which a tag must never shadow). Tags come from remotes
    /// too, so the rule is kept where every tag is written.
    public static func problem(name: String) -> String? {
        guard !name.isEmpty, name.count <= 128 else { return "must be 1 to 128 characters" }
        guard !name.contains("/"), !name.contains("\\") else { return "must not contain '/' or '\\'" }
        guard !name.contains("..") else { return "must not contain '..'" }
        guard !name.contains(where: { $0.isWhitespace || $0.isNewline }), !name.unicodeScalars.contains(where: Printable.isControl) else {
            return "must not contain whitespace or control characters"
        }
        guard !name.hasPrefix("-"), !name.hasPrefix("."), !name.hasPrefix("HEAD") else { return "must not start with '-', '.' or 'HEAD'" }
        guard !(name.count == 64 && name.allSatisfy(\.isHexDigit)) else { return "must not look like a snapshot id (64 hex digits)" }
        return nil
    }
}

/// One entry of a tag's history.
public struct TagEvent: Sendable, Hashable, Codable {
    public var name: String
    public var snapshotID: BlobID
    public var action: String
    public var at: Date
    public var author: String
}

/// Everything a snapshot records about one item, read from the working state.
public struct ItemState: Sendable, Hashable {
    public var item: Item
    /// Each annotator's latest label (nil = skipped).
    public var latest: [String: Label?]
    /// The latest reviewer verdict.
    public var verdict: (reviewer: String, label: Label)?

    public static func == (a: ItemState, b: ItemState) -> Bool {
        a.item == b.item && a.latest == b.latest && a.verdict?.reviewer == b.verdict?.reviewer
            && a.verdict?.label == b.verdict?.label
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(item.id) }

    /// The label the policy resolves for this item.
    public var resolved: ResolvedLabel { LabelPolicy.resolve(latest: latest, verdict: verdict?.label) }
}

extension CatalogTransaction {
    static func blobID(_ hex: String) throws -> BlobID {
        guard let id = BlobID(hex: hex) else { throw CatalogError.invalid("catalog holds a malformed id: \(hex)") }
        return id
    }

    private func snapshotRow(_ row: Row) throws -> SnapshotRow {
        let parent: String? = row[1]
        return SnapshotRow(id: try Self.blobID(row[0]), parentID: try parent.map(Self.blobID), message: row[2], author: row[3],
                           createdAt: Date(timeIntervalSince1970: row[4]), itemCount: row[5], counts: row[6])
    }

    private static let snapshotColumns = "id, parent_id, message, author, created_at, item_count, counts"

    // MARK: Snapshots

    /// Records a snapshot and makes it the head the change log is relative to.
    public func recordSnapshot(_ snapshot: SnapshotRow) throws {
        try db.execute(sql: """
            INSERT INTO snapshots (\(Self.snapshotColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO NOTHING
            """, arguments: [snapshot.id.hex, snapshot.parentID?.hex, snapshot.message, snapshot.author,
                             snapshot.createdAt.timeIntervalSince1970, snapshot.itemCount, snapshot.counts])
        try setHead(snapshot.id)
    }

    /// Makes `id` the snapshot the change log is relative to.
    public func setHead(_ id: BlobID) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO snapshot_head (one, snapshot_id) VALUES (1, ?)", arguments: [id.hex])
    }

    /// The snapshot the working state was last frozen into, if any.
    public func headSnapshot() throws -> SnapshotRow? {
        guard let hex = try String.fetchOne(db, sql: "SELECT snapshot_id FROM snapshot_head") else { return nil }
        return try snapshot(id: try Self.blobID(hex))
    }

    /// The most recently created snapshot, if any.
    public func latestSnapshot() throws -> SnapshotRow? {
        try Row.fetchOne(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshots ORDER BY seq DESC LIMIT 1")
            .map(snapshotRow)
    }

    /// The snapshot with this id.
    public func snapshot(id: BlobID) throws -> SnapshotRow? {
        try Row.fetchOne(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshots WHERE id = ?", arguments: [id.hex])
            .map(snapshotRow)
    }

    /// Snapshots whose id starts with `prefix` (lowercase hex), at most `limit`.
    public func snapshots(prefix: String, limit: Int = 6) throws -> [SnapshotRow] {
        try Row.fetchAll(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshots WHERE id >= ? AND id < ? LIMIT ?",
                         arguments: [prefix, prefix + "g", limit]).map(snapshotRow)
    }

    /// Every snapshot, newest first.
    public func allSnapshots() throws -> [SnapshotRow] {
        try Row.fetchAll(db, sql: "SELECT \(Self.snapshotColumns) FROM snapshots ORDER BY seq DESC").map(snapshotRow)
    }

    // MARK: Change log

    /// Items changed since the head snapshot, and the highest sequence number seen.
    public func dirtyItems() throws -> (itemIDs: [Int64], maxSequence: Int64) {
        let rows = try Row.fetchAll(db, sql: "SELECT item_id, seq FROM snapshot_dirty")
        return (rows.map { $0[0] }, rows.map { $0[1] as Int64 }.max() ?? 0)
    }

    /// The highest item, annotation and review ids: a first snapshot's high-water marks.
    public func highWaterMarks() throws -> [Int64] {
        try ["items", "annotations", "reviews"].map { try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM \($0)") ?? 0 }
    }

    /// Marks items changed after the given high-water marks as dirty (what arrived while a first
    /// snapshot was being built, before the change log was running).
    public func markChangedSince(_ marks: [Int64]) throws {
        try db.execute(sql: """
            INSERT INTO snapshot_dirty (item_id, seq)
            SELECT item_id, (SELECT coalesce(max(seq), 0) + 1 FROM snapshot_dirty) FROM (
                SELECT id AS item_id FROM items WHERE id > ?
                UNION SELECT item_id FROM annotations WHERE id > ?
                UNION SELECT item_id FROM reviews WHERE id > ?) WHERE true
            ON CONFLICT (item_id) DO UPDATE SET seq = excluded.seq
            """, arguments: StatementArguments(marks))
    }

    /// Forgets changes up to `sequence` (they are in the snapshot just recorded).
    public func clearDirty(upTo sequence: Int64) throws {
        try db.execute(sql: "DELETE FROM snapshot_dirty WHERE seq <= ?", arguments: [sequence])
    }

    // MARK: Item states

    /// The snapshot-relevant state of the given items, or of every item when `ids` is nil.
    ///
    /// - Complexity: one pass over the items, annotations and reviews involved.
    public func itemStates(ids: [Int64]? = nil) throws -> [ItemState] {
        var items: [Int64: Item] = [:]
        var latest: [Int64: [String: Label?]] = [:]
        var verdicts: [Int64: (String, Label)] = [:]
        if let ids {
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = chunk.map { _ in "?" }.joined(separator: ",")
                let args = StatementArguments(chunk)
                for item in try allItems(whereSQL: "id IN (\(marks))", args) { items[item.id] = item }
                try collectLabels(whereSQL: "a.item_id IN (\(marks))", args, into: &latest)
                try collectVerdicts(whereSQL: "r.item_id IN (\(marks))", args, into: &verdicts)
            }
        } else {
            for item in try allItems() { items[item.id] = item }
            try collectLabels(whereSQL: "1", [], into: &latest)
            try collectVerdicts(whereSQL: "1", [], into: &verdicts)
        }
        return items.values.map { item in
            ItemState(item: item, latest: latest[item.id] ?? [:],
                      verdict: verdicts[item.id].map { (reviewer: $0.0, label: $0.1) })
        }
    }

    private func allItems(whereSQL: String, _ arguments: StatementArguments) throws -> [Item] {
        try Row.fetchAll(db, sql: """
            SELECT id, blob_id, path, format, width, height, byte_size, split, added_at FROM items WHERE \(whereSQL)
            """, arguments: arguments).map { row in
            let split: String = row[7]
            return Item(id: row[0], blobID: try Self.blobID(row[1]), path: row[2], format: row[3], width: row[4],
                        height: row[5], byteSize: row[6], split: Split(rawValue: split) ?? .train,
                        addedAt: Date(timeIntervalSince1970: row[8]))
        }
    }

    /// Each annotator's latest label per item, for the annotations `whereSQL` selects (alias `a`).
    func collectLabels(whereSQL: String, _ arguments: StatementArguments, into out: inout [Int64: [String: Label?]]) throws {
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT a.item_id, p.name, \(LabelRows.annotations.labelSQL("a"))
            FROM (SELECT a.id AS id, max(a.stamp) FROM annotations a WHERE \(whereSQL) GROUP BY a.item_id, a.annotator_id) m
            JOIN annotations a ON a.id = m.id JOIN annotators p ON p.id = a.annotator_id
            """, arguments: arguments)
        while let row = try cursor.next() {
            let item: Int64 = row[0]
            let annotator: String = row[1]
            out[item, default: [:]][annotator] = .some(try LabelRows.label(row, at: 2))
        }
    }

    private func collectVerdicts(whereSQL: String, _ arguments: StatementArguments, into out: inout [Int64: (String, Label)]) throws {
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT r.item_id, p.name, \(LabelRows.reviews.labelSQL("r"))
            FROM (SELECT r.id AS id, max(r.stamp) FROM reviews r WHERE \(whereSQL) GROUP BY r.item_id) m
            JOIN reviews r ON r.id = m.id JOIN annotators p ON p.id = r.reviewer_id
            """, arguments: arguments)
        while let row = try cursor.next() {
            guard let label = try LabelRows.label(row, at: 2) else { throw CatalogError.invalid("a verdict without a label") }
            out[row[0]] = (row[1], label)
        }
    }

    // MARK: Reviews

    /// Records a reviewer's verdict, a set of classes (one, or any number in multi-label work);
    /// the latest verdict per item wins in `LabelPolicy`.
    public func appendVerdict(itemID: Int64, reviewerID: Int64, classIDs: [Int64], at time: Date = Date()) throws {
        try LabelRows.reviews.append(db, itemID: itemID, personID: reviewerID, classIDs: classIDs, at: time)
    }

    // MARK: Tags

    private func tagRow(_ row: Row) throws -> TagRow {
        TagRow(name: row[0], snapshotID: try Self.blobID(row[1]), createdAt: Date(timeIntervalSince1970: row[2]), author: row[3])
    }

    /// Every tag by name.
    public func tags() throws -> [TagRow] {
        try Row.fetchAll(db, sql: "SELECT name, snapshot_id, created_at, author FROM tags ORDER BY name").map(tagRow)
    }

    /// The tag named `name`, if any.
    public func tag(named name: String) throws -> TagRow? {
        try Row.fetchOne(db, sql: "SELECT name, snapshot_id, created_at, author FROM tags WHERE name = ?", arguments: [name])
            .map(tagRow)
    }

    /// Creates or (when `force`) moves a tag, recording the change in the tag history.
    /// - Throws: `CatalogError.invalidName` for a name `TagRow.problem` refuses.
    public func setTag(_ name: String, to id: BlobID, author: String, force: Bool) throws {
        if let problem = TagRow.problem(name: name) { throw CatalogError.invalidName(kind: "tag", name: name, reason: problem) }
        let now = Date().timeIntervalSince1970
        if let existing = try tag(named: name) {
            if existing.snapshotID == id { return }
            guard force else {
                throw CatalogError.invalid("tag '\(name)' already names \(existing.snapshotID.hex.prefix(12)); tags are immutable (use --force to move it)")
            }
            try db.execute(sql: "UPDATE tags SET snapshot_id = ?, created_at = ?, author = ? WHERE name = ?",
                           arguments: [id.hex, now, author, name])
            try db.execute(sql: "INSERT INTO tag_history (name, snapshot_id, action, at, author) VALUES (?, ?, 'move', ?, ?)",
                           arguments: [name, id.hex, now, author])
        } else {
            try db.execute(sql: "INSERT INTO tags (name, snapshot_id, created_at, author) VALUES (?, ?, ?, ?)",
                           arguments: [name, id.hex, now, author])
            try db.execute(sql: "INSERT INTO tag_history (name, snapshot_id, action, at, author) VALUES (?, ?, 'create', ?, ?)",
                           arguments: [name, id.hex, now, author])
        }
    }

    /// Deletes a tag (its history keeps what it named).
    public func deleteTag(_ name: String, author: String) throws {
        guard let existing = try tag(named: name) else { throw CatalogError.notFound(kind: "tag", name: name) }
        try db.execute(sql: "DELETE FROM tags WHERE name = ?", arguments: [name])
        try db.execute(sql: "INSERT INTO tag_history (name, snapshot_id, action, at, author) VALUES (?, ?, 'delete', ?, ?)",
                       arguments: [name, existing.snapshotID.hex, Date().timeIntervalSince1970, author])
    }

    /// The history of every tag (or of one), oldest first.
    public func tagHistory(name: String? = nil) throws -> [TagEvent] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT name, snapshot_id, action, at, author FROM tag_history WHERE ? IS NULL OR name = ? ORDER BY id
            """, arguments: [name, name])
        return try rows.map {
            TagEvent(name: $0[0], snapshotID: try Self.blobID($0[1]), action: $0[2], at: Date(timeIntervalSince1970: $0[3]), author: $0[4])
        }
    }

    /// Every snapshot id named anywhere in tag history (kept by gc even after a move).
    public func snapshotIDsInTagHistory() throws -> [BlobID] {
        try String.fetchAll(db, sql: "SELECT DISTINCT snapshot_id FROM tag_history").map(Self.blobID)
    }
}

/// A presorted scan met rows out of order; scan again without `presorted`.
public struct ScanOrderError: Error {}

/// One item's snapshot-relevant fields, streamed by `forEachItemState`.
public struct ItemStateRow {
    public var blobID: BlobID
    public var path: String
    public var format: String
    public var width: Int
    public var height: Int
    public var split: Split
    /// (annotator, label or nil for a skip), one per annotator, in no particular order.
    public var labels: [(annotator: String, label: Label?)]
    public var verdict: (reviewer: String, label: Label)?
}

extension CatalogTransaction {
    /// Streams every item's snapshot state in item-id order, merging three index-ordered scans
    /// (items, latest label per annotator, latest verdict) instead of building dictionaries.
    ///
    /// - Complexity: O(items + annotations + reviews), memory O(1) per item.
    ///
    /// With `presorted`, the GROUP BY scans are trusted to come out in item order (they do when
    /// SQLite walks the (item_id, …) indexes, saving a sort of every row); if a row arrives out of
    /// order the scan stops with `ScanOrderError`, and the caller starts over with `presorted: false`.
    public func forEachItemState(presorted: Bool = false, _ body: (ItemStateRow) throws -> Void) throws {
        let order = presorted ? "" : "ORDER BY item_id"
        var lastLabel: Int64 = 0, lastVerdict: Int64 = 0
        let annotatorNames = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM annotators")
            .map { ($0[0] as Int64, $0[1] as String) })
        let classNames = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM classes")
            .map { ($0[0] as Int64, $0[1] as String) })
        // Multi-label rows are rare next to one-class rows: their classes are looked up by row id.
        let multiLabels = try LabelRows.annotations.allMembers(db), multiVerdicts = try LabelRows.reviews.allMembers(db)
        let items = try Row.fetchCursor(db, sql: "SELECT id, blob_id, path, format, width, height, split FROM items ORDER BY id")
        let labels = try Row.fetchCursor(db, sql: """
            SELECT item_id, annotator_id, class_id, multi, id, max(stamp) FROM annotations GROUP BY item_id, annotator_id \(order)
            """)
        let verdicts = try Row.fetchCursor(db, sql: """
            SELECT item_id, reviewer_id, class_id, multi, id, max(stamp) FROM reviews GROUP BY item_id \(order)
            """)
        typealias Scanned = (item: Int64, who: Int64, label: Label?)
        func scanned(_ row: Row?, _ members: [Int64: [Int64]]) -> Scanned? {
            row.map { ($0[0], $0[1], LabelRows.label(classID: $0[2], multi: $0[3], row: $0[4], members: members, names: classNames)) }
        }
        var nextLabel = scanned(try labels.next(), multiLabels)
        var nextVerdict = scanned(try verdicts.next(), multiVerdicts)
        while let row = try items.next() {
            let itemID: Int64 = row[0]
            let hex: String = row[1]
            let splitName: String = row[6]
            var state = ItemStateRow(blobID: try Self.blobID(hex), path: row[2], format: row[3], width: row[4], height: row[5],
                                     split: Split(rawValue: splitName) ?? .train, labels: [], verdict: nil)
            while let next = nextLabel, next.item <= itemID {
                if next.item < lastLabel { throw ScanOrderError() }
                lastLabel = next.item
                if next.item == itemID { state.labels.append((annotatorNames[next.who] ?? "?", next.label)) }
                nextLabel = scanned(try labels.next(), multiLabels)
            }
            while let next = nextVerdict, next.item <= itemID {
                if next.item < lastVerdict { throw ScanOrderError() }
                lastVerdict = next.item
                if next.item == itemID, let verdict = next.label { state.verdict = (annotatorNames[next.who] ?? "?", verdict) }
                nextVerdict = scanned(try verdicts.next(), multiVerdicts)
            }
            try body(state)
        }
    }
}
