import CairnRemote
import CairnRepository
import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// A store with a shared upstream (a directory remote here; S3 through the binary in
/// TeamCatalogCLITests): what one machine flushes, another reads.
struct SharedImageStoreTests {
    private func stores(_ dir: TemporaryDirectory) throws -> (a: FileBlobStore, b: FileBlobStore, remote: String) {
        let remote = dir.appending("remote")
        try FileManager.default.createDirectory(atPath: remote, withIntermediateDirectories: true)
        let settings = RepositoryConfig.RemoteSettings(url: "file://" + remote)
        func store(_ name: String) throws -> FileBlobStore {
            try FileBlobStore.create(at: dir.appending(name))
            return try FileBlobStore(root: dir.appending(name), upstream: SharedImageStore(settings: settings))
        }
        return (try store("a"), try store("b"), remote)
    }

    /// Every file under `path`, relative to it.
    private func files(_ path: String) -> Set<String> {
        Set((FileManager.default.subpaths(atPath: path) ?? []).filter { !$0.hasSuffix("/") && !FileOps.isRealDirectory(path + "/" + $0) })
    }

    @Test func whatOneStoreFlushesAnotherReads() throws {
        let dir = try TemporaryDirectory("cairn-shared-store")
        defer { dir.remove() }
        let (a, b, remote) = try stores(dir)
        let small = HashedBlob(Data("a small image".utf8))
        let large = HashedBlob(Data((0..<(FileBlobStore.defaultLooseThreshold + 10)).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try a.put(small)
        try a.put(large)
        #expect(files(remote).isEmpty, "nothing goes up before the flush")
        try a.flush()
        #expect(files(remote).contains("objects/" + large.id.hex), "the large one alone: \(files(remote))")
        #expect(files(remote).contains { $0.hasPrefix("packs/") && $0.hasSuffix(".idx") })

        // The other store fetches each on first read, verified, and keeps it.
        #expect(try !b.contains(small.id) && !b.contains(large.id))
        #expect(try b.get(small.id) == small.data)
        #expect(try b.size(of: large.id) == UInt64(large.data.count))
        #expect(try b.contains(small.id) && b.contains(large.id))
        // Read one at a time, the small one is a file of its own there: no pack per image read.
        #expect(FileManager.default.fileExists(atPath: b.loosePath(small.id)))
        #expect(files(dir.appending("b") + "/packs").isEmpty, "\(files(dir.appending("b")))")
        var streamed = Data()
        try b.read(large.id) { streamed.append(contentsOf: $0) }
        #expect(streamed == large.data)
        // What was fetched is not published back, and a second flush of the same objects uploads nothing.
        let before = files(remote)
        try b.flush()
        try a.put(small)
        try a.flush()
        #expect(files(remote) == before)

        // A batch read ahead (`prefetch`) is kept as one pack.
        let batch = (0..<3).map { HashedBlob(Data("image \($0)".utf8)) }
        for blob in batch { try a.put(blob) }
        try a.flush()
        try b.prefetch(batch.map(\.id))
        #expect(files(dir.appending("b") + "/packs").filter { $0.hasSuffix(".pack") }.count == 1)
        #expect(try batch.allSatisfy { try b.get($0.id) == $0.data })

        // An object nobody published is not found.
        #expect(throws: StoreError.self) { try b.get(HashedBlob(Data("never stored".utf8)).id) }
    }

    @Test func aDamagedSharedCopyIsRefusedAndNotCached() throws {
        let dir = try TemporaryDirectory("cairn-shared-store-damaged")
        defer { dir.remove() }
        let (a, b, remote) = try stores(dir)
        let large = HashedBlob(Data(repeating: 9, count: FileBlobStore.defaultLooseThreshold + 1))
        try a.put(large)
        try a.flush()
        // Someone with write access to the bucket replaces the object with other bytes.
        let path = remote + "/objects/" + large.id.hex
        try FileManager.default.removeItem(atPath: path)
        try Data(repeating: 1, count: large.data.count).write(to: URL(fileURLWithPath: path))
        do {
            _ = try b.get(large.id)
            Issue.record("damaged bytes were handed out")
        } catch StoreError.corrupt(let id, let location) {
            #expect(id == large.id && location.contains(large.id.hex))
        }
        #expect(try !b.contains(large.id), "nothing damaged is cached")
    }
}
