import CairnRemote
import CairnStore
import CairnTestSupport
import Foundation
import Testing

/// The S3 client's own operations against moto: multipart upload, listing across pages, and the
/// object-store contract (ObjectStoreTests runs it on the other stores without a server).
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

    @Test func theObjectStoreContractHoldsOnS3() async throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let client = S3Client(location: S3Location(bucket: "cairn", prefix: "p", endpoint: server.endpoint, pathStyle: true),
                              credentials: AWSCredentials(accessKeyID: "x", secretAccessKey: "y"))
        try await ObjectStoreContract.check(client)
    }
}
