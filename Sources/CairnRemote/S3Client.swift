import AsyncHTTPClient
import CairnStore
import CairnSupport
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A minimal S3 client: PUT, GET, HEAD, DELETE, ListObjectsV2 and multipart upload, signed with
/// SigV4, over async-http-client, with retries. Keys passed in are relative to the location's prefix.
public final class S3Client: ObjectStore {
    public let location: S3Location
    public let parallelism: Int
    public let retry: RetryPolicy
    /// Blobs at least this large are uploaded in parts of `partSize` bytes.
    public let multipartThreshold: Int
    public let partSize: Int
    private let signer: SigV4Signer
    private let http: HTTPClient
    private let counters = Counters()

    public init(location: S3Location, credentials: AWSCredentials, parallelism: Int = 16, retry: RetryPolicy = RetryPolicy(),
                multipartThreshold: Int = 64 << 20, partSize: Int = 16 << 20) {
        precondition(multipartThreshold > 5 << 20, "S3 parts other than the last must be at least 5 MiB")
        self.location = location
        self.parallelism = max(1, parallelism)
        self.retry = retry
        self.multipartThreshold = multipartThreshold
        self.partSize = max(5 << 20, partSize)
        signer = SigV4Signer(credentials: credentials, region: location.region)
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = self.parallelism
        pool.retryConnectionEstablishment = false
        let configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60)), connectionPool: pool)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit {
        let client = http
        client.shutdown { _ in }
    }

    public var url: String { location.url }

    /// Requests sent so far (including retries) and how many were retries.
    public var requestCount: (sent: Int, retried: Int) { counters.read() }

    // MARK: Operations

    /// Uploads `body` as `name`; returns the ETag the server gave it.
    @discardableResult
    public func put(_ name: String, _ body: Data) async throws -> String? {
        if body.count >= multipartThreshold { return try await putMultipart(name, body) }
        return try await send("PUT", name, body: body, operation: "upload \(name)").1.first(name: "etag")
    }

    /// Replaces `name` only if it is still the version read: `expected` is the ETag it had, or nil
    /// when it was absent (then the write only creates). Returns the new ETag.
    /// - Throws: `S3Error.changedMeanwhile` when another writer got there first.
    @discardableResult
    public func put(_ name: String, _ body: Data, ifStill expected: String?) async throws -> String? {
        let condition = expected.map { ("if-match", $0) } ?? ("if-none-match", "*")
        return try await send("PUT", name, headers: [condition], body: body, operation: "upload \(name)").1.first(name: "etag")
    }

    /// The object's bytes and ETag, or nil when it is absent; at most `limit` bytes are read.
    public func getWithETag(_ name: String, limit: Int) async throws -> (data: Data, etag: String)? {
        let (status, headers, body) = try await send("GET", name, operation: "download \(name)", allow404: true, limit: limit)
        return status == 404 ? nil : (body, headers.first(name: "etag") ?? "")
    }

    /// The object's ETag, or nil when it is absent.
    public func etag(_ name: String) async throws -> String? {
        let (status, headers, _) = try await send("HEAD", name, operation: "check \(name)", allow404: true)
        return status == 404 ? nil : headers.first(name: "etag") ?? ""
    }

    /// Creates the bucket (for tests and set-up; Cairn never creates buckets on its own).
    public func createBucket() async throws {
        _ = try await send("PUT", nil, operation: "create bucket \(location.bucket)")
    }

    /// The object's bytes (at most `limit`); throws `S3Error.notFound` when absent.
    public func get(_ name: String, limit: Int) async throws -> Data {
        let (status, _, body) = try await send("GET", name, operation: "download \(name)", allow404: true, limit: limit)
        if status == 404 { throw S3Error.notFound(key: location.key(name)) }
        return body
    }

    /// `length` bytes of the object from `offset` (an HTTP range request); a reply of any other
    /// length is refused.
    public func get(_ name: String, offset: UInt64, length: Int) async throws -> Data {
        precondition(length > 0)
        let range = "bytes=\(offset)-\(offset + UInt64(length) - 1)"
        let operation = "download \(name) (\(range))"
        let (status, _, body) = try await send("GET", name, headers: [("range", range)], operation: operation, allow404: true, limit: length)
        if status == 404 { throw S3Error.notFound(key: location.key(name)) }
        guard body.count == length else {
            throw S3Error.badResponse(operation: operation, reason: "\(body.count) bytes instead of \(length)")
        }
        return body
    }

    /// Streams the object into a new file at `path`, hashing it on the way, without holding it in
    /// memory; at most `limit` bytes. Returns its size and SHA-256. A failed or retried download
    /// starts the file over; nothing is left at `path` when this throws.
    /// - Throws: `S3Error.notFound` when the object is absent.
    public func download(_ name: String, to path: String, limit: Int) async throws -> (size: Int, digest: SHA256.Digest) {
        do {
            return try await perform("GET", name, operation: "download \(name)", allow404: true) { status, _, body in
                if status == 404 { throw S3Error.notFound(key: self.location.key(name)) }
                try FileOps.remove(path)
                let file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
                var hasher = SHA256()
                var size = 0
                for try await chunk in body {
                    size += chunk.readableBytes
                    guard size <= limit else {
                        throw S3Error.badResponse(operation: "download \(name)", reason: "longer than the \(limit) bytes expected")
                    }
                    try chunk.withUnsafeReadableBytes { raw in
                        hasher.update(bufferPointer: raw)
                        try file.writeAll(raw)
                    }
                }
                return (size, hasher.finalize())
            }
        } catch {
            try? FileOps.remove(path)
            throw error
        }
    }

    /// The object's size, or nil when it is absent.
    public func head(_ name: String) async throws -> UInt64? {
        let (status, headers, _) = try await send("HEAD", name, operation: "check \(name)", allow404: true)
        if status == 404 { return nil }
        return headers.first(name: "content-length").flatMap { UInt64($0) }
    }

    public func delete(_ name: String) async throws {
        _ = try await send("DELETE", name, operation: "delete \(name)", allow404: true)
    }

    /// Most keys one listing returns, and most pages it reads: a remote that claims more (one
    /// that always says `IsTruncated`) is refused instead of read forever.
    public static let listLimits = (keys: 50_000_000, pages: 100_000)

    /// Every object under `prefix` (relative to the location's prefix), following continuation tokens.
    /// Returned keys are relative too.
    /// - Throws: `S3Error.badResponse` when a continuation token repeats or the limits are passed.
    public func list(prefix: String) async throws -> [ListedObject] { try await list(prefix: prefix, pageSize: nil) }

    /// `list(prefix:)` in pages of at most `pageSize` keys (the server's default when nil).
    public func list(prefix: String, pageSize: Int?) async throws -> [ListedObject] {
        var out: [ListedObject] = []
        var token: String?
        var seen = Set<String>()
        var pages = 0
        let stem = location.prefix.isEmpty ? "" : location.prefix + "/"
        let operation = "list \(location.key(prefix))"
        repeat {
            var query = [("list-type", "2"), ("prefix", location.key(prefix))]
            if let token { query.append(("continuation-token", token)) }
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            let (_, _, body) = try await send("GET", nil, query: query, operation: operation)
            pages += 1
            let xml = String(decoding: body, as: UTF8.self)
            for contents in XMLScan.elements("Contents", in: xml) {
                guard let key = XMLScan.value("Key", in: contents), key.hasPrefix(stem) else {
                    throw S3Error.badResponse(operation: "list", reason: "an entry without a key under \(location.prefix)")
                }
                let size = XMLScan.value("Size", in: contents).flatMap { UInt64($0) } ?? 0
                out.append(ListedObject(key: String(key.dropFirst(stem.count)), size: size))
            }
            token = XMLScan.value("IsTruncated", in: xml) == "true" ? XMLScan.value("NextContinuationToken", in: xml) : nil
            if let next = token {
                guard seen.insert(next).inserted else {
                    throw S3Error.badResponse(operation: operation, reason: "the listing repeats a continuation token")
                }
                guard pages < Self.listLimits.pages, out.count < Self.listLimits.keys else {
                    throw S3Error.badResponse(operation: operation, reason: "the listing goes on past \(out.count) keys in \(pages) pages")
                }
            }
        } while token != nil
        return out
    }

    /// Uploads `body` in parts (each retried on its own) and completes the upload; aborts it on failure.
    @discardableResult
    public func putMultipart(_ name: String, _ body: Data) async throws -> String? {
        try await putParts(name, size: body.count) { range in body.subdata(in: range) }
    }

    /// Uploads the file at `path` as `name`, in parts read from the file as they are sent when it
    /// is large (no more than `parallelism` parts in memory), whole otherwise.
    @discardableResult
    public func putFile(_ name: String, path: String) async throws -> String? {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        let size = Int(try file.size())
        if size < multipartThreshold { return try await put(name, try file.read(count: size, at: 0)) }
        return try await putParts(name, size: size) { range in try file.read(count: range.count, at: UInt64(range.lowerBound)) }
    }

    /// A multipart upload of `size` bytes whose parts `part` reads.
    private func putParts(_ name: String, size: Int, part: @escaping @Sendable (Range<Int>) throws -> Data) async throws -> String? {
        let (_, _, created) = try await send("POST", name, query: [("uploads", "")], operation: "start upload of \(name)")
        guard let uploadID = XMLScan.value("UploadId", in: String(decoding: created, as: UTF8.self)) else {
            throw S3Error.badResponse(operation: "start upload of \(name)", reason: "no UploadId")
        }
        do {
            let ranges = stride(from: 0, to: size, by: partSize).map { $0..<min($0 + partSize, size) }
            var etags = [String](repeating: "", count: ranges.count)
            try await Parallel.forEach(Array(ranges.indices), width: parallelism, { index in
                let (_, headers, _) = try await self.send(
                    "PUT", name, query: [("partNumber", String(index + 1)), ("uploadId", uploadID)],
                    body: try part(ranges[index]), operation: "upload part \(index + 1) of \(name)")
                return headers.first(name: "etag") ?? ""
            }) { index, etag in etags[index] = etag }
            let parts = etags.enumerated().map {
                "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(XMLScan.escape($0.element))</ETag></Part>"
            }.joined()
            let completion = Data("<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>".utf8)
            let (_, _, result) = try await send(
                "POST", name, query: [("uploadId", uploadID)], body: completion, operation: "complete upload of \(name)")
            let text = String(decoding: result, as: UTF8.self)
            if text.contains("<Error>") {
                throw S3Error.http(status: 200, code: XMLScan.value("Code", in: text) ?? "", message: XMLScan.value("Message", in: text) ?? "",
                                   operation: "complete upload of \(name)")
            }
            return XMLScan.value("ETag", in: text)
        } catch {
            _ = try? await send("DELETE", name, query: [("uploadId", uploadID)], operation: "abort upload of \(name)", allow404: true)
            throw error
        }
    }

    // MARK: Requests

    /// Sends one signed request, retrying per `retry`, and returns status, headers and the body,
    /// read as it arrives and refused past `limit` bytes.
    func send(_ method: String, _ name: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
              body: Data = Data(), operation: String, allow404: Bool = false, limit: Int = 1 << 20) async throws -> (Int, HTTPHeaders, Data) {
        try await perform(method, name, query: query, headers: extra, body: body, operation: operation, allow404: allow404) { status, headers, response in
            (status, headers, try await Self.collect(response, limit: limit, operation: operation))
        }
    }

    /// A response body, refused past `limit` bytes.
    private static func collect(_ body: HTTPClientResponse.Body, limit: Int, operation: String) async throws -> Data {
        do {
            return Data(try await body.collect(upTo: max(0, limit)).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw S3Error.badResponse(operation: operation, reason: "the reply is longer than the \(limit) bytes expected")
        }
    }

    /// Sends one signed request, retrying per `retry` (5xx, 429, timeouts, dropped connections),
    /// and hands a successful response (2xx, or 404 with `allow404`) to `receive`, which reads its
    /// body; a transport failure while `receive` reads is retried like any other.
    func perform<T>(_ method: String, _ name: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
                    body: Data = Data(), operation: String, allow404: Bool = false,
                    receive: (Int, HTTPHeaders, HTTPClientResponse.Body) async throws -> T) async throws -> T {
        let base = location.base()
        let path = base.pathPrefix + (name.map { "/" + SigV4Signer.encodePath(location.key($0)) } ?? "/")
        let queryString = SigV4Signer.canonicalQuery(query)
        let url = base.url + path + (queryString.isEmpty ? "" : "?" + queryString)
        let payloadHash = SHA256.hash(data: body).hexString
        var attempt = 0
        while true {
            counters.add(retried: attempt > 0)
            do {
                var request = HTTPClientRequest(url: url)
                request.method = HTTPMethod(rawValue: method)
                var headers = [("host", base.host)] + extra
                if !body.isEmpty || method == "PUT" || method == "POST" { headers.append(("content-length", String(body.count))) }
                for (header, value) in headers + signer.sign(method: method, path: path, query: query, headers: headers,
                                                             payloadHash: payloadHash, date: Date()) {
                    request.headers.add(name: header, value: value)
                }
                if !body.isEmpty { request.body = .bytes(ByteBuffer(bytes: body)) }
                let response = try await http.execute(request, timeout: .seconds(120))
                let status = Int(response.status.code)
                if (200..<300).contains(status) {
                    return try await receive(status, response.headers, response.body)
                }
                let reply = try await Self.collect(response.body, limit: 1 << 20, operation: operation)
                if status == 404 && allow404 && !Self.isBucketError(reply) {
                    return try await receive(status, response.headers, HTTPClientResponse.Body.bytes(ByteBuffer(bytes: reply)))
                }
                let error = classify(status: status, body: reply, operation: operation)
                if status >= 500 || status == 429, attempt + 1 < retry.attempts {
                    attempt += 1
                    try await Task.sleep(nanoseconds: UInt64(retry.delay(afterAttempt: attempt) * 1e9))
                    continue
                }
                throw error
            } catch let error as S3Error {
                throw error
            } catch let error as StoreError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // Transport: refused, reset, timed out. Retry, then report the endpoint.
                if attempt + 1 < retry.attempts {
                    attempt += 1
                    try await Task.sleep(nanoseconds: UInt64(retry.delay(afterAttempt: attempt) * 1e9))
                    continue
                }
                throw S3Error.unreachable(endpoint: base.url, reason: "\(error) after \(attempt + 1) attempts")
            }
        }
    }

    private static func isBucketError(_ body: Data) -> Bool {
        String(decoding: body, as: UTF8.self).contains("<Code>NoSuchBucket</Code>")
    }

    private func classify(status: Int, body: Data, operation: String) -> S3Error {
        let text = String(decoding: body, as: UTF8.self)
        let code = XMLScan.value("Code", in: text) ?? ""
        let message = XMLScan.value("Message", in: text) ?? ""
        if status == 412 { return .changedMeanwhile(operation: operation) }
        switch code {
        case "NoSuchBucket": return .noSuchBucket(location.bucket)
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccessDenied":
            return .credentialsRefused(code: code, message: message)
        default:
            if status == 403 { return .credentialsRefused(code: code.isEmpty ? "403" : code, message: message) }
            return .http(status: status, code: code, message: message, operation: operation)
        }
    }

    private final class Counters: Sendable {
        private let counts = Mutex((sent: 0, retried: 0))
        func add(retried isRetry: Bool) {
            counts.withLock {
                $0.sent += 1
                if isRetry { $0.retried += 1 }
            }
        }
        func read() -> (Int, Int) { counts.withLock { ($0.sent, $0.retried) } }
    }
}

