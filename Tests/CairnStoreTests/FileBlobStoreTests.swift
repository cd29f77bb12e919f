@testable import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// A fresh store in a temporary directory.
private struct StoreFixture {
    let dir: TemporaryDirectory
    let store: FileBlobStore
    var root: String { dir.path }

    init(looseThreshold: Int = 1024) throws {
        dir = try TemporaryDirectory("cairn-store")
        try FileBlobStore.create(at: dir.path)
        store = try FileBlobStore(root: dir.path, looseThreshold: looseThreshold)
    }

    func reopen() throws -> FileBlobStore { try FileBlobStore(root: root, looseThreshold: store.looseThreshold) }

    func files(in sub: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(sub)"))?.sorted() ?? []
    }
}

private func blob(_ text: String, repeating n: Int = 1) -> HashedBlob {
    HashedBlob(Data(String(repeating: text, count: n).utf8))
}

/// Flips one byte of a file in place.
private func flipByte(in path: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[offset] ^= 0xFF
    try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    try data.write(to: URL(fileURLWithPath: path))
}

@Suite struct FileBlobStoreTests {
    @Test func smallBlobsArePackedAndReadBackVerified() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let a = blob("alpha"), b = blob("beta")
        #expect(try f.store.put(a))
        #expect(try f.store.put(b))
        #expect(try f.store.get(a.id) == a.data)  // readable before flush
        try f.store.flush()
        #expect(f.files(in: "packs").count == 2)  // one .pack, one .idx
        #expect(f.files(in: "objects/sha256").isEmpty)
        let other = try f.reopen()
        #expect(try other.get(b.id) == b.data)
        #expect(try other.size(of: a.id) == UInt64(a.data.count))
    }

    /// A purge: every copy of the erased objects goes (packed and loose, a copy in a second pack too),
    /// the rest stays readable, and no file of the store holds the erased bytes any more.
    @Test func eraseDeletesEveryCopyAndKeepsTheRest() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let small = (0..<6).map { blob("small object \($0) ", repeating: 20) }
        let big = blob("a large object ", repeating: 200)
        for b in small.prefix(3) { try f.store.put(b) }
        try f.store.flush()
        for b in small.suffix(3) + [small[1], big] { try f.store.put(b) }  // small[1] a second time, in a second pack
        try f.store.flush()
        try f.store.writeFreshPack([small[1]])
        let doomed: Set<BlobID> = [small[1].id, small[4].id, big.id]
        let erased = try f.store.erase(doomed)
        #expect(erased.objects >= 4 && erased.bytes > Int64(big.data.count), "\(erased)")
        let reopened = try f.reopen()
        for b in small + [big] {
            #expect(try reopened.contains(b.id) == !doomed.contains(b.id))
            if !doomed.contains(b.id) { #expect(try reopened.get(b.id) == b.data) }
        }
        var files: [String] = []
        if let walker = FileManager.default.enumerator(atPath: f.root) {
            while let relative = walker.nextObject() as? String { files.append(f.root + "/" + relative) }
        }
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            for b in [small[1], small[4], big] { #expect(data.range(of: b.data) == nil, "\(path) still holds erased bytes") }
        }
        let again = try f.store.erase(doomed)
        #expect(again.objects == 0 && again.bytes == 0, "nothing left to erase")
    }

    @Test func anExistingObjectIsNotStoredTwice() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let a = blob("same")
        #expect(try f.store.put(a))
        #expect(try !f.store.put(a))
        try f.store.flush()
        let other = try f.reopen()
        #expect(try !other.put(a))
        try other.flush()
        #expect(f.files(in: "packs").count == 2)  // the second flush had nothing to write
    }

    @Test func largeBlobsAreLooseFilesNamedByTheirHash() throws {
        let f = try StoreFixture(looseThreshold: 100)
        defer { f.dir.remove() }
        let big = blob("0123456789", repeating: 50)
        try f.store.put(big)
        try f.store.flush()
        let path = f.store.loosePath(big.id)
        #expect(path.hasSuffix("objects/sha256/\(big.id.hex.prefix(2))/\(big.id.hex.dropFirst(2))"))
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(BlobID(hashing: onDisk) == big.id)
        #expect(try f.reopen().get(big.id) == big.data)
    }

    @Test func unflushedObjectsAreInvisibleToOtherReaders() throws {
        let f = try StoreFixture(looseThreshold: 100)
        defer { f.dir.remove() }
        let small = blob("pending"), big = blob("x", repeating: 500)
        try f.store.put(small)
        try f.store.put(big)
        let other = try f.reopen()
        #expect(try !other.contains(small.id))
        #expect(try !other.contains(big.id))
        #expect(throws: StoreError.notFound(small.id)) { try other.get(small.id) }
        try f.store.flush()
        #expect(try other.get(small.id) == small.data)  // found after re-reading the pack list
        #expect(try other.get(big.id) == big.data)
    }

    @Test func streamingPutAndReadHandleBlobsInChunks() throws {
        let f = try StoreFixture(looseThreshold: 1000)
        defer { f.dir.remove() }
        let source = f.dir.appending("source.bin")
        var bytes = Data(count: 3 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try bytes.write(to: URL(fileURLWithPath: source))
        let (id, isNew) = try f.store.putFile(atPath: source)
        #expect(isNew)
        #expect(id == BlobID(hashing: bytes))
        try f.store.flush()
        var chunks = 0
        var collected = Data()
        try f.store.read(id) { chunk in
            chunks += 1
            collected.append(contentsOf: chunk)
        }
        #expect(chunks == 3)
        #expect(collected == bytes)
        #expect(try !f.store.putFile(atPath: source).isNew)
    }

    @Test func aFlippedByteInAPackIsReportedWithTheBlobID() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let a = blob("first object"), b = blob("second object")
        try f.store.put(a)
        try f.store.put(b)
        try f.store.flush()
        let pack = f.files(in: "packs").first { $0.hasSuffix(".pack") }!
        // Records follow the 16-byte header in put order: 40-byte record header, then bytes.
        try flipByte(in: "\(f.root)/packs/\(pack)", at: 16 + 40 + 2)
        let other = try f.reopen()
        #expect(throws: StoreError.self) { try other.get(a.id) }
        do {
            _ = try other.get(a.id)
        } catch let StoreError.corrupt(id, _) {
            #expect(id == a.id)
        }
        #expect(try other.get(b.id) == b.data)
        let (checked, problems) = try other.verify()
        #expect(checked == 2)
        #expect(problems.count == 1)
        if case .corrupt(let id, _) = problems.first { #expect(id == a.id) } else { Issue.record("expected corrupt") }
    }

    @Test func aFlippedByteInALooseObjectIsReported() throws {
        let f = try StoreFixture(looseThreshold: 10)
        defer { f.dir.remove() }
        let big = blob("loose object bytes", repeating: 4)
        try f.store.put(big)
        try f.store.flush()
        try flipByte(in: f.store.loosePath(big.id), at: 5)
        #expect(throws: StoreError.corrupt(big.id, location: f.store.loosePath(big.id))) { try f.store.get(big.id) }
        let problems = try f.store.verify().problems
        #expect(problems == [.corrupt(big.id, location: f.store.loosePath(big.id))])
    }

    /// `repair` puts back good copies: swapped and deleted loose objects, a flipped byte in a pack
    /// (the pack is rewritten); a pack with a bad record that has no copy is left alone.
    @Test func repairPutsBackGoodCopies() throws {
        let f = try StoreFixture(looseThreshold: 10)
        defer { f.dir.remove() }
        let a = blob("first loose object"), b = blob("second loose object"), c = blob("third loose object")
        let small = (0..<5).map { blob("p\($0)") }
        for x in [a, b, c] + small { try f.store.put(x) }
        try f.store.flush()
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: f.store.loosePath(a.id)))
        try Data(contentsOf: URL(fileURLWithPath: f.store.loosePath(b.id))).write(to: URL(fileURLWithPath: f.store.loosePath(a.id)))
        try bytesA.write(to: URL(fileURLWithPath: f.store.loosePath(b.id)))
        try FileManager.default.removeItem(atPath: f.store.loosePath(c.id))
        let pack = f.files(in: "packs").first { $0.hasSuffix(".pack") }!
        try flipByte(in: "\(f.root)/packs/\(pack)", at: 16 + 40)  // the first record's bytes: small[0]
        #expect(try f.store.verify().problems.count == 3)

        #expect(try f.store.repair([a, b, c, small[0]]).isEmpty)
        #expect(try f.store.verify().problems.isEmpty)
        let other = try f.reopen()
        for x in [a, b, c] + small { #expect(try other.get(x.id) == x.data) }
        #expect(f.files(in: "packs").filter { $0.hasSuffix(".pack") } != [pack])
        #expect(f.files(in: "tmp").isEmpty)

        // Two bad records in one pack, a copy of only one: the pack stays, both ids come back.
        let pack2 = f.files(in: "packs").first { $0.hasSuffix(".pack") }!
        try flipByte(in: "\(f.root)/packs/\(pack2)", at: 16 + 40)
        try flipByte(in: "\(f.root)/packs/\(pack2)", at: 16 + 40 + 2 + 40)
        let bad = try other.verify().problems.compactMap { if case .corrupt(let id, _) = $0 { id } else { nil } }
        #expect(bad.count == 2)
        let copy = try #require(small.first { $0.id == bad[0] })
        #expect(try Set(other.repair([copy])) == Set(bad))
        #expect(f.files(in: "packs").contains(pack2))
    }

    @Test func swappedAndDeletedLooseObjectsAreEachNamed() throws {
        let f = try StoreFixture(looseThreshold: 10)
        defer { f.dir.remove() }
        let a = blob("first loose object"), b = blob("second loose object"), c = blob("third loose object")
        for x in [a, b, c] { try f.store.put(x) }
        try f.store.flush()
        let pathA = f.store.loosePath(a.id), pathB = f.store.loosePath(b.id)
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: pathA)), bytesB = try Data(contentsOf: URL(fileURLWithPath: pathB))
        try bytesB.write(to: URL(fileURLWithPath: pathA))
        try bytesA.write(to: URL(fileURLWithPath: pathB))
        try FileManager.default.removeItem(atPath: f.store.loosePath(c.id))
        let problems = try f.store.verify().problems
        #expect(Set(problems) == [.corrupt(a.id, location: pathA), .corrupt(b.id, location: pathB)])
        #expect(throws: StoreError.corrupt(a.id, location: pathA)) { try f.store.get(a.id) }
        #expect(throws: StoreError.notFound(c.id)) { try f.store.get(c.id) }
    }

    @Test func aTruncatedPackMakesItsObjectsCorruptNotMissing() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let a = blob("aaaa"), b = blob("bbbbbbbb")
        try f.store.put(a)
        try f.store.put(b)
        try f.store.flush()
        let pack = "\(f.root)/packs/" + f.files(in: "packs").first { $0.hasSuffix(".pack") }!
        let data = try Data(contentsOf: URL(fileURLWithPath: pack))
        try? FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pack)
        try data.prefix(data.count - 3).write(to: URL(fileURLWithPath: pack))
        let other = try f.reopen()
        #expect(throws: StoreError.self) { try other.get(b.id) }
        #expect(try other.get(a.id) == a.data)
        #expect(try other.verify().problems.count == 1)
    }

    @Test func leftoversOfACrashAreIgnored() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let a = blob("kept")
        try f.store.put(a)
        try f.store.flush()
        // A crash mid-write leaves a temporary pack and a published pack without an index.
        try Data("CAIRNPAK garbage".utf8).write(to: URL(fileURLWithPath: "\(f.root)/tmp/deadbeef.pack"))
        try Data("CAIRNPAK garbage".utf8).write(to: URL(fileURLWithPath: "\(f.root)/packs/feedface.pack"))
        let other = try f.reopen()
        #expect(try other.get(a.id) == a.data)
        #expect(try other.allIDs() == [a.id])
        #expect(try other.verify().problems.isEmpty)
    }

    @Test func aDamagedIndexIsReportedNotTrusted() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        try f.store.put(blob("indexed"))
        try f.store.flush()
        let index = "\(f.root)/packs/" + f.files(in: "packs").first { $0.hasSuffix(".idx") }!
        try flipByte(in: index, at: 1100)
        #expect(throws: StoreError.self) { try f.reopen() }
    }

    @Test func strayFilesUnderObjectsAreReported() throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        try FileManager.default.createDirectory(atPath: "\(f.root)/objects/sha256/ab", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(f.root)/objects/sha256/ab/not-a-hash.tmp"))
        let problems = try f.store.verify().problems
        #expect(problems == [.strayFile(path: "\(f.root)/objects/sha256/ab/not-a-hash.tmp")])
    }

    @Test func enumeratesEveryObjectOnce() throws {
        let f = try StoreFixture(looseThreshold: 50)
        defer { f.dir.remove() }
        let blobs = (0..<20).map { blob("object \($0) ", repeating: $0 % 2 == 0 ? 1 : 10) }
        for b in blobs { try f.store.put(b) }
        try f.store.flush()
        for b in blobs.prefix(5) { try f.store.put(b) }
        #expect(Set(try f.reopen().allIDs()) == Set(blobs.map(\.id)))
        #expect(try f.reopen().allIDs().count == 20)
    }

    @Test func concurrentPutsFromManyThreadsAllLand() async throws {
        let f = try StoreFixture()
        defer { f.dir.remove() }
        let store = f.store
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask { for i in 0..<200 { _ = try? store.put(blob("t\(t) i\(i)")) } }
            }
        }
        try store.flush()
        #expect(try f.reopen().allIDs().count == 1600)
    }
}

@Suite struct MemoryBlobStoreTests {
    @Test func storesVerifiesAndDetectsCorruption() throws {
        let store = MemoryBlobStore()
        let a = blob("memory")
        #expect(try store.put(a))
        #expect(try !store.put(a))
        #expect(try store.get(a.id) == a.data)
        store.corrupt(a.id, with: Data("tampered".utf8))
        #expect(throws: StoreError.corrupt(a.id, location: "memory")) { try store.get(a.id) }
        #expect(throws: StoreError.notFound(blob("other").id)) { try store.get(blob("other").id) }
    }
}
