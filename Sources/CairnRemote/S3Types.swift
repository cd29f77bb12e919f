import CairnSupport
import Foundation

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
public enum S3Error: CairnError, Equatable {
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

