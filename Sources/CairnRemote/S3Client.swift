import CairnStore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Where a remote lives: `s3://BUCKET/PREFIX` plus how to reach it.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// Key prefix without leading or trailing `/` (may be empty).
    public var prefix: String
    /// `scheme://host[:port]`; nil means AWS (`https://s3.REGION.amazonaws.com`).
    public var endpoint: String?
    public var region: String
    /// Bucket in the path (`endpoint/BUCKET/KEY`) rather than in the host name (`BUCKET.host/KEY`).
    public var pathStyle: Bool

    public init(bucket: String, prefix: String, endpoint: String? = nil, region: String = "us-east-1", pathStyle: Bool = false) {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
        self.endpoint = endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.region = region
        self.pathStyle = pathStyle
    }

    /// Parses `s3://BUCKET[/PREFIX]`.
    public init(url: String, endpoint: String? = nil, region: String = "us-east-1", pathStyle: Bool = false) throws {
        guard url.hasPrefix("s3://") else { throw S3Error.badURL(url) }
        let rest = url.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        guard (3...63).contains(bucket.count),
            bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") })
        else { throw S3Error.badURL(url) }
        if let endpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw S3Error.badEndpoint(endpoint)
        }
        self.init(bucket: String(bucket), prefix: String(rest.dropFirst(bucket.count)), endpoint: endpoint, region: region,
                  pathStyle: pathStyle)
    }

    public var url: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
    public var description: String { url }

    /// The full key of `name` under the prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)/\(name)" }

    /// (base URL, host header, path prefix) for requests.
    func base() -> (url: String, host: String, pathPrefix: String) {
        let endpoint = self.endpoint ?? "https://s3.\(region).amazonaws.com"
        let scheme = endpoint.hasPrefix("http://") ? "http://" : "https://"
        let host = String(endpoint.dropFirst(scheme.count).prefix { $0 != "/" })
        if pathStyle {
            return (scheme + host, host, "/" + SigV4Signer.encode(bucket))
        }
        return (scheme + bucket + "." + host, bucket + "." + host, "")
    }
}

/// What went wrong talking to an S3-compatible server. Never carries credentials.
public enum S3Error: Error, Sendable, CustomStringConvertible {
    case badURL(String)
    case badEndpoint(String)
    case noCredentials(tried: [String])
    case badCredentialsFile(path: String, reason: String)
    case noSuchBucket(String)
    case credentialsRefused(code: String, message: String)
    case notFound(key: String)
    /// A conditional write lost: the object changed (or appeared) since it was read.
    case changedMeanwhile(operation: String)
    case unreachable(endpoint: String, reason: String)
    case http(status: Int, code: String, message: String, operation: String)
    case badResponse(operation: String, reason: String)

    public var description: String {
        switch self {
        case .badURL(let url):
            "\(url) is not a remote URL: expected s3://BUCKET[/PREFIX] with a bucket name of 3-63 lowercase letters, digits, '-' or '.'"
        case .badEndpoint(let endpoint):
            "\(endpoint) is not an endpoint URL: expected http://HOST[:PORT] or https://HOST[:PORT]"
        case .noCredentials(let tried):
            "no S3 credentials found (looked in \(tried.joined(separator: ", "))); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials"
        case .badCredentialsFile(let path, let reason):
            "cannot use credentials file \(path): \(reason)"
        case .noSuchBucket(let bucket):
            "bucket \(bucket) does not exist on the remote (create it first, e.g. `aws s3 mb s3://\(bucket)`)"
        case .credentialsRefused(let code, let message):
            "the remote refused the credentials (\(code): \(message)); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile in use"
        case .notFound(let key):
            "\(key) is not on the remote"
        case .changedMeanwhile(let operation):
            "\(operation) lost to another writer (the object changed on the remote since it was read); run the command again"
        case .unreachable(let endpoint, let reason):
            "cannot reach \(endpoint): \(reason)"
        case .http(let status, let code, let message, let operation):
            "\(operation) failed: HTTP \(status)\(code.isEmpty ? "" : " \(code)")\(message.isEmpty ? "" : ": \(message)")"
        case .badResponse(let operation, let reason):
            "\(operation): unexpected response from the remote: \(reason)"
        }
    }
}

/// How failed requests are retried: exponential backoff with full jitter on 5xx, 429,
/// timeouts and dropped or refused connections.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(attempts: Int = 8, baseDelay: Double = 0.05, maxDelay: Double = 2) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    func delay(afterAttempt attempt: Int) -> Double {
        Double.random(in: 0...min(maxDelay, baseDelay * pow(2, Double(attempt))))
    }
}

/// One listed object.
public struct S3Object: Sendable, Hashable {
    public var key: String
    public var size: UInt64
}

/// A minimal S3 client: PUT, GET, HEAD, DELETE, ListObjectsV2 and multipart upload, signed with
/// SigV4, over async-http-client, with retries. Keys passed in are relative to the location's prefix.
public final class S3Client: Sendable {
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

    /// The object's bytes and ETag, or nil when it is absent.
    public func getWithETag(_ name: String) async throws -> (data: Data, etag: String)? {
        let (status, headers, body) = try await send("GET", name, operation: "download \(name)", allow404: true)
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

    /// The object's bytes; throws `S3Error.notFound` when absent.
    public func get(_ name: String) async throws -> Data {
        let (status, _, body) = try await send("GET", name, operation: "download \(name)", allow404: true)
        if status == 404 { throw S3Error.notFound(key: location.key(name)) }
        return body
    }

    /// `length` bytes of the object from `offset` (an HTTP range request).
    public func get(_ name: String, offset: UInt64, length: Int) async throws -> Data {
        precondition(length > 0)
        let range = "bytes=\(offset)-\(offset + UInt64(length) - 1)"
        let operation = "download \(name) (\(range))"
        let (status, _, body) = try await send("GET", name, headers: [("range", range)], operation: operation, allow404: true)
        if status == 404 { throw S3Error.notFound(key: location.key(name)) }
        guard body.count == length else {
            throw S3Error.badResponse(operation: operation, reason: "\(body.count) bytes instead of \(length)")
        }
        return body
    }

    public func getIfPresent(_ name: String) async throws -> Data? {
        do { return try await get(name) } catch S3Error.notFound { return nil }
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

    /// Every object under `prefix` (relative to the location's prefix), following continuation tokens.
    /// Returned keys are relative too.
    public func list(prefix: String, pageSize: Int? = nil) async throws -> [S3Object] {
        var out: [S3Object] = []
        var token: String?
        let stem = location.prefix.isEmpty ? "" : location.prefix + "/"
        repeat {
            var query = [("list-type", "2"), ("prefix", location.key(prefix))]
            if let token { query.append(("continuation-token", token)) }
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            let (_, _, body) = try await send("GET", nil, query: query, operation: "list \(location.key(prefix))")
            let xml = String(decoding: body, as: UTF8.self)
            for contents in XMLScan.elements("Contents", in: xml) {
                guard let key = XMLScan.value("Key", in: contents), key.hasPrefix(stem) else {
                    throw S3Error.badResponse(operation: "list", reason: "an entry without a key under \(location.prefix)")
                }
                let size = XMLScan.value("Size", in: contents).flatMap { UInt64($0) } ?? 0
                out.append(S3Object(key: String(key.dropFirst(stem.count)), size: size))
            }
            token = XMLScan.value("IsTruncated", in: xml) == "true" ? XMLScan.value("NextContinuationToken", in: xml) : nil
        } while token != nil
        return out
    }

    /// Uploads `body` in parts (each retried on its own) and completes the upload; aborts it on failure.
    @discardableResult
    public func putMultipart(_ name: String, _ body: Data) async throws -> String? {
        let (_, _, created) = try await send("POST", name, query: [("uploads", "")], operation: "start upload of \(name)")
        guard let uploadID = XMLScan.value("UploadId", in: String(decoding: created, as: UTF8.self)) else {
            throw S3Error.badResponse(operation: "start upload of \(name)", reason: "no UploadId")
        }
        do {
            let ranges = stride(from: 0, to: body.count, by: partSize).map { $0..<min($0 + partSize, body.count) }
            var etags = [String](repeating: "", count: ranges.count)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func add() {
                    let index = next, range = ranges[index]
                    next += 1
                    group.addTask {
                        let (_, headers, _) = try await self.send(
                            "PUT", name, query: [("partNumber", String(index + 1)), ("uploadId", uploadID)],
                            body: body.subdata(in: range), operation: "upload part \(index + 1) of \(name)")
                        return (index, headers.first(name: "etag") ?? "")
                    }
                }
                while next < min(parallelism, ranges.count) { add() }
                while let (index, etag) = try await group.next() {
                    etags[index] = etag
                    if next < ranges.count { add() }
                }
            }
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

    /// Sends one signed request, retrying per `retry`. Returns status, headers and the whole body.
    func send(_ method: String, _ name: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
              body: Data = Data(), operation: String, allow404: Bool = false) async throws -> (Int, HTTPHeaders, Data) {
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
                let bytes = try await response.body.collect(upTo: 1 << 31)
                let data = Data(bytes.readableBytesView)
                let status = Int(response.status.code)
                if (200..<300).contains(status) || (status == 404 && allow404 && !Self.isBucketError(data)) {
                    return (status, response.headers, data)
                }
                let error = classify(status: status, body: data, operation: operation)
                if status >= 500 || status == 429, attempt + 1 < retry.attempts {
                    attempt += 1
                    try await Task.sleep(nanoseconds: UInt64(retry.delay(afterAttempt: attempt) * 1e9))
                    continue
                }
                throw error
            } catch let error as S3Error {
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

    private final class Counters: @unchecked Sendable {
        private let lock = NSLock()
        private var sent = 0, retried = 0
        func add(retried isRetry: Bool) {
            lock.lock()
            sent += 1
            if isRetry { retried += 1 }
            lock.unlock()
        }
        func read() -> (Int, Int) {
            lock.lock()
            defer { lock.unlock() }
            return (sent, retried)
        }
    }
}

/// Just enough XML for S3's replies: the text of simple elements, with the five entities decoded.
enum XMLScan {
    static func elements(_ name: String, in xml: String) -> [Substring] {
        var out: [Substring] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(name)>"), let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex) {
            out.append(rest[open.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func value(_ name: String, in xml: some StringProtocol) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex)
        else { return nil }
        return unescape(String(xml[open.upperBound..<close.lowerBound]))
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let s = Unicode.Scalar(v) {
                    out.unicodeScalars.append(s)
                } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let s = Unicode.Scalar(v) {
                    out.unicodeScalars.append(s)
                } else {
                    out += "&\(entity);"
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
