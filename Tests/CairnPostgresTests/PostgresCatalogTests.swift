import CairnCatalog
@testable import CairnPostgres
import CairnTestSupport
import Foundation
import Synchronization
import Testing

/// The PostgreSQL catalog against a real server: the throwaway cluster `PostgresTestServer` starts,
/// or the server `CAIRN_TEST_POSTGRES` names. Each test gets a database of its own, dropped afterwards.
enum TestServer {
    /// Runs `body` on a catalog in a new, empty database.
    static func withCatalog(_ body: (PostgresCatalog) throws -> Void) throws {
        let server = try PostgresLocation(url: try PostgresTestServer.url())
        let name = "cairn_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try PostgresCatalog.administer(server, ["CREATE DATABASE \(name)"])
        defer { try? PostgresCatalog.administer(server, ["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"]) }
        var location = server
        location.database = name
        let catalog = try PostgresCatalog(location: location)
        defer { catalog.close() }
        try body(catalog)
    }
}

struct PostgresCatalogTests {
    @Test(arguments: CatalogConformance.checks)
    func conformance(_ check: CatalogConformance.Check) throws {
        try TestServer.withCatalog { try check.run($0) }
    }
}

/// Full scans read pages ahead (the next page's queries are sent while this one is decoded): every
/// item comes once, in id order, with its own labels, across page boundaries and gaps in the ids.
struct PostgresScanTests {
    @Test func aScanOfManyPagesSeesEveryItemOnceWithItsLabels() throws {
        try TestServer.withCatalog { catalog in
            let count = PostgresTransaction.pageSize * 2 + 500
            let (labeled, removed) = try catalog.write { tx throws -> ([Int64: String], Set<Int64>) in
                let grace = try tx.addAnnotator("grace", role: .reviewer)
                let ada = try tx.ensureAnnotator("ada")
                let (cat, dog) = (try tx.ensureClass("cat").id, try tx.ensureClass("dog").id)
                let items = try tx.insertItems((0..<count).map { CatalogConformance.newItem($0) }, addedAt: Date()).map(\.item.id)
                // Labels on each side of every page boundary, a verdict in the last page, removals making gaps.
                let size = PostgresTransaction.pageSize
                var labeled: [Int64: String] = [:]
                for n in [0, size - 1, size, 2 * size - 1, 2 * size, count - 1] {
                    try tx.appendAnnotation(itemID: items[n], annotatorID: ada.id, classIDs: [n % 2 == 0 ? cat : dog])
                    labeled[items[n]] = n % 2 == 0 ? "cat" : "dog"
                }
                try tx.appendVerdict(itemID: items[count - 1], reviewer: grace, classIDs: [cat])
                labeled[items[count - 1]] = "cat"
                let removed = Set([items[1], items[size + 1], items[2 * size + 1]])
                try tx.setRemoved(itemIDs: Array(removed), removed: true, personID: ada.id, at: Date(), stamp: nil)
                return (labeled, removed)
            }
            var seen: [Int64] = []
            var labels: [Int64: String] = [:]
            try catalog.read { tx in
                try tx.forEachItemRecord(ids: nil) { id, record in
                    seen.append(id)
                    if case .labeled(let label) = record.resolved { labels[id] = label.description }
                }
            }
            #expect(seen.count == count - removed.count)
            #expect(seen == seen.sorted() && Set(seen).count == seen.count && Set(seen).isDisjoint(with: removed))
            #expect(labels == labeled)
        }
    }
}

/// A save sends its INSERT and lease without waiting for their answers (`executeLater`): a write
/// refused by the server must still fail the transaction, with its own error, and leave nothing.
struct PostgresUnansweredWriteTests {
    @Test func aRefusedWriteSentWithoutWaitingFailsItsTransaction() throws {
        try TestServer.withCatalog { catalog in
            let (item, ada) = try catalog.write { tx in
                (try tx.insertItem(CatalogConformance.newItem(1)).item, try tx.ensureAnnotator("ada"))
            }
            // Class 999 does not exist: the foreign key refuses the row. The stamp is given, so
            // nothing in the body waits for an answer; only COMMIT does, and PostgreSQL answers a
            // COMMIT of a failed transaction with ROLLBACK, not an error.
            let stamp = LabelOrder.stamp(at: 1, label: "ghost")
            #expect {
                try catalog.write { tx in
                    try tx.appendLabel(.annotations, itemID: item.id, personID: ada.id, classIDs: [999], at: Date(), stamp: stamp, suggestion: nil)
                }
            } throws: { error in
                String(describing: error).contains("foreign key") || String(describing: error).contains("classes")
            }
            // A query after the refused write reports the write's error, not "transaction aborted".
            #expect {
                try catalog.write { tx in
                    try tx.appendLabel(.annotations, itemID: item.id, personID: ada.id, classIDs: [999], at: Date(), stamp: stamp, suggestion: nil)
                    _ = try tx.itemCount()
                }
            } throws: { error in
                !String(describing: error).contains("aborted")
            }
            #expect(try catalog.read { try $0.annotationCount() } == 0)
            // The connection is usable afterwards, and a write that succeeds commits.
            try catalog.write { tx in
                let cat = try tx.ensureClass("cat")
                try tx.appendLabel(.annotations, itemID: item.id, personID: ada.id, classes: [cat])
            }
            #expect(try catalog.read { try $0.latestLabel(itemID: item.id, annotatorID: ada.id) } == "cat")
        }
    }
}

/// Annotators on several machines: each a catalog of its own (its own connections), as separate
/// processes on separate hosts would be.
struct PostgresTeamTests {
    /// Eight annotators on four "machines" take items from one queue at once, each leasing, labeling
    /// and moving on: every item is labeled exactly once, and no two ever held the same item.
    @Test func leasesKeepMachinesApart() throws {
        try TestServer.withCatalog { catalog in
            let items = 120
            try catalog.write { tx in
                _ = try tx.addClass("a")
                for n in 0..<items { _ = try tx.insertItem(CatalogConformance.newItem(n)) }
            }
            let location = catalog.postgres
            let results = Mutex<[(annotator: String, item: Int64)]>([])
            let failures = Mutex<[String]>([])
            // Every worker holds its first lease before any labels it: eight leases at once, whatever the
            // machine's speed (a fast worker cannot take the whole queue before the others connect).
            let holding = Mutex<[Int64]>([])
            let done = DispatchSemaphore(value: 0)
            for worker in 0..<8 {
                Thread {
                    defer { done.signal() }
                    do {
                        let machine = try PostgresCatalog(location: location)
                        defer { machine.close() }
                        let name = "worker\(worker)", host = "machine\(worker % 4)"
                        let me = try machine.write { try $0.ensureAnnotator(name) }
                        let queue = AnnotatorQueue(.unlabeled, annotatorID: me.id)
                        var next = try machine.write { tx in try tx.leaseNext(in: queue, after: 0, host: host, pid: Int32(worker)) }
                        holding.withLock { $0.append(next?.id ?? -1) }
                        let deadline = Date().addingTimeInterval(300)
                        while holding.withLock({ $0.count }) < 8 && Date() < deadline { usleep(1_000) }
                        while let item = next {
                            try machine.write { tx in try tx.annotate(itemID: item.id, label: "a", annotator: name) }
                            results.withLock { $0.append((name, item.id)) }
                            next = try machine.write { tx in try tx.leaseNext(in: queue, after: 0, host: host, pid: Int32(worker)) }
                        }
                        try machine.write { tx in try tx.releaseLeases(host: host, pid: Int32(worker)) }
                    } catch {
                        failures.withLock { $0.append("worker\(worker): \(error)") }
                        holding.withLock { $0.append(-1) }
                    }
                }.start()
            }
            for _ in 0..<8 { done.wait() }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            let first = holding.withLock { $0 }
            #expect(first.count == 8 && !first.contains(-1) && Set(first).count == 8, "eight leases held at once, all different: \(first)")
            let labeled = results.withLock { $0 }
            #expect(labeled.count == items)
            #expect(Set(labeled.map(\.item)).count == items, "an item was labeled twice")
            #expect(try catalog.read { try $0.annotationCount() } == items)
        }
    }

    /// Import state speaks for one repository's store: another repository on the catalog does not see
    /// it (it would skip storing files it never stored).
    @Test func importStateIsKeptPerRepository() throws {
        try TestServer.withCatalog { catalog in
            let item = CatalogConformance.newItem(1)
            let state = ImportState(path: "/in/a.png", size: 1, mtimeNanoseconds: 2, inode: 3, blobID: item.blobID, label: nil)
            let here = try PostgresCatalog(location: catalog.postgres, scope: "host:/a/.cairn")
            let there = try PostgresCatalog(location: catalog.postgres, scope: "host:/b/.cairn")
            defer { here.close(); there.close() }
            try here.write { tx in try tx.setImportStates([state]) }
            #expect(try here.read { try $0.importState(path: "/in/a.png") } == state)
            #expect(try there.read { try $0.importState(path: "/in/a.png") } == nil)
            #expect(try there.read { try $0.importStates(under: "/in") }.isEmpty)
        }
    }

    /// A machine that cannot reach the server gets a clear error naming the catalog, never SQL.
    @Test func anUnreachableServerIsAClearError() throws {
        let port = S3TestServer.freePort()
        let location = try PostgresLocation(url: "postgresql://nobody@127.0.0.1:\(port)/none?sslmode=disable")
        #expect {
            try PostgresCatalog(location: location)
        } throws: { error in
            guard case CatalogError.unreachable(let where_, _) = error else { return false }
            return where_ == location.description && !"\(error)".contains("SELECT")
        }
    }

    /// A database a newer cairn migrated is refused, not written.
    @Test func aNewerSchemaIsRefused() throws {
        try TestServer.withCatalog { catalog in
            try PostgresCatalog.administer(catalog.postgres, ["INSERT INTO cairn_migrations (name, applied_at) VALUES ('9999_future', 0)"])
            #expect(throws: CatalogError.schemaTooNew(unknownMigrations: ["9999_future"])) { try PostgresCatalog(location: catalog.postgres) }
        }
    }
}

struct PostgresLocationTests {
    @Test func urlsEnvironmentAndPgpass() throws {
        let empty: [String: String] = ["HOME": "/nonexistent"]
        let full = try PostgresLocation(url: "postgresql://ada:secret@db.lab:6543/birds?sslmode=verify-full", environment: empty)
        #expect(full == PostgresLocation(host: "db.lab", port: 6543, user: "ada", password: "secret", database: "birds", tls: .verifyFull))
        #expect(!full.description.contains("secret"))
        let env = try PostgresLocation(url: "postgresql:///", environment: ["PGHOST": "h", "PGPORT": "7000", "PGUSER": "u", "PGDATABASE": "d",
                                                                           "PGPASSWORD": "p", "HOME": "/nonexistent"])
        #expect(env == PostgresLocation(host: "h", port: 7000, user: "u", password: "p", database: "d"))
        #expect(throws: CatalogError.self) { try PostgresLocation(url: "mysql://x/y", environment: empty) }
        #expect(throws: CatalogError.self) { try PostgresLocation(url: "postgresql://h/d?sslmode=maybe", environment: empty) }
        #expect {
            try PostgresLocation(url: "postgresql://a:hunter2@h/d?bogus=1", environment: empty)
        } throws: { !"\($0)".contains("hunter2") }

        let dir = try TemporaryDirectory("pgpass")
        defer { dir.remove() }
        let file = dir.appending("pgpass")
        try "# comment\nother:5432:*:ada:wrong\ndb.lab:*:birds:ada:pa\\:ss\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let found = try PostgresLocation(url: "postgresql://ada@db.lab/birds", environment: ["PGPASSFILE": file])
        #expect(found.password == "pa:ss")
        chmod(file, 0o644)  // readable by others: libpq ignores it, and so do we
        #expect(try PostgresLocation(url: "postgresql://ada@db.lab/birds", environment: ["PGPASSFILE": file]).password == nil)
    }

    @Test func migrationsSplitIntoStatements() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE t (x text DEFAULT 'a;b');
            CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$;
            SELECT 1
            """
        #expect(PostgresCatalog.statements(sql) == [
            "CREATE TABLE t (x text DEFAULT 'a;b')",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$",
            "SELECT 1",
        ])
        #expect(PostgresCatalog.statements(embeddedSchema).count > 50)
    }

    private var embeddedSchema: String {
        (try? String(contentsOfFile: Fixtures.packageRoot + "/schema/postgres/0001_catalog.sql", encoding: .utf8)) ?? ""
    }
}

struct PostgresFaultTests {
    /// The server drops every connection of the catalog's database (as a restart does): the next
    /// write reconnects and succeeds, and every label written before is still there.
    @Test func droppedConnectionsReconnect() throws {
        try TestServer.withCatalog { catalog in
            try catalog.write { tx in
                _ = try tx.addClass("a")
                for n in 0..<3 { _ = try tx.insertItem(CatalogConformance.newItem(n)) }
            }
            let items = try catalog.read { try $0.allItems() }
            try catalog.write { tx in try tx.annotate(itemID: items[0].id, label: "a", annotator: "ada") }
            let kill = """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(catalog.postgres.database)' AND pid <> pg_backend_pid()
                """
            try PostgresCatalog.administer(catalog.postgres, [kill])
            try catalog.write { tx in try tx.annotate(itemID: items[1].id, label: "a", annotator: "ada") }
            try PostgresCatalog.administer(catalog.postgres, [kill])
            #expect(try catalog.read { try $0.annotationCount() } == 2)
        }
    }

    /// `writeRepeatable` does not wait for BEGIN; when the connection had dropped, the body runs
    /// once more on a new one. Whichever way each round goes (the client may or may not have seen
    /// the server close the connection before it is used: here about one round in thirty reaches
    /// the retry of the body), every label lands exactly once. The first version of this test
    /// found a statement sent as the server ended the session that postgres-nio never answered,
    /// which cost a 60 s timeout per statement: waits now fail as soon as the connection is closed.
    @Test func repeatableWritesSurviveDroppedConnections() throws {
        try TestServer.withCatalog { catalog in
            let (items, ada, a) = try catalog.write { tx in
                let a = try tx.addClass("a")
                let items = try (0..<40).map { try tx.insertItem(CatalogConformance.newItem($0)).item }
                return (items, try tx.ensureAnnotator("ada"), a)
            }
            let kill = """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(catalog.postgres.database)' AND pid <> pg_backend_pid()
                """
            var runs = 0
            for item in items {
                try PostgresCatalog.administer(catalog.postgres, [kill])
                try catalog.writeRepeatable { tx in
                    runs += 1
                    try tx.appendLabel(.annotations, itemID: item.id, personID: ada.id, classes: [a])
                    _ = try tx.itemCount()
                }
            }
            #expect(try catalog.read { try $0.annotationCount() } == items.count)
            #expect(runs >= items.count && runs <= 2 * items.count)
        }
    }
}
