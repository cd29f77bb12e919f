import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO
import Synchronization

/// One PostgreSQL transaction (see `PostgresCatalog.write` and `.read`): the storage half of every
/// `CatalogTransaction` requirement, as SQL with `$1`-style parameters. Each statement waits for
/// its result; none of this runs on an event loop.
struct PostgresTransaction: CatalogTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// The repository whose import state this transaction reads and writes (`PostgresCatalog.scope`).
    var scope = ""
    /// Writes sent by `executeLater` whose answers nobody has read yet.
    let unanswered = Unanswered()

    final class Unanswered: Sendable {
        let queries = Mutex<[SentQuery]>([])
    }

    typealias Value = (any PostgresThrowingDynamicTypeEncodable)?

    /// Runs one statement; returns the rows it returned and how many it wrote.
    private func query(_ sql: String, _ values: [Value]) throws -> (written: Int?, rows: [PostgresRow]) {
        let sent = try send(sql, values)
        let metadata = try sent.answer()
        return (metadata.rows, sent.received.rows.withLock { $0 })
    }

    /// Sends one statement without waiting for its answer (`SentQuery.rows()` waits): statements
    /// sent one after another run in order, so a reader can have the server work on the next while
    /// it decodes the last. The answers of statements sent by `executeLater` are read first.
    func send(_ sql: String, _ values: [Value]) throws -> SentQuery {
        let earlier = unanswered.queries.withLock { queries in defer { queries = [] }; return queries }
        return try send(sql, values, after: earlier)
    }

    private func send(_ sql: String, _ values: [Value], after earlier: [SentQuery]) throws -> SentQuery {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            if let value { try binds.append(value) } else { binds.appendNull() }
        }
        let received = SentQuery.Rows()
        let done = connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) { row in
            received.rows.withLock { $0.append(row) }
        }
        return SentQuery(connection: connection, done: done, received: received, earlier: earlier)
    }

    /// Sends a write whose answer the caller does not need and returns at once: the next statement
    /// that waits (a query, COMMIT) reads its answer first and fails with its error, so nothing in
    /// the transaction is acknowledged before every write in it was. A label's save reads the INSERT's
    /// answer with the next item's, and the lease's with COMMIT's.
    func executeLater(_ sql: String, _ values: [Value] = []) throws {
        _ = try sendLater(sql, values)
    }

    /// `executeLater` for a statement whose rows the caller reads afterwards (`SentQuery.rows()`,
    /// which waits if COMMIT has not read the answer yet).
    func sendLater(_ sql: String, _ values: [Value] = []) throws -> SentQuery {
        let sent = try send(sql, values, after: [])
        unanswered.queries.withLock { $0.append(sent) }
        return sent
    }

    /// The longest a statement's answer is waited for: past the write lock's timeout, so only a
    /// connection that went silent (a network cut, a half-closed socket) reaches it.
    static let answerTimeout: TimeAmount = .seconds(Int64(PostgresCatalog.lockTimeout) + 30)

    /// How often a wait looks whether its connection closed.
    static let closeCheck: TimeAmount = .milliseconds(50)

    /// Waits for `future`. Fails with `Dropped` as soon as `connection` is closed without having
    /// answered (postgres-nio can leave a statement sent while the server was ending the session
    /// unanswered forever: seen when a server-side termination raced a send), and after
    /// `answerTimeout` closes `connection` and fails with `Silent`.
    static func wait<T: Sendable>(for future: EventLoopFuture<T>, on connection: PostgresConnection) throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        let settled = Mutex(false)
        let deadline = NIODeadline.now() + answerTimeout
        let watch = future.eventLoop.scheduleRepeatedTask(initialDelay: closeCheck, delay: closeCheck) { task in
            let late = NIODeadline.now() >= deadline
            guard connection.isClosed || late else { return }
            task.cancel()
            guard settled.withLock({ done in defer { done = true }; return !done }) else { return }
            promise.fail(late ? PostgresCatalog.Silent() as any Error : PostgresCatalog.Dropped())
            if late { connection.close().whenComplete { _ in } }
        }
        future.whenComplete { result in
            guard settled.withLock({ done in defer { done = true }; return !done }) else { return }
            watch.cancel()
            promise.completeWith(result)
        }
        return try promise.futureResult.wait()
    }

    /// Runs one statement; returns how many rows it wrote (or returned).
    @discardableResult
    func execute(_ sql: String, _ values: [Value] = []) throws -> Int {
        let result = try query(sql, values)
        return result.written ?? result.rows.count
    }

    /// The rows a query returns.
    func rows(_ sql: String, _ values: [Value] = []) throws -> [PostgresRandomAccessRow] {
        try query(sql, values).rows.map { $0.makeRandomAccess() }
    }

    /// The first column of the first row, or nil when there is none (or it is NULL).
    func one<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ values: [Value] = []) throws -> T? {
        guard let row = try rows(sql, values).first, row[0].bytes != nil else { return nil }
        return try row.get(0, T.self)
    }

    static func blobID(_ hex: String) throws -> BlobID {
        guard let id = BlobID(hex: hex) else { throw CatalogError.corrupt("malformed id \(hex)") }
        return id
    }

    static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    /// Lowercase hex of `bytes`: how bytea values travel inside arrays (`decode(x, 'hex')` on the server).
    static func hex(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes { out += [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// A statement sent on a connection whose answer has not been read yet.
final class SentQuery: Sendable {
    let connection: PostgresConnection
    let done: EventLoopFuture<PostgresQueryMetadata>
    let received: Rows
    /// Statements sent before this one whose answers are read first (`PostgresTransaction.executeLater`).
    let earlier: [SentQuery]

    /// The rows as they arrive (taken one by one: postgres-nio's collecting variant copies its
    /// growing array on every network read, which made a 20,000-row page cost seconds).
    final class Rows: Sendable {
        let rows = Mutex<[PostgresRow]>([])
    }

    init(connection: PostgresConnection, done: EventLoopFuture<PostgresQueryMetadata>, received: Rows, earlier: [SentQuery]) {
        (self.connection, self.done, self.received, self.earlier) = (connection, done, received, earlier)
    }

    /// Waits for the answers of the earlier statements, then for this one's (each bounded as every
    /// statement is). The first failure is thrown: after it the server refuses the rest of the
    /// transaction, and its error says why.
    func answer() throws -> PostgresQueryMetadata {
        var failure: (any Error)?
        for query in earlier {
            do { _ = try PostgresTransaction.wait(for: query.done, on: connection) } catch { failure = failure ?? error }
        }
        let metadata: PostgresQueryMetadata
        do { metadata = try PostgresTransaction.wait(for: done, on: connection) } catch { throw failure ?? error }
        if let failure { throw failure }
        return metadata
    }

    /// Waits for the answer (as `answer()`) and returns its rows.
    func rows() throws -> [PostgresRandomAccessRow] {
        _ = try answer()
        return received.rows.withLock { $0 }.map { $0.makeRandomAccess() }
    }
}

extension PostgresRandomAccessRow {
    /// Column `index` as `T`; a value of another type is a damaged catalog.
    func get<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T {
        do {
            return try self[index].decode(T.self)
        } catch {
            throw CatalogError.corrupt("column \(self[index].columnName) holds a value of an unexpected type")
        }
    }
}

// MARK: Items

extension PostgresTransaction {
    static let itemColumns = "id, blob_id, path, format, width, height, byte_size, split, added_at"

    static func item(from row: PostgresRandomAccessRow) throws -> Item {
        let split = try row.get(7, String.self)
        return Item(id: try row.get(0), blobID: try blobID(row.get(1)), path: try row.get(2), format: try row.get(3), width: try row.get(4),
                    height: try row.get(5), byteSize: try row.get(6), split: Split(rawValue: split) ?? .train,
                    addedAt: date(try row.get(8)))
    }

    private func items(where condition: String, _ values: [Value] = []) throws -> [Item] {
        try rows("SELECT \(Self.itemColumns) FROM items WHERE \(condition)", values).map(Self.item)
    }

    func insertItem(_ item: NewItem, addedAt: Date) throws -> (item: Item, isNew: Bool) {
        let inserted = try rows("""
            INSERT INTO items (blob_id, path, format, width, height, byte_size, split, added_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (blob_id) DO NOTHING RETURNING id
            """, [item.blobID.hex, item.path, item.format, item.width, item.height, item.byteSize, item.split.rawValue,
                  addedAt.timeIntervalSince1970])
        guard let row = inserted.first else {
            guard let existing = try self.item(blobID: item.blobID) else {
                throw CatalogError.corrupt("item \(item.blobID) was neither inserted nor found")
            }
            return (existing, false)
        }
        let stored = Item(id: try row.get(0), blobID: item.blobID, path: item.path, format: item.format, width: item.width,
                          height: item.height, byteSize: item.byteSize, split: item.split,
                          addedAt: Date(timeIntervalSince1970: addedAt.timeIntervalSince1970))
        return (stored, true)
    }

    func item(blobID: BlobID) throws -> Item? { try items(where: "blob_id = $1", [blobID.hex]).first }

    func item(id: Int64) throws -> Item? { try items(where: "id = $1", [id]).first }

    func items(blobPrefix prefix: String, limit: Int) throws -> [Item] {
        try items(where: "blob_id >= $1 AND blob_id < $2 ORDER BY blob_id LIMIT $3", [prefix, prefix + "g", limit])
    }

    func items(path: String, limit: Int) throws -> [Item] { try items(where: "path = $1 ORDER BY id LIMIT $2", [path, limit]) }

    func allItems(split: Split?) throws -> [Item] {
        guard let split else { return try items(where: "NOT removed ORDER BY id") }
        return try items(where: "NOT removed AND split = $1 ORDER BY id", [split.rawValue])
    }

    func removedItems() throws -> [Item] { try items(where: "removed ORDER BY id") }

    func itemCount() throws -> Int { try one(Int.self, "SELECT count(*) FROM items WHERE NOT removed") ?? 0 }

    func byteCount() throws -> Int64 { try one(Int64.self, "SELECT coalesce(sum(byte_size), 0)::bigint FROM items WHERE NOT removed") ?? 0 }

    func referencedBlobs() throws -> [BlobID] {
        try rows("SELECT blob_id FROM items WHERE NOT removed").map { try Self.blobID($0.get(0)) }
    }

    func itemCounts(by grouping: ItemGrouping) throws -> [(String, Int)] {
        try rows("SELECT \(grouping.rawValue), count(*) FROM items WHERE NOT removed GROUP BY 1 ORDER BY 1").map {
            (try $0.get(0, String.self), try $0.get(1, Int.self))
        }
    }
}

// MARK: Import state

extension PostgresTransaction {
    func importStates(under prefix: String, into states: inout [String: ImportState]) throws {
        let start = prefix.hasSuffix("/") ? prefix : prefix + "/"
        let end = String(start.dropLast()) + "0"  // "/" + 1 == "0": every path starting with `start`
        for row in try rows("""
            SELECT path, size, mtime_ns, inode, blob_id, label FROM import_state
            WHERE scope = $3 AND path >= $1 AND path < $2
            """, [start, end, scope]) {
            if let state = try importState(from: row) { states[state.path] = state }
        }
    }

    func importState(path: String) throws -> ImportState? {
        try rows("SELECT path, size, mtime_ns, inode, blob_id, label FROM import_state WHERE scope = $2 AND path = $1", [path, scope]).first
            .flatMap(importState(from:))
    }

    /// A remembered file, or nil for a malformed row (import then reads the file again).
    private func importState(from row: PostgresRandomAccessRow) throws -> ImportState? {
        guard let id = BlobID(hex: try row.get(4)) else { return nil }
        return ImportState(path: try row.get(0), size: try row.get(1), mtimeNanoseconds: try row.get(2),
                           inode: UInt64(bitPattern: try row.get(3, Int64.self)), blobID: id, label: try row.get(5))
    }

    func setImportState(_ state: ImportState) throws {
        try execute("""
            INSERT INTO import_state (path, size, mtime_ns, inode, blob_id, label, scope) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (scope, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                blob_id = excluded.blob_id, label = excluded.label
            """, [state.path, state.size, state.mtimeNanoseconds, Int64(bitPattern: state.inode), state.blobID.hex, state.label, scope])
    }
}

// MARK: Classes and people

extension PostgresTransaction {
    private static func labelClass(from row: PostgresRandomAccessRow) throws -> LabelClass {
        LabelClass(id: try row.get(0), name: try row.get(1), hotkey: try row.get(2), ordinal: try row.get(3))
    }

    func classes() throws -> [LabelClass] {
        try rows("SELECT id, name, hotkey, ordinal FROM classes WHERE removed_at IS NULL ORDER BY ordinal").map(Self.labelClass)
    }

    func labelClass(named name: String) throws -> LabelClass? {
        try rows("SELECT id, name, hotkey, ordinal FROM classes WHERE name = $1 AND removed_at IS NULL", [name]).first.map(Self.labelClass)
    }

    func removedClasses() throws -> [LabelClass] {
        try rows("SELECT id, name, hotkey, ordinal FROM classes WHERE removed_at IS NOT NULL ORDER BY ordinal").map(Self.labelClass)
    }

    func markClassRemoved(id: Int64, at time: Date) throws {
        try execute("UPDATE classes SET removed_at = $1, hotkey = NULL WHERE id = $2 AND removed_at IS NULL", [time.timeIntervalSince1970, id])
    }

    func insertClass(name: String, hotkey: String?, ordinal: Int) throws -> LabelClass {
        let id = try one(Int64.self, "INSERT INTO classes (name, hotkey, ordinal) VALUES ($1, $2, $3) RETURNING id", [name, hotkey, ordinal])
        return LabelClass(id: id ?? 0, name: name, hotkey: hotkey, ordinal: ordinal)
    }

    func updateClass(id: Int64, name: String, hotkey: String?) throws {
        try execute("UPDATE classes SET name = $1, hotkey = $2 WHERE id = $3", [name, hotkey, id])
    }

    private static func annotator(from row: PostgresRandomAccessRow) throws -> Annotator {
        let role = try row.get(2, String.self)
        return Annotator(id: try row.get(0), name: try row.get(1), role: Role(rawValue: role) ?? .annotator, createdAt: date(try row.get(3)))
    }

    func annotators() throws -> [Annotator] {
        try rows("SELECT id, name, role, created_at FROM annotators ORDER BY name").map(Self.annotator)
    }

    func annotator(named name: String) throws -> Annotator? {
        try rows("SELECT id, name, role, created_at FROM annotators WHERE name = $1", [name]).first.map(Self.annotator)
    }

    func setRole(annotatorID: Int64, role: Role) throws {
        try execute("UPDATE annotators SET role = $1, pulled = false WHERE id = $2", [role.rawValue, annotatorID])
    }

    func markAnnotatorPulled(id: Int64) throws {
        try execute("UPDATE annotators SET pulled = true WHERE id = $1", [id])
    }

    func localReviewers() throws -> Set<String> {
        Set(try rows("SELECT name FROM annotators WHERE NOT pulled AND role IN ('reviewer', 'admin')").map { try $0.get(0, String.self) })
    }

    func insertAnnotator(name: String, role: Role, createdAt: Date) throws -> Annotator {
        let id = try one(Int64.self, "INSERT INTO annotators (name, role, created_at) VALUES ($1, $2, $3) RETURNING id",
                         [name, role.rawValue, createdAt.timeIntervalSince1970])
        return Annotator(id: id ?? 0, name: name, role: role, createdAt: createdAt)
    }
}
