import CairnStore
import Foundation
import GRDB

/// The mutable working state of a repository: items, classes, annotators and label history.
///
/// ```swift
/// let catalog = try Catalog(path: ".cairn/catalog.sqlite")
/// try catalog.write { tx in
///     let item = try tx.insertItem(newItem)
///     try tx.annotate(itemID: item.id, label: "cat", annotator: "ada")
/// }
/// print(try catalog.itemCount())
/// ```
///
/// Backed by SQLite in WAL mode with a busy timeout, so several processes can read while one
/// writes; each `write` is one durable transaction (synchronous=FULL). The public API speaks
/// in Cairn's types, not SQL, so another backend can implement it later.
public final class Catalog: Sendable {
    private let database: any DatabaseWriter
    public let path: String
    /// True when the catalog's directory cannot be written: reads work, writes fail with `readOnly`.
    public let isReadOnly: Bool

    /// How long a writer waits for another process's transaction before giving up.
    public static let busyTimeout: TimeInterval = 30

    /// Opens (creating if needed) the catalog at `path` and applies pending migrations.
    /// - Throws: `CatalogError.schemaTooNew` when the file was written by a newer cairn.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        isReadOnly = FileManager.default.fileExists(atPath: path) && access(directory.isEmpty ? "." : directory, W_OK) != 0
        do {
            if isReadOnly {
                // WAL readers need to create -shm; on a read-only file system nobody writes, so
                // SQLite may read the file as immutable instead.
                var config = Configuration()
                config.readonly = true
                let uri = "file:" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path) + "?immutable=1"
                let queue = try DatabaseQueue(path: uri, configuration: config)
                database = queue
                try Self.checkSchema(queue, path: path)
            } else {
                var config = Configuration()
                config.busyMode = .timeout(Self.busyTimeout)
                config.journalMode = .wal
                config.prepareDatabase { db in
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                    db.add(function: LabelOrder.sqlFunction)
                }
                let pool = try DatabasePool(path: path, configuration: config)
                database = pool
                try Self.migrate(pool)
            }
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    /// The migrations in `schema/`, in order.
    public static var migrationNames: [String] { embeddedMigrations.map(\.name) }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            let sql = migration.sql
            migrator.registerMigration(migration.name) { db in try db.execute(sql: sql) }
        }
        return migrator
    }

    /// Applies pending migrations; refuses a catalog that has migrations this binary does not know.
    private static func migrate(_ writer: any DatabaseWriter) throws {
        let applied = try checkSchema(writer, path: nil)
        if applied.count < migrationNames.count { try migrator.migrate(writer) }
    }

    @discardableResult
    private static func checkSchema(_ reader: any DatabaseReader, path: String?) throws -> Set<String> {
        let applied = try reader.read { db in try migrator.appliedIdentifiers(db) }
        let unknown = applied.subtracting(migrationNames)
        if !unknown.isEmpty { throw CatalogError.schemaTooNew(unknownMigrations: unknown.sorted()) }
        if let path, applied.count < migrationNames.count {
            throw CatalogError.invalid("\(path) needs a schema upgrade, which a read-only repository cannot take; open it once where it is writable")
        }
        return applied
    }

    /// Maps GRDB and SQLite errors to `CatalogError`. SQLite reports a write that failed for want of
    /// space as a plain I/O error (10) as often as SQLITE_FULL; when the file system is full, say so.
    static func translate(_ error: any Error, path: String) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_FULL: return CatalogError.diskFull
        case .SQLITE_IOERR where freeBytes(near: path).map({ $0 < 1 << 20 }) ?? false: return CatalogError.diskFull
        case .SQLITE_READONLY:
            return CatalogError.readOnly(path: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: return CatalogError.busy
        default:
            return CatalogError.database(code: error.resultCode.rawValue, message: error.message ?? "unknown", sql: error.sql)
        }
    }

    /// Bytes free for unprivileged writers on the file system holding `path`.
    static func freeBytes(near path: String) -> UInt64? {
        var fs = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory.isEmpty ? "." : directory, &fs) == 0 else { return nil }
        return UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
    }

    /// Runs `body` in one write transaction: all of it commits, or none of it.
    public func write<T>(_ body: (CatalogTransaction) throws -> T) throws -> T {
        do {
            if isReadOnly { throw CatalogError.readOnly(path: path) }
            return try database.write { db in try body(CatalogTransaction(db: db)) }
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    /// Runs `body` against a consistent read-only view of the catalog.
    public func read<T>(_ body: (CatalogTransaction) throws -> T) throws -> T {
        do {
            return try database.read { db in try body(CatalogTransaction(db: db)) }
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    /// Number of items.
    public func itemCount() throws -> Int { try read { try $0.itemCount() } }
}

extension Catalog {
    /// What SQLite's `PRAGMA integrity_check` reports; empty when the file is sound.
    public func integrityProblems() throws -> [String] {
        let lines = try read { tx in try String.fetchAll(tx.db, sql: "PRAGMA integrity_check") }
        return lines == ["ok"] ? [] : lines
    }
}
