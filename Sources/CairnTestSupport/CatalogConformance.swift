import CairnCatalog
import CairnStore
import Foundation
import Testing

/// What every catalog backend must do, as checks a backend's tests run on a fresh, empty catalog:
///
/// ```swift
/// @Test(arguments: CatalogConformance.checks)
/// func conformance(_ check: CatalogConformance.Check) throws {
///     let dir = try TemporaryDirectory("catalog")
///     defer { dir.remove() }
///     try check.run(try SQLiteCatalog(path: dir.appending("catalog.sqlite")))
/// }
/// ```
///
/// The checks speak only the `Catalog` protocols; storage details (a schema, triggers, query
/// plans) are the backend's own tests.
public enum CatalogConformance {
    public struct Check: Sendable, CustomTestStringConvertible {
        public let name: String
        public let run: @Sendable (any Catalog) throws -> Void
        public var testDescription: String { name }
    }

    /// A new item numbered `n`, at `images/n.png` unless `path` says otherwise.
    public static func newItem(_ n: Int, path: String? = nil) -> NewItem {
        let id = BlobID(hashing: Data("item \(n)".utf8))
        return NewItem(blobID: id, path: path ?? "images/\(n).png", format: "png", width: 8, height: 8, byteSize: 100,
                       split: SplitPolicy.standard.split(for: id))
    }

    public static let checks: [Check] = [
        Check(name: "one item per blob", run: oneItemPerBlob),
        Check(name: "items resolve by id, prefix or path", run: itemsResolve),
        Check(name: "a prefix two items share is ambiguous", run: sharedPrefixIsAmbiguous),
        Check(name: "class names and keys", run: classesAndKeys),
        Check(name: "latest label per annotator, resolved", run: latestLabelsResolve),
        Check(name: "the latest label is the latest in time", run: latestIsByTime),
        Check(name: "records carry labels, sets and verdicts", run: recordsCarryLabels),
        Check(name: "sets are stored, filtered and exchanged", run: setsTravel),
        Check(name: "only reviewers record verdicts", run: onlyReviewersReview),
        Check(name: "pending changes follow every write", run: pendingChanges),
        Check(name: "snapshots and HEAD", run: snapshotsAndHead),
        Check(name: "tags are immutable and keep a history", run: tags),
        Check(name: "runs", run: runs),
        Check(name: "run artifacts are roots", run: runArtifacts),
        Check(name: "predictions per run", run: predictions),
        Check(name: "leases keep annotators apart", run: leases),
        Check(name: "import state by directory", run: importState),
        Check(name: "purges are permanent and travel screened", run: purgesTravel),
        Check(name: "an item's split is its latest change's", run: splits),
        Check(name: "removed items leave every list and come back", run: removals),
        Check(name: "sweeps need their snapshot and resolve by prefix", run: sweeps),
        Check(name: "one report per snapshot and kind", run: reports),
        Check(name: "batches write what one-by-one writes do", run: batches),
        Check(name: "team activity counts labels, verdicts and live leases", run: activity),
        Check(name: "box sets: history, latest per person, verdicts, checks, changes and rename", run: boxes),
        Check(name: "box queues: unlabeled, mine, review and disagreements read the box histories", run: boxQueues),
    ]

    static func boxQueues(_ catalog: any Catalog) throws {
        let cat = Box(className: "cat", x: 1, y: 1, width: 2, height: 2)
        let (items, ada, bob, grace) = try catalog.write { tx throws in
            let items = try (1...4).map { try tx.insertItem(newItem($0)).item }
            return (items, try tx.ensureAnnotator("ada").id, try tx.ensureAnnotator("bob").id, try tx.addAnnotator("grace", role: .reviewer))
        }
        func count(_ queue: LabelQueue, _ me: Int64, overlap: Int = 1) throws -> Int {
            try catalog.read { try $0.itemCount(in: AnnotatorQueue(queue, annotatorID: me, overlap: overlap, kind: .boxes), now: Date()) }
        }
        #expect(try count(.unlabeled, ada) == 4)
        try catalog.write { tx throws in
            let classes = ["cat": try tx.ensureClass("cat")]
            // A class label does not take an item out of the box queue, nor a box set out of the class queue.
            try tx.annotate(itemID: items[3].id, label: .one("cat"), annotator: "ada")
            try tx.appendBoxes(.annotations, item: items[0], personID: ada, boxes: BoxSet([cat]), classes: classes)
            try tx.appendBoxes(.annotations, item: items[1], personID: ada, boxes: BoxSet([]), classes: classes)
            try tx.appendBoxes(.annotations, item: items[1], personID: bob, boxes: BoxSet([]), classes: classes)
            try tx.appendBoxes(.annotations, item: items[2], personID: ada, boxes: BoxSet([]), classes: classes)
            try tx.appendBoxes(.annotations, item: items[2], personID: bob, boxes: BoxSet([]), classes: classes)
            // bob changes his mind: his latest set differs from ada's.
            try tx.appendBoxes(.annotations, item: items[2], personID: bob, boxes: BoxSet([cat]), classes: classes)
        }
        #expect(try count(.unlabeled, ada) == 1)
        #expect(try catalog.read { try $0.itemCount(in: AnnotatorQueue(.unlabeled, annotatorID: ada), now: Date()) } == 3)
        #expect(try count(.unlabeled, bob) == 1)  // items[0] has ada's set and overlap 1
        #expect(try count(.unlabeled, bob, overlap: 2) == 2)
        #expect(try count(.mine, ada) == 3)
        #expect(try count(.review, grace.id) == 3)
        #expect(try count(.disagreements, grace.id) == 1)
        #expect(try catalog.read { try $0.nextItem(in: AnnotatorQueue(.disagreements, annotatorID: grace.id, kind: .boxes), after: 0, now: Date()) }?.id
            == items[2].id)
        _ = try catalog.write { tx throws in
            try tx.appendBoxVerdict(item: items[2], reviewer: grace, boxes: BoxSet([cat]), classes: ["cat": try tx.ensureClass("cat")])
        }
        #expect(try count(.disagreements, grace.id) == 0)
        #expect(try count(.review, grace.id) == 2)
    }

    static func boxes(_ catalog: any Catalog) throws {
        let cat = Box(className: "cat", x: 1, y: 1.5, width: 3, height: 2)
        let dog = Box(className: "dog", x: 0, y: 0, width: 8, height: 8, crowd: true)
        let (item, other) = try catalog.write { tx throws in (try tx.insertItem(newItem(1)).item, try tx.insertItem(newItem(2)).item) }
        #expect(try catalog.read { try $0.itemRecord(id: item.id)?.boxes } == nil)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        // Provenance: a model proposed dog and a second cat; bob took the dog.
        let shown = BoxSuggestionShown(run: "r1", fixes: [BoxFix(remove: nil, add: dog), BoxFix(remove: nil, add: cat)], taken: [0])
        try catalog.write { tx throws in
            let classes = Dictionary(uniqueKeysWithValues: [try tx.ensureClass("cat"), try tx.ensureClass("dog")].map { ($0.name, $0) })
            let ada = try tx.ensureAnnotator("ada"), bob = try tx.ensureAnnotator("bob")
            try tx.appendBoxes(.annotations, item: item, personID: ada.id, boxes: BoxSet([cat]), classes: classes, at: start)
            try tx.appendBoxes(.annotations, item: item, personID: ada.id, boxes: BoxSet([cat, dog]), classes: classes, at: start + 1)
            try tx.appendBoxes(.annotations, item: item, personID: bob.id, boxes: BoxSet([dog, cat]), classes: classes, at: start + 2,
                               suggestion: shown)
            // Checked before anything is written: outside the image, no size, not a number, an unknown class.
            for bad in [Box(className: "cat", x: 6, y: 0, width: 3, height: 1), Box(className: "cat", x: 0, y: 0, width: 0, height: 1),
                        Box(className: "cat", x: .nan, y: 0, width: 1, height: 1), Box(className: "cow", x: 0, y: 0, width: 1, height: 1)] {
                #expect(throws: CatalogError.self) {
                    try tx.appendBoxes(.annotations, item: other, personID: ada.id, boxes: BoxSet([bad]), classes: classes, at: start)
                }
            }
            // So is the provenance: a taken change that was not shown, one taken twice, a change of nothing, a box not a number.
            for bad in [BoxSuggestionShown(run: "r1", fixes: [BoxFix(remove: nil, add: dog)], taken: [1]),
                        BoxSuggestionShown(run: "r1", fixes: [BoxFix(remove: nil, add: dog)], taken: [0, 0]),
                        BoxSuggestionShown(run: "r1", fixes: [BoxFix(remove: nil, add: nil)], taken: []),
                        BoxSuggestionShown(run: "r1", fixes: [BoxFix(remove: Box(className: "cat", x: .nan, y: 0, width: 1, height: 1), add: nil)],
                                           taken: [])] {
                #expect(throws: CatalogError.self) {
                    try tx.appendBoxes(.annotations, item: other, personID: ada.id, boxes: BoxSet([]), classes: classes, at: start, suggestion: bad)
                }
            }
        }
        var record = try #require(try catalog.read { try $0.itemRecord(id: item.id)?.boxes })
        #expect(record.annotations.map(\.person) == ["ada", "bob"])
        #expect(record.resolved == BoxSet([cat, dog]))
        #expect(try catalog.read { try $0.itemRecord(id: other.id)?.boxes } == nil)
        #expect(try catalog.read { try $0.boxLabels(.annotations, itemID: item.id).map(\.boxes.count) } == [1, 2, 2])
        #expect(try catalog.read { try $0.boxLabels(.annotations, itemID: item.id).map(\.suggestion) } == [nil, nil, shown])
        #expect(shown.keptAsProposed(in: BoxSet([dog, cat])) == 1)
        #expect(shown.keptAsProposed(in: BoxSet([cat])) == 0)
        #expect(try catalog.read { try $0.boxLabelCount() } == 3)

        // Sets that differ wait for a reviewer; the reviewer's latest set wins; both marked as changes.
        try catalog.write { tx throws in
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            try tx.appendBoxes(.annotations, item: item, personID: try tx.ensureAnnotator("bob").id, boxes: BoxSet([]), classes: classes, at: start + 3)
        }
        record = try #require(try catalog.read { try $0.itemRecord(id: item.id)?.boxes })
        #expect(record.resolved == nil)
        try catalog.write { tx throws in
            try tx.recordSnapshot(SnapshotRecord(id: BlobID(hashing: Data("boxes".utf8)), parentID: nil, message: "m", author: "a",
                                                 createdAt: Date(), itemCount: 2, counts: "{}"))
            try tx.settleChanges(try tx.pendingChanges())
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            let grace = try tx.addAnnotator("grace", role: .reviewer)
            #expect(throws: CatalogError.self) {
                try tx.appendBoxVerdict(item: item, reviewer: try tx.ensureAnnotator("ada"), boxes: BoxSet([cat]), classes: classes)
            }
            try tx.appendBoxVerdict(item: item, reviewer: grace, boxes: BoxSet([dog]), classes: classes, at: start + 4,
                                    suggestion: BoxSuggestionShown(run: "r2", fixes: [BoxFix(remove: cat, add: nil)], taken: [0]))
        }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [item.id])
        record = try #require(try catalog.read { try $0.itemRecord(id: item.id)?.boxes })
        #expect(record.verdict?.person == "grace")
        #expect(record.resolved == BoxSet([dog]))
        #expect(try catalog.read { try $0.boxLabels(.verdicts, itemID: item.id).map(\.person) } == ["grace"])

        // A renamed class renames its boxes and marks the items that have boxes.
        try catalog.write { tx throws in try tx.settleChanges(try tx.pendingChanges()) }
        try catalog.write { try $0.renameClass("dog", to: "hound") }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [item.id])
        #expect(try catalog.read { try $0.itemRecord(id: item.id)?.boxes?.resolved?.boxes.map(\.className) } == ["hound"])
        let events = try catalog.read { try $0.storedBoxEvents() }
        #expect(events.map(\.history) == [.annotations, .annotations, .annotations, .annotations, .verdicts])
        #expect(events.map { $0.label.suggestion?.run } == [nil, nil, "r1", nil, "r2"])
        #expect(Set(events.map(\.item)) == [item.blobID])
    }

    static func activity(_ catalog: any Catalog) throws {
        let start = Date(timeIntervalSince1970: 10_000)
        try catalog.write { tx throws in
            let cat = try tx.ensureClass("cat").id
            let ada = try tx.ensureAnnotator("ada"), bob = try tx.ensureAnnotator("bob")
            let grace = try tx.addAnnotator("grace", role: .reviewer)
            _ = try tx.ensureAnnotator("idle")
            let items = try (0..<4).map { try tx.insertItem(newItem($0)).item.id }
            try tx.appendAnnotations([
                NewAnnotation(itemID: items[0], personID: ada.id, classIDs: [cat], at: start),
                NewAnnotation(itemID: items[1], personID: ada.id, classIDs: nil, at: start.addingTimeInterval(100)),
                NewAnnotation(itemID: items[2], personID: ada.id, classIDs: [cat], at: start.addingTimeInterval(200)),
                NewAnnotation(itemID: items[0], personID: bob.id, classIDs: [cat], at: start.addingTimeInterval(50)),
            ])
            try tx.appendVerdict(itemID: items[0], reviewer: grace, classIDs: [cat], at: start.addingTimeInterval(300))
            try tx.lease(itemID: items[3], annotatorID: bob.id, host: "laptop-b", pid: 7, until: start.addingTimeInterval(1_000))
            try tx.lease(itemID: items[2], annotatorID: bob.id, host: "laptop-c", pid: 8, until: start.addingTimeInterval(1_000))
            try tx.lease(itemID: items[1], annotatorID: grace.id, host: "gone", pid: 9, until: start.addingTimeInterval(400))
        }
        let team = try catalog.read { try $0.teamActivity(since: start.addingTimeInterval(100), now: start.addingTimeInterval(500)) }
        #expect(team.map(\.name) == ["grace", "ada", "bob"], "most recently active first; nobody who did nothing")
        let (grace, ada, bob) = (team[0], team[1], team[2])
        #expect(ada.annotations == 3 && ada.recentAnnotations == 2 && ada.verdicts == 0 && ada.leases.isEmpty)
        #expect(ada.lastActive == start.addingTimeInterval(200))
        #expect(bob.annotations == 1 && bob.recentAnnotations == 0 && bob.leases == ["laptop-b": 1, "laptop-c": 1])
        #expect(grace.verdicts == 1 && grace.recentVerdicts == 1 && grace.role == .reviewer && grace.leases.isEmpty, "an expired lease is not held")
    }

    static func batches(_ catalog: any Catalog) throws {
        try catalog.write { tx throws in
            let (a, b) = (try tx.addClass("a"), try tx.addClass("b"))
            let ada = try tx.ensureAnnotator("ada")
            let first = try tx.insertItem(newItem(0)).item
            let batch = try tx.insertItems([newItem(1), newItem(0, path: "again.png"), newItem(2), newItem(1)],
                                           addedAt: Date(timeIntervalSince1970: 1_000))
            #expect(batch.map(\.isNew) == [true, false, true, false])
            #expect(batch[1].item == first && batch[3].item == batch[0].item)
            #expect(batch[0].item.id < batch[2].item.id)
            #expect(try tx.item(blobID: newItem(2).blobID) == batch[2].item)
            #expect(try tx.insertItems([], addedAt: Date()).isEmpty)

            let time = Date(timeIntervalSince1970: 2_000)
            try tx.appendAnnotations([
                NewAnnotation(itemID: first.id, personID: ada.id, classIDs: [a.id], at: time),
                NewAnnotation(itemID: batch[0].item.id, personID: ada.id, classIDs: nil, at: time),
                NewAnnotation(itemID: batch[2].item.id, personID: ada.id, classIDs: [a.id, b.id], at: time),
                NewAnnotation(itemID: first.id, personID: ada.id, classIDs: [b.id], at: time.addingTimeInterval(1)),
            ])
            #expect(try tx.latestLabel(itemID: first.id, annotatorID: ada.id) == "b")
            #expect(try tx.latestAnnotation(itemID: batch[0].item.id, annotatorID: ada.id) == .some(nil))
            let secondStamp = LabelOrder.stamp(at: 2_001, label: "b")
            #expect(try tx.latestAnnotation(itemID: first.id, annotatorID: ada.id, before: secondStamp) == .some("a"))
            #expect(try tx.latestAnnotation(itemID: first.id, annotatorID: ada.id, before: LabelOrder.stamp(at: 2_000, label: "a")) == nil)
            #expect(try tx.latestLabel(itemID: batch[2].item.id, annotatorID: ada.id) == Label(["a", "b"]))
            #expect(try tx.history(itemID: first.id).map(\.label) == ["a", "b"])

            let x = ImportState(path: "/in/x.png", size: 1, mtimeNanoseconds: 2, inode: .max, blobID: first.blobID, label: nil)
            var later = x
            (later.size, later.label) = (5, "a,b")
            let y = ImportState(path: "/in/y.png", size: 3, mtimeNanoseconds: 4, inode: 7, blobID: batch[2].item.blobID, label: "")
            try tx.setImportStates([x, y, later])
            #expect(try tx.importStates(under: "/in") == ["/in/x.png": later, "/in/y.png": y])
        }
    }

    static func oneItemPerBlob(_ catalog: any Catalog) throws {
        try catalog.write { tx throws in
            #expect(try tx.insertItem(newItem(1)).isNew)
            #expect(try !tx.insertItem(newItem(1, path: "elsewhere.png")).isNew)
        }
        #expect(try catalog.itemCount() == 1)
        #expect(try catalog.read { try $0.byteCount() } == 100)
        #expect(try catalog.read { try $0.referencedBlobs() } == [newItem(1).blobID])
    }

    static func itemsResolve(_ catalog: any Catalog) throws {
        let items = try catalog.write { tx in try (0..<50).map { try tx.insertItem(newItem($0)).item } }
        try catalog.read { tx throws in
            let target = items[7]
            #expect(try tx.item(matching: target.blobID.hex) == target)
            #expect(try tx.item(matching: String(target.blobID.hex.prefix(12))) == target)
            #expect(try tx.item(matching: String(target.blobID.hex.prefix(12)).uppercased()) == target)
            #expect(try tx.item(matching: "images/7.png") == target)
            #expect(try tx.item(id: target.id) == target)
            #expect(throws: CatalogError.notFound(kind: "item", name: "nope.png")) { try tx.item(matching: "nope.png") }
            #expect(throws: CatalogError.prefixTooShort(kind: "item", name: "abc")) { try tx.item(matching: "abc") }
            #expect(try tx.allItems().map(\.id) == items.map(\.id))
            #expect(try tx.allItems(split: .val).allSatisfy { $0.split == .val })
        }
    }

    static func sharedPrefixIsAmbiguous(_ catalog: any Catalog) throws {
        // Two items whose ids share their first four hex digits (a birthday search).
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
        do {
            _ = try catalog.read { try $0.item(matching: prefix) }
            Issue.record("a shared prefix resolved")
        } catch let CatalogError.ambiguous(_, name, matches) {
            #expect(name == prefix && matches.count == 2)
        }
    }

    static func classesAndKeys(_ catalog: any Catalog) throws {
        try catalog.write { tx throws in
            let added = try (0..<12).map { try tx.addClass("class\($0)") }
            #expect(added.map(\.hotkey) == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "a", "b"])
            #expect(added.map(\.ordinal) == Array(0..<12))
            #expect(throws: CatalogError.unusableKey("q")) { try tx.addClass("quit", hotkey: "q") }
            #expect(throws: CatalogError.keyInUse(key: "a", className: "class10")) { try tx.addClass("dup", hotkey: "a") }
            #expect(throws: CatalogError.exists(kind: "class", name: "class0")) { try tx.addClass("class0") }
            #expect(throws: CatalogError.self) { try tx.addClass(" padded") }
            #expect(throws: CatalogError.self) { try tx.addClass("a/b") }
            #expect(try tx.addClass("zebra", hotkey: "x").hotkey == "x")
            // A one-character name gets that key when it is free.
            #expect(try tx.addClass("k").hotkey == "k")
            try tx.renameClass("class0", to: "zero")
            #expect(try tx.classes().first?.name == "zero")
            try tx.setHotkey("zero", to: "y")
            #expect(try tx.labelClass(named: "zero")?.hotkey == "y")
            #expect(throws: CatalogError.unknownClass("nope")) { try tx.existingClassIDs(["nope"]) }
        }
    }

    static func latestLabelsResolve(_ catalog: any Catalog) throws {
        let (a, b, c) = try catalog.write { tx throws in
            let a = try tx.insertItem(newItem(1)).item, b = try tx.insertItem(newItem(2)).item, c = try tx.insertItem(newItem(3)).item
            let t = Date(timeIntervalSince1970: 1_700_000_000)
            let ada = try tx.ensureAnnotator("ada"), bob = try tx.ensureAnnotator("bob")
            let cat = try tx.ensureClass("cat").id, dog = try tx.ensureClass("dog").id
            try tx.appendAnnotation(itemID: a.id, annotatorID: ada.id, classIDs: [cat], at: t)
            try tx.appendAnnotation(itemID: a.id, annotatorID: ada.id, classIDs: [dog], at: t + 1)  // ada changed her mind
            try tx.appendAnnotation(itemID: a.id, annotatorID: bob.id, classIDs: [dog], at: t + 2)
            try tx.appendAnnotation(itemID: b.id, annotatorID: ada.id, classIDs: [cat], at: t)
            try tx.appendAnnotation(itemID: b.id, annotatorID: bob.id, classIDs: [dog], at: t)
            try tx.appendAnnotation(itemID: c.id, annotatorID: ada.id, classIDs: nil, at: t)  // a skip
            return (a, b, c)
        }
        let resolved = try catalog.read { try $0.resolvedLabels() }
        #expect(resolved[a.id] == .labeled("dog"))
        #expect(resolved[b.id] == .conflict(["cat", "dog"]))
        #expect(resolved[c.id] == .unlabeled)
        let history = try catalog.read { try $0.history(itemID: a.id) }
        #expect(history.map(\.label) == ["cat", "dog", "dog"])
        #expect(history.map(\.annotator) == ["ada", "ada", "bob"])
        #expect(try catalog.read { try $0.annotationCount() } == 6)
    }

    /// Rows written out of time order (as merges write them) still make the latest in time the latest.
    static func latestIsByTime(_ catalog: any Catalog) throws {
        let item = try catalog.write { tx throws -> Int64 in
            let item = try tx.insertItem(newItem(1)).item.id
            let ada = try tx.ensureAnnotator("ada"), grace = try tx.addAnnotator("grace", role: .reviewer)
            let cat = try tx.ensureClass("cat").id, dog = try tx.ensureClass("dog").id
            let t = Date(timeIntervalSince1970: 1_700_000_000)
            try tx.appendAnnotation(itemID: item, annotatorID: ada.id, classIDs: [dog], at: t + 2)
            try tx.appendAnnotation(itemID: item, annotatorID: ada.id, classIDs: [cat], at: t + 1)
            try tx.appendVerdict(itemID: item, reviewer: grace, classIDs: [cat], at: t + 5)
            try tx.appendVerdict(itemID: item, reviewer: grace, classIDs: [dog], at: t + 4)
            return item
        }
        try catalog.read { tx throws in
            #expect(try tx.latestLabel(itemID: item, annotatorID: try #require(try tx.annotator(named: "ada")).id) == "dog")
            #expect(try tx.history(itemID: item).map(\.label) == ["cat", "dog"])
            #expect(try tx.verdicts(itemID: item).map(\.label) == ["dog", "cat"])
            #expect(try tx.itemRecord(id: item)?.verdict?.label == "cat")
        }
    }

    static func recordsCarryLabels(_ catalog: any Catalog) throws {
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
                    try tx.appendVerdict(itemID: item.id, reviewer: grace, classIDs: try tx.ensureClasses(Label(["v", "c1"])))
                } else if n % 7 == 0 {
                    try tx.appendVerdict(itemID: item.id, reviewer: grace, classIDs: [try tx.ensureClass("v").id])
                }
            }
        }
        var ids: [Int64] = []
        var lines: [String] = []
        try catalog.read { tx throws in
            try tx.forEachItemRecord(ids: nil) { id, record in
                ids.append(id)
                let labels = record.annotations.map { "\($0.annotator)=\($0.label?.description ?? "-")" }
                lines.append("\(record.path) \(labels.joined(separator: ",")) \(record.verdict?.label.description ?? "")")
            }
        }
        #expect(ids == ids.sorted() && lines.count == 30)
        #expect(lines[0] == "images/0.png ada=-,import=c0 v")
        #expect(lines[1] == "images/1.png bo=c0+c2,import=c1 ")
        #expect(lines[10] == "images/10.png bo=(none),import=c1 ")
        #expect(lines[14] == "images/14.png import=c2 c1+v")
        // A subset reads the same records as the whole scan.
        let all = try catalog.read { try $0.itemRecords() }
        let some = try catalog.read { try $0.itemRecords(ids: [ids[14], ids[1], ids[10], ids[1]]) }
        #expect(some.count == 3 && some.allSatisfy { all[$0.key] == $0.value })
        #expect(some[ids[14]]?.resolved == .labeled(Label(["c1", "v"])))
        #expect(some[ids[1]]?.resolved == .conflict([Label.one("c1"), Label(["c0", "c2"])].sorted()))
    }

    static func setsTravel(_ catalog: any Catalog) throws {
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
        try catalog.read { tx throws in
            #expect(try tx.latestLabel(itemID: ids[0], annotatorID: try #require(try tx.annotator(named: "ada")).id) == Label(["cat", "dog"]))
            #expect(try tx.history(itemID: ids[2]).map(\.label) == [nothing])
            let resolved = try tx.resolvedLabels()
            #expect(resolved[ids[0]] == .labeled(catDog))
            #expect(resolved[ids[1]] == .conflict([Label.one("cat"), catDog]))
            #expect(resolved[ids[2]] == .labeled(nothing))
            #expect(resolved[ids[3]] == .labeled("cat"))
            let grace = try #require(try tx.annotator(named: "grace")).id
            #expect(try tx.queueLength(AnnotatorQueue(.disagreements, annotatorID: grace)) == 1)
            #expect(try tx.peekNext(in: AnnotatorQueue(.disagreements, annotatorID: grace), after: 0)?.id == ids[1])
            // --class dog finds the items whose current labels carry dog in a set.
            #expect(try tx.queueLength(AnnotatorQueue(.all, filter: QueueFilter(className: "dog"), annotatorID: grace)) == 2)
            // Items labeled with the empty set count as labeled for the unlabeled queue.
            #expect(try tx.peekNext(in: AnnotatorQueue(.unlabeled, annotatorID: grace), after: ids[1]) == nil)
        }
        // Bundles carry sets, and merging into an empty catalog of the same kind reproduces every label.
        let items = Set(try catalog.read { try $0.allItems().map(\.blobID) })
        let bundle = try catalog.read { try CatalogBundle.export($0, items: items, snapshots: []) }
        let json = try JSONEncoder().encode(bundle)
        #expect(String(decoding: json, as: UTF8.self).contains(#""class":["cat","dog"]"#))
        let decoded = try JSONDecoder().decode(CatalogBundle.self, from: json)
        let fingerprint = try catalog.read { try $0.changeFingerprint() }
        #expect(try catalog.write { try decoded.merge(into: $0) }.total == 0)
        #expect(try catalog.read { try $0.changeFingerprint() } == fingerprint)
        let again = try catalog.read { try CatalogBundle.export($0, items: items, snapshots: []) }
        #expect(again == bundle)
    }

    static func purgesTravel(_ catalog: any Catalog) throws {
        let (a, b) = (newItem(1).blobID, newItem(2).blobID)
        try catalog.write { tx throws in
            _ = try tx.insertItem(newItem(1))
            _ = try tx.insertItem(newItem(2))
            let ada = try tx.addAnnotator("ada", role: .reviewer)
            #expect(try tx.recordPurge(blob: a, personID: ada.id, reason: "removal request", at: Date(timeIntervalSince1970: 100)))
            #expect(try !tx.recordPurge(blob: a, personID: ada.id, reason: "again", at: Date()), "one record per blob; the first stays")
        }
        #expect(try catalog.read { try $0.purges() }.map(\.reason) == ["removal request"])
        #expect(try catalog.read { try $0.purgedBlobs() } == [a])
        // In a bundle only with its item; merged once; screened against what the remote holds and who exists.
        let bundle = try catalog.read { try CatalogBundle.export($0, items: [a, b], snapshots: []) }
        #expect(bundle.purges?.map(\.blob) == [a.hex] && bundle.purges?.first?.who == "ada")
        #expect(try catalog.read { try CatalogBundle.export($0, items: [b], snapshots: []) }.purges == nil)
        #expect(try catalog.write { try bundle.merge(into: $0) }.purges == 0)
        var crafted = bundle
        crafted.purges = (crafted.purges ?? []) + [CatalogBundle.PurgeEntry(blob: b.hex, who: "mallory", why: "", at: 1),
                                                   CatalogBundle.PurgeEntry(blob: newItem(3).blobID.hex, who: "ada", why: "", at: 1)]
        let (kept, refused) = crafted.screened(items: [a, b], snapshots: [])
        #expect(kept.purges?.map(\.blob) == [a.hex] && refused.labels == 2, "an unknown person's, and one of an item not held")
    }

    static func onlyReviewersReview(_ catalog: any Catalog) throws {
        try catalog.write { tx throws in
            let item = try tx.insertItem(newItem(1)).item.id
            let cat = try tx.ensureClass("cat").id
            let ada = try tx.ensureAnnotator("ada")
            #expect(throws: CatalogError.notAReviewer(name: "ada", role: .annotator)) {
                try tx.appendVerdict(itemID: item, reviewer: ada, classIDs: [cat])
            }
            #expect(throws: CatalogError.notAReviewer(name: "nobody", role: nil)) { try tx.reviewer(named: "nobody") }
            let admin = try tx.addAnnotator("root", role: .admin)
            try tx.appendVerdict(itemID: item, reviewer: try tx.reviewer(named: "root"), classIDs: [cat])
            #expect(try tx.verdicts(itemID: item).map(\.annotator) == [admin.name])
        }
    }

    static func pendingChanges(_ catalog: any Catalog) throws {
        let (a, b) = try catalog.write { tx throws in
            (try tx.insertItem(newItem(1)).item.id, try tx.insertItem(newItem(2)).item.id)
        }
        func settle() throws -> [Int64] {
            try catalog.write { tx throws in
                let changes = try tx.pendingChanges()
                try tx.recordSnapshot(SnapshotRecord(id: BlobID(hashing: Data(UUID().uuidString.utf8)), parentID: nil, message: "m",
                                                     author: "a", createdAt: Date(), itemCount: 2, counts: "{}"))
                try tx.settleChanges(changes)
                return changes.itemIDs.sorted()
            }
        }
        _ = try settle()
        #expect(try catalog.read { try $0.pendingChanges().itemIDs }.isEmpty)
        try catalog.write { tx in try tx.annotate(itemID: a, label: "cat", annotator: "ada") }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [a])
        // Changes made after a snapshot read them stay pending when it settles.
        let read = try catalog.read { try $0.pendingChanges() }
        try catalog.write { tx in try tx.annotate(itemID: b, label: "dog", annotator: "ada") }
        try catalog.write { try $0.settleChanges(read) }
        #expect(try catalog.read { try $0.pendingChanges().itemIDs } == [b])
        _ = try settle()
        // A verdict, a renamed class and a new item each mark what they touch.
        try catalog.write { tx throws in
            try tx.appendVerdict(itemID: b, reviewer: try tx.addAnnotator("grace", role: .reviewer), classIDs: [try tx.ensureClass("cat").id])
        }
        #expect(try settle() == [b])
        try catalog.write { try $0.renameClass("cat", to: "feline") }
        #expect(try settle() == [a, b])
        let c = try catalog.write { try $0.insertItem(newItem(3)).item.id }
        #expect(try settle() == [c])
    }

    static func snapshotsAndHead(_ catalog: any Catalog) throws {
        let one = BlobID(hashing: Data("one".utf8)), two = BlobID(hashing: Data("two".utf8)), far = BlobID(hashing: Data("far".utf8))
        func record(_ id: BlobID, parent: BlobID?) -> SnapshotRecord {
            SnapshotRecord(id: id, parentID: parent, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}")
        }
        try catalog.write { tx throws in
            #expect(try tx.headSnapshot() == nil)
            try tx.recordSnapshot(record(one, parent: nil))
            try tx.recordSnapshot(record(two, parent: one))
            // A snapshot from elsewhere does not move the head, and loses a parent this catalog lacks.
            try tx.importSnapshot(record(far, parent: BlobID(hashing: Data("unknown".utf8))))
        }
        try catalog.read { tx throws in
            #expect(try tx.headSnapshot()?.id == two)
            #expect(try tx.latestSnapshot()?.id == far)
            #expect(try tx.snapshot(id: far)?.parentID == nil)
            #expect(try tx.allSnapshots().map(\.id) == [far, two, one])
            #expect(try tx.snapshots(prefix: String(two.hex.prefix(6)), limit: 6).map(\.id) == [two])
        }
    }

    static func tags(_ catalog: any Catalog) throws {
        let one = BlobID(hashing: Data("one".utf8)), two = BlobID(hashing: Data("two".utf8))
        try catalog.write { tx throws in
            for id in [one, two] {
                try tx.recordSnapshot(SnapshotRecord(id: id, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            }
            try tx.setTag("v1", to: one, author: "ada", force: false)
            try tx.setTag("v1", to: one, author: "ada", force: false)  // the same again: nothing happens
            #expect(throws: CatalogError.tagImmutable(name: "v1", snapshot: one)) { try tx.setTag("v1", to: two, author: "ada", force: false) }
            try tx.setTag("v1", to: two, author: "bob", force: true)
            #expect(throws: CatalogError.self) { try tx.setTag("HEAD", to: two, author: "bob", force: false) }
            #expect(throws: CatalogError.self) { try tx.setTag(two.hex, to: two, author: "bob", force: false) }
            try tx.setTag("gone", to: one, author: "ada", force: false)
            try tx.deleteTag("gone", author: "ada")
            #expect(throws: CatalogError.notFound(kind: "tag", name: "gone")) { try tx.deleteTag("gone", author: "ada") }
        }
        try catalog.read { tx throws in
            #expect(try tx.tags().map(\.name) == ["v1"])
            #expect(try tx.tag(named: "v1")?.snapshotID == two)
            #expect(try tx.tagHistory(name: "v1").map(\.action) == [.create, .move])
            #expect(try tx.tagHistory().map(\.action) == [.create, .move, .create, .delete])
            #expect(try tx.snapshotIDsInTagHistory() == [one, two])
            #expect(try tx.rootSnapshotIDs() == [one, two])
        }
    }

    static func runs(_ catalog: any Catalog) throws {
        let snapshot = BlobID(hashing: Data("s".utf8)), checkpoint = BlobID(hashing: Data("c".utf8))
        func run(_ id: String, _ name: String) -> Run {
            Run(id: id, name: name, dataRef: "v1", snapshotID: snapshot, model: "mlp", status: .running, startedAt: Date(),
                endedAt: nil, checkpointID: nil, record: "{}")
        }
        try catalog.write { tx throws in
            #expect(throws: CatalogError.self) { try tx.insertRun(run("a1b2c3d4e5f6", "mlp-1")) }
            try tx.recordSnapshot(SnapshotRecord(id: snapshot, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            try tx.insertRun(run("a1b2c3d4e5f6", "mlp-1"))
            try tx.insertRun(run("a1b29999e5f6", "mlp-1"))
            var finished = run("a1b2c3d4e5f6", "mlp-1")
            (finished.status, finished.endedAt, finished.checkpointID) = (.finished, Date(), checkpoint)
            try tx.updateRun(finished)
            #expect(throws: CatalogError.notFound(kind: "run", name: "ffffffffffff")) { try tx.updateRun(run("ffffffffffff", "x")) }
        }
        try catalog.read { tx throws in
            #expect(try tx.runs().map(\.id) == ["a1b2c3d4e5f6", "a1b29999e5f6"])
            #expect(try tx.run(matching: "a1b2c").status == .finished)
            #expect(try tx.run(matching: "mlp-1").id == "a1b29999e5f6")
            #expect(throws: CatalogError.self) { try tx.run(matching: "a1b2") }
            #expect(throws: CatalogError.prefixTooShort(kind: "run", name: "a1b")) { try tx.run(matching: "a1b") }
            #expect(try tx.rootBlobs() == [checkpoint])
        }
        // A sweep's trials are found by the sweep their record names; a record that is not JSON names none.
        try catalog.write { tx throws in
            var trial = run("0000000000c1", "t1")
            trial.record = #"{"name":"t1","sweep":{"id":"5eeeeeeeeee5","trial":1}}"#
            try tx.insertRun(trial)
            var other = run("0000000000c2", "t2")
            other.record = #"{"sweep":{"id":"0ddddddddddd","trial":1}}"#
            try tx.insertRun(other)
            var broken = run("0000000000c3", "t3")
            broken.record = "not json"
            try tx.insertRun(broken)
            trial.record = #"{"name":"t1","sweep":{"id":"5eeeeeeeeee5","trial":1}}"#
            try tx.updateRun(trial)
        }
        try catalog.read { tx throws in
            #expect(try tx.runs(inSweep: "5eeeeeeeeee5").map(\.id) == ["0000000000c1"])
            #expect(try tx.runs(inSweep: "0ddddddddddd").map(\.id) == ["0000000000c2"])
            #expect(try tx.runs(inSweep: "ffffffffffff").isEmpty)
        }
    }

    static func runArtifacts(_ catalog: any Catalog) throws {
        let snapshot = BlobID(hashing: Data("s".utf8))
        let a = BlobID(hashing: Data("a".utf8)), b = BlobID(hashing: Data("b".utf8)), c = BlobID(hashing: Data("c".utf8))
        try catalog.write { tx throws in
            try tx.recordSnapshot(SnapshotRecord(id: snapshot, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            try tx.insertRun(Run(id: "0000000000aa", name: "p", dataRef: "v1", snapshotID: snapshot, model: "run:x", status: .running,
                                 startedAt: Date(), endedAt: nil, checkpointID: nil, artifactIDs: [b, a], record: "{}"))
            var finished = try tx.run(matching: "0000000000aa")
            #expect(finished.artifactIDs == [a, b].sorted())
            finished.artifactIDs = [c]
            finished.status = .finished
            try tx.updateRun(finished)
        }
        try catalog.read { tx throws in
            #expect(try tx.run(matching: "p").artifactIDs == [c])
            #expect(try tx.rootBlobs() == [c])
            let bundle = try CatalogBundle.export(tx, items: [], snapshots: [snapshot])
            #expect(bundle.runs.first?.artifacts == [c.hex])
        }
    }

    static func predictions(_ catalog: any Catalog) throws {
        let snapshot = BlobID(hashing: Data("s".utf8))
        let items = try catalog.write { tx throws -> [Int64] in
            try tx.recordSnapshot(SnapshotRecord(id: snapshot, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            try tx.insertRun(Run(id: "0000000000bb", name: "m", dataRef: "v1", snapshotID: snapshot, model: "mlp", status: .finished,
                                 startedAt: Date(), endedAt: nil, checkpointID: nil, record: "{}"))
            return try (1...3).map { try tx.insertItem(newItem($0)).item.id }
        }
        try catalog.write { tx throws in
            try tx.replacePredictions(runID: "0000000000bb", items.map { Prediction(itemID: $0, probabilities: [0.25, 0.75]) })
            #expect(throws: CatalogError.notFound(kind: "run", name: "ffffffffffff")) { try tx.replacePredictions(runID: "ffffffffffff", []) }
        }
        #expect(try catalog.read { try $0.predictions(runID: "0000000000bb") }.map(\.itemID) == items)
        #expect(try catalog.read { try $0.predictions(runID: "0000000000bb") }.first?.predictedClass == 1)
        // Replacing drops what is not given again; counts are per run; a prediction is never a label.
        try catalog.write { try $0.replacePredictions(runID: "0000000000bb", [Prediction(itemID: items[0], probabilities: [1, 0])]) }
        try catalog.read { tx throws in
            #expect(try tx.predictions(runID: "0000000000bb") == [Prediction(itemID: items[0], probabilities: [1, 0])])
            #expect(try tx.predictionCounts() == ["0000000000bb": 1])
            #expect(try tx.resolvedLabels()[items[0]] == .unlabeled)
            #expect(try tx.annotationCount() == 0)
        }
    }

    static func leases(_ catalog: any Catalog) throws {
        let (ada, bob) = try catalog.write { tx throws in
            for n in 1...3 { _ = try tx.insertItem(newItem(n)) }
            return (try tx.ensureAnnotator("ada").id, try tx.ensureAnnotator("bob").id)
        }
        let now = Date()
        let first = try catalog.write { try $0.leaseNext(in: AnnotatorQueue(.unlabeled, annotatorID: ada), after: 0, host: "h", pid: 1, now: now) }
        let second = try catalog.write { try $0.leaseNext(in: AnnotatorQueue(.unlabeled, annotatorID: bob), after: 0, host: "h", pid: 2, now: now) }
        #expect(first != nil && second != nil && first?.id != second?.id)
        // With overlap 2 bob may take ada's item too; once leases expire anyone may.
        let shared = try catalog.read { try $0.nextItem(in: AnnotatorQueue(.unlabeled, annotatorID: bob, overlap: 2), after: 0, now: now) }
        #expect(shared?.id == first?.id)
        let later = now.addingTimeInterval(3600)
        #expect(try catalog.read { try $0.itemCount(in: AnnotatorQueue(.unlabeled, annotatorID: bob), now: later) } == 3)
        #expect(try catalog.read { try $0.itemCount(in: AnnotatorQueue(.unlabeled, annotatorID: bob), now: now) } == 2)
        try catalog.write { try $0.releaseLeases(host: "h", pid: 1) }
        #expect(try catalog.read { try $0.itemCount(in: AnnotatorQueue(.unlabeled, annotatorID: bob), now: now) } == 3)
    }

    static func importState(_ catalog: any Catalog) throws {
        let id = BlobID(hashing: Data("s".utf8))
        try catalog.write { tx throws in
            for path in ["/data/a/1.png", "/data/a/sub/2.png", "/data/ab/3.png", "/data/a"] {
                try tx.setImportState(ImportState(path: path, size: 1, mtimeNanoseconds: 2, inode: 3, blobID: id, label: nil))
            }
        }
        let found = try catalog.read { try $0.importStates(under: "/data/a") }
        #expect(Set(found.keys) == ["/data/a/1.png", "/data/a/sub/2.png"])
        #expect(try catalog.read { try $0.importState(path: "/data/ab/3.png") }?.inode == 3)
    }

    static func splits(_ catalog: any Catalog) throws {
        let (early, late) = (Date(timeIntervalSince1970: 1_800_000_000), Date(timeIntervalSince1970: 1_800_000_100))
        let items = try catalog.write { tx throws in
            let items = try (1...3).map { try tx.insertItem(newItem($0)).item }
            let ada = try tx.ensureAnnotator("ada").id, bob = try tx.ensureAnnotator("bob").id
            try tx.changeSplit(itemIDs: [items[0].id, items[1].id], to: .test, personID: ada, at: late, stamp: nil)
            // An event merged from a replica with an older stamp is kept but changes nothing.
            try tx.changeSplit(itemIDs: [items[0].id], to: .val, personID: bob, at: early, stamp: nil)
            return items
        }
        try catalog.read { tx throws in
            #expect(try tx.item(id: items[0].id)?.split == .test && tx.item(id: items[1].id)?.split == .test)
            #expect(try tx.item(id: items[2].id)?.split == items[2].split, "an item never moved keeps its import split")
            #expect(try tx.allItems(split: .test).map(\.id).filter { [items[0].id, items[1].id].contains($0) } == [items[0].id, items[1].id])
            let events = try tx.splitEvents()
            #expect(events.count == 3)
            #expect(events.map(\.item) == events.map(\.item).sorted(), "by item")
            let first = events.filter { $0.item == items[0].blobID }
            #expect(first.map(\.split) == [.val, .test] && first.map(\.person) == ["bob", "ada"], "then in stamp order")
            #expect(first.last?.stamp == SplitEvent.stamp(at: late, split: .test) && first.last?.at == late)
        }
    }

    static func removals(_ catalog: any Catalog) throws {
        let (t1, t2) = (Date(timeIntervalSince1970: 1_800_000_000), Date(timeIntervalSince1970: 1_800_000_100))
        let items = try catalog.write { tx throws in
            let items = try (1...3).map { try tx.insertItem(newItem($0)).item }
            let ada = try tx.ensureAnnotator("ada").id
            try tx.setRemoved(itemIDs: [items[0].id, items[1].id], removed: true, personID: ada, at: t1, stamp: nil)
            try tx.setRemoved(itemIDs: [items[1].id], removed: false, personID: ada, at: t2, stamp: nil)
            return items
        }
        try catalog.read { tx throws in
            #expect(try tx.isRemoved(itemID: items[0].id) && !tx.isRemoved(itemID: items[1].id) && !tx.isRemoved(itemID: items[2].id))
            #expect(try tx.removedItems().map(\.id) == [items[0].id])
            #expect(try tx.allItems().map(\.id) == [items[1].id, items[2].id] && tx.itemCount() == 2 && tx.byteCount() == 200)
            #expect(try !tx.allItems(split: items[0].split).contains { $0.id == items[0].id })
            #expect(try tx.item(id: items[0].id) != nil, "a removed item keeps its record and history")
            let events = try tx.removalEvents()
            #expect(events.count == 3)
            #expect(events.filter { $0.item == items[1].blobID }.map(\.removed) == [true, false])
            #expect(events.first { $0.item == items[1].blobID && !$0.removed }?.stamp == RemovalEvent.stamp(at: t2, removed: false))
        }
        // A return merged late, stamped before the removal, leaves the item removed.
        try catalog.write { tx throws in
            let ada = try tx.ensureAnnotator("ada").id
            try tx.setRemoved(itemIDs: [items[0].id], removed: false, personID: ada, at: t1.addingTimeInterval(-60), stamp: nil)
            #expect(try tx.isRemoved(itemID: items[0].id))
        }
    }

    static func sweeps(_ catalog: any Catalog) throws {
        let snapshot = BlobID(hashing: Data("s".utf8))
        func sweep(_ id: String, at seconds: Double) -> SweepRow {
            SweepRow(id: id, dataRef: "v1", snapshotID: snapshot, createdAt: Date(timeIntervalSince1970: seconds), record: #"{"id":"\#(id)"}"#)
        }
        try catalog.write { tx throws in
            #expect(throws: CatalogError.notFound(kind: "snapshot", name: snapshot.hex)) { try tx.insertSweep(sweep("5eeeeeeeeee5", at: 1)) }
            try tx.recordSnapshot(SnapshotRecord(id: snapshot, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            try tx.insertSweep(sweep("5eeeeeeeeee5", at: 2))
            try tx.insertSweep(sweep("5eee00000001", at: 1))
            try tx.updateSweep(id: "5eeeeeeeeee5", record: #"{"status":"finished"}"#)
            #expect(throws: CatalogError.notFound(kind: "sweep", name: "ffffffffffff")) { try tx.updateSweep(id: "ffffffffffff", record: "{}") }
        }
        try catalog.read { tx throws in
            #expect(try tx.sweeps().map(\.id) == ["5eeeeeeeeee5", "5eee00000001"], "in the order recorded")
            #expect(try tx.sweep(matching: "5eeee").record == #"{"status":"finished"}"#)
            #expect(try tx.sweep(matching: "5EEE0").id == "5eee00000001")
            #expect(throws: CatalogError.ambiguous(kind: "sweep", name: "5eee", matches: ["5eeeeeeeeee5", "5eee00000001"])) { try tx.sweep(matching: "5eee") }
            #expect(throws: CatalogError.notFound(kind: "sweep", name: "5ee")) { try tx.sweep(matching: "5ee") }
            #expect(try tx.sweeps().first?.snapshotID == snapshot)
        }
    }

    static func reports(_ catalog: any Catalog) throws {
        let (one, two) = (BlobID(hashing: Data("one".utf8)), BlobID(hashing: Data("two".utf8)))
        func report(_ snapshot: BlobID, _ kind: String, at seconds: Double, _ json: String) -> SnapshotReport {
            SnapshotReport(snapshotID: snapshot, kind: kind, createdAt: Date(timeIntervalSince1970: seconds), json: json)
        }
        try catalog.write { tx throws in
            #expect(throws: CatalogError.notFound(kind: "snapshot", name: one.hex)) { try tx.saveReport(report(one, "check", at: 1, "{}")) }
            for id in [one, two] {
                try tx.recordSnapshot(SnapshotRecord(id: id, parentID: nil, message: "m", author: "a", createdAt: Date(), itemCount: 0, counts: "{}"))
            }
            try tx.saveReport(report(one, "check", at: 10, #"{"n":1}"#))
            try tx.saveReport(report(two, "check", at: 20, #"{"n":2}"#))
            try tx.saveReport(report(one, "suspects", at: 30, #"{"s":1}"#))
            try tx.saveReport(report(one, "check", at: 40, #"{"n":3}"#))  // replaces the first
        }
        try catalog.read { tx throws in
            #expect(try tx.report(snapshot: one, kind: "check")?.json == #"{"n":3}"#)
            #expect(try tx.report(snapshot: two, kind: "suspects") == nil)
            #expect(try tx.reports(kind: "check").map(\.json) == [#"{"n":3}"#, #"{"n":2}"#], "newest first, one per snapshot")
            #expect(try tx.reports(kind: "suspects").map(\.snapshotID) == [one])
            #expect(try tx.reports(kind: "other").isEmpty)
        }
    }
}
