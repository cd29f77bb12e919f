import CairnCatalog
import CairnLabeling
import CairnRepository
import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// The labeling session's queues and filters, the key map, frames rendered ahead, and the
/// terminal's device attributes.
@Suite struct LabelSessionTests {
    /// 30 images in folders cat and dog, imported with those labels by "import".
    private func fixture() throws -> TestRepository {
        let fixture = try TestRepository(label: "cairn-label")
        try SyntheticImages.writeImageFolder(at: fixture.inputs, count: 30)
        try fixture.importInputs(ImportOptions(labelsFromDirectories: true))
        return fixture
    }

    @Test func splitAndClassFiltersNarrowTheQueue() throws {
        let f = try fixture()
        defer { f.remove() }
        let catalog = f.repository.catalog
        let train = try catalog.read { try $0.allItems(split: .train) }.count
        let all = try LabelSession(catalog: catalog, annotator: "ada", queue: .all)
        #expect(try all.remaining() == 30)
        all.close()
        let trainOnly = try LabelSession(catalog: catalog, annotator: "ada", queue: .all, filter: QueueFilter(split: .train))
        #expect(try trainOnly.remaining() == train && trainOnly.current?.split == .train)
        trainOnly.close()
        // Someone (the import) currently labels 15 items cat.
        let cats = try LabelSession(catalog: catalog, annotator: "ada", queue: .all, filter: QueueFilter(className: "cat"))
        #expect(try cats.remaining() == 15)
        cats.close()
        #expect(throws: LabelingError.unknownClass("cow", classes: ["cat", "dog"])) {
            try LabelSession(catalog: catalog, annotator: "ada", filter: QueueFilter(className: "cow"))
        }
    }

    @Test func mineHoldsWhatTheAnnotatorLabeled() throws {
        let f = try fixture()
        defer { f.remove() }
        let catalog = f.repository.catalog
        let session = try LabelSession(catalog: catalog, annotator: "ada", queue: .all)
        let dog = try #require(session.classes.first { $0.name == "dog" })
        var labeled: [Int64] = []
        for _ in 0..<4 {
            labeled.append(session.current!.id)
            try session.label(dog)
        }
        session.close()
        let mine = try LabelSession(catalog: catalog, annotator: "ada", queue: .mine)
        #expect(try mine.remaining() == 4)
        var seen: [Int64] = []
        while let item = mine.current {
            seen.append(item.id)
            try mine.skip()
        }
        #expect(seen == labeled)
        #expect(try LabelSession(catalog: catalog, annotator: "bob", queue: .mine).current == nil)
    }

    /// Box sessions serve the box queues: saved sets take items out of the annotator's queue, two
    /// annotators who drew differently meet in a reviewer's disagreements queue, whose saved set
    /// is the verdict that resolves the item. Class labels do not count as box work.
    @Test func boxSessionsSaveSetsAndReviewersDecideDisagreements() throws {
        let f = try fixture()
        defer { f.remove() }
        let catalog = f.repository.catalog
        let cat = Box(className: "cat", x: 1, y: 1, width: 3, height: 3)
        let ada = try LabelSession(catalog: catalog, annotator: "ada", kind: .boxes)
        #expect(try ada.remaining() == 30, "the classes imported from folders leave every image in the box queue")
        let first = try #require(ada.current)
        try ada.saveBoxes(BoxSet([cat]))
        #expect(throws: CatalogError.self) { try ada.saveBoxes(BoxSet([Box(className: "cat", x: 0, y: 0, width: 999, height: 1)])) }
        ada.close()
        let bob = try LabelSession(catalog: catalog, annotator: "bob", queue: .all, kind: .boxes)
        #expect(bob.current?.id == first.id)
        try bob.saveBoxes(BoxSet([]))
        bob.close()
        _ = try catalog.write { try $0.addAnnotator("grace", role: .reviewer) }
        let grace = try LabelSession(catalog: catalog, annotator: "grace", queue: .disagreements, kind: .boxes)
        #expect(try grace.current?.id == first.id && grace.remaining() == 1)
        #expect(try grace.currentBoxSets(.annotations).map(\.person) == ["ada", "bob"])
        try grace.saveBoxes(BoxSet([cat]))
        #expect(grace.current == nil)
        #expect(try catalog.read { try $0.itemRecord(id: first.id)?.boxes?.resolved } == BoxSet([cat]))
        #expect(try LabelSession(catalog: catalog, annotator: "ada", queue: .mine, kind: .boxes).remaining() == 1)
    }

    /// `peekNext` predicts what a label shows next; another annotator taking it makes the label
    /// show the one after (the prediction is only a hint).
    /// Multi-label: a set (or no class) is one label; undo puts back the annotator's previous set.
    @Test func setsAreLabelsAndUndoRestoresThePreviousSet() throws {
        let f = try fixture()
        defer { f.remove() }
        let catalog = f.repository.catalog
        let session = try LabelSession(catalog: catalog, annotator: "ada", queue: .all)
        defer { session.close() }
        let (cat, dog) = (session.classes[0], session.classes[1])
        let first = try #require(session.current)
        try session.label([cat, dog])
        let second = try #require(session.current)
        try session.label([])
        #expect(try catalog.read { try $0.history(itemID: first.id).last?.label } == Label(["cat", "dog"]))
        #expect(try catalog.read { try $0.history(itemID: second.id).last?.label } == Label([String]()))
        // Relabel the first item with one class, then undo: the set comes back.
        try session.back()
        try session.back()
        #expect(session.current == first)
        #expect(try session.currentLabel() == Label(["cat", "dog"]))
        try session.label([dog])
        #expect(try catalog.read { try $0.history(itemID: first.id).last?.label } == "dog")
        #expect(try session.undo())
        #expect(session.current == first)
        #expect(try session.currentLabel() == Label(["cat", "dog"]))
        #expect(session.labeled == 2)
        // A reviewer's set is the verdict, and it wins.
        _ = try catalog.write { try $0.addAnnotator("grace", role: .reviewer) }
        let review = try LabelSession(catalog: catalog, annotator: "grace", queue: .review)
        defer { review.close() }
        let reviewed = try #require(review.current)
        try review.label([dog, cat])
        let state = try #require(try catalog.read { try $0.itemRecord(id: reviewed.id) })
        #expect(state.verdict?.label == Label(["cat", "dog"]) && state.resolved == .labeled(Label(["cat", "dog"])))
    }

    @Test func peekPredictsTheNextItem() throws {
        let f = try fixture()
        defer { f.remove() }
        let catalog = f.repository.catalog
        // Overlap 2: every item wants one label besides the import's.
        let ada = try LabelSession(catalog: catalog, annotator: "ada", overlap: 2)
        let cat = try #require(ada.classes.first { $0.name == "cat" })
        let predicted = try #require(try ada.peekNext())
        try ada.label(cat)
        #expect(ada.current?.id == predicted.id)
        let next = try #require(try ada.peekNext())
        let bob = try LabelSession(catalog: catalog, annotator: "bob", overlap: 2)  // leases the first free item: `next`
        #expect(bob.current?.id == next.id)
        try ada.label(cat)
        #expect(ada.current?.id != next.id)
        ada.close()
        bob.close()
    }

    @Test func keyMapDefaultsRemapsAndRefusesConflicts() throws {
        let classes = [LabelClass(id: 1, name: "cat", hotkey: "1", ordinal: 0), LabelClass(id: 2, name: "dog", hotkey: "2", ordinal: 1)]
        let standard = try KeyMap(classList: classes)
        #expect(standard.classes[.character("1")] == "cat" && standard.action(for: .character("u")) == .undo)
        #expect(standard.action(for: .right) == .skip && standard.action(for: .left) == .back && standard.action(for: .interrupt) == .quit)
        let mapped = try KeyMap(classList: classes, classKeys: ["cat": "c"], actionKeys: ["undo": "backspace", "skip": "s"])
        #expect(mapped.classes[.character("c")] == "cat" && mapped.classes[.character("1")] == nil)
        #expect(mapped.action(for: .backspace) == .undo && mapped.action(for: .character("u")) == nil)
        #expect(mapped.action(for: .character("s")) == .skip && mapped.action(for: .character(" ")) == nil)
        #expect(throws: LabelingError.keyConflict(key: "u", first: "undo", second: "class cat")) {
            try KeyMap(classList: classes, classKeys: ["cat": "u"])
        }
        #expect(throws: LabelingError.keyConflict(key: "2", first: "class cat", second: "class dog")) {
            try KeyMap(classList: classes, classKeys: ["cat": "2"])
        }
        #expect(throws: LabelingError.unknownKeyedClass("cow", classes: ["cat", "dog"])) { try KeyMap(classList: classes, classKeys: ["cow": "c"]) }
        #expect(throws: LabelingError.unknownAction("jump")) { try KeyMap(classList: classes, actionKeys: ["jump": "j"]) }
        #expect(throws: LabelingError.badKey(for: "undo", text: "ctrl-z")) { try KeyMap(classList: classes, actionKeys: ["undo": "ctrl-z"]) }
        #expect(throws: LabelingError.self) { try KeyMap(classList: classes, actionKeys: ["undo": "q"]) }  // quit's key
        // Enter commits only in multi-label mode; otherwise it is free for a class.
        #expect(try KeyMap(classList: classes, multi: true).action(for: .enter) == .commit)
        #expect(try KeyMap(classList: classes).action(for: .enter) == nil)
        #expect(try KeyMap(classList: classes, classKeys: ["cat": "enter"]).classes[.enter] == "cat")
        #expect(throws: LabelingError.self) { try KeyMap(classList: classes, classKeys: ["cat": "enter"], multi: true) }
    }

    /// A prefetched frame is the same text as one made on the spot.
    @Test func framesRenderedAheadMatchFramesMadeNow() throws {
        let f = try fixture()
        defer { f.remove() }
        let items = try f.repository.catalog.read { try $0.allItems() }
        let renderer = ImageRenderer(.symbols, environment: ["COLORTERM": "truecolor"])
        let ahead = Frames(store: f.repository.store, renderer: renderer)
        let now = Frames(store: f.repository.store, renderer: renderer)
        let key = Frames.Key(items[3].blobID, columns: 60, rows: 20)
        ahead.prefetch(key)
        let lines = try ahead.frame(key)  // waits for the background render
        #expect(ahead.isReady(key))
        #expect(lines == (try now.frame(key)) && !lines.isEmpty)
        let missing = Frames.Key(HashedBlob(Data("absent".utf8)).id, columns: 60, rows: 20)
        ahead.prefetch(missing)
        #expect(throws: StoreError.notFound(missing.blobID)) { try ahead.frame(missing) }
    }

    @Test func sixelIsChosenWhenTheTerminalReportsIt() {
        #expect(Terminal.parseAttributes(Array("\u{1B}[?62;4;6;22c".utf8)) == [62, 4, 6, 22])
        #expect(Terminal.parseAttributes(Array("\u{1B}[?1;2c".utf8)) == [1, 2])
        #expect(Terminal.parseAttributes(Array("\u{1B}[?1;2".utf8)) == nil)
        let env = ["TERM": "xterm-256color"]
        #expect(ImageRenderer(.auto, environment: env, terminalAttributes: [62, 4, 22]).mode == .sixel)
        #expect(ImageRenderer(.auto, environment: env, terminalAttributes: [62, 22]).mode == .symbols)
        #expect(ImageRenderer(.auto, environment: env.merging(["TMUX": "x"]) { $1 }, terminalAttributes: [62, 4]).mode == .symbols)
        #expect(ImageRenderer.needsTerminalQuery(environment: env) && !ImageRenderer.needsTerminalQuery(environment: ["TMUX": "x"]))
    }
}
