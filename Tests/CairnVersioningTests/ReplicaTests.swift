import CairnCatalog
import CairnRepository
import CairnStore
import CairnTestSupport
import CairnVersioning
import Foundation
import Testing

/// Two repositories that exchanged the same history agree on every label and snapshot id, whatever
/// the order rows were written or merged in (Docs/LABELS.md, "Which label is latest").
@Suite struct ReplicaTests {
    /// Two repositories holding the same 12 images (same paths), no labels yet.
    private func twoReplicas() throws -> (TestRepository, TestRepository) {
        let a = try TestRepository(), b = try TestRepository()
        for f in [a, b] {
            try SyntheticImages.writeImageFolder(at: f.root + "/images", count: 12)
            try Importer(repository: f.repository, options: ImportOptions()).run(paths: [f.root + "/images"])
            try f.repository.catalog.write { tx in
                for name in ["cat", "dog", "bird"] { _ = try tx.ensureClass(name) }
                _ = try tx.ensureAnnotator("grace", role: .reviewer)
            }
        }
        return (a, b)
    }

    /// Sends everything `from` has about every item to `to`, as push and pull do.
    private func exchange(_ from: TestRepository, _ to: TestRepository) throws {
        let bundle = try from.repository.catalog.read { tx in
            try CatalogBundle.export(tx, items: Set(try (tx.allItems() + tx.removedItems()).map(\.blobID)), snapshots: [])
        }
        // Through JSON, as a remote carries it.
        let decoded = try JSONDecoder().decode(CatalogBundle.self, from: try JSONEncoder().encode(bundle))
        _ = try to.repository.catalog.write { try decoded.merge(into: $0) }
    }

    private func resolved(_ f: TestRepository) throws -> [String: String] {
        try f.repository.catalog.read { tx in
            let items = try tx.allItems()
            let labels = try tx.resolvedLabels()
            return Dictionary(uniqueKeysWithValues: items.map { item in
                let label: String
                switch labels[item.id] ?? .unlabeled {
                case .unlabeled: label = "-"
                case .labeled(let l): label = l.description
                case .conflict(let ls): label = "conflict(" + ls.map(\.description).joined(separator: "|") + ")"
                }
                return (item.path, label + " in " + item.split.rawValue)
            })
        }
    }

    private func histories(_ f: TestRepository) throws -> [String: [String]] {
        try f.repository.catalog.read { tx in
            Dictionary(uniqueKeysWithValues: try tx.allItems().map { item in
                (item.path, try tx.history(itemID: item.id).map { "\($0.annotator)=\($0.label?.description ?? "skip")" }
                    + tx.verdicts(itemID: item.id).map { "verdict \($0.annotator)=\($0.label?.description ?? "")" }
                    + tx.boxLabels(.annotations, itemID: item.id).map { "\($0.person) drew \($0.boxes.canonicalText) \($0.suggestion?.run ?? "")" }
                    + tx.boxLabels(.verdicts, itemID: item.id).map { "verdict \($0.person) drew \($0.boxes.canonicalText) \($0.suggestion?.run ?? "")" })
            })
        }
    }

    /// Many annotations, verdicts, split changes and removals, on both sides, at times drawn from a few values
    /// (so equal timestamps are common), exchanged in random orders: the replicas always end up
    /// resolving every item's label, split and presence alike and making the same snapshot id.
    @Test(arguments: 0..<12) func replicasAgreeWhateverTheOrder(seed: Int) throws {
        let (a, b) = try twoReplicas()
        defer { a.remove(); b.remove() }
        var random = SeededGenerator(seed: UInt64(seed) &+ 0x5eed)
        let annotators = ["ada", "bob", "grace"]
        let labels: [Label?] = ["cat", "dog", "bird", Label(["cat", "dog"]), nil]
        let times = (0..<4).map { 1_700_000_000 + Double($0) * 0.5 }  // few values: many ties
        let cat = Box(className: "cat", x: 1, y: 1, width: 4, height: 3), dog = Box(className: "dog", x: 0.5, y: 2, width: 7.5, height: 6, crowd: true)
        let boxSets = [BoxSet([cat]), BoxSet([cat, dog]), BoxSet([]), BoxSet([Box(className: "bird", x: 2, y: 2, width: 2, height: 2, occluded: true)])]
        var used = Set<String>()
        for round in 0..<6 {
            for side in [a, b] {
                try side.repository.catalog.write { tx in
                    let items = try tx.allItems() + tx.removedItems()
                    for _ in 0..<Int.random(in: 5...25, using: &random) {
                        let item = items.randomElement(using: &random)!
                        let at = Date(timeIntervalSince1970: times.randomElement(using: &random)! + Double(round))
                        if Int.random(in: 0..<10, using: &random) == 0 {
                            // A removal from the working state, or a return: events ordered like labels.
                            let removed = Bool.random(using: &random)
                            let who = try tx.ensureAnnotator(annotators.randomElement(using: &random)!)
                            guard used.insert("removal \(item.id) \(who.name) \(at.timeIntervalSince1970) \(removed)").inserted else { continue }
                            try tx.setRemoved(itemIDs: [item.id], removed: removed, personID: who.id, at: at, stamp: nil)
                            continue
                        }
                        if Int.random(in: 0..<6, using: &random) == 0 {
                            // A move to another split: an event ordered like labels.
                            let split = [Split.train, .val, .test].randomElement(using: &random)!
                            let who = try tx.ensureAnnotator(annotators.randomElement(using: &random)!)
                            guard used.insert("split \(item.id) \(who.name) \(at.timeIntervalSince1970) \(split)").inserted else { continue }
                            try tx.changeSplit(itemIDs: [item.id], to: split, personID: who.id, at: at, stamp: nil)
                            continue
                        }
                        if Int.random(in: 0..<5, using: &random) == 0 {
                            // A box set by an annotator, or a reviewer's box verdict.
                            let set = boxSets.randomElement(using: &random)!
                            let verdict = Int.random(in: 0..<4, using: &random) == 0
                            let who = verdict ? try tx.ensureAnnotator("grace", role: .reviewer) : try tx.ensureAnnotator(annotators.randomElement(using: &random)!)
                            guard used.insert("boxes \(verdict) \(item.id) \(who.name) \(at.timeIntervalSince1970) \(set)").inserted else { continue }
                            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
                            // Some drawn beside a model's suggestions: the provenance travels with the set.
                            let shown = Bool.random(using: &random) ? BoxSuggestionShown(run: "run\(round)", fixes: [BoxFix(remove: nil, add: cat)], taken: [0]) : nil
                            try tx.appendBoxes(verdict ? .verdicts : .annotations, item: item, personID: who.id, boxes: set, classes: classes, at: at,
                                               suggestion: shown)
                            continue
                        }
                        let verdict = Int.random(in: 0..<8, using: &random) == 0
                        let label = verdict ? labels.dropLast().randomElement(using: &random)! : labels.randomElement(using: &random)!
                        // One person cannot say the same thing twice in one microsecond: no exact repeats.
                        let event = "\(verdict) \(item.id) \(at.timeIntervalSince1970) \(String(describing: label))"
                        guard used.insert(event).inserted else { continue }
                        if verdict, let label {
                            let reviewer = try tx.ensureAnnotator("grace", role: .reviewer)
                            try tx.appendVerdict(itemID: item.id, reviewer: reviewer, classIDs: try tx.ensureClasses(label), at: at)
                        } else {
                            let who = try tx.ensureAnnotator(annotators.randomElement(using: &random)!)
                            try tx.appendAnnotation(itemID: item.id, annotatorID: who.id, classIDs: try label.map(tx.ensureClasses), at: at)
                        }
                    }
                }
            }
            // Exchange in a random direction first, sometimes only one way this round.
            switch Int.random(in: 0..<3, using: &random) {
            case 0: try exchange(a, b); try exchange(b, a)
            case 1: try exchange(b, a); try exchange(a, b)
            default:
                let (from, to) = Bool.random(using: &random) ? (a, b) : (b, a)
                try exchange(from, to)
            }
        }
        try exchange(a, b)
        try exchange(b, a)
        #expect(try resolved(a) == resolved(b))
        #expect(try histories(a) == histories(b), "show lists history in one order everywhere")
        let versioning = Versioning(repository: a.repository)
        let idA = try versioning.snapshot(message: "a", author: "a").snapshot.id
        let idB = try Versioning(repository: b.repository).snapshot(message: "b", author: "b").snapshot.id
        #expect(idA == idB)
        // The first snapshot (records encoded as read) equals a tree built from the records, boxes included.
        let records = try a.repository.catalog.read { try $0.itemRecords() }.values.sorted { $0.blobID < $1.blobID }
        #expect(records.contains { $0.boxes != nil })
        let top = try versioning.tree.build(ArraySlice(records))
        let classes = TreeFormat.canonicalOrder(try a.repository.catalog.read { try $0.classes().map(\.name) })
        #expect(try versioning.tree.writeRoot(.init(classes: classes, itemCount: records.count, items: top?.id)) == idA)
    }

    /// The reproduction from the report: ada labels an image 4 in one repository and, a second
    /// later, 5 in the other; both end with ada's 5, and with the same snapshot id.
    @Test func theLaterLabelWinsOnBothSides() throws {
        let (a, b) = try twoReplicas()
        defer { a.remove(); b.remove() }
        let t = Date().timeIntervalSince1970
        for (side, label, time) in [(a, "cat", t), (b, "dog", t + 1)] {
            try side.repository.catalog.write { tx in
                let item = try tx.item(matching: "images/cat/0000.png")
                let ada = try tx.ensureAnnotator("ada")
                try tx.appendAnnotation(itemID: item.id, annotatorID: ada.id, classIDs: [try tx.ensureClass(label).id],
                                        at: Date(timeIntervalSince1970: time))
            }
        }
        try exchange(a, b)  // b merges a's older label after its own newer one
        try exchange(b, a)
        for side in [a, b] {
            #expect(try resolved(side)["images/cat/0000.png"]?.hasPrefix("dog in ") == true)
            let history = try histories(side)["images/cat/0000.png"]
            #expect(history == ["ada=cat", "ada=dog"])
        }
    }

    /// A class removed on one side ends removed on both, whichever way bundles go first, and
    /// the replicas make the same snapshot id.
    @Test func aRemovedClassStaysRemovedOnBothSides() throws {
        let (a, b) = try twoReplicas()
        defer { a.remove(); b.remove() }
        _ = try a.repository.removeClass("bird", into: nil, unlabel: false, reviewer: "grace")
        try exchange(b, a)  // b still lists bird: a keeps it removed
        #expect(try a.repository.catalog.read { try $0.classes().map(\.name) } == ["cat", "dog"])
        try exchange(a, b)
        for side in [a, b] {
            let (active, removed) = try side.repository.catalog.read { tx in (try tx.classes().map(\.name), try tx.removedClasses().map(\.name)) }
            #expect(active == ["cat", "dog"] && removed == ["bird"])
        }
        let idA = try Versioning(repository: a.repository).snapshot(message: "a", author: "a").snapshot.id
        let idB = try Versioning(repository: b.repository).snapshot(message: "b", author: "b").snapshot.id
        #expect(idA == idB)
    }
}
