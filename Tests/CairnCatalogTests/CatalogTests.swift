import CairnCatalog
import CairnStore
import CairnTestSupport
import Foundation
import GRDB
import Testing

private func makeCatalog() throws -> (SQLiteCatalog, TemporaryDirectory) {
    let dir = try TemporaryDirectory("cairn-catalog")
    return (try SQLiteCatalog(path: dir.appending("catalog.sqlite")), dir)
}

private func newItem(_ n: Int, path: String? = nil) -> NewItem { CatalogConformance.newItem(n, path: path) }

/// The SQLite backend passes every check a catalog backend must pass.
@Suite struct SQLiteConformanceTests {
    @Test(arguments: CatalogConformance.checks)
    func conformance(_ check: CatalogConformance.Check) throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        try check.run(catalog)
    }

    /// The in-memory catalog too (`SQLiteCatalog.inMemory()`), each check on a fresh one.
    @Test(arguments: CatalogConformance.checks)
    func conformanceInMemory(_ check: CatalogConformance.Check) throws {
        try check.run(try SQLiteCatalog.inMemory())
    }
}

/// What is particular to the SQLite backend: its schema, migrations, triggers and query plans.
@Suite struct SQLiteCatalogTests {
    @Test func aStorageErrorSaysWhatWentWrongWithoutItsSQL() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let failure = DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "UNIQUE constraint failed: items.blob_id",
                                    sql: "INSERT INTO items (blob_id, path) VALUES (?, ?)")
        let error = try #require(throws: CatalogError.self) { try catalog.write { _ in throw failure } }
        #expect(error == .storage("UNIQUE constraint failed: items.blob_id"))
        #expect(!error.description.contains("INSERT") && !error.description.contains("SQL"))
        #expect(throws: CatalogError.busy) { try catalog.read { _ in throw DatabaseError(resultCode: .SQLITE_BUSY, sql: "SELECT 1") } }
    }

    @Test func migrationsAreAppliedInOrderAndRecorded() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        #expect(SQLiteCatalog.migrationNames.first == "0001_init")
        #expect(SQLiteCatalog.migrationNames == SQLiteCatalog.migrationNames.sorted())
        let queue = try DatabaseQueue(path: catalog.path)
        let applied = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == SQLiteCatalog.migrationNames)
        // Re-opening applies nothing twice.
        _ = try SQLiteCatalog(path: catalog.path)
    }

    @Test func aCatalogFromANewerCairnIsRefused() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let queue = try DatabaseQueue(path: catalog.path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        #expect(throws: CatalogError.schemaTooNew(unknownMigrations: ["9999_future"])) { try SQLiteCatalog(path: catalog.path) }
    }

    @Test func annotationsAreAppendOnly() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        try catalog.write { tx throws in
            let item = try tx.insertItem(newItem(1)).item
            try tx.annotate(itemID: item.id, label: "cat", annotator: "ada")
        }
        let queue = try DatabaseQueue(path: catalog.path)
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "UPDATE annotations SET class_id = NULL") } }
        #expect(throws: DatabaseError.self) { try queue.write { try $0.execute(sql: "DELETE FROM annotations") } }
    }
}

@Suite struct LabelPolicyTests {
    @Test func verdictWinsThenUnanimityElseUnresolved() {
        #expect(LabelPolicy.resolve(latest: [:]) == .unlabeled)
        #expect(LabelPolicy.resolve(latest: ["ada": nil]) == .unlabeled)
        #expect(LabelPolicy.resolve(latest: ["import": "cat"]) == .labeled("cat"))
        #expect(LabelPolicy.resolve(latest: ["ada": "cat", "bob": "cat", "eve": nil]) == .labeled("cat"))
        #expect(LabelPolicy.resolve(latest: ["ada": "cat", "bob": "dog"]) == .conflict(["cat", "dog"]))
        #expect(LabelPolicy.resolve(latest: ["ada": "cat", "bob": "dog"], verdict: "dog") == .labeled("dog"))
    }
}

@Suite struct SplitPolicyTests {
    @Test func splitsAreDeterministicAndNearTheRatios() throws {
        var counts: [Split: Int] = [:]
        for n in 0..<10_000 {
            let id = BlobID(hashing: Data("blob \(n)".utf8))
            let split = SplitPolicy.standard.split(for: id)
            #expect(split == SplitPolicy.standard.split(for: id))
            counts[split, default: 0] += 1
        }
        #expect((7700...8300).contains(counts[.train] ?? 0))
        #expect((850...1150).contains(counts[.val] ?? 0))
        #expect((850...1150).contains(counts[.test] ?? 0))
    }

    @Test func theRuleUsesTheFirstBytesOfTheID() {
        let low = BlobID(hex: "00" + String(repeating: "0", count: 62))!
        let high = BlobID(hex: "ff" + String(repeating: "f", count: 62))!
        let middle = BlobID(hex: "d9" + String(repeating: "0", count: 62))!  // 0xd9/256 = 0.848
        #expect(SplitPolicy.standard.split(for: low) == .train)
        #expect(SplitPolicy.standard.split(for: middle) == .val)
        #expect(SplitPolicy.standard.split(for: high) == .test)
        #expect(SplitPolicy(train: 1, val: 0, test: 0).split(for: high) == .train)
    }

    @Test func invalidRatiosAreRejected() {
        #expect(throws: CatalogError.self) { try SplitPolicy(train: 0.8, val: 0.1, test: 0.2).validate() }
        #expect(throws: CatalogError.self) { try SplitPolicy(train: 1.1, val: -0.1, test: 0).validate() }
    }
}

@Suite struct SQLiteScanTests {
    /// The record scan's GROUP BY queries come out of the (item_id, …, stamp) indexes already in
    /// order: no temporary B-tree sorts a million rows.
    @Test func theRecordScanSortsNothing() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let plans = try catalog.withDatabase { db in
            try [
                "SELECT item_id, annotator_id, class_id, multi, id, max(stamp) FROM annotations WHERE 1 GROUP BY item_id, annotator_id ORDER BY item_id, annotator_id",
                "SELECT item_id, reviewer_id, class_id, multi, id, max(stamp) FROM reviews WHERE 1 GROUP BY item_id ORDER BY item_id",
                "SELECT id, blob_id, path, format, width, height, split FROM items WHERE 1 ORDER BY id",
            ].map { sql in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ") }
        }
        for plan in plans { #expect(!plan.contains("TEMP B-TREE"), "\(plan)") }
    }

    /// A sweep's trials come from the index on the run's sweep, not a scan of every run's record.
    @Test func aSweepsTrialsAreFoundByIndex() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let plan = try catalog.withDatabase { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE sweep_id = ? ORDER BY seq", arguments: ["x"])
                .map { $0["detail"] as String }.joined(separator: "; ")
        }
        #expect(plan.contains("USING INDEX runs_sweep"), "\(plan)")
    }

    /// Incremental snapshots depend on the triggers that mark changed items: after every
    /// migration, each must still exist (a table rebuild drops a table's triggers silently).
    @Test func everyChangeMarkingTriggerExists() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let triggers = try catalog.withDatabase { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        }
        let marking: Set = ["dirty_on_item_insert", "dirty_on_item_update", "dirty_on_annotation", "dirty_on_review", "dirty_on_class_rename"]
        let appendOnly: Set = ["annotations_append_only_update", "annotations_append_only_delete", "reviews_append_only_update",
                               "reviews_append_only_delete", "annotation_classes_append_only_update", "annotation_classes_append_only_delete",
                               "review_classes_append_only_update", "review_classes_append_only_delete"]
        #expect(marking.subtracting(triggers).isEmpty, "missing: \(marking.subtracting(triggers).sorted())")
        #expect(appendOnly.subtracting(triggers).isEmpty, "missing: \(appendOnly.subtracting(triggers).sorted())")
    }

    /// A one-class set is stored as a one-class row: one label, one encoding.
    @Test func aSetOfOneIsAOneClassRow() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        try catalog.write { tx in
            let item = try tx.insertItem(newItem(1)).item.id
            try tx.annotate(itemID: item, label: Label(["cat"]), annotator: "ada")
            try tx.annotate(itemID: item, label: Label(["cat", "dog"]), annotator: "bob")
            try tx.annotate(itemID: item, label: Label([String]()), annotator: "eve")
        }
        let multi = try catalog.withDatabase { try Int.fetchOne($0, sql: "SELECT count(*) FROM annotations WHERE multi = 1") }
        #expect(multi == 2)
    }
}

@Suite struct MultiLabelTests {
    /// A catalog written before 0005 (reviews with a NOT NULL class) upgrades in place: its
    /// verdicts survive, stay append-only, and still mark items for the next snapshot.
    @Test func aVersion4CatalogUpgradesKeepingItsVerdicts() throws {
        let dir = try TemporaryDirectory("cairn-migrate")
        defer { dir.remove() }
        let path = dir.appending("catalog.sqlite")
        var old = DatabaseMigrator()
        for name in SQLiteCatalog.migrationNames where name < "0005" {
            let sql = try String(contentsOfFile: Fixtures.packageRoot + "/schema/\(name).sql", encoding: .utf8)
            old.registerMigration(name) { try $0.execute(sql: sql) }
        }
        try old.migrate(try DatabaseQueue(path: path))
        let blob = BlobID(hashing: Data("item 1".utf8))
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: """
                INSERT INTO items (id, blob_id, path, format, width, height, byte_size, split, added_at) VALUES (1, ?, 'a.png', 'png', 1, 1, 1, 'train', 0);
                INSERT INTO classes (id, name, hotkey, ordinal) VALUES (1, 'cat', '1', 0);
                INSERT INTO annotators (id, name, role, created_at) VALUES (1, 'grace', 'reviewer', 0);
                INSERT INTO reviews (item_id, reviewer_id, class_id, created_at) VALUES (1, 1, 1, 5);
                INSERT INTO snapshots (seq, id, message, author, created_at, item_count, counts) VALUES (1, ?, 'm', 'a', 0, 1, '{}');
                INSERT INTO snapshot_head (one, snapshot_id) VALUES (1, ?);
                """, arguments: [blob.hex, String(repeating: "a", count: 64), String(repeating: "a", count: 64)])
        }
        let catalog = try SQLiteCatalog(path: path)
        let state = try #require(try catalog.read { try $0.itemRecords() }.values.first)
        #expect(state.verdict?.reviewer == "grace" && state.verdict?.label == "cat")
        let queue = try DatabaseQueue(path: path)
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "UPDATE reviews SET class_id = NULL") } }
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM reviews") } }
        try catalog.write { tx in
            try tx.appendVerdict(itemID: 1, reviewer: try tx.reviewer(named: "grace"), classIDs: [try tx.ensureClass("dog").id, 1])
        }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [1])
        #expect(try catalog.read { try $0.itemRecord(id: 1)?.verdict?.label } == Label(["cat", "dog"]))
        // Renaming a class that is only in a set still marks its item for the next snapshot.
        try catalog.write { try $0.settleChanges(try $0.pendingChanges()) }
        try catalog.write { try $0.renameClass("dog", to: "hound") }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [1])
        #expect(try catalog.read { try $0.itemRecord(id: 1)?.verdict?.label } == Label(["cat", "hound"]))
    }
}

@Suite struct LabelOrderTests {
    /// A catalog written before 0006 (latest = highest row id) upgrades: every row gets the stamp
    /// it would get today, and the latest label is the latest in time, whatever the insertion order.
    @Test func aVersion5CatalogIsStampedAndOrderedByTime() throws {
        let dir = try TemporaryDirectory("cairn-migrate6")
        defer { dir.remove() }
        let path = dir.appending("catalog.sqlite")
        var old = DatabaseMigrator()
        for name in SQLiteCatalog.migrationNames where name < "0006" {
            let sql = try String(contentsOfFile: Fixtures.packageRoot + "/schema/\(name).sql", encoding: .utf8)
            old.registerMigration(name) { try $0.execute(sql: sql) }
        }
        try old.migrate(try DatabaseQueue(path: path))
        let blob = BlobID(hashing: Data("item 1".utf8))
        try DatabaseQueue(path: path).write { db in
            // ada said dog at t=20, then (inserted later, but made earlier) cat at t=10; a set at t=15.
            try db.execute(sql: """
                INSERT INTO items (id, blob_id, path, format, width, height, byte_size, split, added_at) VALUES (1, ?, 'a.png', 'png', 1, 1, 1, 'train', 0);
                INSERT INTO classes (id, name, hotkey, ordinal) VALUES (1, 'cat', '1', 0), (2, 'dog', '2', 1);
                INSERT INTO annotators (id, name, role, created_at) VALUES (1, 'ada', 'annotator', 0), (2, 'grace', 'reviewer', 0);
                INSERT INTO annotations (id, item_id, annotator_id, class_id, created_at) VALUES (1, 1, 1, 2, 20), (2, 1, 1, 1, 10);
                INSERT INTO annotations (id, item_id, annotator_id, class_id, created_at, multi) VALUES (3, 1, 1, NULL, 15, 1);
                INSERT INTO annotation_classes (annotation_id, class_id) VALUES (3, 2), (3, 1);
                INSERT INTO reviews (id, item_id, reviewer_id, class_id, created_at) VALUES (1, 1, 2, 2, 30), (2, 1, 2, 1, 25);
                """, arguments: [blob.hex])
        }
        let catalog = try SQLiteCatalog(path: path)
        let stamps = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT id, stamp FROM annotations ORDER BY id").map { ($0[0] as Int64, $0[1] as Data) }
        }
        #expect(stamps.map(\.1) == [LabelOrder.stamp(at: 20, label: "dog"), LabelOrder.stamp(at: 10, label: "cat"),
                                    LabelOrder.stamp(at: 15, label: Label(["cat", "dog"]))])
        let state = try #require(try catalog.read { try $0.itemRecord(id: 1) })
        #expect(state.annotations.map(\.label) == ["dog"])
        #expect(state.verdict?.label == "dog")
        #expect(try catalog.read { try $0.history(itemID: 1) }.map { $0.label?.description } == ["cat", "cat+dog", "dog"])
        #expect(try catalog.read { try $0.latestLabel(itemID: 1, annotatorID: 1) } == "dog")
        // Still append-only after the triggers were recreated.
        #expect(throws: (any Error).self) { try DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE annotations SET stamp = x''") } }
    }

    /// Time decides; at one microsecond the label's content does, the same way everywhere.
    @Test func stampsOrderByTimeThenContent() {
        let early = LabelOrder.stamp(at: 100.000001, label: "zebra"), late = LabelOrder.stamp(at: 100.000002, label: "ant")
        #expect(early.lexicographicallyPrecedes(late))
        let a = LabelOrder.stamp(at: 100, label: "cat"), b = LabelOrder.stamp(at: 100, label: "dog")
        #expect(a != b && a.prefix(8) == b.prefix(8))
        #expect(LabelOrder.stamp(at: 100, label: nil) != LabelOrder.stamp(at: 100, label: Label([String]())))
        #expect(LabelOrder.stamp(hex: LabelOrder.hex(a)) == a)
        #expect(LabelOrder.stamp(hex: "zz") == nil)
    }
}
