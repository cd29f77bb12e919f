import CairnStore
import Foundation

/// Assigns train/val/test from a blob id, so an image keeps its split across versions and
/// repositories: the id's first 8 bytes, read big-endian as a fraction of 2^64, are compared
/// with the cumulative ratios (train, then val, then test).
public struct SplitPolicy: Sendable, Hashable, Codable {
    public var train: Double
    public var val: Double
    public var test: Double

    /// 80/10/10.
    public static let standard = SplitPolicy(train: 0.8, val: 0.1, test: 0.1)

    /// Ratios must be non-negative and sum to 1 (within 1e-6).
    public init(train: Double, val: Double, test: Double) {
        self.train = train
        self.val = val
        self.test = test
    }

    /// Throws unless the ratios are valid.
    public func validate() throws(CatalogError) {
        guard train >= 0, val >= 0, test >= 0, abs(train + val + test - 1) < 1e-6 else {
            throw .invalidSplitRatios(train: train, val: val, test: test)
        }
    }

    /// The split for `id`.
    public func split(for id: BlobID) -> Split {
        let fraction = Double(id.w0 >> 11) / Double(1 << 53)
        if fraction < train { return .train }
        if fraction < train + val { return .val }
        return .test
    }
}
