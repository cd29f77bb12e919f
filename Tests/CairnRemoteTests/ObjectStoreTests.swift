import CairnRemote
import CairnStore
import CairnTestSupport
import Crypto
import Foundation
import Testing

/// What every object store promises the remote code, checked on each (S3 in S3ClientTests).
enum ObjectStoreContract {
    static func check(_ store: some ObjectStore) async throws {
        // Conditional writes: create-only when absent, replace only the version read.
        let first = try await store.put("tags.json", Data("1".utf8), ifStill: nil)
        await #expect(throws: S3Error.self) { try await store.put("tags.json", Data("2".utf8), ifStill: nil) }
        let (data, etag) = try #require(try await store.getWithETag("tags.json"))
        #expect(data == Data("1".utf8) && etag == first)
        #expect(try await store.etag("tags.json") == etag)
        let second = try await store.put("tags.json", Data("3".utf8), ifStill: etag)
        await #expect(throws: S3Error.self) { try await store.put("tags.json", Data("4".utf8), ifStill: etag) }  // stale
        #expect(try await store.getWithETag("tags.json")?.etag == second)
        #expect(try await store.get("tags.json") == Data("3".utf8))

        // Reads: whole, a range (exactly its length), bounded, streamed to a file with its digest.
        let bytes = Data((0..<5000).map { UInt8($0 % 251) })
        try await store.put("objects/abc", bytes)
        #expect(try await store.head("objects/abc") == 5000)
        #expect(try await store.get("objects/abc", offset: 100, length: 50) == bytes.subdata(in: 100..<150))
        await #expect(throws: (any Error).self) { try await store.get("objects/abc", offset: 4990, length: 50) }
        await #expect(throws: (any Error).self) { try await store.get("objects/abc", limit: 4999) }
        let staging = try TemporaryDirectory("cairn-object-store")
        defer { staging.remove() }
        let (size, digest) = try await store.download("objects/abc", to: staging.appending("x"), limit: 5000)
        #expect(size == 5000 && digest == SHA256.hash(data: bytes))
        #expect(FileManager.default.contents(atPath: staging.appending("x")) == bytes)
        await #expect(throws: (any Error).self) { try await store.download("objects/abc", to: staging.appending("y"), limit: 10) }
        #expect(!FileManager.default.fileExists(atPath: staging.appending("y")), "nothing is left behind a refused download")
        do {
            _ = try await store.get("objects/none")
            Issue.record("an absent object was read")
        } catch S3Error.notFound {}

        // Listing by prefix, deleting (an absent object too), files put from disk.
        for i in 0..<5 { try await store.put("many/\(i)", Data("\(i)".utf8)) }
        try Data("from a file".utf8).write(to: URL(fileURLWithPath: staging.appending("f")))
        try await store.putFile("many/file", path: staging.appending("f"))
        #expect(try await store.list(prefix: "many/").map(\.key).sorted() == ["many/0", "many/1", "many/2", "many/3", "many/4", "many/file"])
        #expect(try await store.list(prefix: "many/fi").map(\.size) == [11])
        try await store.delete("many/0")
        try await store.delete("many/0")
        #expect(try await store.getIfPresent("many/0") == nil)
        #expect(try await store.head("many/0") == nil)
        #expect(try await store.list(prefix: "many/").count == 5)
        #expect(try await store.list(prefix: "tags.json").map(\.key) == ["tags.json"])
    }
}

@Suite struct ObjectStoreTests {
    @Test func theContractHoldsInMemory() async throws {
        try await ObjectStoreContract.check(MemoryObjectStore())
    }

    @Test func theContractHoldsInADirectory() async throws {
        let dir = try TemporaryDirectory("cairn-directory-remote")
        defer { dir.remove() }
        try await ObjectStoreContract.check(try DirectoryObjectStore(url: "file://" + dir.path))
    }

    /// A directory written by others: links are never followed (a write, a read or a listing
    /// cannot reach outside), names cannot climb out, a missing root is a clear error.
    @Test func aDirectoryRemoteStaysInsideItself() async throws {
        let dir = try TemporaryDirectory("cairn-directory-remote")
        defer { dir.remove() }
        let outside = dir.appending("outside"), root = dir.appending("remote")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/x.pack"))
        try FileManager.default.createSymbolicLink(atPath: root + "/packs", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/tags.json", withDestinationPath: outside + "/x.pack")
        let store = DirectoryObjectStore(root: root)
        await #expect(throws: ObjectStoreError.self) { try await store.put("packs/new.pack", Data("planted".utf8)) }
        await #expect(throws: ObjectStoreError.self) { try await store.get("packs/x.pack") }
        await #expect(throws: ObjectStoreError.self) { try await store.get("tags.json") }
        await #expect(throws: ObjectStoreError.self) { try await store.delete("packs/x.pack") }
        #expect(try await store.list(prefix: "").isEmpty, "links are not listed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["x.pack"])
        for name in ["../outside/x.pack", "/etc/passwd", "a//b", "./x", ".tmp/x", ""] {
            await #expect(throws: ObjectStoreError.badName(name)) { try await store.get(name) }
        }
        await #expect(throws: ObjectStoreError.noDirectory(dir.appending("nope"))) {
            try await DirectoryObjectStore(root: dir.appending("nope")).list(prefix: "")
        }
        #expect(throws: ObjectStoreError.self) { try DirectoryObjectStore(url: "file://relative/path") }
        #expect(throws: ObjectStoreError.self) { try DirectoryObjectStore(url: "file:///a/../b") }
    }

    /// Conditional writes from many tasks at once: exactly one wins each round.
    @Test func conditionalWritesInADirectoryAreAtomic() async throws {
        let dir = try TemporaryDirectory("cairn-directory-remote")
        defer { dir.remove() }
        let store = DirectoryObjectStore(root: dir.path)
        let etag = try await store.put("catalog.json", Data("0".utf8))
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    do {
                        _ = try await store.put("catalog.json", Data("\(i)".utf8), ifStill: etag)
                        return true
                    } catch S3Error.changedMeanwhile {
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
    }

    /// Packs: a pack and a loose object written, then a second store (a fresh reader) finds every
    /// object through the listed indexes and reads scattered ones in merged ranges; an object on
    /// neither is not found. (A corrupt pack is in RemoteCLITests.badRemotesGiveClearErrors.)
    @Test func packsAreReadInRanges() async throws {
        let objects = MemoryObjectStore()
        let writer = RemoteBlobStore(objects: objects)
        var generator = SeededGenerator(seed: 5)
        let blobs = (0..<300).map { i in HashedBlob(Data((0..<(100 + i * 7)).map { _ in UInt8.random(in: 0...255, using: &generator) })) }
        _ = try await writer.putPack(Array(blobs[..<200]))
        _ = try await writer.putPack(Array(blobs[200...]))
        let loose = HashedBlob(Data("a loose object".utf8))
        try await objects.put(RemoteBlobStore.key(loose.id), loose.data)

        let reader = RemoteBlobStore(objects: objects)
        #expect(try await reader.loadPackIndexes() == 300)
        let wanted = stride(from: 0, to: 300, by: 3).map { blobs[$0].id } + [loose.id]
        let staging = try TemporaryDirectory("cairn-remote-staging")
        defer { staging.remove() }
        var got: [BlobID: Data] = [:]
        try await reader.fetch(wanted, staging: staging.path) { got[$0.id] = try $0.data() }
        #expect(got.count == wanted.count && wanted.allSatisfy { got[$0] != nil })
        #expect(got[blobs[150].id] == blobs[150].data && got[loose.id] == loose.data)
        // 2 packs, each read in one merged range, and the loose object: three reads.
        let before = objects.requestCount.sent
        try await reader.fetch(wanted, staging: staging.path) { _ in }
        #expect(objects.requestCount.sent - before == 3)

        let missing = HashedBlob(Data("never stored".utf8)).id
        await #expect(throws: StoreError.notFound(missing)) { try await reader.fetch(missing, staging: staging.path) }

        // A damaged copy in a pack: the loose copy is used instead; with none good, the error names the pack.
        let damaged = blobs[3]
        try await objects.put(RemoteBlobStore.key(damaged.id), damaged.data)
        let pack = try #require(objects.names.first { $0.hasSuffix(".pack") && objects.names.contains(String($0.dropLast(5)) + ".idx") })
        objects.tamper(pack) { data in for i in data.indices { data[i] ^= 0xFF } }
        let rereader = RemoteBlobStore(objects: objects)
        try await rereader.loadPackIndexes()
        var fixed: Data?
        try await rereader.fetch([damaged.id], staging: staging.path) { fixed = try $0.data() }
        #expect(fixed == damaged.data)
        await #expect(throws: StoreError.self) { try await rereader.fetch(blobs[6].id, staging: staging.path) }
    }

    /// A purge on the remote: a loose object deleted, each pack holding an erased object rewritten
    /// without it (a pack of nothing else deleted), every other object still found by a fresh reader.
    @Test func eraseDeletesLooseAndPackedCopies() async throws {
        let objects = MemoryObjectStore()
        let store = RemoteBlobStore(objects: objects)
        let blobs = (0..<10).map { HashedBlob(Data("object \($0) ".utf8 + Data(repeating: UInt8($0), count: 500))) }
        _ = try await store.putPack(Array(blobs[..<6]))
        _ = try await store.putPack([blobs[2]])  // a second copy, alone in its pack
        _ = try await store.putPack(Array(blobs[6...]))
        let loose = HashedBlob(Data("a loose object".utf8))
        try await objects.put(RemoteBlobStore.key(loose.id), loose.data)

        let doomed: Set<BlobID> = [blobs[2].id, blobs[7].id, loose.id]
        let erased = try await store.erase(doomed)
        #expect(erased.objects == 4, "two copies of one object, one packed, one loose: \(erased)")
        #expect(objects.names.filter { $0.hasSuffix(".idx") }.count == 2, "the lone copy's pack is gone, two rewritten: \(objects.names)")
        let reader = RemoteBlobStore(objects: objects)
        #expect(try await reader.loadPackIndexes() == 8)
        #expect(try await reader.holding(blobs.map(\.id) + [loose.id]) == Set(blobs.map(\.id) + [loose.id]).subtracting(doomed))
        let staging = try TemporaryDirectory("cairn-remote-erase")
        defer { staging.remove() }
        var got: [BlobID: Data] = [:]
        let kept = blobs.filter { !doomed.contains($0.id) }
        try await reader.fetch(kept.map(\.id), staging: staging.path) { got[$0.id] = try $0.data() }
        #expect(kept.allSatisfy { got[$0.id] == $0.data })
    }
}
