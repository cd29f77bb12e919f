import CairnStore
import Foundation
import GRDB

/// The catalog in one SQLite file (`.cairn/catalog.sqlite`), the backend of every repository.
///
/// ```swift
/// let catalog = try SQLiteCatalog(path: ".cairn/catalog.sqlite")
/// let items = try catalog.read { try $0.itemCount() }
/// ```
///
/// WAL mode with a busy timeout, so several processes can read while one writes; each `write` is
/// one durable transaction (synchronous=FULL). The schema is `schema/*.sql`, embedded at build
/// time and applied in order on open. Triggers mark every changed item in `snapshot_dirty`, which
/// is how `pendingChanges()` knows what a snapshot must recompute. Nothing SQLite-shaped leaves
/// this folder: errors become `CatalogError`, rows become Cairn's types.
public final class SQLiteCatalog: Catalog {
    private let database: any DatabaseWriter
    public let path: String
    public var location: String { path }
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

    /// A catalog held in memory and gone when released: SQLite's in-memory database behind this
    /// same code, with the same schema (for tests and throwaway work; it passes the conformance
    /// suite). It is not another implementation of the protocols — `PostgresCatalog` is that.
    ///
    /// ```swift
    /// let scratch = try SQLiteCatalog.inMemory()
    /// try scratch.write { _ = try $0.addClass("cat") }
    /// ```
    public static func inMemory() throws -> SQLiteCatalog {
        do {
            var config = Configuration()
            config.prepareDatabase { db in db.add(function: LabelOrder.sqlFunction) }
            let queue = try DatabaseQueue(configuration: config)
            try migrate(queue)
            return SQLiteCatalog(database: queue, path: ":memory:")
        } catch {
            throw translate(error, path: ":memory:")
        }
    }

    private init(database: any DatabaseWriter, path: String) {
        (self.database, self.path, isReadOnly) = (database, path, false)
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
            throw CatalogError.needsUpgrade(location: path)
        }
        return applied
    }

    /// Maps GRDB and SQLite errors to `CatalogError`. SQLite reports a write that failed for want of
    /// space as a plain I/O error (10) as often as SQLITE_FULL; when the file system is full, say so.
    /// What reaches the user is SQLite's message, never the statement: SQL is the backend's own.
    static func translate(_ error: any Error, path: String) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_FULL: return CatalogError.diskFull
        case .SQLITE_IOERR where freeBytes(near: path).map({ $0 < 1 << 20 }) ?? false: return CatalogError.diskFull
        case .SQLITE_READONLY:
            return CatalogError.readOnly(location: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: return CatalogError.busy
        default:
            return CatalogError.storage(error.message ?? "SQLite result code \(error.resultCode.rawValue)")
        }
    }

    /// Bytes free for unprivileged writers on the file system holding `path`.
    static func freeBytes(near path: String) -> UInt64? {
        var fs = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory.isEmpty ? "." : directory, &fs) == 0 else { return nil }
        return UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
    }

    public func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        do {
            if isReadOnly { throw CatalogError.readOnly(location: path) }
            return try database.write { db in try body(SQLiteTransaction(db: db)) }
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    public func read<T>(_ body: (any CatalogReadTransaction) throws -> T) throws -> T {
        do {
            return try database.read { db in try body(SQLiteTransaction(db: db)) }
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    /// What SQLite's `PRAGMA integrity_check` reports; empty when the file is sound.
    public func integrityProblems() throws -> [String] {
        do {
            let lines = try database.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            return lines == ["ok"] ? [] : lines
        } catch {
            throw Self.translate(error, path: path)
        }
    }

    /// Runs `body` on the raw database, for SQLite-specific tests (query plans, triggers).
    package func withDatabase<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read { try body($0) }
    }
}
