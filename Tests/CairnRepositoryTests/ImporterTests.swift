import CairnCatalog
import CairnRepository
import CairnStore
import CairnTestSupport
import Foundation
import Glibc
import Testing

private func write(_ data: Data, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try data.write(to: URL(fileURLWithPath: path))
}

@Suite struct ImporterTests {
    @Test func importsAnImageFolderWithLabelsFromDirectories() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 10)
        let report = try f.importInputs(ImportOptions(labelsFromDirectories: true))
        #expect(report.added == 10)
        #expect(report.labeled == 10)
        #expect(report.rejected == 0)
        let (items, resolved, classes) = try f.repository.catalog.read { tx in
            (try tx.allItems(), try tx.resolvedLabels(), try tx.classes().map(\.name))
        }
        #expect(classes == ["cat", "dog"])
        #expect(items.map(\.path).contains("inputs/cat/0000.png"))
        #expect(resolved.values.compactMap(\.label).sorted() == Array(repeating: "cat", count: 5) + Array(repeating: "dog", count: 5))
        // Every item's blob is durably in the store, as another process sees it.
        let store = try f.reopen().store
        for item in items { #expect(try store.get(item.blobID).count == Int(item.byteSize)) }
    }

    @Test func reimportingAnUnchangedTreeReadsNothingAndAddsNothing() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 12)
        try f.importInputs(ImportOptions(labelsFromDirectories: true))
        let annotations = try f.repository.catalog.read { try $0.annotationCount() }
        let again = try f.importInputs(ImportOptions(labelsFromDirectories: true))
        #expect(again.unchanged == 12)
        #expect(again.added == 0 && again.duplicates == 0 && again.labeled == 0)
        #expect(try f.repository.catalog.read { try $0.annotationCount() } == annotations)
    }

    /// A changed file at an item's path becomes a new item that replaces the old one (removed from
    /// the working state, kept by snapshots), instead of keeping both.
    @Test func aChangedFileReplacesItsItem() throws {
        let f = try TestRepository()
        defer { f.remove() }
        let paths = try SyntheticImages.writeImageFolder(at: f.inputs, count: 4)
        try f.importInputs()
        try SyntheticImages.png(seed: 999).write(to: URL(fileURLWithPath: paths[1]))
        let report = try f.importInputs()
        #expect(report.added == 1 && report.replaced == 1)
        #expect(report.unchanged == 3)
        #expect(try f.repository.catalog.itemCount() == 4)
        #expect(try f.repository.catalog.read { try $0.removedItems().count } == 1)
        // Another tree whose files get the same item paths (a folder of the same name elsewhere)
        // replaces nothing: only the file that was imported before, edited in place, does.
        let other = f.root + "/../elsewhere/" + (f.inputs as NSString).lastPathComponent
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let relative = String(paths[2].dropFirst(f.inputs.count))
        try FileManager.default.createDirectory(atPath: ((other + relative) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try SyntheticImages.png(seed: 4242).write(to: URL(fileURLWithPath: other + relative))
        let elsewhere = try Importer(repository: f.repository, options: ImportOptions()).run(paths: [other])
        #expect(elsewhere.added == 1 && elsewhere.replaced == 0)
        #expect(try f.repository.catalog.itemCount() == 5)
    }

    @Test func identicalFilesBecomeOneItem() throws {
        let f = try TestRepository()
        defer { f.remove() }
        let data = SyntheticImages.png(seed: 5)
        try write(data, to: f.inputs + "/a.png")
        try write(data, to: f.inputs + "/b/c.png")
        let report = try f.importInputs()
        #expect(report.added == 1)
        #expect(report.duplicates == 1)
    }

    @Test func badFilesAreRejectedWithReasonsAndTheRestIsImported() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try write(SyntheticImages.png(seed: 1), to: f.inputs + "/good.png")
        try write(Data("just text".utf8), to: f.inputs + "/notes.txt")
        try write(Data(), to: f.inputs + "/empty.png")
        let jpeg = SyntheticImages.jpeg(seed: 2)
        try write(jpeg.prefix(jpeg.count / 2), to: f.inputs + "/truncated.jpg")
        try write(try Fixtures.imageData("huge_header.png"), to: f.inputs + "/huge.png")
        var corrupt = SyntheticImages.png(seed: 3, width: 32, height: 32)
        corrupt[corrupt.count - 20] ^= 0xFF
        try write(corrupt, to: f.inputs + "/corrupt.png")
        let report = try f.importInputs()
        #expect(report.added == 1)
        #expect(report.rejected == 5)
        let reasons = Dictionary(uniqueKeysWithValues: report.rejections.map { (($0.path as NSString).lastPathComponent, $0.reason) })
        #expect(reasons["notes.txt"] == "not a PNG or JPEG image")
        #expect(reasons["empty.png"] == "empty file (0 bytes)")
        #expect(reasons["truncated.jpg"]?.contains("corrupt or truncated") == true)
        #expect(reasons["huge.png"]?.contains("100000x100000") == true)
        #expect(reasons["corrupt.png"]?.contains("corrupt or truncated") == true)
        #expect(report.filesSeen == 6)
    }

    @Test func symlinksLeavingTheRootAreNotFollowedUnlessAsked() throws {
        let f = try TestRepository()
        defer { f.remove() }
        let outside = f.directory.appending("outside")
        try write(SyntheticImages.png(seed: 7), to: outside + "/secret.png")
        try write(SyntheticImages.png(seed: 8), to: f.inputs + "/inside.png")
        try FileManager.default.createSymbolicLink(atPath: f.inputs + "/escape.png", withDestinationPath: outside + "/secret.png")
        try FileManager.default.createSymbolicLink(atPath: f.inputs + "/escape-dir", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: f.inputs + "/alias.png", withDestinationPath: f.inputs + "/inside.png")
        let report = try f.importInputs()
        #expect(report.added == 1)
        #expect(report.duplicates == 1)  // alias.png stays inside and is the same image
        #expect(report.rejections.map { ($0.path as NSString).lastPathComponent }.sorted() == ["escape-dir", "escape.png"])
        #expect(report.rejections.allSatisfy { $0.reason.contains("--follow-symlinks") })
        let followed = try f.importInputs(ImportOptions(followSymlinks: true))
        #expect(followed.added == 1)
    }

    @Test func nonUTF8FileNamesAreRejectedNotMangled() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try write(SyntheticImages.png(seed: 1), to: f.inputs + "/ok.png")
        // Build the name from raw bytes: 0xFF is not valid UTF-8.
        var bytes = Array((f.inputs + "/bad-").utf8)
        bytes += [0xFF] + Array(".png".utf8) + [0]
        let fd = bytes.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        #expect(fd >= 0)
        close(fd)
        let report = try f.importInputs()
        #expect(report.added == 1)
        #expect(report.rejected == 1)
        #expect(report.rejections.first?.reason.contains("UTF-8") == true)
    }

    @Test func labelsFromACSVWinAndUnknownPathsAreReported() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 4)
        let csv = f.directory.appending("labels.csv")
        try Data("path,label\ninputs/cat/0000.png,lion\n\"dog/0001.png\",wolf\nmissing.png,cat\n".utf8)
            .write(to: URL(fileURLWithPath: csv))
        let report = try f.importInputs(ImportOptions(labelsFromDirectories: true, labelsFile: csv))
        #expect(report.unmatchedLabelRows == ["missing.png"])
        let labels = try f.repository.catalog.read { tx in
            try Dictionary(uniqueKeysWithValues: tx.allItems().map { ($0.path, try tx.history(itemID: $0.id).last?.label) })
        }
        #expect(labels["inputs/cat/0000.png"] == "lion")
        #expect(labels["inputs/dog/0001.png"] == "wolf")
        #expect(labels["inputs/cat/0002.png"] == "cat")
    }

    @Test func aMalformedLabelsFileImportsNothing() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 2)
        let csv = f.directory.appending("labels.csv")
        try Data("a.png,cat\nb.png\nc.png,cat,extra\nd.png,\na.png,dog\n".utf8).write(to: URL(fileURLWithPath: csv))
        #expect(throws: RepositoryError.self) { try f.importInputs(ImportOptions(labelsFile: csv)) }
        do {
            try f.importInputs(ImportOptions(labelsFile: csv))
        } catch let RepositoryError.badLabelsFile(_, problems) {
            #expect(problems.count == 4)
            #expect(problems[0].hasPrefix("line 2:"))
        }
        #expect(try f.repository.catalog.itemCount() == 0)
    }

    @Test func aChangedLabelsFileRelabelsUnchangedFiles() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 2)
        let csv = f.directory.appending("labels.csv")
        try Data("cat/0000.png,a\n".utf8).write(to: URL(fileURLWithPath: csv))
        try f.importInputs(ImportOptions(labelsFile: csv))
        try Data("cat/0000.png,b\n".utf8).write(to: URL(fileURLWithPath: csv))
        let report = try f.importInputs(ImportOptions(labelsFile: csv))
        #expect(report.unchanged == 2)
        #expect(report.labeled == 1)
        let item = try f.repository.catalog.read { try $0.item(matching: "inputs/cat/0000.png") }
        #expect(try f.repository.catalog.read { try $0.history(itemID: item.id).map(\.label) } == ["a", "b"])
    }

    @Test func headerOnlyImportStillRecordsDimensions() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try write(SyntheticImages.jpeg(seed: 1, width: 40, height: 24), to: f.inputs + "/a.jpg")
        let report = try f.importInputs(ImportOptions(verify: false))
        #expect(report.added == 1)
        let item = try #require(try f.repository.catalog.read { try $0.allItems().first })
        #expect((item.format, item.width, item.height) == ("jpeg", 40, 24))
    }

    @Test func splitsFollowTheConfiguredPolicy() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 30)
        try f.importInputs()
        for item in try f.repository.catalog.read({ try $0.allItems() }) {
            #expect(item.split == SplitPolicy.standard.split(for: item.blobID))
        }
    }

    @Test func importsInsideTheRepositoryUseRepositoryRelativePaths() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try write(SyntheticImages.png(seed: 1), to: f.root + "/images/x/1.png")
        try Importer(repository: f.repository).run(paths: [f.root + "/images"])
        try Importer(repository: f.repository).run(paths: [f.root])  // .cairn is never walked
        #expect(try f.repository.catalog.read { try $0.allItems().map(\.path) } == ["images/x/1.png"])
    }
}

@Suite struct FsckTests {
    @Test func aCleanRepositoryChecksClean() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 5)
        try f.importInputs()
        let report = try f.repository.fsck()
        #expect(report.isClean)
        #expect(report.objectsChecked == 5)
        #expect(report.orphans.isEmpty)
    }

    @Test func aFlippedByteInAPackedBlobIsNamed() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 3)
        try f.importInputs()
        let packs = try FileManager.default.contentsOfDirectory(atPath: f.repository.cairnDirectory + "/packs")
        let pack = f.repository.cairnDirectory + "/packs/" + packs.first { $0.hasSuffix(".pack") }!
        var data = try Data(contentsOf: URL(fileURLWithPath: pack))
        // The first record's id is at 16..<48; its bytes start at 56.
        let victim = data[16..<48].map { String(format: "%02x", $0) }.joined()
        data[60] ^= 0x01
        try data.write(to: URL(fileURLWithPath: pack))
        let report = try f.reopen().fsck()
        #expect(!report.isClean)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.contains(victim) == true)
    }

    @Test func aMissingObjectIsReported() throws {
        let f = try TestRepository()
        defer { f.remove() }
        try SyntheticImages.writeImageFolder(at: f.inputs, count: 2)
        try f.importInputs()
        let packDir = f.repository.cairnDirectory + "/packs"
        for name in try FileManager.default.contentsOfDirectory(atPath: packDir) {
            try FileManager.default.removeItem(atPath: packDir + "/" + name)
        }
        let report = try f.reopen().fsck()
        #expect(report.missing.count == 2)
        #expect(!report.isClean)
    }

    @Test func objectsNothingReferencesAreOrphans() throws {
        let f = try TestRepository()
        defer { f.remove() }
        let orphan = HashedBlob(Data("left by a killed import".utf8))
        try f.repository.store.put(orphan)
        try f.repository.store.flush()
        let report = try f.repository.fsck()
        #expect(report.isClean)
        #expect(report.orphans == [orphan.id.hex])
    }
}
