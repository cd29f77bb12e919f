import Crypto
import Foundation
import Glibc

/// The on-disk formats of pack files and their indexes (specified in Docs/FORMAT.md).
///
/// A pack is `"CAIRNPAK" u32le(version=1) u32le(0)` followed by records
/// `id[32] u64le(length) bytes[length]`. Its index is
/// `"CAIRNIDX" u32le(version=1) u32le(count) u32le(fanout[256])` followed by `count` entries
/// `id[32] u64le(offset of bytes) u64le(length)` sorted by id, then the SHA-256 of everything
/// before it. A pack becomes visible only when its index exists, and the index is written
/// only after the pack is durable, so an index never names bytes that are not on disk.
public enum PackFormat {
    public static let packMagic = Array("CAIRNPAK".utf8)
    public static let indexMagic = Array("CAIRNIDX".utf8)
    public static let version: UInt32 = 1
    public static let packHeaderSize = 16
    public static let recordHeaderSize = 40
    public static let indexHeaderSize = 16 + 256 * 4
    public static let indexEntrySize = 48

    static func packHeader() -> [UInt8] {
        packMagic + le32(version) + le32(0)
    }

    static func recordHeader(id: BlobID, length: Int) -> [UInt8] {
        id.bytes + le64(UInt64(length))
    }

    /// Encodes a sorted index for `entries`.
    static func encodeIndex(_ entries: [PackEntry]) -> Data {
        let sorted = entries.sorted { $0.id < $1.id }
        var fanout = [UInt32](repeating: 0, count: 256)
        for entry in sorted { fanout[Int(entry.id.firstByte)] += 1 }
        var running: UInt32 = 0
        for i in 0..<256 {
            running += fanout[i]
            fanout[i] = running
        }
        var out = Data(capacity: indexHeaderSize + sorted.count * indexEntrySize + 32)
        out.append(contentsOf: indexMagic)
        out.append(contentsOf: le32(version))
        out.append(contentsOf: le32(UInt32(sorted.count)))
        for f in fanout { out.append(contentsOf: le32(f)) }
        for entry in sorted {
            out.append(contentsOf: entry.id.bytes)
            out.append(contentsOf: le64(entry.offset))
            out.append(contentsOf: le64(entry.length))
        }
        out.append(contentsOf: SHA256.hash(data: out))
        return out
    }

    /// A whole pack holding `blobs` in the given order, and its index (for packs written at once,
    /// as a push writes them to a remote).
    public static func build(_ blobs: [HashedBlob]) -> (pack: Data, index: Data) {
        var pack = Data(capacity: packHeaderSize + blobs.reduce(0) { $0 + recordHeaderSize + $1.data.count })
        pack.append(contentsOf: packHeader())
        var entries: [PackEntry] = []
        entries.reserveCapacity(blobs.count)
        for blob in blobs {
            pack.append(contentsOf: recordHeader(id: blob.id, length: blob.data.count))
            entries.append(PackEntry(id: blob.id, offset: UInt64(pack.count), length: UInt64(blob.data.count)))
            pack.append(blob.data)
        }
        return (pack, encodeIndex(entries))
    }

    /// Walks a pack's records without its index (to check or re-index it): where each object's
    /// bytes sit. Nothing is hashed here.
    /// - Throws: `StoreError.damagedFile` for a bad header or a record that runs past the end.
    public static func records(in pack: Data, path: String) throws(StoreError) -> [PackEntry] {
        func damaged(_ reason: String) -> StoreError { .damagedFile(path: path, reason: reason) }
        guard pack.count >= packHeaderSize, Array(pack.prefix(8)) == packMagic else { throw damaged("not a Cairn pack") }
        let version = pack.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard version == Self.version else { throw damaged("pack format version \(version) is newer than this cairn understands") }
        var entries: [PackEntry] = []
        var offset = packHeaderSize
        let bytes = [UInt8](pack)
        while offset < bytes.count {
            guard bytes.count - offset >= recordHeaderSize else { throw damaged("a record header is cut short at \(offset)") }
            let (id, length) = bytes.withUnsafeBytes { raw in
                (BlobID(rawBytes: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 32]))!,
                 UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 32, as: UInt64.self)))
            }
            let start = offset + recordHeaderSize
            guard length <= UInt64(bytes.count - start) else { throw damaged("the record at \(offset) runs past the end") }
            entries.append(PackEntry(id: id, offset: UInt64(start), length: length))
            offset = start + Int(length)
        }
        return entries
    }

    static func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
}

/// Where one object's bytes sit inside a pack.
public struct PackEntry: Sendable, Hashable {
    public let id: BlobID
    /// The position of the object's first byte in the pack (after its record header).
    public let offset: UInt64
    public let length: UInt64

    public init(id: BlobID, offset: UInt64, length: UInt64) {
        (self.id, self.offset, self.length) = (id, offset, length)
    }
}

/// A loaded, verified pack index: sorted entries searched through a 256-way fan-out.
///
/// Every field is checked when the index is loaded, before any is used, because indexes also come
/// from remotes written by others: the checksum, the fan-out (rising, ending at the entry count,
/// each bucket holding only ids with that first byte), ids strictly increasing, and — given the
/// pack's size — every record inside the pack, after its header, with no two overlapping and no
/// arithmetic overflow. A damaged index is a `StoreError.damagedFile` naming it, never a trap.
///
/// - Complexity: lookup is O(log n) in the pack's entry count; loading is one read, one hash and
///   O(n log n) checks.
public struct PackIndex: Sendable {
    public let name: String
    private let data: Data
    public let count: Int

    /// Reads and verifies a local index at `path`. Its records are not checked against the pack's
    /// size on disk: this store wrote both, and a pack cut short since (bit rot) must show as
    /// damaged objects, found when they are read, not as an unreadable store.
    init(path: String, name: String) throws(StoreError) {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        let data = try file.read(count: Int(try file.size()), at: 0)
        try self.init(data: data, name: name, path: path, packSize: nil)
    }

    /// Verifies an index read from `path`. `packSize` (when known) bounds every record;
    /// `maxObjectSize` bounds each object (a remote packs only objects up to 1 MiB).
    public init(data: Data, name: String, path: String, packSize: UInt64?, maxObjectSize: UInt64 = .max) throws(StoreError) {
        func damaged(_ reason: String) -> StoreError { .damagedFile(path: path, reason: reason) }
        guard data.count >= PackFormat.indexHeaderSize + 32 else { throw damaged("index too short") }
        guard Array(data.prefix(8)) == PackFormat.indexMagic else { throw damaged("not a Cairn pack index") }
        let version = data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard version == PackFormat.version else {
            throw damaged("index format version \(version) is newer than this cairn understands; upgrade cairn")
        }
        let count = Int(data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) })
        guard data.count == PackFormat.indexHeaderSize + count * PackFormat.indexEntrySize + 32 else {
            throw damaged("index length does not match its entry count")
        }
        let body = data.prefix(data.count - 32)
        guard Array(SHA256.hash(data: body)) == Array(data.suffix(32)) else { throw damaged("index checksum mismatch") }
        self.data = data
        self.count = count
        self.name = name
        try validate(packSize: packSize, maxObjectSize: maxObjectSize, damaged)
    }

    /// The structural checks of `init`, past the checksum (which a hostile writer can always make right).
    private func validate(packSize: UInt64?, maxObjectSize: UInt64, _ damaged: (String) -> StoreError) throws(StoreError) {
        var previous = 0
        for byte in 0..<256 {
            let end = fanout(byte)
            guard end >= previous, end <= count else { throw damaged("fan-out entry \(byte) is \(end), outside \(previous)...\(count)") }
            previous = end
        }
        guard previous == count else { throw damaged("the fan-out ends at \(previous), not at the entry count \(count)") }
        var spans: [(start: UInt64, end: UInt64)] = []
        spans.reserveCapacity(count)
        var last: BlobID?
        var bucket = 0
        for i in 0..<count {
            let entry = entry(at: i)
            if let last, !(last < entry.id) { throw damaged("entries are not in increasing id order at \(i)") }
            last = entry.id
            while fanout(bucket) <= i { bucket += 1 }
            guard Int(entry.id.firstByte) == bucket else { throw damaged("entry \(i) is in the fan-out bucket of another first byte") }
            guard entry.length <= maxObjectSize else { throw damaged("entry \(i) claims \(entry.length) bytes, more than \(maxObjectSize)") }
            let (end, overflow) = entry.offset.addingReportingOverflow(entry.length)
            guard !overflow, entry.offset >= UInt64(PackFormat.packHeaderSize + PackFormat.recordHeaderSize) else {
                throw damaged("entry \(i) has an impossible offset \(entry.offset) or length \(entry.length)")
            }
            if let packSize, end > packSize {
                throw damaged("entry \(i) runs to byte \(end), past the end of its \(packSize)-byte pack")
            }
            spans.append((entry.offset, end))
        }
        // Records (header and bytes) may not overlap: each starts after the previous one ends.
        spans.sort { $0.start < $1.start }
        for (a, b) in zip(spans, spans.dropFirst()) where b.start < a.end + UInt64(PackFormat.recordHeaderSize) {
            throw damaged("records at offsets \(a.start) and \(b.start) overlap")
        }
    }

    private func fanout(_ byte: Int) -> Int {
        data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 16 + byte * 4, as: UInt32.self))) }
    }

    /// The entry at sorted position `i`.
    public func entry(at i: Int) -> PackEntry {
        data.withUnsafeBytes { raw in
            let base = PackFormat.indexHeaderSize + i * PackFormat.indexEntrySize
            let id = BlobID(rawBytes: UnsafeRawBufferPointer(rebasing: raw[base..<base + 32]))!
            let offset = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 32, as: UInt64.self))
            let length = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 40, as: UInt64.self))
            return PackEntry(id: id, offset: offset, length: length)
        }
    }

    /// The entry for `id`, if this pack holds it.
    public func find(_ id: BlobID) -> PackEntry? {
        let first = Int(id.firstByte)
        var low = first == 0 ? 0 : fanout(first - 1)
        var high = fanout(first)
        let key = (id.w0, id.w1, id.w2, id.w3)
        return data.withUnsafeBytes { raw -> PackEntry? in
            func word(_ base: Int, _ i: Int) -> UInt64 {
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base + i * 8, as: UInt64.self))
            }
            while low < high {
                let mid = (low + high) / 2
                let base = PackFormat.indexHeaderSize + mid * PackFormat.indexEntrySize
                let probe = (word(base, 0), word(base, 1), word(base, 2), word(base, 3))
                if probe == key {
                    return PackEntry(id: id,
                                     offset: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 32, as: UInt64.self)),
                                     length: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 40, as: UInt64.self)))
                }
                if probe < key { low = mid + 1 } else { high = mid }
            }
            return nil
        }
    }

    /// Every entry, in id order.
    public var entries: [PackEntry] { (0..<count).map(entry(at:)) }
}
