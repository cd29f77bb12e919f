import Crypto
import Foundation

/// The one order of an item's labels (and of its verdicts) that every replica computes the same
/// way, whatever order rows were written or merged in (Docs/LABELS.md, "Which label is latest").
///
/// Each annotation and verdict carries a 16-byte stamp, compared byte by byte: the recorded time
/// in microseconds since 1970 (8 bytes, big-endian), then the first 8 bytes of SHA-256 of the
/// label's canonical text. Time decides; two labels at the same microsecond are ordered by their
/// content, never by insertion order. A stamp is made once, when a row is first written, and
/// travels with the row to other repositories.
///
/// ```swift
/// let a = LabelOrder.stamp(at: 1_700_000_000.25, label: "cat")
/// let b = LabelOrder.stamp(at: 1_700_000_000.25, label: "dog")
/// // a and b differ only in their last 8 bytes; every replica orders them the same way.
/// ```
public enum LabelOrder {
    /// Bytes in a stamp.
    public static let stampSize = 16

    /// The stamp of a label (nil = a skip) recorded at `time` (seconds since 1970).
    public static func stamp(at time: Double, label: Label?) -> Data { stamp(at: time, text: canonicalText(label)) }

    /// The stamp of any event recorded at `time` whose content is `text` (a split change: `split:NAME`).
    public static func stamp(at time: Double, text: String) -> Data {
        let micros = time.isFinite ? max(0, min((time * 1_000_000).rounded(), Double(UInt64.max >> 1))) : 0
        var out = Data(capacity: stampSize)
        withUnsafeBytes(of: UInt64(micros).bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: SHA256.hash(data: Data(text.utf8)).prefix(8))
        return out
    }

    /// The text a label's tie-break hashes: `skip`, `1:NAME` for one class, `m:A,B,…` for any other
    /// set (names in UTF-8 order; `m:` alone for the empty set).
    public static func canonicalText(_ label: Label?) -> String {
        guard let label else { return "skip" }
        if let name = label.single { return "1:" + name }
        return "m:" + label.classes.joined(separator: ",")
    }

    /// A stamp from its 32-digit hex form (as catalog bundles carry it); nil for anything else.
    public static func stamp(hex: String) -> Data? {
        guard hex.utf8.count == stampSize * 2 else { return nil }
        var out = Data(capacity: stampSize)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }

    /// The 32-digit lowercase hex form of a stamp.
    public static func hex(_ stamp: Data) -> String { stamp.map { String(format: "%02x", $0) }.joined() }
}
