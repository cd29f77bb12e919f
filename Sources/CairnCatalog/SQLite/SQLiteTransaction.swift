import CairnStore
import Foundation
import GRDB

/// One SQLite transaction (see `SQLiteCatalog.write` and `.read`): the storage half of every
/// `CatalogTransaction` requirement, as SQL.
struct SQLiteTransaction: CatalogTransaction {
    let db: Database

    static func blobID(_ hex: String) throws -> BlobID {
        guard let id = BlobID(hex: hex) else { throw CatalogError.corrupt("malformed id \(hex)") }
        return id
    }
}

// MARK: Items

extension SQLiteTransaction {
    static let itemColumns = "id, blob_id, path, format, width, height, byte_size, split, added_at"

    static func item(from row: Row) throws -> Item {
        let split: String = row[7]
        return Item(id: row[0], blobID: try blobID(row[1]), path: row[2], format: row[3], width: row[4], height: row[5],
                    byteSize: row[6], split: Split(rawValue: split) ?? .train, addedAt: Date(timeIntervalSince1970: row[8]))
    }

    private func items(where condition: String, _ arguments: StatementArguments = []) throws -> [Item] {
        var out: [Item] = []
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT \(Self.itemColumns) FROM items WHERE \(condition)"),
                                         arguments: arguments)
        while let row = try cursor.next() { out.append(try Self.item(from: row)) }
        return out
    }

    func insertItem(_ item: NewItem, addedAt: Date) throws -> (item: Item, isNew: Bool) {
        try db.cachedStatement(sql: """
            INSERT INTO items (blob_id, path, format, width, height, byte_size, split, added_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (blob_id) DO NOTHING
            """).execute(arguments: [item.blobID.hex, item.path, item.format, item.width, item.height,
                                     item.byteSize, item.split.rawValue, addedAt.timeIntervalSince1970])
        guard db.changesCount == 1 else {
            guard let existing = try self.item(blobID: item.blobID) else {
                throw CatalogError.corrupt("item \(item.blobID) was neither inserted nor found")
            }
            return (existing, false)
        }
        let stored = Item(id: db.lastInsertedRowID, blobID: item.blobID, path: item.path, format: item.format,
                          width: item.width, height: item.height, byteSize: item.byteSize, split: item.split,
                          addedAt: Date(timeIntervalSince1970: addedAt.timeIntervalSince1970))
        return (stored, true)
    }

    func item(blobID: BlobID) throws -> Item? { try items(where: "blob_id = ?", [blobID.hex]).first }

    func item(id: Int64) throws -> Item? { try items(where: "id = ?", [id]).first }

    func items(blobPrefix prefix: String, limit: Int) throws -> [Item] {
        try items(where: "blob_id >= ? AND blob_id < ? LIMIT ?", [prefix, prefix + "g", limit])
    }

    func items(path: String, limit: Int) throws -> [Item] { try items(where: "path = ? LIMIT ?", [path, limit]) }

    func allItems(split: Split?) throws -> [Item] {
        guard let split else { return try items(where: "removed = 0 ORDER BY id") }
        return try items(where: "removed = 0 AND split = ? ORDER BY id", [split.rawValue])
    }

    func removedItems() throws -> [Item] { try items(where: "removed = 1 ORDER BY id") }

    func itemCount() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM items WHERE removed = 0") ?? 0 }

    func byteCount() throws -> Int64 { try Int64.fetchOne(db, sql: "SELECT coalesce(sum(byte_size), 0) FROM items WHERE removed = 0") ?? 0 }

    func referencedBlobs() throws -> [BlobID] {
        var out: [BlobID] = []
        let cursor = try String.fetchCursor(db, sql: "SELECT blob_id FROM items WHERE removed = 0")
        while let hex = try cursor.next() { out.append(try Self.blobID(hex)) }
        return out
    }

    func itemCounts(by grouping: ItemGrouping) throws -> [(String, Int)] {
        try Row.fetchAll(db, sql: "SELECT \(grouping.rawValue), count(*) FROM items WHERE removed = 0 GROUP BY 1 ORDER BY 1").map { ($0[0], $0[1]) }
    }
}

// MARK: Import state

extension SQLiteTransaction {
    func importStates(under prefix: String, into states: inout [String: ImportState]) throws {
        let start = prefix.hasSuffix("/") ? prefix : prefix + "/"
        let end = String(start.dropLast()) + "0"  // "/" + 1 == "0": every path starting with `start`
        let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM import_state WHERE path >= ? AND path < ?",
                                     arguments: [start, end]) ?? 0
        states.reserveCapacity(states.count + count)
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT path, size, mtime_ns, inode, blob_id, label FROM import_state WHERE path >= ? AND path < ?
            """, arguments: [start, end])
        while let row = try cursor.next() {
            if let state = importState(from: row) { states[state.path] = state }
        }
    }

    func importState(path: String) throws -> ImportState? {
        try Row.fetchOne(db, sql: "SELECT path, size, mtime_ns, inode, blob_id, label FROM import_state WHERE path = ?",
                         arguments: [path]).flatMap(importState(from:))
    }

    /// A remembered file, or nil for a malformed row (import then reads the file again).
    private func importState(from row: Row) -> ImportState? {
        guard let id = BlobID(hex: row[4]) else { return nil }
        let inode: Int64 = row[3]
        return ImportState(path: row[0], size: row[1], mtimeNanoseconds: row[2], inode: UInt64(bitPattern: inode),
                           blobID: id, label: row[5])
    }

    func setImportState(_ state: ImportState) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO import_state (path, size, mtime_ns, inode, blob_id, label) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [state.path, state.size, state.mtimeNanoseconds, Int64(bitPattern: state.inode),
                                     state.blobID.hex, state.label])
    }
}

// MARK: Classes and people

extension SQLiteTransaction {
    private static func labelClass(from row: Row) -> LabelClass {
        LabelClass(id: row[0], name: row[1], hotkey: row[2], ordinal: row[3])
    }

    func classes() throws -> [LabelClass] {
        try Row.fetchAll(db, sql: "SELECT id, name, hotkey, ordinal FROM classes WHERE removed_at IS NULL ORDER BY ordinal").map(Self.labelClass)
    }

    func labelClass(named name: String) throws -> LabelClass? {
        try Row.fetchOne(db, sql: "SELECT id, name, hotkey, ordinal FROM classes WHERE name = ? AND removed_at IS NULL", arguments: [name])
            .map(Self.labelClass)
    }

    func removedClasses() throws -> [LabelClass] {
        try Row.fetchAll(db, sql: "SELECT id, name, hotkey, ordinal FROM classes WHERE removed_at IS NOT NULL ORDER BY ordinal").map(Self.labelClass)
    }

    func markClassRemoved(id: Int64, at time: Date) throws {
        try db.execute(sql: "UPDATE classes SET removed_at = ?, hotkey = NULL WHERE id = ? AND removed_at IS NULL",
                       arguments: [time.timeIntervalSince1970, id])
    }

    func insertClass(name: String, hotkey: String?, ordinal: Int) throws -> LabelClass {
        try db.execute(sql: "INSERT INTO classes (name, hotkey, ordinal) VALUES (?, ?, ?)", arguments: [name, hotkey, ordinal])
        return LabelClass(id: db.lastInsertedRowID, name: name, hotkey: hotkey, ordinal: ordinal)
    }

    func updateClass(id: Int64, name: String, hotkey: String?) throws {
        try db.execute(sql: "UPDATE classes SET name = ?, hotkey = ? WHERE id = ?", arguments: [name, hotkey, id])
    }

    private static func annotator(from row: Row) -> Annotator {
        let role: String = row[2]
        return Annotator(id: row[0], name: row[1], role: Role(rawValue: role) ?? .annotator, createdAt: Date(timeIntervalSince1970: row[3]))
    }

    func annotators() throws -> [Annotator] {
        try Row.fetchAll(db, sql: "SELECT id, name, role, created_at FROM annotators ORDER BY name").map(Self.annotator)
    }

    func annotator(named name: String) throws -> Annotator? {
        try Row.fetchOne(db, sql: "SELECT id, name, role, created_at FROM annotators WHERE name = ?", arguments: [name])
            .map(Self.annotator)
    }

    func setRole(annotatorID: Int64, role: Role) throws {
        try db.execute(sql: "UPDATE annotators SET role = ?, pulled = 0 WHERE id = ?", arguments: [role.rawValue, annotatorID])
    }

    func markAnnotatorPulled(id: Int64) throws {
        try db.execute(sql: "UPDATE annotators SET pulled = 1 WHERE id = ?", arguments: [id])
    }

    func localReviewers() throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT name FROM annotators WHERE pulled = 0 AND role IN ('reviewer', 'admin')"))
    }

    func insertAnnotator(name: String, role: Role, createdAt: Date) throws -> Annotator {
        try db.execute(sql: "INSERT INTO annotators (name, role, created_at) VALUES (?, ?, ?)",
                       arguments: [name, role.rawValue, createdAt.timeIntervalSince1970])
        return Annotator(id: db.lastInsertedRowID, name: name, role: role, createdAt: createdAt)
    }
}
