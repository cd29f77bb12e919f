import CairnCatalog
import CairnImaging
import CairnRepository
import CairnStore
import CairnTestSupport
@testable import CairnVersioning
import Foundation
import Glibc
import Testing

/// A repository with `count` labeled synthetic images imported, and its Versioning.
private func labeledRepository(_ count: Int = 40, classes: [String] = ["cat", "dog"]) throws -> (TestRepository, Versioning) {
    let f = try TestRepository()
    try SyntheticImages.writeImageFolder(at: f.inputs, count: count, classes: classes)
    try f.importInputs(ImportOptions(labelsFromDirectories: true))
    return (f, Versioning(repository: f.repository))
}

private func relabel(_ f: TestRepository, _ paths: [String], as label: String, by reviewer: String = "grace") throws {
    try f.repository.catalog.write { tx in
        let who = try tx.ensureAnnotator(reviewer, role: .reviewer)
        let classID = try tx.ensureClass(label).id
        for path in paths { try tx.appendVerdict(itemID: try tx.item(matching: path).id, reviewer: who, classIDs: [classID]) }
    }
}

@Suite struct SnapshotTests {
    @Test func theSameContentHasTheSameIDWhateverTheImportOrder() throws {
        let a = try TestRepository(), b = try TestRepository()
        defer { a.remove(); b.remove() }
        // Images inside each repository, so catalog paths do not depend on what was imported first.
        for f in [a, b] { try SyntheticImages.writeImageFolder(at: f.root + "/images", count: 30) }
        try Importer(repository: a.repository, options: ImportOptions(labelsFromDirectories: true, jobs: 1, batchFiles: 7))
            .run(paths: [a.root + "/images"])
        // b imports the dog folder first, then everything.
        try Importer(repository: b.repository, options: ImportOptions(labelsFromDirectories: true))
            .run(paths: [b.root + "/images/dog"])
        try Importer(repository: b.repository, options: ImportOptions(labelsFromDirectories: true))
            .run(paths: [b.root + "/images"])
        #expect(try b.repository.catalog.read { try $0.classes().map(\.name) } == ["dog", "cat"])
        let idA = try Versioning(repository: a.repository).snapshot(message: "a", author: "x").snapshot.id
        let idB = try Versioning(repository: b.repository).snapshot(message: "b", author: "y").snapshot.id
        #expect(idA == idB)
    }

    @Test func nothingChangedMakesNothingNew() throws {
        let (f, v) = try labeledRepository()
        defer { f.remove() }
        let first = try v.snapshot(message: "one", author: "ada")
        #expect(first.created)
        let second = try v.snapshot(message: "two", author: "ada")
        #expect(!second.created)
        #expect(second.snapshot.id == first.snapshot.id)
        #expect(try f.repository.catalog.read { try $0.allSnapshots().count } == 1)
    }

    @Test func anIncrementalSnapshotExaminesOnlyChangedItemsAndEqualsAFullOne() throws {
        let (f, v) = try labeledRepository(120)
        defer { f.remove() }
        let first = try v.snapshot(message: "one", author: "ada")
        #expect(first.itemsExamined == 120)
        let paths = try f.repository.catalog.read { try $0.allItems().prefix(5).map(\.path) }
        try relabel(f, paths, as: "fox")
        let second = try v.snapshot(message: "two", author: "ada")
        #expect(second.created)
        #expect(second.itemsExamined == 5)
        #expect(second.snapshot.counts.classes["fox"] == 5)
        #expect(second.snapshot.parent == first.snapshot.id)
        // A full rebuild of the same working state gives the same id.
        let full = try f.repository.catalog.read { try $0.itemRecords() }.values.sorted { $0.blobID < $1.blobID }
        let top = try v.tree.build(ArraySlice(full))
        let classes = TreeFormat.canonicalOrder(try f.repository.catalog.read { try $0.classes().map(\.name) })
        let rebuilt = try v.tree.writeRoot(.init(classes: classes, itemCount: full.count, items: top?.id))
        #expect(rebuilt == second.snapshot.id)
    }

    /// `status` takes its counts from the head snapshot and the items changed since: after changes
    /// of every kind they equal a count of every item.
    @Test func statusFromTheHeadSnapshotEqualsACountOfEveryItem() throws {
        let (f, v) = try labeledRepository(60, classes: ["cat", "dog", "owl"])
        defer { f.remove() }
        let repo = f.repository
        func agree(_ when: String) throws {
            var full = ItemCounts()
            try repo.catalog.read { try $0.forEachItemRecord(ids: nil) { full.add($1) } }
            var fromHead = try #require(try repo.catalog.read { try v.countsFromHead($0) }, "counted from the head \(when)")
            (fromHead.splits, full.splits) = (fromHead.splits.filter { $0.value != 0 }, full.splits.filter { $0.value != 0 })
            #expect(fromHead == full, "\(when)")
            let encoder = JSONEncoder.sorted
            #expect(try encoder.encode(v.summary()) == encoder.encode(repo.summary()), "\(when)")
        }
        _ = try v.snapshot(message: "one", author: "ada")
        try agree("right after a snapshot")
        let paths = try repo.catalog.read { try $0.allItems().map(\.path) }
        try relabel(f, Array(paths.prefix(3)), as: "fox")
        try repo.catalog.write { tx in
            try tx.annotate(itemID: try tx.item(matching: paths[5]).id, label: "owl", annotator: "bob")  // a conflict
            try tx.annotate(itemID: try tx.item(matching: paths[6]).id, label: Label(["cat", "dog"]), annotator: "import")
            try tx.renameClass("owl", to: "heron")
        }
        _ = try repo.moveToSplit([paths[7], paths[8]], split: .test, person: "ada")
        _ = try repo.removeItems([paths[9]], filter: nil, person: "ada", dryRun: false)
        _ = try repo.removeClass("dog", into: "cat", unlabel: false, reviewer: "grace")
        try SyntheticImages.writeImageFolder(at: f.inputs + "/later", count: 5, classes: ["emu"], seedOffset: 900)
        try f.importInputs(ImportOptions(labelsFromDirectories: true))
        try agree("after verdicts, conflicts, sets, a rename, split moves, a removal, a merge and an import")
        _ = try v.snapshot(message: "two", author: "ada")
        try agree("after the next snapshot")
    }

    @Test func diffListsExactlyTheChangedLabelsAndSkipsSharedSubtrees() throws {
        let (f, v) = try labeledRepository(300)
        defer { f.remove() }
        let v1 = try v.snapshot(message: "v1", author: "a").snapshot.id
        let paths = try f.repository.catalog.read { try $0.allItems().filter { $0.path.contains("/cat/") }.prefix(10).map(\.path) }
        try relabel(f, paths, as: "dog")
        let v2 = try v.snapshot(message: "v2", author: "a").snapshot.id
        let diff = try v.diff(v1.hex, v2.hex)
        #expect(Set(diff.labelsChanged.map(\.path)) == Set(paths))
        #expect(diff.labelsChanged.allSatisfy { $0.old == "cat" && $0.new == "dog" })
        #expect(diff.added.isEmpty && diff.removed.isEmpty && diff.splitsChanged.isEmpty)
        #expect(diff.classDeltas == ["cat": -10, "dog": 10])
        #expect(diff.sharedSubtrees > 0)
        #expect(try v.diff(v1.hex, v1.hex).sameImagesLabelsAndSplits)
    }

    @Test func refsResolveTagsIDsPrefixesAndHEAD() throws {
        let (f, v) = try labeledRepository(10)
        defer { f.remove() }
        let one = try v.snapshot(message: "1", author: "a").snapshot.id
        try relabel(f, [try f.repository.catalog.read { try $0.allItems()[0].path }], as: "owl")
        let two = try v.snapshot(message: "2", author: "a").snapshot.id
        _ = try v.tag("first", ref: one.hex, author: "a")
        #expect(try v.resolve("HEAD").id == two)
        #expect(try v.resolve("HEAD~1").id == one)
        #expect(try v.resolve("first").id == one)
        #expect(try v.resolve(String(two.hex.prefix(8))).id == two)
        #expect(throws: VersioningError.unknownRef("HEAD~2")) { try v.resolve("HEAD~2") }
        #expect(throws: VersioningError.unknownRef("nope")) { try v.resolve("nope") }
        #expect(try v.log().map(\.id) == [two, one])
        #expect(try v.log().last?.tags == ["first"])
    }

    @Test func tagsAreImmutableUnlessForcedAndKeepHistory() throws {
        let (f, v) = try labeledRepository(10)
        defer { f.remove() }
        let one = try v.snapshot(message: "1", author: "a").snapshot.id
        try relabel(f, [try f.repository.catalog.read { try $0.allItems()[0].path }], as: "owl")
        let two = try v.snapshot(message: "2", author: "a").snapshot.id
        _ = try v.tag("v1", ref: one.hex, author: "a")
        #expect(throws: CatalogError.self) { try v.tag("v1", ref: two.hex, author: "a") }
        _ = try v.tag("v1", ref: two.hex, author: "b", force: true)
        #expect(try v.resolve("v1").id == two)
        let history = try f.repository.catalog.read { try $0.tagHistory(name: "v1") }
        #expect(history.map(\.action) == [.create, .move])
        #expect(history.map(\.snapshotID) == [one, two])
        for bad in ["a/b", "..", "x..y", "has space", "", "-x", ".hidden", "HEAD", "tab\there"] {
            #expect(throws: VersioningError.self, "\(bad)") { try Versioning.validateTagName(bad) }
        }
    }

    @Test func aMissingOrCorruptTreeObjectIsNamed() throws {
        let (f, v) = try labeledRepository(60)
        defer { f.remove() }
        let id = try v.snapshot(message: "1", author: "a").snapshot.id
        let root = try v.tree.root(id)
        // Replace the top node's pack entry bytes by making the store forget it: delete all packs
        // holding tree objects is too blunt, so check decoding of a damaged object directly.
        let top = try #require(root.items)
        let memory = MemoryBlobStore()
        let tree = SnapshotTree(store: memory)
        #expect(throws: VersioningError.corruptObject(top, reason: "the object is missing from the store")) {
            try tree.node(top)
        }
        try memory.put(HashedBlob(try f.repository.store.get(top)))
        memory.corrupt(top, with: Data("garbage".utf8))
        #expect(throws: StoreError.corrupt(top, location: "memory")) { try tree.node(top) }
    }
}

@Suite struct CheckoutTests {
    @Test func checkoutWritesVerifiedFilesInImageFolderLayoutWithAManifest() throws {
        let (f, v) = try labeledRepository(25)
        defer { f.remove() }
        let id = try v.snapshot(message: "1", author: "a").snapshot.id
        let out = f.directory.appending("out")
        let report = try v.checkout(id.hex, to: out)
        #expect(report.files == 25)
        let files = FileManager.default.enumerator(atPath: out)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".png") }
        #expect(files.count == 25)
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
            #expect(BlobID(hashing: data).hex + ".png" == (file as NSString).lastPathComponent)
            let parts = file.split(separator: "/")
            #expect(Split(rawValue: String(parts[0])) != nil)
            #expect(["cat", "dog"].contains(String(parts[1])))
        }
        let manifest = try String(contentsOfFile: out + "/cairn-manifest.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(manifest.count == 26)
        #expect(manifest[0].contains(id.hex))
    }

    @Test func checkoutRefusesAFileANonEmptyDirectoryAndSymlinkedParents() throws {
        let (f, v) = try labeledRepository(5)
        defer { f.remove() }
        _ = try v.snapshot(message: "1", author: "a")
        let file = f.directory.appending("afile")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: VersioningError.self) { try v.checkout("HEAD", to: file) }
        let busy = f.directory.appending("busy")
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: busy + "/keep"))
        #expect(throws: VersioningError.self) { try v.checkout("HEAD", to: busy) }
        // With --force, a symlink planted where a split directory goes is refused, not followed.
        let outside = f.directory.appending("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for split in ["train", "val", "test"] {
            try FileManager.default.createSymbolicLink(atPath: busy + "/" + split, withDestinationPath: outside)
        }
        #expect(throws: VersioningError.self) { try v.checkout("HEAD", to: busy, options: CheckoutOptions(force: true)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func classNamesCannotLeadOutOfTheTarget() {
        #expect(safeComponent("../../etc") == "%2E.%2F..%2Fetc")
        #expect(safeComponent("..") == "%2E.")
        #expect(safeComponent("a/b") == "a%2Fb")
        #expect(safeComponent(".hidden") == "%2Ehidden")
        #expect(!safeComponent("x/../y").contains("/"))
    }

    @Test func hardlinkedFilesAreReadOnlyAndLinkLooseObjects() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try FileManager.default.createDirectory(atPath: f.inputs + "/big", withIntermediateDirectories: true)
        // Large enough to be stored loose.
        let image = SyntheticImages.pixels(seed: 1, width: 700, height: 600, channels: 3)
        try ImageCodec_pngFile(image).write(to: URL(fileURLWithPath: f.inputs + "/big/a.png"))
        try f.importInputs(ImportOptions(labelsFromDirectories: true))
        let v = Versioning(repository: f.repository)
        _ = try v.snapshot(message: "1", author: "a")
        let out = f.directory.appending("out")
        let report = try v.checkout("HEAD", to: out, options: CheckoutOptions(layout: .flat, link: .hardlink))
        #expect(report.linked == 1)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: out).first { $0.hasSuffix(".png") })
        var st = stat()
        #expect(stat(out + "/" + name, &st) == 0)
        #expect(st.st_nlink == 2)
        #expect(st.st_mode & 0o222 == 0)
    }
}

@Suite struct ExportTests {
    @Test func aJSONLExportImportsToTheSameSnapshotID() throws {
        let (f, v) = try labeledRepository(50)
        defer { f.remove() }
        let paths = try f.repository.catalog.read { try $0.allItems().prefix(3).map(\.path) }
        try relabel(f, paths, as: "owl")
        try f.repository.catalog.write { tx in
            try tx.annotate(itemID: try tx.item(matching: paths[0]).id, label: nil, annotator: "ada")
            // Boxes, as annotators' differing sets and as a verdict.
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            let owl = Box(className: "owl", x: 1, y: 1, width: 2.5, height: 3, occluded: true)
            let first = try tx.item(matching: paths[1]), second = try tx.item(matching: paths[2])
            try tx.appendBoxes(.annotations, item: first, personID: try tx.ensureAnnotator("ada").id, boxes: BoxSet([owl]), classes: classes)
            try tx.appendBoxes(.annotations, item: first, personID: try tx.ensureAnnotator("bob").id, boxes: BoxSet([]), classes: classes)
            try tx.appendBoxes(.annotations, item: second, personID: try tx.ensureAnnotator("ada").id, boxes: BoxSet([owl]), classes: classes)
            try tx.appendBoxVerdict(item: second, reviewer: try tx.ensureAnnotator("grace", role: .reviewer), boxes: BoxSet([]), classes: classes)
        }
        let id = try v.snapshot(message: "1", author: "a").snapshot.id
        let out = f.directory.appending("jsonl")
        _ = try v.export("HEAD", format: .jsonl, to: out)
        let other = try TestRepository()
        defer { other.remove() }
        let w = Versioning(repository: other.repository)
        let (count, exported) = try w.importExport(out + "/items.jsonl")
        #expect(count == 50)
        #expect(exported == id)
        #expect(try w.snapshot(message: "copy", author: "b").snapshot.id == id)
    }

    @Test func aTamperedExportIsRefused() throws {
        let (f, v) = try labeledRepository(3)
        defer { f.remove() }
        _ = try v.snapshot(message: "1", author: "a")
        let out = f.directory.appending("jsonl")
        _ = try v.export("HEAD", format: .jsonl, to: out)
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: out + "/images").first)
        try Data("not the image".utf8).write(to: URL(fileURLWithPath: out + "/images/" + image))
        let other = try TestRepository()
        defer { other.remove() }
        #expect(throws: VersioningError.self) { try Versioning(repository: other.repository).importExport(out + "/items.jsonl") }
        #expect(try other.repository.catalog.read { try $0.itemCount() } == 0)
    }

    @Test func aCSVRoundTripKeepsImagesLabelsAndSplits() throws {
        let (f, v) = try labeledRepository(30)
        defer { f.remove() }
        let id = try v.snapshot(message: "1", author: "a").snapshot.id
        let out = f.directory.appending("csv")
        _ = try v.export("HEAD", format: .csv, to: out)
        let other = try TestRepository()
        defer { other.remove() }
        try Importer(repository: other.repository, options: ImportOptions(labelsFile: out + "/labels.csv")).run(paths: [out + "/images"])
        let w = Versioning(repository: other.repository)
        let copy = try w.snapshot(message: "csv", author: "b").snapshot.id
        // Compare the two snapshots' items (different repositories: compare records directly).
        let a = try v.tree.items(under: try v.tree.root(id).items)
        let b = try w.tree.items(under: try w.tree.root(copy).items)
        #expect(a.map(\.blobID) == b.map(\.blobID))
        #expect(a.map(\.label) == b.map(\.label))
        #expect(a.map(\.split) == b.map(\.split))
    }

    @Test func cocoCategoriesFollowTheSnapshotClassOrder() throws {
        let (f, v) = try labeledRepository(6, classes: ["zebra", "ant", "moth"])
        defer { f.remove() }
        _ = try v.snapshot(message: "1", author: "a")
        let out = f.directory.appending("coco")
        _ = try v.export("HEAD", format: .coco, to: out)
        var images = 0, annotations = 0
        for split in Split.allCases {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/annotations/instances_\(split).json"))) as! [String: Any]
            let categories = json["categories"] as! [[String: Any]]
            #expect(categories.map { $0["name"] as! String } == ["ant", "moth", "zebra"])
            #expect(categories.map { $0["id"] as! Int } == [1, 2, 3])
            for annotation in json["annotations"] as! [[String: Any]] {
                #expect(annotation["bbox"] as? [Int] == [0, 0, 8, 8] && annotation["area"] as? Int == 64 && annotation["iscrowd"] as? Int == 0)
            }
            for image in json["images"] as! [[String: Any]] {
                #expect(FileManager.default.fileExists(atPath: out + "/images/" + (image["file_name"] as! String)))
                #expect(image["cairn_split"] as? String == split.rawValue)
            }
            images += (json["images"] as! [Any]).count
            annotations += (json["annotations"] as! [Any]).count
        }
        #expect(annotations == 6 && images == 6)
    }
}

@Suite struct GCTests {
    /// Three processes importing the same files at once each store a copy in their own pack; gc
    /// keeps one and the object stays readable.
    @Test func gcKeepsOneCopyOfObjectsStoredTwice() throws {
        let (f, v) = try labeledRepository(4)
        defer { f.remove() }
        let blob = HashedBlob(Data("stored by three importers".utf8))
        // Three stores opened before any of them wrote, as three processes started together would be.
        let stores = try (0..<3).map { _ in try FileBlobStore(root: f.repository.cairnDirectory) }
        for store in stores {
            #expect(try store.put(blob))
            try store.flush()
        }
        try f.repository.catalog.write { tx in
            _ = try tx.insertItem(NewItem(blobID: blob.id, path: "dup", format: "png", width: 1, height: 1, byteSize: 25, split: .train))
        }
        let report = try v.gc(gracePeriod: 0)
        #expect(report.duplicatesRemoved == 2, "\(report)")
        let reopened = try FileBlobStore(root: f.repository.cairnDirectory)
        #expect(try reopened.get(blob.id) == blob.data)
        #expect(try v.gc(gracePeriod: 0).duplicatesRemoved == 0)
        #expect(try v.fsck().isClean)
    }

    @Test func gcKeepsWhatSnapshotsTagsAndItemsNeedAndFreesTheRest() throws {
        let (f, v) = try labeledRepository(40)
        defer { f.remove() }
        let one = try v.snapshot(message: "1", author: "a").snapshot.id
        _ = try v.tag("v1", ref: one.hex, author: "a")
        try relabel(f, [try f.repository.catalog.read { try $0.allItems()[0].path }], as: "owl")
        let two = try v.snapshot(message: "2", author: "a").snapshot.id
        _ = try v.tag("v2", ref: two.hex, author: "a")
        // An object nothing references.
        let orphan = HashedBlob(Data("orphan".utf8))
        try f.repository.store.put(orphan)
        try f.repository.store.flush()
        let recent = try v.gc()
        #expect(recent.deletedObjects == 0)
        #expect(recent.keptRecent >= 1)
        let report = try v.gc(gracePeriod: -1)
        #expect(report.deletedObjects == 1)
        let reopened = try f.reopen()
        #expect(try !reopened.store.contains(orphan.id))
        // Everything v1 and v2 need is still readable.
        let w = Versioning(repository: reopened)
        for ref in ["v1", "v2"] {
            let root = try w.tree.root(try w.resolve(ref).id)
            for item in try w.tree.items(under: root.items) { _ = try reopened.store.get(item.blobID) }
        }
        #expect(try reopened.fsck().isClean)
        #expect(try v.gc(dryRun: true, gracePeriod: -1).deletedObjects == 0)
    }

    @Test func restoreSetsLabelsAndBoxesBackAsVerdicts() throws {
        let (f, v) = try labeledRepository(10)
        defer { f.remove() }
        let paths = try f.repository.catalog.read { try $0.allItems().prefix(4).map(\.path) }
        let cat = Box(className: "cat", x: 1, y: 1, width: 2, height: 2)
        func draw(_ path: String, _ set: BoxSet) throws {
            try f.repository.catalog.write { tx in
                let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
                try tx.appendBoxes(.annotations, item: try tx.item(matching: path), personID: try tx.ensureAnnotator("ada").id, boxes: set,
                                   classes: classes)
            }
        }
        try draw(paths[0], BoxSet([cat]))
        let one = try v.snapshot(message: "1", author: "a").snapshot.id
        try relabel(f, paths, as: "owl")
        try draw(paths[0], BoxSet([]))  // the box set changed
        try draw(paths[1], BoxSet([cat]))  // no boxes in that snapshot: left as it is
        try f.repository.addAnnotator("admin", role: .admin)
        let report = try v.restore(one.hex, author: "admin")
        #expect(report.restored == 4)
        #expect(report.boxesRestored == 1 && report.leftAsIs == [paths[1]])
        let now = try v.snapshot(message: "restored", author: "a")
        let diff = try v.diff(one.hex, now.snapshot.id.hex)
        #expect(diff.labelsChanged.isEmpty)
        #expect(diff.boxesChanged.map(\.path) == [paths[1]])
    }
}

/// PNG bytes of an image, for tests that need a large file.
func ImageCodec_pngFile(_ image: PixelBuffer) throws -> Data { try ImageCodec.encodePNG(image) }

@Suite struct FsckWithSnapshotsTests {
    @Test func snapshotTreesAreNotOrphansAndAMissingTreeIsNamed() throws {
        let (f, v) = try labeledRepository(50)
        defer { f.remove() }
        let packsBefore = Set(try FileManager.default.contentsOfDirectory(atPath: f.repository.cairnDirectory + "/packs"))
        let id = try v.snapshot(message: "1", author: "a").snapshot.id
        let clean = try v.fsck()
        #expect(clean.isClean)
        #expect(clean.orphans.isEmpty)
        // The snapshot's tree objects went into a pack of their own; remove it.
        let packs = f.repository.cairnDirectory + "/packs"
        for name in Set(try FileManager.default.contentsOfDirectory(atPath: packs)).subtracting(packsBefore) {
            try FileManager.default.removeItem(atPath: packs + "/" + name)
        }
        let broken = try Versioning(repository: try f.reopen()).fsck()
        #expect(!broken.isClean)
        #expect(broken.problems.contains { $0.contains("snapshot \(id)") })
        #expect(throws: VersioningError.self) { try Versioning(repository: try f.reopen()).checkout("HEAD", to: f.directory.appending("o")) }
    }
}
