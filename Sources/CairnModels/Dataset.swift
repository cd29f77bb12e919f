import CairnCatalog
import CairnImaging
import CairnStore
import CairnSupport
import CairnVersioning
import Crypto
import Foundation
import Synchronization

/// How an image becomes a model input. Part of the tensor cache's key.
public struct Preprocessing: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int
    public var channels: Int

    public init(width: Int, height: Int, channels: Int) {
        self.width = width
        self.height = height
        self.channels = channels
    }

    /// Bytes per preprocessed image.
    public var sampleSize: Int { width * height * channels }

    /// Names the cache folder; the version changes whenever the decode or resize rule does.
    var cacheKey: String { "\(width)x\(height)x\(channels)-area-v1" }

    /// Decodes, converts and resizes one image.
    package func apply(_ bytes: Data) throws(ImagingError) -> PixelBuffer {
        let image = try ImageCodec.decode(bytes).converted(toChannels: channels)
        return image.resized(width: width, height: height)
    }
}

/// Per-channel mean and standard deviation of the training split, on the 0…1 scale.
public struct Normalization: Sendable, Hashable, Codable {
    public var mean: [Float]
    public var std: [Float]

    /// Statistics over `rows` of a pixel table.
    public static func fit(_ table: PixelTable, rows: [Int], channels: Int) -> Normalization {
        var sum = [Double](repeating: 0, count: channels), squares = sum
        var count = 0
        table.pixels.withUnsafeBufferPointer { p in
            for row in rows {
                let base = row * table.sampleSize
                for i in 0..<table.sampleSize {
                    let v = Double(p[base + i]) / 255
                    sum[i % channels] += v
                    squares[i % channels] += v * v
                }
            }
            count = rows.count * table.sampleSize / channels
        }
        let n = Double(max(count, 1))
        let mean = sum.map { $0 / n }
        let std = zip(squares, mean).map { max(($0 / n - $1 * $1).squareRoot(), 1e-3) }
        return Normalization(mean: mean.map(Float.init), std: std.map(Float.init))
    }

    /// Writes normalized floats for `rows` of `table`, one sample after another.
    ///
    /// - Complexity: O(rows × sampleSize), through a 256-entry table per channel.
    public func apply(_ table: PixelTable, rows: some Collection<Int>, into out: inout [Float]) {
        let size = table.sampleSize, channels = mean.count
        // Every byte value's normalized float, per channel: one lookup per pixel.
        var lookup = [Float](repeating: 0, count: 256 * channels)
        for c in 0..<channels {
            for v in 0..<256 { lookup[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
        let count = rows.count * size
        if out.count != count { out = [Float](repeating: 0, count: count) }
        table.pixels.withUnsafeBufferPointer { p in
            lookup.withUnsafeBufferPointer { lut in
                out.withUnsafeMutableBufferPointer { o in
                    var at = 0
                    for row in rows {
                        let src = p.baseAddress! + row * size
                        if channels == 1 {
                            for i in 0..<size { o[at + i] = lut[Int(src[i])] }
                        } else {
                            for i in 0..<size { o[at + i] = lut[(i % channels) * 256 + Int(src[i])] }
                        }
                        at += size
                    }
                }
            }
        }
    }
}

/// Preprocessed images as bytes, one row of `sampleSize` per image.
public struct PixelTable: Sendable {
    public let sampleSize: Int
    public var pixels: [UInt8]
    public var count: Int { sampleSize == 0 ? 0 : pixels.count / sampleSize }

    package init(sampleSize: Int, pixels: [UInt8]) {
        (self.sampleSize, self.pixels) = (sampleSize, pixels)
    }
}

/// A labeled item of a snapshot.
public struct Example: Sendable, Hashable {
    public var blobID: BlobID
    public var path: String
    public var split: Split
    /// Index into the snapshot's class list.
    public var label: Int32

    package init(blobID: BlobID, path: String, split: Split, label: Int32) {
        (self.blobID, self.path, self.split, self.label) = (blobID, path, split, label)
    }
}

/// The labeled items of a snapshot and what was left out.
public struct SnapshotExamples: Sendable {
    public var classes: [String]
    public var examples: [Example]
    /// Items nobody labeled: not trained on.
    public var unlabeled: Int
    /// Items whose annotators disagree with no verdict: not trained on.
    public var conflicts = 0
    /// Items labeled with a set of classes other than one (multi-label work): the classifier
    /// learns one class per image, so these are not trained on.
    public var multiLabel = 0
    /// Labeled items whose images a partial pull left on a remote: not trained on.
    public var notFetched = 0
    /// Labeled items whose bytes were purged (`cairn purge`): not trained on.
    public var purged = 0
    /// How many examples have each image size (width, height).
    public var sizes: [Int: Int] = [:]

    /// The most common image size among the examples (width, height), if there are any.
    public var commonSize: (width: Int, height: Int)? {
        sizes.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }.map { ($0.key >> 20, $0.key & 0xFFFFF) }
    }

    /// Reads the snapshot tree. Items come in blob-id order, so the list is the same on every machine.
    /// When a remote holds the snapshot, items whose images are not here (a partial pull) are left
    /// out and counted; otherwise a missing image fails the load.
    public static func read(_ snapshot: BlobID, versioning: Versioning) throws -> SnapshotExamples {
        let root = try versioning.tree.root(snapshot)
        let index = Dictionary(uniqueKeysWithValues: root.classes.enumerated().map { ($1, $0) })
        var out = SnapshotExamples(classes: root.classes, examples: [], unlabeled: 0)
        // With a shared image store nothing is partial: what is not here is fetched.
        let partial = versioning.repository.store.upstream == nil
            && versioning.repository.snapshotsHeldByRemotes().values.contains { $0.contains(snapshot) }
        let store = versioning.repository.store
        let purged = try versioning.repository.catalog.read { try $0.purgedBlobs() }
        try versioning.tree.forEachItem(under: root.items) { record in
            let classIndex: Int
            switch record.singleClass(in: index) {
            case .index(let i): classIndex = i
            case .unlabeled: out.unlabeled += 1; return
            case .conflict: out.conflicts += 1; return
            case .multiLabel: out.multiLabel += 1; return
            }
            if purged.contains(record.blobID) {
                out.purged += 1
                return
            }
            if partial, try !store.contains(record.blobID) {
                out.notFetched += 1
                return
            }
            out.examples.append(Example(blobID: record.blobID, path: record.path, split: record.split, label: Int32(classIndex)))
            out.sizes[min(record.width, 0xFFFFF) << 20 | min(record.height, 0xFFFFF), default: 0] += 1
        }
        // From a team's image store, what is not here comes in one batch, not one request per image.
        try store.prefetch(out.examples.map(\.blobID))
        return out
    }
}

/// What loading did.
public struct LoadReport: Sendable, Codable, Hashable {
    /// Images decoded from the store.
    public var decoded = 0
    /// Images taken from the tensor cache.
    public var cached = 0
    public var seconds = 0.0
    /// Items whose bytes are intact but do not decode (imported with `--no-verify`): left out,
    /// never trained or evaluated on (absent in records from before this was counted).
    public var undecodable: [UndecodableItem]?
}

/// An item whose stored bytes are intact (they hash to its id) but are not a decodable image.
public struct UndecodableItem: Sendable, Codable, Hashable {
    public var blobID: BlobID
    public var path: String
    public var reason: String
}

/// Images loaded for a list of examples: one row per example, in order. Rows of `undecodable`
/// examples are zeros and must not be used.
public struct LoadedImages: Sendable {
    public var table: PixelTable
    public var report: LoadReport
    /// Row numbers of the examples whose images do not decode.
    public var undecodableRows: Set<Int>

    /// `rows` without the undecodable ones.
    public func usable(_ rows: [Int]) -> [Int] { undecodableRows.isEmpty ? rows : rows.filter { !undecodableRows.contains($0) } }
}

/// Reads examples' images through the store (every read verified against its blob id), decodes
/// and resizes them in parallel, and keeps the results in a cache under `.cairn/cache/tensors`
/// keyed by (blob id, preprocessing), so a second run on the same data decodes nothing.
public struct Loader: Sendable {
    public let store: any BlobStore
    /// `.cairn/cache/tensors`, or nil for no cache.
    public let cacheDirectory: String?
    public let workers: Int

    public init(store: any BlobStore, cacheDirectory: String?, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.store = store
        self.cacheDirectory = cacheDirectory
        self.workers = max(1, workers)
    }

    /// The preprocessed images of `examples`, in the same order. An image whose bytes are intact
    /// but do not decode is left out (its row is reported in `undecodableRows` and named in the
    /// report), so one bad file imported with `--no-verify` does not stop a run.
    ///
    /// - Throws: `TrainingError.unreadableItem` naming the first blob that is missing or corrupt.
    /// - Complexity: O(n) decodes on the first call for n images, O(n) copies after.
    public func load(_ examples: [Example], _ preprocessing: Preprocessing,
                     progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> LoadedImages {
        let started = Date()
        let size = preprocessing.sampleSize
        var pixels = [UInt8](repeating: 0, count: examples.count * size)
        var report = LoadReport()
        let cache = cacheDirectory.map { TensorCache(directory: $0 + "/" + preprocessing.cacheKey, sampleSize: size) }
        let cached: (bytes: [UInt8], offsets: [BlobID: Int]) = (try? cache?.load()) ?? ([], [:])
        var misses: [Int] = []
        pixels.withUnsafeMutableBufferPointer { out in
            cached.bytes.withUnsafeBufferPointer { src in
                for (row, example) in examples.enumerated() {
                    if let offset = cached.offsets[example.blobID] {
                        (out.baseAddress! + row * size).update(from: src.baseAddress! + offset, count: size)
                    } else {
                        misses.append(row)
                    }
                }
            }
        }
        report.cached = examples.count - misses.count
        var undecodable: [Int: String] = [:]
        if !misses.isEmpty {
            undecodable = try decode(misses, of: examples, preprocessing, into: &pixels, progress: progress)
            report.decoded = misses.count - undecodable.count
            if let cache {
                // The cache is derived data: failing to write it costs speed next time, nothing else.
                try? cache.append(misses.filter { undecodable[$0] == nil }.map { (examples[$0].blobID, $0) }, from: pixels)
            }
        }
        if !undecodable.isEmpty {
            report.undecodable = undecodable.keys.sorted().map {
                UndecodableItem(blobID: examples[$0].blobID, path: examples[$0].path, reason: undecodable[$0]!)
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return LoadedImages(table: PixelTable(sampleSize: size, pixels: pixels), report: report, undecodableRows: Set(undecodable.keys))
    }

    /// Decodes `rows` in parallel into `pixels`; returns the rows whose images do not decode, with why.
    private func decode(_ rows: [Int], of examples: [Example], _ preprocessing: Preprocessing, into pixels: inout [UInt8],
                        progress: @Sendable (Int, Int) -> Void) throws -> [Int: String] {
        let size = preprocessing.sampleSize
        let chunk = 64
        let chunks = (rows.count + chunk - 1) / chunk
        let done = Atomic<Int>(0)
        let bad = Mutex<[Int: String]>([:])
        let store = self.store
        try pixels.withUnsafeMutableBufferPointer { buffer in
            let out = DisjointRows(base: buffer.baseAddress!)
            try Parallel.forEach(chunks) { c in
                let part = rows[(c * chunk)..<min(rows.count, (c + 1) * chunk)]
                for row in part {
                    let example = examples[row]
                    let bytes: Data
                    do {
                        bytes = try store.get(example.blobID)
                    } catch {
                        throw TrainingError.unreadableItem(blob: example.blobID, path: example.path, reason: "\(error)")
                    }
                    let image: PixelBuffer
                    do {
                        image = try preprocessing.apply(bytes)
                    } catch {
                        bad.withLock { $0[row] = "\(error)" }
                        continue
                    }
                    image.pixels.withUnsafeBytes { src in
                        UnsafeMutableRawPointer(out.base + row * size).copyMemory(from: src.baseAddress!, byteCount: size)
                    }
                }
                progress(done.add(part.count, ordering: .relaxed).newValue, rows.count)
            }
        }
        return bad.withLock { $0 }
    }
}

/// The output rows of a parallel decode. @unchecked Sendable: every worker writes only the rows
/// of its own chunk, and the buffer outlives `Parallel.forEach`, which returns after all workers.
private struct DisjointRows: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt8>
}

/// Preprocessed images on disk: segment files of (blob id, bytes) records, each written to a
/// temporary name and renamed, so a reader sees whole segments or none, and each ending in the
/// SHA-256 of what precedes it: a segment whose bytes changed (a flipped bit) is deleted and its
/// images decoded again, never trained on. Safe to delete.
struct TensorCache {
    let directory: String
    let sampleSize: Int
    private static let magic = Array("CAIRNTC2".utf8)

    /// Every cached image: the segments' bytes and where each image starts in them.
    func load() throws -> (bytes: [UInt8], offsets: [BlobID: Int]) {
        let record = 32 + sampleSize
        var segments: [(path: String, size: Int)] = []
        for name in try FileOps.list(directory) where name.hasSuffix(".seg") {
            let path = directory + "/" + name
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size >= 48 { segments.append((path, size)) } else { try? FileOps.remove(path) }
        }
        // One buffer for all segments, read straight into place.
        var all = [UInt8](repeating: 0, count: segments.reduce(0) { $0 + $1.size })
        var offsets: [BlobID: Int] = [:]
        offsets.reserveCapacity(all.count / record)
        var base = 0
        for segment in segments {
            guard let file = try? POSIXFile(path: segment.path, flags: O_RDONLY) else { continue }
            let read = all.withUnsafeMutableBytes { raw -> Int in
                var done = 0
                while done < segment.size {
                    let n = (try? file.readSome(into: UnsafeMutableRawBufferPointer(rebasing: raw[base + done..<base + segment.size]))) ?? 0
                    if n <= 0 { break }
                    done += n
                }
                return done
            }
            let count = all[base + 8..<base + 16].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let intact = read == segment.size && Array(all[base..<base + 8]) == Self.magic && segment.size == 16 + count * record + 32
                && all.withUnsafeBytes { raw in
                    Array(SHA256.hash(data: UnsafeRawBufferPointer(rebasing: raw[base..<base + segment.size - 32])))
                        == Array(raw[base + segment.size - 32..<base + segment.size])
                }
            guard intact else {
                // Damaged, cut short or of another version: derived data, so drop it and decode again.
                try? FileOps.remove(segment.path)
                continue
            }
            all.withUnsafeBytes { raw in
                for i in 0..<count {
                    let start = base + 16 + i * record
                    offsets[BlobID(rawBytes: UnsafeRawBufferPointer(rebasing: raw[start..<start + 32]))!] = start + 32
                }
            }
            base += segment.size
        }
        return (all, offsets)
    }

    /// Adds `rows` of `pixels` as one new segment.
    func append(_ rows: [(BlobID, Int)], from pixels: [UInt8]) throws {
        try FileOps.makeDirectories(directory)
        var bytes = Self.magic
        bytes.reserveCapacity(16 + rows.count * (32 + sampleSize) + 32)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: rows.count >> shift)) }
        for (id, row) in rows {
            bytes.append(contentsOf: id.bytes)
            bytes.append(contentsOf: pixels[row * sampleSize..<(row + 1) * sampleSize])
        }
        bytes.append(contentsOf: SHA256.hash(data: bytes))
        try FileOps.writeFile(bytes, to: directory + "/" + FileOps.uniqueName() + ".seg")
    }
}
