import CairnCatalog
import CairnStore
import CairnSupport
import Crypto
import Foundation
import Glibc
import Synchronization

/// A snapshot as WebDataset shards: what webdataset, DALI, Ray Data, timm and Hugging Face read,
/// locally or straight from object storage.
///
/// ```
/// DIR/train-000000.tar …   one tar per shard and split, equal sample counts within a split
///     KEY.png | KEY.jpg    the image's original bytes (KEY = its blob id)
///     KEY.cls              the class index, in ASCII (items labeled with one class)
///     KEY.json             {"blob_id", "class", "class_index", "path", "split", "snapshot"}, and
///                          "boxes": [{"bbox": [x, y, w, h], "class", "class_index", "iscrowd",
///                          "occluded"}] for items whose boxes resolve (pixels of the image)
/// DIR/classes.txt          one class a line, line order = class index
/// DIR/_info.json           timm's layout: splits → num_samples, filenames, shard_lengths
/// DIR/manifest.json        the snapshot, classes, what was left out, each shard's SHA-256
/// ```
///
/// Items labeled with one class are samples, and so are items whose boxes resolve (an empty set:
/// an image without objects), with a `.cls` only when they have one class; other unlabeled,
/// conflicting and multi-label items are counted as left out. A snapshot without boxes gives the
/// shards it gave before boxes existed. Samples are shuffled with a generator seeded by the
/// snapshot id (and the split), then cut into shards; tar headers carry fixed times, owners and
/// modes. So the same snapshot always gives byte-identical shards.
public enum WebDataset {
    /// Samples per shard unless told otherwise.
    public static let defaultShardSize = 5000

    /// One shard as the manifest lists it.
    public struct Shard: Sendable, Codable, Hashable {
        public var name: String
        public var split: Split
        public var samples: Int
        public var bytes: Int64
        public var sha256: String
    }

    /// What `manifest.json` holds.
    public struct Manifest: Sendable, Codable {
        public var format = "webdataset"
        public var version = 1
        public var snapshot: BlobID
        public var classes: [String]
        public var shards: [Shard]
        /// Items that are not samples, by why.
        public var leftOut: LeftOut

        public struct LeftOut: Sendable, Codable, Hashable {
            public var unlabeled = 0, conflicts = 0, multiLabel = 0
            /// Items whose bytes were purged (absent when none).
            public var purged: Int?
        }
    }

    /// The brace pattern webdataset expands to a split's shards (`DIR/train-{000000..000003}.tar`),
    /// or nil when the split has none.
    public static func pattern(_ manifest: Manifest, split: Split, in directory: String) -> String? {
        let names = manifest.shards.filter { $0.split == split }.map(\.name)
        guard let first = names.first, let last = names.last else { return nil }
        if names.count == 1 { return directory + "/" + first }
        let digits = { (name: String) in name.dropFirst(split.rawValue.count + 1).prefix(6) }
        return directory + "/\(split.rawValue)-{\(digits(first))..\(digits(last))}.tar"
    }

    /// A sample: which item (its place in the list the samples were made from) and its class index
    /// (none for an item that is a sample by its boxes alone).
    struct Sample {
        let item: Int
        let classIndex: Int?
    }

    /// The samples of `items` (in blob id order, as a tree lists them) by split, shuffled
    /// deterministically, and what was left out.
    static func samples(_ items: [ItemRecord], classes: [String], snapshot: BlobID) -> ([Split: [Sample]], Manifest.LeftOut) {
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($0.element, $0.offset) })
        var left = Manifest.LeftOut()
        var bySplit: [Split: [Sample]] = [:]
        for (n, item) in items.enumerated() {
            let single = item.singleClass(in: index)
            if case .index(let i) = single {
                bySplit[item.split, default: []].append(Sample(item: n, classIndex: i))
                continue
            }
            if item.boxes?.resolved != nil {
                bySplit[item.split, default: []].append(Sample(item: n, classIndex: nil))
                continue
            }
            switch single {
            case .index: break
            case .unlabeled: left.unlabeled += 1
            case .conflict: left.conflicts += 1
            case .multiLabel: left.multiLabel += 1
            }
        }
        for (split, samples) in bySplit {
            var sorted = samples.sorted { items[$0.item].blobID < items[$1.item].blobID }
            var random = SplitMix64(seed: snapshot.w0 ^ UInt64(split == .train ? 1 : split == .val ? 2 : 3))
            for i in stride(from: sorted.count - 1, to: 0, by: -1) {
                sorted.swapAt(i, Int(random.next() % UInt64(i + 1)))
            }
            bySplit[split] = sorted
        }
        return (bySplit, left)
    }

    /// `count` samples cut into shards of at most `size`, as equal as counts allow (they differ by at most one).
    static func shardCounts(_ count: Int, size: Int) -> [Int] {
        guard count > 0 else { return [] }
        let shards = (count + size - 1) / size
        return (0..<shards).map { count / shards + ($0 < count % shards ? 1 : 0) }
    }
}


/// Writes a POSIX ustar archive with deterministic headers (mode 0644, owner 0:0, time 0), hashing
/// what it writes.
struct TarWriter {
    private let file: POSIXFile
    private var buffer: [UInt8] = []
    private var hasher = SHA256()
    private(set) var bytes: Int64 = 0

    init(path: String) throws {
        file = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL)
        buffer.reserveCapacity(1 << 20)
    }

    /// The header fields that never change (mode, owner, time, type, magic), laid out once.
    private static let template: [UInt8] = {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (i, byte) in text.utf8.enumerated() { h[offset + i] = byte } }
        put("0000644", at: 100)
        put("0000000", at: 108)
        put("0000000", at: 116)
        put("00000000000", at: 136)
        h[156] = UInt8(ascii: "0")
        put("ustar", at: 257)
        put("00", at: 263)
        return h
    }()

    /// Appends one file.
    /// - Throws: `VersioningError.badTarget` for a name that does not fit a ustar header.
    mutating func add(_ name: String, _ content: some Collection<UInt8>) throws {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count < 100 else { throw VersioningError.badTarget(path: name, reason: "is too long for a tar entry") }
        let start = buffer.count
        buffer.append(contentsOf: Self.template)
        buffer.withUnsafeMutableBufferPointer { b in
            let h = UnsafeMutableBufferPointer(rebasing: b[start..<start + 512])
            for (i, byte) in nameBytes.enumerated() { h[i] = byte }
            // Size: 11 octal digits, then NUL (files up to 8 GiB).
            var size = content.count
            for i in stride(from: 134, through: 124, by: -1) {
                h[i] = UInt8(ascii: "0") + UInt8(size & 7)
                size >>= 3
            }
            // The checksum is the sum of the header's bytes with its own field as spaces: 6 octal digits, NUL, space.
            for i in 148..<156 { h[i] = 0x20 }
            var sum = h.reduce(0) { $0 + Int($1) }
            for i in stride(from: 153, through: 148, by: -1) {
                h[i] = UInt8(ascii: "0") + UInt8(sum & 7)
                sum >>= 3
            }
            h[154] = 0
            h[155] = 0x20
        }
        buffer.append(contentsOf: content)
        let padding = (512 - content.count % 512) % 512
        if padding > 0 { buffer.append(contentsOf: repeatElement(0, count: padding)) }
        if buffer.count >= 1 << 20 { try drain() }
    }

    private mutating func append(_ data: some Collection<UInt8>) throws {
        buffer.append(contentsOf: data)
        if buffer.count >= 1 << 20 { try drain() }
    }

    private mutating func drain() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { raw in
            hasher.update(bufferPointer: raw)
            try file.writeAll(raw)
        }
        bytes += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the end-of-archive blocks; returns the archive's SHA-256 in hex. Like the other
    /// exports and checkout, an export is not synced file by file; a materialization syncs the file
    /// system once before it is renamed into place.
    mutating func finish() throws -> String {
        try append([UInt8](repeating: 0, count: 1024))
        try drain()
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension Versioning {
    /// Writes snapshot `ref` as WebDataset shards (see `WebDataset`) into `directory`, shards in
    /// parallel. Files are written under temporary names and renamed when whole.
    /// - Throws: `VersioningError.badTarget` for a directory that is not empty (without `force`).
    public func exportWebDataset(_ ref: String, to directory: String, shardSize: Int = WebDataset.defaultShardSize, force: Bool = false,
                                 progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> WebDataset.Manifest {
        guard shardSize >= 1 else { throw VersioningError.badTarget(path: directory, reason: "--shard-size must be at least 1") }
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        let (items, purged) = try readableItems(try tree.items(under: root.items))
        var (bySplit, leftOut) = WebDataset.samples(items, classes: root.classes, snapshot: row.id)
        leftOut.purged = purged > 0 ? purged : nil
        let target = try prepareTarget(directory, force: force)
        var planned: [(name: String, split: Split, samples: ArraySlice<WebDataset.Sample>)] = []
        for split in Split.allCases {
            let samples = bySplit[split] ?? []
            var start = 0
            for (i, count) in WebDataset.shardCounts(samples.count, size: shardSize).enumerated() {
                planned.append((split.rawValue + "-" + String(i).leftPadded(to: 6) + ".tar", split, samples[start..<start + count]))
                start += count
            }
        }
        let jobs = planned
        let total = jobs.reduce(0) { $0 + $1.samples.count }
        let done = Atomic<Int>(0)
        let (store, snapshot, classes) = (repository.store, row.id, root.classes)
        let shards = try Parallel.map(jobs.count) { i -> WebDataset.Shard in
            let job = jobs[i]
            let staged = target + "/." + job.name + ".partial"
            do {
                var tar = try TarWriter(path: staged)
                for sample in job.samples {
                    try Self.add(items[sample.item], sample.classIndex, snapshot: snapshot, classes: classes, store: store, to: &tar)
                    let n = done.add(1, ordering: .relaxed).newValue
                    if n % 1000 == 0 { progress(n, total) }
                }
                let sha256 = try tar.finish()
                try FileOps.rename(staged, target + "/" + job.name)
                return WebDataset.Shard(name: job.name, split: job.split, samples: job.samples.count, bytes: tar.bytes, sha256: sha256)
            } catch {
                try? FileOps.remove(staged)
                throw error
            }
        }
        let manifest = WebDataset.Manifest(snapshot: row.id, classes: classes, shards: shards, leftOut: leftOut)
        try writeMetadata(manifest, to: target)
        progress(total, total)
        return manifest
    }

    /// One sample's files: the image, `.cls` when it has one class, `.json`.
    private static func add(_ item: ItemRecord, _ classIndex: Int?, snapshot: BlobID, classes: [String], store: any BlobStore,
                            to tar: inout TarWriter) throws {
        let key = item.blobID.hex
        let bytes = try store.get(item.blobID)  // verified against its id by the store
        try tar.add(key + (item.format == "jpeg" ? ".jpg" : ".png"), bytes)
        if let classIndex { try tar.add(key + ".cls", Array(String(classIndex).utf8)) }
        // Written by hand (keys sorted, as JSONEncoder.sorted would): encoding 100,000 small objects
        // with JSONEncoder was a third of an export.
        var json = "{\"blob_id\":\"\(key)\","
        if let boxes = item.boxes?.resolved {
            let index = Dictionary(classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            json += "\"boxes\":[" + boxes.boxes.map { box in
                "{\"bbox\":[\(box.x),\(box.y),\(box.width),\(box.height)],\"class\":\(Printable.quotedLiteral(box.className)),"
                    + "\"class_index\":\(index[box.className] ?? -1),\"iscrowd\":\(box.crowd ? 1 : 0),\"occluded\":\(box.occluded)}"
            }.joined(separator: ",") + "],"
        }
        if let classIndex { json += "\"class\":\(Printable.quotedLiteral(classes[classIndex])),\"class_index\":\(classIndex)," }
        json += "\"path\":\(Printable.quotedLiteral(item.path)),\"snapshot\":\"\(snapshot.hex)\",\"split\":\"\(item.split.rawValue)\"}"
        try tar.add(key + ".json", Array(json.utf8))
    }

    /// `classes.txt`, `_info.json` (timm) and `manifest.json`, each written whole then renamed.
    private func writeMetadata(_ manifest: WebDataset.Manifest, to target: String) throws {
        struct SplitInfo: Encodable { var name: String; var num_samples: Int; var filenames: [String]; var shard_lengths: [Int] }
        struct Info: Encodable { var name: String; var splits: [String: SplitInfo] }
        var splits: [String: SplitInfo] = [:]
        for split in Split.allCases {
            let shards = manifest.shards.filter { $0.split == split }
            splits[split.rawValue] = SplitInfo(name: split.rawValue, num_samples: shards.reduce(0) { $0 + $1.samples },
                                               filenames: shards.map(\.name), shard_lengths: shards.map(\.samples))
        }
        let info = Info(name: "cairn-" + String(manifest.snapshot.hex.prefix(12)), splits: splits)
        for (name, data) in [("classes.txt", Data(manifest.classes.map { $0 + "\n" }.joined().utf8)),
                             ("_info.json", try JSONEncoder.sorted.encode(info)),
                             ("manifest.json", try JSONEncoder.sorted.encode(manifest))] {
            let staged = target + "/." + name + ".partial"
            try? FileOps.remove(staged)
            try writeNew(staged, data)
            try FileOps.rename(staged, target + "/" + name)
        }
    }
}
