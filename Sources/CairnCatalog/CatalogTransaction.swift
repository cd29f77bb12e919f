import CairnStore
import Foundation
import GRDB

/// Catalog operations inside one transaction (see `Catalog.write` and `Catalog.read`).
public struct CatalogTransaction {
    let db: Database

    // MARK: Items

    private static let itemColumns = "id, blob_id, path, format, width, height, byte_size, split, added_at"

    private func item(from row: Row) throws -> Item {
        let hex: String = row[1]
        guard let blobID = BlobID(hex: hex) else { throw CatalogError.invalid("catalog holds a malformed blob id: \(hex)") }
        let split: String = row[7]
        return Item(id: row[0], blobID: blobID, path: row[2], format: row[3], width: row[4], height: row[5],
                    byteSize: row[6], split: Split(rawValue: split) ?? .train,
                    addedAt: Date(timeIntervalSince1970: row[8]))
    }

    private func items(sql: String, _ arguments: StatementArguments = []) throws -> [Item] {
        var out: [Item] = []
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        while let row = try cursor.next() { out.append(try item(from: row)) }
        return out
    }

    /// Inserts `item` unless its blob is already an item; returns the item and whether it was new.
    public func insertItem(_ item: NewItem, addedAt: Date = Date()) throws -> (item: Item, isNew: Bool) {
        try db.cachedStatement(sql: """
            INSERT INTO items (blob_id, path, format, width, height, byte_size, split, added_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (blob_id) DO NOTHING
            """).execute(arguments: [item.blobID.hex, item.path, item.format, item.width, item.height,
                                     item.byteSize, item.split.rawValue, addedAt.timeIntervalSince1970])
        guard db.changesCount == 1 else {
            guard let existing = try self.item(blobID: item.blobID) else {
                throw CatalogError.invalid("item \(item.blobID) was neither inserted nor found")
            }
            return (existing, false)
        }
        let stored = Item(id: db.lastInsertedRowID, blobID: item.blobID, path: item.path, format: item.format,
                          width: item.width, height: item.height, byteSize: item.byteSize, split: item.split,
                          addedAt: Date(timeIntervalSince1970: addedAt.timeIntervalSince1970))
        return (stored, true)
    }

    /// The item holding `blobID`, if any.
    public func item(blobID: BlobID) throws -> Item? {
        try items(sql: "SELECT \(Self.itemColumns) FROM items WHERE blob_id = ?", [blobID.hex]).first
    }

    /// The item with this catalog id, if any.
    public func item(id: Int64) throws -> Item? {
        try items(sql: "SELECT \(Self.itemColumns) FROM items WHERE id = ?", [id]).first
    }

    /// Resolves what a user typed: a full blob id, an unambiguous hex prefix (4+ digits) of
    /// one, or an imported path.
    /// - Throws: `CatalogError.notFound`, `CatalogError.ambiguous`.
    public func item(matching ref: String) throws -> Item {
        let lower = ref.lowercased()
        if lower.count >= 4, lower.count <= 64, lower.allSatisfy(\.isHexDigit) {
            let upper = lower + String(repeating: "g", count: 1)
            let matches = try items(sql: "SELECT \(Self.itemColumns) FROM items WHERE blob_id >= ? AND blob_id < ? LIMIT 6",
                                    [lower, upper])
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 {
                throw CatalogError.ambiguous(kind: "item", name: ref, matches: matches.map(\.blobID.hex))
            }
        }
        let byPath = try items(sql: "SELECT \(Self.itemColumns) FROM items WHERE path = ? LIMIT 6", [ref])
        if byPath.count == 1 { return byPath[0] }
        if byPath.count > 1 { throw CatalogError.ambiguous(kind: "item", name: ref, matches: byPath.map(\.blobID.hex)) }
        if !lower.isEmpty, lower.count < 4, lower.allSatisfy(\.isHexDigit) { throw CatalogError.prefixTooShort(kind: "item", name: ref) }
        throw CatalogError.notFound(kind: "item", name: ref)
    }

    /// All items in id order, optionally only one split.
    public func allItems(split: Split? = nil) throws -> [Item] {
        if let split {
            return try items(sql: "SELECT \(Self.itemColumns) FROM items WHERE split = ? ORDER BY id", [split.rawValue])
        }
        return try items(sql: "SELECT \(Self.itemColumns) FROM items ORDER BY id")
    }

    /// Number of items.
    public func itemCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM items") ?? 0
    }

    /// Every blob id the catalog references.
    public func referencedBlobs() throws -> [BlobID] {
        var out: [BlobID] = []
        let cursor = try String.fetchCursor(db, sql: "SELECT blob_id FROM items")
        while let hex = try cursor.next() {
            guard let id = BlobID(hex: hex) else { throw CatalogError.invalid("catalog holds a malformed blob id: \(hex)") }
            out.append(id)
        }
        return out
    }

    /// Item counts grouped by a column: `split` or `format`.
    public func itemCounts(by column: ItemGrouping) throws -> [(String, Int)] {
        try Row.fetchAll(db, sql: "SELECT \(column.rawValue), count(*) FROM items GROUP BY 1 ORDER BY 1")
            .map { ($0[0], $0[1]) }
    }

    /// A column items can be counted by.
    public enum ItemGrouping: String, Sendable {
        case split, format
    }

    // MARK: Classes

    private func labelClass(from row: Row) -> LabelClass {
        LabelClass(id: row[0], name: row[1], hotkey: row[2], ordinal: row[3])
    }

    /// Every class in ordinal order.
    public func classes() throws -> [LabelClass] {
        try Row.fetchAll(db, sql: "SELECT id, name, hotkey, ordinal FROM classes ORDER BY ordinal").map(labelClass)
    }

    /// The class named `name`, if any.
    public func labelClass(named name: String) throws -> LabelClass? {
        try Row.fetchOne(db, sql: "SELECT id, name, hotkey, ordinal FROM classes WHERE name = ?", arguments: [name])
            .map(labelClass)
    }

    /// Keys the labeling UI keeps for itself; no class may use them as a hotkey.
    public static let reservedKeys: Set<Character> = ["q", "u", "z", "?", " "]

    /// Default hotkeys in order: 1–9, 0, then letters not reserved by the UI.
    public static let defaultHotkeys: [String] =
        (Array("1234567890") + Array("abcdefghijklmnopqrstuvwxyz").filter { !reservedKeys.contains($0) }).map(String.init)

    /// Adds a class at the end of the order. Without `hotkey`, a class whose name is one free key
    /// gets that key (class `0` gets `0`), any other the first free default key.
    /// - Throws: `CatalogError.invalid` for a name `LabelClass.validate` refuses, a name in use, or a bad hotkey.
    @discardableResult
    public func addClass(_ name: String, hotkey: String? = nil) throws -> LabelClass {
        try LabelClass.validate(name: name)
        if try labelClass(named: name) != nil { throw CatalogError.invalid("class '\(name)' already exists") }
        let existing = try classes()
        let used = Set(existing.compactMap(\.hotkey))
        var key = hotkey
        if let hotkey {
            try Self.validateHotkey(hotkey, usedBy: existing)
        } else if name.count == 1, Self.usableKey(name), !used.contains(name) {
            key = name
        } else {
            key = Self.defaultHotkeys.first { !used.contains($0) }
        }
        let ordinal = (existing.map(\.ordinal).max() ?? -1) + 1
        try db.execute(sql: "INSERT INTO classes (name, hotkey, ordinal) VALUES (?, ?, ?)", arguments: [name, key, ordinal])
        return LabelClass(id: db.lastInsertedRowID, name: name, hotkey: key, ordinal: ordinal)
    }

    /// True for a key a class may have: one printable character the labeling UI does not keep for itself.
    static func usableKey(_ key: String) -> Bool {
        guard key.count == 1, let c = key.first, let scalar = key.unicodeScalars.first else { return false }
        return !reservedKeys.contains(c) && !c.isWhitespace && scalar.value >= 0x21 && scalar.value != 0x7F && !(0x80...0x9F).contains(scalar.value)
    }

    private static func validateHotkey(_ hotkey: String, usedBy classes: [LabelClass], except name: String? = nil) throws {
        guard usableKey(hotkey) else {
            throw CatalogError.invalid("hotkey '\(hotkey)' must be one printable character other than \(reservedKeys.sorted().map { "'\($0)'" }.joined(separator: " "))")
        }
        if let other = classes.first(where: { $0.hotkey == hotkey && $0.name != name }) {
            throw CatalogError.invalid("hotkey '\(hotkey)' is already used by class \(other.name)")
        }
    }

    /// Gives class `name` the labeling key `hotkey`.
    /// - Throws: `CatalogError.notFound` for an unknown class, `.invalid` for a reserved or used key.
    public func setHotkey(_ name: String, to hotkey: String) throws {
        guard let existing = try labelClass(named: name) else { throw CatalogError.notFound(kind: "class", name: name) }
        try Self.validateHotkey(hotkey, usedBy: try classes(), except: name)
        try db.execute(sql: "UPDATE classes SET hotkey = ? WHERE id = ?", arguments: [hotkey, existing.id])
    }

    /// The class named `name`, added if missing.
    public func ensureClass(_ name: String) throws -> LabelClass {
        if let existing = try labelClass(named: name) { return existing }
        return try addClass(name)
    }

    /// Renames a class; its history follows it.
    public func renameClass(_ name: String, to newName: String) throws {
        guard let existing = try labelClass(named: name) else { throw CatalogError.notFound(kind: "class", name: name) }
        guard try labelClass(named: newName) == nil else { throw CatalogError.invalid("class '\(newName)' already exists") }
        try LabelClass.validate(name: newName)
        try db.execute(sql: "UPDATE classes SET name = ? WHERE id = ?", arguments: [newName, existing.id])
    }

    // MARK: Annotators

    private func annotator(from row: Row) -> Annotator {
        let role: String = row[2]
        return Annotator(id: row[0], name: row[1], role: Role(rawValue: role) ?? .annotator,
                         createdAt: Date(timeIntervalSince1970: row[3]))
    }

    /// Every annotator by name.
    public func annotators() throws -> [Annotator] {
        try Row.fetchAll(db, sql: "SELECT id, name, role, created_at FROM annotators ORDER BY name").map(annotator)
    }

    /// The annotator named `name`, if any.
    public func annotator(named name: String) throws -> Annotator? {
        try Row.fetchOne(db, sql: "SELECT id, name, role, created_at FROM annotators WHERE name = ?", arguments: [name])
            .map(annotator)
    }

    /// Adds an annotator; fails if the name is taken.
    @discardableResult
    public func addAnnotator(_ name: String, role: Role) throws -> Annotator {
        if let problem = AnnotatorNames.problem(name) { throw CatalogError.invalidName(kind: "annotator", name: name, reason: problem) }
        if try annotator(named: name) != nil { throw CatalogError.invalid("annotator '\(name)' already exists") }
        let now = Date()
        try db.execute(sql: "INSERT INTO annotators (name, role, created_at) VALUES (?, ?, ?)",
                       arguments: [name, role.rawValue, now.timeIntervalSince1970])
        return Annotator(id: db.lastInsertedRowID, name: name, role: role, createdAt: now)
    }

    /// The annotator named `name`, added with `role` if missing.
    public func ensureAnnotator(_ name: String, role: Role = .annotator) throws -> Annotator {
        if let existing = try annotator(named: name) { return existing }
        return try addAnnotator(name, role: role)
    }

    // MARK: Annotations

    /// Appends a label (or a skip, when `classIDs` is nil) to an item's history. A set of one
    /// class is stored in `class_id`; any other set, the empty one included, as a multi-label row.
    public func appendAnnotation(itemID: Int64, annotatorID: Int64, classIDs: [Int64]?, at time: Date = Date()) throws {
        try LabelRows.annotations.append(db, itemID: itemID, personID: annotatorID, classIDs: classIDs, at: time)
    }

    /// The ids of classes that must exist (what a user typed).
    /// - Throws: `CatalogError.invalid` naming a class that does not exist and how to add it.
    public func existingClassIDs(_ names: [String]) throws -> [Int64] {
        try names.map { name in
            guard let found = try labelClass(named: name) else {
                throw CatalogError.invalid("no class '\(name)'; add it with `cairn classes add \(name)`")
            }
            return found.id
        }
    }

    /// The ids of a label's classes, adding classes that are missing.
    public func ensureClasses(_ label: Label) throws -> [Int64] {
        try label.classes.map { try ensureClass($0).id }
    }

    /// Labels `itemID` as `label` (nil = skip) for `annotator`, creating the annotator and classes if missing.
    public func annotate(itemID: Int64, label: Label?, annotator: String) throws {
        let who = try ensureAnnotator(annotator)
        try appendAnnotation(itemID: itemID, annotatorID: who.id, classIDs: try label.map(ensureClasses))
    }

    /// `annotatorID`'s latest label of `itemID`: nil when none, `.some(nil)` for a skip.
    public func latestAnnotation(itemID: Int64, annotatorID: Int64) throws -> Label?? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT \(LabelRows.annotations.labelSQL("a")) FROM annotations a
            WHERE a.item_id = ? AND a.annotator_id = ? ORDER BY a.stamp DESC, a.id DESC LIMIT 1
            """), arguments: [itemID, annotatorID]) else { return nil }
        return .some(try LabelRows.label(row, at: 0))
    }

    /// `annotatorID`'s latest label of `itemID`; nil when none or a skip.
    public func latestLabel(itemID: Int64, annotatorID: Int64) throws -> Label? {
        try latestAnnotation(itemID: itemID, annotatorID: annotatorID) ?? nil
    }

    /// An item's full label history, oldest first in the label order (`LabelOrder`).
    public func history(itemID: Int64) throws -> [Annotation] {
        try Row.fetchAll(db, sql: """
            SELECT a.id, a.item_id, p.name, a.created_at, \(LabelRows.annotations.labelSQL("a")) FROM annotations a
            JOIN annotators p ON p.id = a.annotator_id WHERE a.item_id = ? ORDER BY a.stamp, p.name, a.id
            """, arguments: [itemID]).map {
            Annotation(id: $0[0], itemID: $0[1], annotator: $0[2], label: try LabelRows.label($0, at: 4),
                       createdAt: Date(timeIntervalSince1970: $0[3]))
        }
    }

    /// Number of annotation rows.
    public func annotationCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM annotations") ?? 0
    }

    /// For every annotated item, each annotator's latest label (nil = skipped).
    ///
    /// - Complexity: one pass over the annotation history.
    public func latestLabels() throws -> [Int64: [String: Label?]] {
        var out: [Int64: [String: Label?]] = [:]
        try collectLabels(whereSQL: "1", [], into: &out)
        return out
    }

    /// Every item's resolved label under `LabelPolicy` (verdicts included), keyed by item id.
    public func resolvedLabels() throws -> [Int64: ResolvedLabel] {
        Dictionary(uniqueKeysWithValues: try itemStates().map { ($0.item.id, $0.resolved) })
    }

    /// An item's reviewer verdicts, oldest first in the label order (`annotator` is the reviewer).
    public func verdicts(itemID: Int64) throws -> [Annotation] {
        try Row.fetchAll(db, sql: """
            SELECT r.id, r.item_id, p.name, r.created_at, \(LabelRows.reviews.labelSQL("r")) FROM reviews r
            JOIN annotators p ON p.id = r.reviewer_id WHERE r.item_id = ? ORDER BY r.stamp, p.name, r.id
            """, arguments: [itemID]).map {
            Annotation(id: $0[0], itemID: $0[1], annotator: $0[2], label: try LabelRows.label($0, at: 4),
                       createdAt: Date(timeIntervalSince1970: $0[3]))
        }
    }

    // MARK: Import state

    /// Adds every remembered file under `prefix` (an absolute directory path) to `states`.
    public func importStates(under prefix: String, into states: inout [String: ImportState]) throws {
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

    /// Every remembered file under `prefix` (an absolute directory path).
    public func importStates(under prefix: String) throws -> [String: ImportState] {
        var states: [String: ImportState] = [:]
        try importStates(under: prefix, into: &states)
        return states
    }

    /// What import last saw at exactly `path`, if anything.
    public func importState(path: String) throws -> ImportState? {
        try Row.fetchOne(db, sql: "SELECT path, size, mtime_ns, inode, blob_id, label FROM import_state WHERE path = ?",
                         arguments: [path]).flatMap(importState(from:))
    }

    private func importState(from row: Row) -> ImportState? {
        let hex: String = row[4]
        guard let id = BlobID(hex: hex) else { return nil }
        let inode: Int64 = row[3]
        return ImportState(path: row[0], size: row[1], mtimeNanoseconds: row[2], inode: UInt64(bitPattern: inode),
                           blobID: id, label: row[5])
    }

    /// Remembers what import saw at a path.
    public func setImportState(_ state: ImportState) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO import_state (path, size, mtime_ns, inode, blob_id, label) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [state.path, state.size, state.mtimeNanoseconds, Int64(bitPattern: state.inode),
                                     state.blobID.hex, state.label])
    }
}
