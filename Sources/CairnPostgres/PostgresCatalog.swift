import CairnCatalog
import CairnStore
import Foundation
import PostgresNIO
import Synchronization

/// The catalog in a PostgreSQL database, for a team whose annotators work on several machines.
///
/// ```swift
/// let catalog = try PostgresCatalog(location: PostgresLocation(url: "postgresql://ada@db/labels"))
/// try catalog.write { tx in _ = try tx.addClass("cat") }
/// ```
///
/// The same protocols, rules and conformance suite as `SQLiteCatalog`, and the same concurrency:
/// every `write` takes one transaction-scoped advisory lock first, so writers follow one another
/// as SQLite's do (a lease is granted by one writer at a time on every machine), while each `read`
/// is a `REPEATABLE READ READ ONLY` transaction: one consistent view, never blocked by writers.
/// The catalog API is synchronous, and postgres-nio is asynchronous: each statement waits for its
/// result on the calling thread, which is never one of the event loop's (the loops are
/// `MultiThreadedEventLoopGroup.singleton`'s own threads). The schema is `schema/postgres/*.sql`,
/// applied under the same lock on open. Errors leave as `CatalogError`, with the server's message
/// and never the statement.
public final class PostgresCatalog: Catalog {
    public let postgres: PostgresLocation
    public var location: String { postgres.description }
    /// Which repository's import state this catalog object reads and writes: each repository on a
    /// shared catalog has a store of its own, and import state speaks for one store (schema/postgres/0002).
    public let scope: String
    /// True when the server is a standby that takes no writes.
    public let isReadOnly: Bool

    /// How long a writer waits for another's transaction (the lock) before giving up with `busy`.
    public static let lockTimeout = 30
    /// The advisory lock every write transaction holds: one writer at a time.
    static let writeLock: Int64 = 0x6361_6972_6e00_0001  // "cairn" 1

    private let idle = Mutex<[PostgresConnection]>([])
    private let logger = PostgresCatalog.quietLogger

    /// postgres-nio's logger, quiet: what goes wrong reaches the user as a `CatalogError`, and
    /// swift-log's default handler would print the driver's own messages to stderr.
    static let quietLogger: Logger = {
        var logger = Logger(label: "cairn.catalog.postgres")
        logger.logLevel = .critical
        return logger
    }()

    /// Connects to `location` and applies pending migrations.
    /// - Throws: `CatalogError.unreachable` when the server cannot be reached or refuses the sign-in,
    ///   `schemaTooNew` when its catalog was written by a newer cairn.
    public init(location: PostgresLocation, scope: String = "") throws {
        postgres = location
        self.scope = scope
        let connection = try Self.connect(location, logger: logger)
        do {
            isReadOnly = try PostgresTransaction(connection: connection, logger: logger)
                .one(Bool.self, "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only') = 'on'") ?? false
            if !isReadOnly { try Self.migrate(connection, logger: logger) }
            else { try Self.checkSchema(PostgresTransaction(connection: connection, logger: logger), location: location) }
        } catch {
            try? connection.close().wait()
            throw Self.translate(error, location: location)
        }
        idle.withLock { $0.append(connection) }
    }

    /// Opens the catalog a `postgresql://` URL names (with libpq's environment and `.pgpass`) for the
    /// repository `scope` names.
    public convenience init(url: String, scope: String) throws {
        try self.init(location: PostgresLocation(url: url), scope: scope)
    }

    /// Closes the connections (postgres-nio requires a connection closed before it goes away; the
    /// last reference to a catalog is never dropped on an event loop).
    deinit { close() }

    /// Closes every idle connection now (a catalog closes them when it goes away anyway).
    public func close() {
        for connection in idle.withLock({ connections in defer { connections = [] }; return connections }) {
            try? connection.close().wait()
        }
    }

    /// Runs `statements` one by one outside any transaction on a connection of its own, for what a
    /// transaction cannot hold (`CREATE DATABASE`, `DROP DATABASE`): test set-up and tear-down.
    package static func administer(_ location: PostgresLocation, _ statements: [String]) throws {
        let logger = quietLogger
        let connection = try connect(location, logger: logger)
        defer { try? connection.close().wait() }
        do {
            for statement in statements { try PostgresTransaction(connection: connection, logger: logger).execute(statement) }
        } catch {
            throw translate(error, location: location)
        }
    }

    /// The migrations in `schema/postgres/`, in order.
    public static var migrationNames: [String] { embeddedMigrations.map(\.name) }

    // MARK: Connections

    static func connect(_ location: PostgresLocation, logger: Logger) throws -> PostgresConnection {
        do {
            var configuration: PostgresConnection.Configuration
            if location.host.hasPrefix("/") {
                configuration = .init(unixSocketPath: location.host + "/.s.PGSQL.\(location.port)", username: location.user,
                                      password: location.password, database: location.database)
            } else {
                configuration = .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                      database: location.database, tls: try tls(location.tls))
            }
            configuration.options.connectTimeout = .seconds(10)
            let connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                            id: 1, logger: logger).wait()
            do {
                _ = try connection.query(PostgresQuery(unsafeSQL: "SET lock_timeout = '\(lockTimeout)s'"), logger: logger).wait()
            } catch {
                try? connection.close().wait()
                throw error
            }
            return connection
        } catch let error as PSQLError where error.serverInfo == nil {
            throw CatalogError.unreachable(location: location.description, reason: Self.reason(error))
        } catch let error as PSQLError {
            throw CatalogError.unreachable(location: location.description, reason: error.serverInfo?[.message] ?? "the server refused")
        } catch let error as CatalogError {
            throw error
        } catch {
            throw CatalogError.unreachable(location: location.description, reason: String(describing: error))
        }
    }

    private static func tls(_ mode: PostgresLocation.TLSMode) throws -> PostgresConnection.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer, .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            let context = try NIOSSLContext(configuration: configuration)
            return mode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    /// Why a connection failed, in words (postgres-nio's own description names its internals).
    private static func reason(_ error: PSQLError) -> String {
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection: return "the connection was closed"
        case .sslUnsupported: return "the server does not offer TLS, which sslmode asks for"
        case .authMechanismRequiresPassword: return "the server asks for a password (give it in PGPASSWORD or ~/.pgpass)"
        case .connectionError:
            return error.underlying.map { String(describing: $0) } ?? "the connection failed"
        default:
            return error.underlying.map { String(describing: $0) } ?? error.code.description
        }
    }

    /// An idle connection that is still open, or a new one.
    private func takeConnection() throws -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
            try? connection.close().wait()
        }
        return try Self.connect(postgres, logger: logger)
    }

    /// Puts `connection` back among the idle ones, unless it broke.
    private func giveBack(_ connection: PostgresConnection) {
        if connection.isClosed { try? connection.close().wait() } else { idle.withLock { $0.append(connection) } }
    }

    /// One transaction: `begin`, the body, COMMIT; ROLLBACK when the body throws. A connection the
    /// server dropped while it sat idle (a restart, a failover, an idle timeout) fails at BEGIN,
    /// before anything ran: the transaction then starts over once on a new connection, so a
    /// restarted server costs nobody a label. A connection lost later fails the transaction, which
    /// PostgreSQL rolls back; nothing in it was acknowledged.
    ///
    /// A `repeatable` body (`writeRepeatable`) does not wait for BEGIN: its answer is read with the
    /// body's first statement. When it says the connection had dropped, nothing of the body reached
    /// the server, and the body runs once more on a new connection.
    private func transaction<T>(_ begin: [String], repeatable: Bool = false, _ body: (PostgresTransaction) throws -> T) throws -> T {
        do {
            var attempt = 0
            while true {
                attempt += 1
                let connection = try takeConnection()
                let tx = PostgresTransaction(connection: connection, logger: logger, scope: scope)
                var opening: [SentQuery] = []
                do {
                    // Sent together (BEGIN and the write lock): one wait for both, not one each.
                    opening = try begin.map { try tx.send($0, []) }
                    if repeatable {
                        tx.unanswered.queries.withLock { $0.append(contentsOf: opening) }
                    } else {
                        for sent in opening { _ = try sent.answer() }
                    }
                } catch where Self.connectionLost(error) && attempt == 1 {
                    try? connection.close().wait()
                    continue
                } catch {
                    giveBack(connection)
                    throw error
                }
                do {
                    let result = try body(tx)
                    try tx.execute("COMMIT")
                    giveBack(connection)
                    return result
                } catch {
                    if repeatable, attempt == 1, Self.droppedAtBegin(opening) {
                        try? connection.close().wait()
                        continue
                    }
                    if !connection.isClosed { _ = try? tx.execute("ROLLBACK") }
                    giveBack(connection)
                    throw error
                }
            }
        } catch {
            throw Self.translate(error, location: postgres)
        }
    }

    /// True when the first statement of a transaction (BEGIN) failed because the connection was lost.
    private static func droppedAtBegin(_ opening: [SentQuery]) -> Bool {
        guard let begin = opening.first else { return false }
        do {
            _ = try PostgresTransaction.wait(for: begin.done, on: begin.connection)
            return false
        } catch {
            return connectionLost(error)
        }
    }

    private static let writeBegin = ["BEGIN ISOLATION LEVEL READ COMMITTED", "SELECT pg_advisory_xact_lock(\(writeLock))"]

    public func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        if isReadOnly { throw CatalogError.readOnly(location: location) }
        return try transaction(Self.writeBegin, body)
    }

    /// As `write`, one wait fewer: BEGIN and the lock are answered with the body's first statement
    /// (the body may run twice, see `Catalog.writeRepeatable`).
    public func writeRepeatable<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        if isReadOnly { throw CatalogError.readOnly(location: location) }
        return try transaction(Self.writeBegin, repeatable: true, body)
    }

    public func read<T>(_ body: (any CatalogReadTransaction) throws -> T) throws -> T {
        try transaction(["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"], body)
    }

    /// What PostgreSQL's own checks find: tables of the schema that are missing (the server keeps
    /// its storage sound itself; `amcheck` is an extension a catalog cannot assume).
    public func integrityProblems() throws -> [String] {
        try read { tx in
            let tx = tx as! PostgresTransaction
            let present = Set(try tx.rows("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").map { try $0.get(0, String.self) })
            return Self.tables.filter { !present.contains($0) }.map { "table \($0) is missing" }
        }
    }

    static let tables = ["items", "classes", "annotators", "annotations", "annotation_classes", "reviews", "review_classes", "import_state",
                         "snapshots", "snapshot_head", "tags", "tag_history", "snapshot_dirty", "runs", "run_artifacts", "predictions",
                         "leases", "snapshot_reports", "split_changes", "item_removals", "purges", "held_purges", "sweeps", "box_labels",
                         "cairn_migrations"]

    // MARK: Migrations

    /// Applies pending migrations under the write lock; refuses a catalog with migrations this binary does not know.
    private static func migrate(_ connection: PostgresConnection, logger: Logger) throws {
        let tx = PostgresTransaction(connection: connection, logger: logger)
        try tx.execute("BEGIN")
        do {
            try tx.execute("SELECT pg_advisory_xact_lock(\(writeLock))")
            try tx.execute("CREATE TABLE IF NOT EXISTS cairn_migrations (name text PRIMARY KEY, applied_at double precision NOT NULL)")
            let applied = try checkSchema(tx, location: nil)
            for migration in embeddedMigrations where !applied.contains(migration.name) {
                for statement in statements(migration.sql) { try tx.execute(statement) }
                try tx.execute("INSERT INTO cairn_migrations (name, applied_at) VALUES ($1, $2)", [migration.name, Date().timeIntervalSince1970])
            }
            try tx.execute("COMMIT")
        } catch {
            _ = try? tx.execute("ROLLBACK")
            throw error
        }
    }

    /// The statements of a migration, one at a time (the extended query protocol takes one per
    /// message): split at `;` outside quotes, `$$` bodies and `--` comments.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inQuote = false, inBody = false, inComment = false
        var previous: Character = " "
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false }
                previous = character
                continue
            }
            if !inQuote && !inBody && character == "-" && previous == "-" {
                current.removeLast()
                inComment = true
                previous = " "
                continue
            }
            if !inBody && character == "'" { inQuote.toggle() }
            if !inQuote && character == "$" && previous == "$" { inBody.toggle() }
            if character == ";" && !inQuote && !inBody {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { out.append(statement) }
                current = ""
            } else {
                current.append(character)
            }
            previous = character
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { out.append(rest) }
        return out
    }

    @discardableResult
    private static func checkSchema(_ tx: PostgresTransaction, location: PostgresLocation?) throws -> Set<String> {
        let exists = try tx.one(Bool.self, "SELECT to_regclass('cairn_migrations') IS NOT NULL") ?? false
        let applied = exists ? Set(try tx.rows("SELECT name FROM cairn_migrations").map { try $0.get(0, String.self) }) : []
        let unknown = applied.subtracting(migrationNames)
        if !unknown.isEmpty { throw CatalogError.schemaTooNew(unknownMigrations: unknown.sorted()) }
        if let location, applied.count < migrationNames.count { throw CatalogError.needsUpgrade(location: location.description) }
        return applied
    }

    // MARK: Errors

    /// Whether `error` says the connection is gone (closed, or ended by the server: SQLSTATE classes
    /// 08, connection exceptions, and 57P, operator intervention such as a shutdown), not that a
    /// statement failed.
    static func connectionLost(_ error: any Error) -> Bool {
        if error is Dropped { return true }
        guard let error = error as? PSQLError else { return false }
        guard let state = error.serverInfo?[.sqlState] else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P")
    }

    /// A connection that stopped answering (`PostgresTransaction.answerTimeout`).
    struct Silent: Error {}

    /// A connection that closed before it answered a statement (`PostgresTransaction.wait`).
    struct Dropped: Error {}

    /// Maps PostgreSQL's errors to `CatalogError` by SQLSTATE; what reaches the user is the server's
    /// message, never the statement.
    static func translate(_ error: any Error, location: PostgresLocation) -> any Error {
        if error is Silent {
            return CatalogError.unreachable(location: location.description,
                                            reason: "the server did not answer for \(PostgresTransaction.answerTimeout.nanoseconds / 1_000_000_000) s")
        }
        if error is Dropped {
            return CatalogError.unreachable(location: location.description, reason: "the connection closed before the server answered")
        }
        guard let error = error as? PSQLError else { return error }
        guard let info = error.serverInfo else {
            return CatalogError.unreachable(location: location.description, reason: reason(error))
        }
        let message = info[.message] ?? "PostgreSQL error"
        switch info[.sqlState] ?? "" {
        case "53100": return CatalogError.diskFull
        case "25006": return CatalogError.readOnly(location: location.description)
        case "55P03", "40P01", "40001": return CatalogError.busy
        case let state where state.hasPrefix("08") || state.hasPrefix("57P"):
            return CatalogError.unreachable(location: location.description, reason: message)
        default: return CatalogError.storage(message)
        }
    }
}
