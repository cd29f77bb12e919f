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
            try tx.annotate(itemID: item.id, className: "cat", annotator: "ada")
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
            try tx.annotate(itemID: a.id, className: "cat", annotator: "ada")
            try tx.annotate(itemID: a.id, className: "dog", annotator: "ada")  // ada changed her mind
            try tx.annotate(itemID: a.id, className: "dog", annotator: "bob")
            try tx.annotate(itemID: b.id, className: "cat", annotator: "ada")
            try tx.annotate(itemID: b.id, className: "dog", annotator: "bob")
            try tx.annotate(itemID: c.id, className: nil, annotator: "ada")  // a skip
            return (a, b, c)
        }
        let resolved = try catalog.read { try $0.resolvedLabels() }
        #expect(resolved[a.id] == .labeled("dog"))
        #expect(resolved[b.id] == .conflict(["cat", "dog"]))
        #expect(resolved[c.id] == .unlabeled)
        let history = try catalog.read { try $0.history(itemID: a.id) }
        #expect(history.map(\.className) == ["cat", "dog", "dog"])
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
                try tx.annotate(itemID: item.id, className: "c\(n % 3)", annotator: "import")
                if n % 4 == 0 { try tx.annotate(itemID: item.id, className: nil, annotator: "ada") }
                if n % 7 == 0 { try tx.appendVerdict(itemID: item.id, reviewerID: grace.id, classID: try tx.ensureClass("v").id) }
            }
        }
        func scan(_ presorted: Bool) throws -> [String] {
            try catalog.read { tx in
                var out: [String] = []
                try tx.forEachItemState(presorted: presorted) { row in
                    let labels = row.labels.sorted { $0.annotator < $1.annotator }.map { "\($0.annotator)=\($0.className ?? "-")" }
                    out.append("\(row.path) \(labels.joined(separator: ",")) \(row.verdict?.className ?? "")")
                }
                return out
            }
        }
        let sorted = try scan(false)
        #expect(sorted.count == 30)
        #expect(try scan(true) == sorted)
        #expect(sorted[0] == "images/0.png ada=-,import=c0 v")
        #expect(sorted[1] == "images/1.png import=c1 ")
    }
}
