import CairnRemote
import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// The S3 client's own operations against moto: multipart upload and listing across pages.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct S3ClientTests {
    @Test func multipartUploadAndPagedListing() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let client = S3Client(location: S3Location(bucket: "cairn", prefix: "p", endpoint: server.endpoint, pathStyle: true),
                              credentials: AWSCredentials(accessKeyID: "x", secretAccessKey: "y"), parallelism: 4,
                              multipartThreshold: 6 << 20, partSize: 5 << 20)
        var generator = SeededGenerator(seed: 3)
        let big = Data((0..<(11 << 20) + 123).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try await client.put("big", big)  // three parts: 5 MiB, 5 MiB, 1 MiB + 123 bytes
        #expect(try await client.get("big") == big)
        #expect(try await client.head("big") == UInt64(big.count))
        #expect(server.aws("ls s3://cairn/p/").output.contains(String(big.count)))

        for i in 0..<23 { try await client.put("many/\(i)", Data("\(i)".utf8)) }
        let listed = try await client.list(prefix: "many/", pageSize: 5)
        #expect(listed.count == 23 && Set(listed.map(\.key)).count == 23 && listed.allSatisfy { $0.key.hasPrefix("many/") })
        try await client.delete("many/0")
        #expect(try await client.getIfPresent("many/0") == nil)
        #expect(try await client.list(prefix: "many/", pageSize: 7).count == 22)
    }

    /// Packs: a pack and a loose object written, then a second store (a fresh reader) finds every
    /// object through the listed indexes and reads scattered ones in merged ranges; an object on
    /// neither is not found. (A corrupt pack is in RemoteCLITests.badRemotesGiveClearErrors.)
    @Test func packsAreReadInRanges() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let location = S3Location(bucket: "cairn", prefix: "p", endpoint: server.endpoint, pathStyle: true)
        let credentials = AWSCredentials(accessKeyID: "x", secretAccessKey: "y")
        let writer = S3BlobStore(client: S3Client(location: location, credentials: credentials, parallelism: 4))
        var generator = SeededGenerator(seed: 5)
        let blobs = (0..<300).map { i in HashedBlob(Data((0..<(100 + i * 7)).map { _ in UInt8.random(in: 0...255, using: &generator) })) }
        _ = try await writer.putPack(Array(blobs[..<200]))
        _ = try await writer.putPack(Array(blobs[200...]))
        let loose = HashedBlob(Data("a loose object".utf8))
        try await writer.client.put(S3BlobStore.key(loose.id), loose.data)

        let reader = S3BlobStore(client: S3Client(location: location, credentials: credentials, parallelism: 4))
        #expect(try await reader.loadPackIndexes() == 300)
        let wanted = stride(from: 0, to: 300, by: 3).map { blobs[$0].id } + [loose.id]
        let staging = try TemporaryDirectory("cairn-s3-staging")
        defer { staging.remove() }
        var got: [BlobID: Data] = [:]
        try await reader.fetch(wanted, staging: staging.path) { got[$0.id] = try $0.data() }
        #expect(got.count == wanted.count && wanted.allSatisfy { got[$0] != nil })
        #expect(got[blobs[150].id] == blobs[150].data && got[loose.id] == loose.data)
        // 2 packs, each read in one merged range, and the loose object: three GETs.
        let before = reader.client.requestCount.sent
        try await reader.fetch(wanted, staging: staging.path) { _ in }
        #expect(reader.client.requestCount.sent - before == 3)

        let missing = HashedBlob(Data("never stored".utf8)).id
        await #expect(throws: StoreError.notFound(missing)) { try await reader.fetch(missing, staging: staging.path) }
    }

    /// A purge on the remote: a loose object deleted, each pack holding an erased object rewritten
    /// without it (a pack of nothing else deleted), every other object still found by a fresh reader.
    @Test func eraseDeletesLooseAndPackedCopies() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let location = S3Location(bucket: "cairn", prefix: "p", endpoint: server.endpoint, pathStyle: true)
        let credentials = AWSCredentials(accessKeyID: "x", secretAccessKey: "y")
        let store = S3BlobStore(client: S3Client(location: location, credentials: credentials, parallelism: 4))
        let blobs = (0..<10).map { HashedBlob(Data("object \($0) ".utf8 + Data(repeating: UInt8($0), count: 500))) }
        _ = try await store.putPack(Array(blobs[..<6]))
        _ = try await store.putPack([blobs[2]])  // a second copy, alone in its pack
        _ = try await store.putPack(Array(blobs[6...]))
        let loose = HashedBlob(Data("a loose object".utf8))
        try await store.client.put(S3BlobStore.key(loose.id), loose.data)

        let doomed: Set<BlobID> = [blobs[2].id, blobs[7].id, loose.id]
        let erased = try await store.erase(doomed)
        #expect(erased.objects == 4, "two copies of one object, one packed, one loose: \(erased)")
        let listing = server.aws("ls s3://cairn/p/packs/").output
        #expect(listing.components(separatedBy: ".idx").count - 1 == 2, "the lone copy's pack is gone, two rewritten: \(listing)")
        let reader = S3BlobStore(client: S3Client(location: location, credentials: credentials, parallelism: 4))
        #expect(try await reader.loadPackIndexes() == 8)
        #expect(try await reader.holding(blobs.map(\.id) + [loose.id]) == Set(blobs.map(\.id) + [loose.id]).subtracting(doomed))
        let staging = try TemporaryDirectory("cairn-s3-erase")
        defer { staging.remove() }
        var got: [BlobID: Data] = [:]
        let kept = blobs.filter { !doomed.contains($0.id) }
        try await reader.fetch(kept.map(\.id), staging: staging.path) { got[$0.id] = try $0.data() }
        #expect(kept.allSatisfy { got[$0.id] == $0.data })
    }

    /// Conditional writes: create-only when absent, replace only the version read.
    @Test func conditionalPutsLoseToAnotherWriter() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let client = S3Client(location: S3Location(bucket: "cairn", prefix: "p", endpoint: server.endpoint, pathStyle: true),
                              credentials: AWSCredentials(accessKeyID: "x", secretAccessKey: "y"))
        let first = try await client.put("tags.json", Data("1".utf8), ifStill: nil)
        await #expect(throws: S3Error.self) { try await client.put("tags.json", Data("2".utf8), ifStill: nil) }
        let (data, etag) = try #require(try await client.getWithETag("tags.json"))
        #expect(data == Data("1".utf8) && etag == first)
        let second = try await client.put("tags.json", Data("3".utf8), ifStill: etag)
        await #expect(throws: S3Error.self) { try await client.put("tags.json", Data("4".utf8), ifStill: etag) }  // stale
        #expect(try await client.getWithETag("tags.json")?.etag == second)
        #expect(try await client.get("tags.json") == Data("3".utf8))
    }
}
