import CairnStore
import Foundation

/// Assigns train/val/test from a blob id, so an image keeps its split across versions and
/// repositories: the id's first 8 bytes, read big-endian as a fraction of 2^64, are compared
/// with the cumulative ratios (train, then val, then test).
public struct SplitPolicy: Sendable, Hashable, Codable {
    public var train: Double
    public var val: Double
    public var test: Double
    /// A regular expression over item paths (`[splits] group`): items whose paths give the same
    /// first capture group share a split, drawn from that key instead of the blob id (augmented
    /// copies of one photo stay together). Paths it does not match are split by blob id.
    public var group: String?

    /// 80/10/10.
    public static let standard = SplitPolicy(train: 0.8, val: 0.1, test: 0.1)

    /// Ratios must be non-negative and sum to 1 (within 1e-6).
    public init(train: Double, val: Double, test: Double) {
        self.train = train
        self.val = val
        self.test = test
    }

    /// Throws unless the ratios are valid and `group`, when set, compiles with a capture group.
    public func validate() throws(CatalogError) {
        guard train >= 0, val >= 0, test >= 0, abs(train + val + test - 1) < 1e-6 else {
            throw .invalidSplitRatios(train: train, val: val, test: test)
        }
        if let group { _ = try Self.groupExpression(group) }
    }

    /// `pattern` compiled, with at least one capture group.
    public static func groupExpression(_ pattern: String) throws(CatalogError) -> NSRegularExpression {
        let expression: NSRegularExpression
        do { expression = try NSRegularExpression(pattern: pattern) } catch {
            throw .invalidSplitGroup(pattern: pattern, reason: "it is not a regular expression")
        }
        guard expression.numberOfCaptureGroups >= 1 else {
            throw .invalidSplitGroup(pattern: pattern, reason: "it has no capture group: put the part of the path that names a group in ( )")
        }
        return expression
    }

    /// The split for a group key (the first capture group of a path): the same fraction rule over
    /// the first 8 bytes of SHA-256 of the key.
    public func split(forKey key: String) -> Split {
        split(for: BlobID(hashing: Data(key.utf8)))
    }

    /// The split for `id`.
    public func split(for id: BlobID) -> Split {
        let fraction = Double(id.w0 >> 11) / Double(1 << 53)
        if fraction < train { return .train }
        if fraction < train + val { return .val }
        return .test
    }
}

/// Assigns splits at import and in `split regroup`: by group key where `SplitPolicy.group` (or a
/// given pattern) matches the path, else by blob id. Built once per run (the pattern compiled once).
public struct SplitAssigner: Sendable {
    public let policy: SplitPolicy
    private let expression: NSRegularExpression?

    public init(_ policy: SplitPolicy, group: String? = nil) throws(CatalogError) {
        self.policy = policy
        let pattern = group ?? policy.group
        expression = try pattern.map { p throws(CatalogError) in try SplitPolicy.groupExpression(p) }
    }

    /// The group key of `path` (its first capture group), if the pattern matches it.
    public func key(of path: String) -> String? {
        guard let expression, let match = expression.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)),
              let range = Range(match.range(at: 1), in: path) else { return nil }
        return String(path[range])
    }

    public func split(for id: BlobID, path: String) -> Split {
        key(of: path).map { policy.split(forKey: $0) } ?? policy.split(for: id)
    }
}
