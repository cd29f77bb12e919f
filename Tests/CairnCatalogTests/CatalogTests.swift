import CairnCatalog
import CairnStore
import CairnTestSupport
import Foundation
import GRDB
import Testing

private func makeCatalog() throws -> (Catalog, TemporaryDirectory) {
    let dir = try TemporaryDirectory("cairn-catalog")
    return (try Catalog(path: dir.appending("catalog.sqlite")), dir)
}

private func newItem(_ n: Int, path: String? = nil) -> NewItem {
    let id = BlobID(hashing: Data("item \(n)".utf8))
    return NewItem(blobID: id, path: path ?? "images/\(n).png", format: "png", width: 8, height: 8, byteSize: 100,
                   split: SplitPolicy.standard.split(for: id))
}

@Suite struct CatalogTests {
    @Test func migrationsAreAppliedInOrderAndRecorded() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        #expect(Catalog.migrationNames.first == "0001_init")
        #expect(Catalog.migrationNames == Catalog.migrationNames.sorted())
        let queue = try DatabaseQueue(path: catalog.path)
        let applied = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied == Catalog.migrationNames)
        // Re-opening applies nothing twice.
        _ = try Catalog(path: catalog.path)
    }

    @Test func aCatalogFromANewerCairnIsRefused() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let queue = try DatabaseQueue(path: catalog.path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        #expect(throws: CatalogError.schemaTooNew(unknownMigrations: ["9999_future"])) { try Catalog(path: catalog.path) }
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

    @Test func insertingTheSameBlobTwiceKeepsOneItem() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        try catalog.write { tx throws in
            #expect(try tx.insertItem(newItem(1)).isNew)
            #expect(try !tx.insertItem(newItem(1, path: "elsewhere.png")).isNew)
        }
        #expect(try catalog.itemCount() == 1)
    }

    @Test func itemsResolveByFullIDPrefixOrPath() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let items = try catalog.write { tx in try (0..<50).map { try tx.insertItem(newItem($0)).item } }
        try catalog.read { tx throws in
            let target = items[7]
            #expect(try tx.item(matching: target.blobID.hex) == target)
            #expect(try tx.item(matching: String(target.blobID.hex.prefix(12))) == target)
            #expect(try tx.item(matching: String(target.blobID.hex.prefix(12)).uppercased()) == target)
            #expect(try tx.item(matching: "images/7.png") == target)
            #expect(throws: CatalogError.notFound(kind: "item", name: "nope.png")) { try tx.item(matching: "nope.png") }
        }
    }

    @Test func aPrefixSharedByTwoItemsIsAmbiguous() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        // Find two items whose ids share their first four hex digits (a birthday search).
        var seen: [Substring: Int] = [:]
        var pair: (Int, Int)? = nil
        for n in 0..<100_000 {
            let prefix = BlobID(hashing: Data("item \(n)".utf8)).hex.prefix(4)
            if let m = seen[prefix] { pair = (m, n); break }
            seen[prefix] = n
        }
        let (m, n) = try #require(pair)
        let prefix = try catalog.write { tx throws in
            _ = try tx.insertItem(newItem(m))
            return String(try tx.insertItem(newItem(n)).item.blobID.hex.prefix(4))
        }
        #expect(throws: CatalogError.self) { try catalog.read { try $0.item(matching: prefix) } }
        do {
            _ = try catalog.read { try $0.item(matching: prefix) }
        } catch let CatalogError.ambiguous(_, name, matches) {
            #expect(name == prefix)
            #expect(matches.count == 2)
        }
    }

    @Test func classesGetDefaultHotkeysAndRefuseReservedOrDuplicateOnes() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        try catalog.write { tx throws in
            let names = (0..<12).map { "class\($0)" }
            let added = try names.map { try tx.addClass($0) }
            #expect(added.map(\.hotkey) == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "a", "b"])
            #expect(added.map(\.ordinal) == Array(0..<12))
            #expect(throws: CatalogError.self) { try tx.addClass("quit", hotkey: "q") }
            #expect(throws: CatalogError.self) { try tx.addClass("dup", hotkey: "a") }
            #expect(throws: CatalogError.self) { try tx.addClass("class0") }
            #expect(throws: CatalogError.self) { try tx.addClass(" padded") }
            #expect(try tx.addClass("zebra", hotkey: "x").hotkey == "x")
            try tx.renameClass("class0", to: "zero")
            #expect(try tx.classes().first?.name == "zero")
        }
    }

    @Test func latestLabelPerAnnotatorFeedsTheResolutionPolicy() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let (a, b, c) = try catalog.write { tx throws in
            let a = try tx.insertItem(newItem(1)).item, b = try tx.insertItem(newItem(2)).item
            let c = try tx.insertItem(newItem(3)).item
            try tx.annotate(itemID: a.id, label: "cat", annotator: "ada")
            try tx.annotate(itemID: a.id, label: "dog", annotator: "ada")  // ada changed her mind
            try tx.annotate(itemID: a.id, label: "dog", annotator: "bob")
            try tx.annotate(itemID: b.id, label: "cat", annotator: "ada")
            try tx.annotate(itemID: b.id, label: "dog", annotator: "bob")
            try tx.annotate(itemID: c.id, label: nil, annotator: "ada")  // a skip
            return (a, b, c)
        }
        let resolved = try catalog.read { try $0.resolvedLabels() }
        #expect(resolved[a.id] == .labeled("dog"))
        #expect(resolved[b.id] == .conflict(["cat", "dog"]))
        #expect(resolved[c.id] == .unlabeled)
        let history = try catalog.read { try $0.history(itemID: a.id) }
        #expect(history.map(\.label) == ["cat", "dog", "dog"])
        #expect(history.map(\.annotator) == ["ada", "ada", "bob"])
    }

    @Test func importStateIsFoundByDirectoryPrefixOnly() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let id = BlobID(hashing: Data("s".utf8))
        try catalog.write { tx throws in
            for path in ["/data/a/1.png", "/data/a/sub/2.png", "/data/ab/3.png", "/data/a"] {
                try tx.setImportState(ImportState(path: path, size: 1, mtimeNanoseconds: 2, inode: 3, blobID: id, label: nil))
            }
        }
        let found = try catalog.read { try $0.importStates(under: "/data/a") }
        #expect(Set(found.keys) == ["/data/a/1.png", "/data/a/sub/2.png"])
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

@Suite struct ItemStateScanTests {
    @Test func presortedAndSortedScansAgreeAndCarryLabelsAndVerdicts() throws {
        let dir = try TemporaryDirectory("cairn-scan")
        defer { dir.remove() }
        let catalog = try Catalog(path: dir.appending("catalog.sqlite"))
        try catalog.write { tx throws in
            let items = try (0..<30).map { try tx.insertItem(newItem($0)).item }
            let grace = try tx.addAnnotator("grace", role: .reviewer)
            for (n, item) in items.enumerated() {
                try tx.annotate(itemID: item.id, label: .one("c\(n % 3)"), annotator: "import")
                if n % 4 == 0 { try tx.annotate(itemID: item.id, label: nil, annotator: "ada") }
                // Multi-label rows: a set, the empty set, a multi-label verdict.
                if n % 5 == 1 { try tx.annotate(itemID: item.id, label: Label(["c2", "c0"]), annotator: "bo") }
                if n == 10 { try tx.annotate(itemID: item.id, label: Label([String]()), annotator: "bo") }
                if n == 14 {
                    try tx.appendVerdict(itemID: item.id, reviewerID: grace.id, classIDs: try tx.ensureClasses(Label(["v", "c1"])))
                } else if n % 7 == 0 {
                    try tx.appendVerdict(itemID: item.id, reviewerID: grace.id, classIDs: [try tx.ensureClass("v").id])
                }
            }
        }
        func scan(_ presorted: Bool) throws -> [String] {
            try catalog.read { tx in
                var out: [String] = []
                try tx.forEachItemState(presorted: presorted) { row in
                    let labels = row.labels.sorted { $0.annotator < $1.annotator }.map { "\($0.annotator)=\($0.label?.description ?? "-")" }
                    out.append("\(row.path) \(labels.joined(separator: ",")) \(row.verdict?.label.description ?? "")")
                }
                return out
            }
        }
        let sorted = try scan(false)
        #expect(sorted.count == 30)
        #expect(try scan(true) == sorted)
        #expect(sorted[0] == "images/0.png ada=-,import=c0 v")
        #expect(sorted[1] == "images/1.png bo=c0+c2,import=c1 ")
        #expect(sorted[10] == "images/10.png bo=(none),import=c1 ")
        #expect(sorted[14] == "images/14.png import=c2 c1+v")
        // The per-item reader (itemStates) agrees with the scan on every label, multi-label ones included.
        let states = try catalog.read { try $0.itemStates() }.sorted { $0.item.id < $1.item.id }
        #expect(states[1].latest["bo"] == .some(Label(["c0", "c2"])) && states[10].latest["bo"] == .some(Label([String]())))
        #expect(states[14].verdict?.label == Label(["c1", "v"]) && states[14].resolved == .labeled(Label(["c1", "v"])))
        #expect(states[1].resolved == .conflict([Label.one("c1"), Label(["c0", "c2"])].sorted()))
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
        for name in Catalog.migrationNames where name < "0005" {
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
        let catalog = try Catalog(path: path)
        let state = try #require(try catalog.read { try $0.itemStates() }.first)
        #expect(state.verdict?.reviewer == "grace" && state.verdict?.label == "cat")
        let queue = try DatabaseQueue(path: path)
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "UPDATE reviews SET class_id = NULL") } }
        #expect(throws: (any Error).self) { try queue.write { try $0.execute(sql: "DELETE FROM reviews") } }
        try catalog.write { tx in
            try tx.appendVerdict(itemID: 1, reviewerID: 1, classIDs: [try tx.ensureClass("dog").id, 1])
        }
        #expect(try catalog.read { try $0.dirtyItems().itemIDs } == [1])
        #expect(try catalog.read { try $0.itemStates().first?.verdict?.label } == Label(["cat", "dog"]))
        // Renaming a class that is only in a set still marks its item for the next snapshot.
        try catalog.write { try $0.clearDirty(upTo: .max) }
        try catalog.write { try $0.renameClass("dog", to: "hound") }
        #expect(try catalog.read { try $0.dirtyItems().itemIDs } == [1])
        #expect(try catalog.read { try $0.itemStates().first?.verdict?.label } == Label(["cat", "hound"]))
    }

    @Test func setsAreStoredReadFilteredAndTravelInBundles() throws {
        let (catalog, dir) = try makeCatalog()
        defer { dir.remove() }
        let catDog = Label(["dog", "cat"]), nothing = Label([String]())
        let ids = try catalog.write { tx throws -> [Int64] in
            let items = try (1...4).map { try tx.insertItem(newItem($0)).item.id }
            try tx.annotate(itemID: items[0], label: catDog, annotator: "ada")
            try tx.annotate(itemID: items[0], label: catDog, annotator: "bob")   // agree: same set
            try tx.annotate(itemID: items[1], label: catDog, annotator: "ada")
            try tx.annotate(itemID: items[1], label: "cat", annotator: "bob")    // disagree: set vs one class
            try tx.annotate(itemID: items[2], label: nothing, annotator: "ada")  // "no class applies": a label, not a skip
            try tx.annotate(itemID: items[3], label: Label(["cat"]), annotator: "ada")  // a set of one is the one-class label
            try tx.annotate(itemID: items[3], label: "cat", annotator: "bob")
            try tx.addAnnotator("grace", role: .reviewer)
            return items
        }
        try catalog.read { tx in
            #expect(try tx.latestLabel(itemID: ids[0], annotatorID: try #require(try tx.annotator(named: "ada")).id) == Label(["cat", "dog"]))
            #expect(try tx.history(itemID: ids[2]).map(\.label) == [nothing])
            let resolved = try tx.resolvedLabels()
            #expect(resolved[ids[0]] == .labeled(catDog))
            #expect(resolved[ids[1]] == .conflict([Label.one("cat"), catDog]))
            #expect(resolved[ids[2]] == .labeled(nothing))
            #expect(resolved[ids[3]] == .labeled("cat"))
            let grace = try #require(try tx.annotator(named: "grace")).id
            let disagreeing = try tx.queueLength(queue: .disagreements, annotatorID: grace, overlap: 1)
            #expect(disagreeing == 1)
            #expect(try tx.peekNext(queue: .disagreements, annotatorID: grace, overlap: 1, after: 0)?.id == ids[1])
            // --class dog finds the items whose current labels carry dog in a set.
            #expect(try tx.queueLength(queue: .all, filter: QueueFilter(className: "dog"), annotatorID: grace, overlap: 1) == 2)
            // Items labeled with the empty set count as labeled for the unlabeled queue.
            #expect(try tx.peekNext(queue: .unlabeled, annotatorID: grace, overlap: 1, after: ids[1]) == nil)
        }
        // A set of one is stored as a one-class row: one label, one encoding.
        let multiRows = try DatabaseQueue(path: catalog.path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM annotations WHERE multi = 1") }
        #expect(multiRows == 4)
        // Bundles carry sets, and merging into an empty catalog reproduces every label.
        let items = Set(try catalog.read { try $0.allItems().map(\.blobID) })
        let bundle = try catalog.read { try CatalogBundle.export($0, items: items, snapshots: []) }
        let json = try JSONEncoder().encode(bundle)
        #expect(String(decoding: json, as: UTF8.self).contains(#""class":["cat","dog"]"#))
        let decoded = try JSONDecoder().decode(CatalogBundle.self, from: json)
        let (copy, copyDir) = try makeCatalog()
        defer { copyDir.remove() }
        _ = try copy.write { try decoded.merge(into: $0) }
        let labels = { (c: Catalog) in try c.read { tx in try tx.itemStates().map { "\($0.item.blobID) \($0.latest.sorted { $0.key < $1.key })" }.sorted() } }
        #expect(try labels(copy) == labels(catalog))
        #expect(try copy.write { try decoded.merge(into: $0) }.total == 0)
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
        for name in Catalog.migrationNames where name < "0006" {
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
        let catalog = try Catalog(path: path)
        let stamps = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT id, stamp FROM annotations ORDER BY id").map { ($0[0] as Int64, $0[1] as Data) }
        }
        #expect(stamps.map(\.1) == [LabelOrder.stamp(at: 20, label: "dog"), LabelOrder.stamp(at: 10, label: "cat"),
                                    LabelOrder.stamp(at: 15, label: Label(["cat", "dog"]))])
        let state = try #require(try catalog.read { try $0.itemStates() }.first)
        #expect(state.latest["ada"] == .some("dog"))
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
