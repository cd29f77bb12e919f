import Crypto
import Foundation

/// The identity of a blob: the SHA-256 of its exact bytes.
///
/// ```swift
/// let id = BlobID(hashing: Data("hello".utf8))
/// print(id)  // 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
/// ```
///
/// Stored as four big-endian words, so comparing ids compares their bytes and hashing is cheap.
public struct BlobID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The id of `bytes`, computed with SHA-256.
    public init(hashing bytes: some DataProtocol) {
        self.init(digest: SHA256.hash(data: bytes))
    }

    /// The id of a finished SHA-256 digest.
    public init(digest: SHA256.Digest) {
        self = digest.withUnsafeBytes { BlobID(rawBytes: $0)! }
    }

    /// Reads 32 raw bytes; nil if `rawBytes` is shorter.
    public init?(rawBytes: UnsafeRawBufferPointer) {
        guard rawBytes.count >= 32 else { return nil }
        func word(_ i: Int) -> UInt64 {
            UInt64(bigEndian: rawBytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
        }
        (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3))
    }

    /// Parses 64 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        var text = hex
        let parsed = text.withUTF8 { Self.parse(hex: UnsafeBufferPointer(rebasing: $0[...])) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses 64 hex digits (either case) from a substring.
    public init?(hex: Substring) {
        self.init(hex: String(hex))
    }

    private static func parse(hex: UnsafeBufferPointer<UInt8>) -> BlobID? {
        guard hex.count == 64 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for w in 0..<4 {
            var word: UInt64 = 0
            var invalid: UInt8 = 0
            for i in 0..<16 {
                let v = hexTable[Int(hex[w * 16 + i])]
                invalid |= v
                word = word << 4 | UInt64(v & 0xF)
            }
            guard invalid & 0x80 == 0 else { return nil }
            switch w {
            case 0: words.0 = word
            case 1: words.1 = word
            case 2: words.2 = word
            default: words.3 = word
            }
        }
        return BlobID(words: words)
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) {
        (w0, w1, w2, w3) = words
    }

    /// The 32 raw bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { writeRaw(to: $0.baseAddress!) }
        return out
    }

    /// Writes the 32 raw bytes to `pointer`.
    public func writeRaw(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: w0.bigEndian, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: w1.bigEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: w2.bigEndian, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: w3.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// The first byte, used to fan objects out over 256 directories and index buckets.
    public var firstByte: UInt8 { UInt8(truncatingIfNeeded: w0 >> 56) }

    /// Lowercase hex, 64 characters.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 64) { buffer in
            for (wi, w) in [w0, w1, w2, w3].enumerated() {
                for nibble in 0..<16 {
                    buffer[wi * 16 + nibble] = digits[Int((w >> UInt64(60 - 4 * nibble)) & 0xF)]
                }
            }
            return 64
        }
    }

    public var description: String { hex }

    public static func < (a: BlobID, b: BlobID) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

extension BlobID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = BlobID(hex: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a 64-digit hex SHA-256: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Hex digit values by byte; 0x80 marks a byte that is not a hex digit.
private let hexTable: [UInt8] = (0..<256).map { hexValue(UInt8($0)) ?? 0x80 }

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Bytes together with their id, computed once. The only way to make one is to hash the bytes,
/// so a `HashedBlob` handed to a store can be trusted without hashing again.
public struct HashedBlob: Sendable {
    public let id: BlobID
    public let data: Data

    /// Hashes `data`.
    public init(_ data: Data) {
        self.id = BlobID(hashing: data)
        self.data = data
    }
}
