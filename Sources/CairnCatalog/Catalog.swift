import CairnStore
import Foundation
import GRDB

/// The mutable working state of a repository: items, classes, annotators and label history.
///
/// ```swift
/// let catalog = try Catalog(path: ".cairn/catalog.sqlite")
/// try catalog.write { tx in
///     let item = try tx.insertItem(newItem)
///     try tx.annotate(itemID: item.id, className: "cat", annotator: "ada")
/// }
/// print(try catalog.itemCount())
/// ```
///
/// Backed by SQLite in WAL mode with a busy timeout, so several processes can read while one
/// writes; each `write` is one durable transaction (synchronous=FULL). The public API speaks
/// in Cairn's types, not SQL, so another backend can implement it later.
public final class Catalog: Sendable {
    private let pool: DatabasePool
    public let path: String

    /// How long a writer waits for another process's transaction before giving up.
    public static let busyTimeout: TimeInterval = 30

    /// Opens (creating if needed) the catalog at `path` and applies pending migrations.
    /// - Throws: `CatalogError.schemaTooNew` when the file was written by a newer cairn.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(Self.busyTimeout)
        config.journalMode = .wal
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrate(pool)
        } catch {
            throw Self.translate(error)
        }
    }

    /// The migrations in `schema/`, in order.
    public static var migrationNames: [String] { embeddedMigrations.map(\.name) }

    private static func migrate(_ pool: DatabasePool) throws {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            let sql = migration.sql
            migrator.registerMigration(migration.name) { db in try db.execute(sql: sql) }
        }
        let known = Set(migrationNames)
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let unknown = applied.subtracting(known)
        if !unknown.isEmpty { throw CatalogError.schemaTooNew(unknownMigrations: unknown.sorted()) }
        if applied.count < known.count { try migrator.migrate(pool) }
    }

    /// Maps GRDB and SQLite errors to `CatalogError`.
    static func translate(_ error: any Error) -> any Error {
        guard let error = error as? DatabaseError else { return error }
        switch error.resultCode {
        case .SQLITE_FULL: return CatalogError.diskFull
        case .SQLITE_READONLY:
            return CatalogError.readOnly(path: "catalog.sqlite")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return CatalogError.busy
        default:
            return CatalogError.database(code: error.resultCode.rawValue, message: error.message ?? "unknown", sql: error.sql)
        }
    }

    /// Runs `body` in one write transaction: all of it commits, or none of it.
    public func write<T>(_ body: (CatalogTransaction) throws -> T) throws -> T {
        do {
            return try pool.write { db in try body(CatalogTransaction(db: db)) }
        } catch {
            throw Self.translate(error)
        }
    }

    /// Runs `body` against a consistent read-only view of the catalog.
    public func read<T>(_ body: (CatalogTransaction) throws -> T) throws -> T {
        do {
            return try pool.read { db in try body(CatalogTransaction(db: db)) }
        } catch {
            throw Self.translate(error)
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
