import CairnCatalog
import CairnImaging
import CairnStore
import CairnSupport
import CairnVersioning
import Foundation
import Synchronization

/// A snapshot's health (`cairn check`): near-duplicates across splits (train/test leakage), class
/// imbalance, and label health. Kept with the snapshot; `log` and `diff` show its figures.
public struct CheckReport: Sendable, Codable {
    public static let kind = "check"

    /// Two images in different splits that are the same picture, give or take brightness, a pixel
    /// of shift or a little noise.
    public struct Leak: Sendable, Codable, Hashable {
        public var a: String, b: String
        public var splits: [String]
        public var paths: [String]
        /// 1 − the best correlation of the two normalized thumbnails over shifts of up to one pixel.
        public var distance: Double
    }

    public struct Imbalance: Sendable, Codable, Hashable {
        /// Labeled items per class (an item labeled with a set counts for each of its classes).
        public var counts: [String: Int]
        /// Largest class over smallest (nil with fewer than two classes in use).
        public var ratio: Double?
        public var minimum: Int
        /// Classes with fewer labeled items than `minimum`.
        public var under: [String]
    }

    public struct LabelHealth: Sendable, Codable, Hashable {
        public var labeled: Int
        public var unlabeled: Int
        public var conflicts: Int
        /// From this snapshot's `cairn suspects` report, when there is one.
        public var estimatedNoise: Double?
        public var suspects: Int?
    }

    public var snapshot: String
    public var items: Int
    public var leaks: [Leak]
    public var imbalance: Imbalance
    public var labels: LabelHealth
    /// The distance under which two images count as the same.
    public var threshold: Double
    public var seconds: Double
    public var createdAt: Date
}

extension Training {
    /// Checks snapshot `ref` (see `CheckReport`) and keeps the report with it.
    ///
    /// Near-duplicates: every image becomes a small grayscale thumbnail (its own size up to 16x16),
    /// normalized to zero mean and unit variance (so brightness and contrast do not matter); two
    /// images in different splits are the same when their best correlation over shifts of up to one
    /// thumbnail pixel reaches 1 − `threshold`. Perceptual hashes shrink to 8x8 and threshold
    /// bits, which misses a one-pixel shift of a small image; the shift search does not. Pairs are
    /// compared all against all up to 20,000 images; beyond, only those sharing a bucket of a
    /// locality-sensitive hash of a 4x4 blur.
    public func check(data ref: String, threshold: Double = 0.005, minimumCount: Int = 10,
                      progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> CheckReport {
        let started = Date()
        let snapshot = try versioning.resolve(ref)
        let items = try versioning.tree.items(under: try versioning.tree.root(snapshot.id).items)
        let thumbnails = try Thumbnails(items, store: repository.store, progress: progress)
        let leaks = thumbnails.leaks(threshold: threshold).map { pair in
            CheckReport.Leak(a: items[pair.a].blobID.hex, b: items[pair.b].blobID.hex, splits: [items[pair.a].split.rawValue, items[pair.b].split.rawValue],
                             paths: [items[pair.a].path, items[pair.b].path], distance: pair.distance)
        }
        var counts = ItemCounts()
        for item in items { counts.add(item) }
        var perClass = counts.classes
        for name in try versioning.tree.root(snapshot.id).classes where perClass[name] == nil { perClass[name] = 0 }
        let used = perClass.values.filter { $0 > 0 }
        let imbalance = CheckReport.Imbalance(
            counts: perClass, ratio: used.count >= 2 ? Double(used.max()!) / Double(used.min()!) : nil, minimum: minimumCount,
            under: perClass.filter { $0.value < minimumCount }.keys.sorted())
        let suspects = try suspectReport(data: snapshot.id.hex)
        let health = CheckReport.LabelHealth(labeled: counts.labeled, unlabeled: counts.unlabeled, conflicts: counts.conflicts,
                                             estimatedNoise: suspects?.estimatedNoise, suspects: suspects?.suspects.count)
        let report = CheckReport(snapshot: snapshot.id.hex, items: items.count, leaks: leaks, imbalance: imbalance, labels: health,
                                 threshold: threshold, seconds: Date().timeIntervalSince(started), createdAt: Date())
        if !catalog.isReadOnly {
            let json = String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self)
            try catalog.write { try $0.saveReport(SnapshotReport(snapshotID: snapshot.id, kind: CheckReport.kind, createdAt: Date(), json: json)) }
        }
        return report
    }

    /// The check report kept for snapshot `id`, if there is one.
    public func checkReport(snapshot id: BlobID) throws -> CheckReport? {
        try catalog.read { try $0.report(snapshot: id, kind: CheckReport.kind) }
            .map { try JSONDecoder().decode(CheckReport.self, from: Data($0.json.utf8)) }
    }
}

/// Normalized grayscale thumbnails of a snapshot's images, and the near-duplicate search over them.
struct Thumbnails {
    let side: Int
    /// side × side floats per image, zero mean and unit variance (all zero for a flat image).
    let values: [Float]
    let splits: [Split]
    /// Images that could not be read or decoded are left out of the search.
    let usable: [Bool]

    init(_ items: [ItemRecord], store: any BlobStore, progress: @escaping @Sendable (Int, Int) -> Void) throws {
        let common = Dictionary(items.map { (max($0.width, $0.height), 1) }, uniquingKeysWith: +).max { $0.value < $1.value }?.key ?? 16
        let side = max(4, min(16, common))
        self.side = side
        let done = Atomic<Int>(0)
        let rows = Parallel.map(items.count) { i -> [Float]? in
            defer {
                let n = done.add(1, ordering: .relaxed).newValue
                if n % 1000 == 0 { progress(n, items.count) }
            }
            guard let bytes = try? store.get(items[i].blobID), let image = try? ImageCodec.decode(bytes) else { return nil }
            let small = image.converted(toChannels: 1).resized(width: side, height: side)
            var v = small.pixels.map(Float.init)
            let mean = v.reduce(0, +) / Float(v.count)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(v.count)
            let scale = variance > 1e-6 ? 1 / variance.squareRoot() : 0
            for j in v.indices { v[j] = (v[j] - mean) * scale }
            return v
        }
        values = rows.flatMap { $0 ?? [Float](repeating: 0, count: side * side) }
        usable = rows.map { $0 != nil }
        splits = items.map(\.split)
    }

    /// 1 − the best correlation of images `a` and `b` over shifts of up to one pixel (on the overlap).
    func distance(_ a: Int, _ b: Int) -> Double {
        let s = side
        var best = -1.0
        values.withUnsafeBufferPointer { v in
            let x = v.baseAddress! + a * s * s, y = v.baseAddress! + b * s * s
            for dy in -1...1 {
                for dx in -1...1 {
                    var dot: Float = 0, xx: Float = 0, yy: Float = 0
                    for row in max(0, -dy)..<min(s, s - dy) {
                        for column in max(0, -dx)..<min(s, s - dx) {
                            let p = x[row * s + column], q = y[(row + dy) * s + column + dx]
                            dot += p * q
                            xx += p * p
                            yy += q * q
                        }
                    }
                    if xx > 0, yy > 0 { best = max(best, Double(dot / (xx * yy).squareRoot())) }
                }
            }
        }
        return 1 - best
    }

    /// Pairs of usable images in different splits closer than `threshold`, closest first.
    func leaks(threshold: Double) -> [(a: Int, b: Int, distance: Double)] {
        let n = splits.count
        let candidates: [(Int, Int)]
        if n <= 20_000 {
            candidates = (0..<n).flatMap { a in ((a + 1)..<n).compactMap { b in splits[a] != splits[b] ? (a, b) : nil } }
        } else {
            candidates = bucketPairs()
        }
        let found = Parallel.map((candidates.count + 4095) / 4096) { chunk -> [(a: Int, b: Int, distance: Double)] in
            candidates[chunk * 4096..<min(candidates.count, (chunk + 1) * 4096)].compactMap { a, b in
                guard usable[a], usable[b] else { return nil }
                let d = distance(a, b)
                return d <= threshold ? (a, b, d) : nil
            }
        }.flatMap { $0 }
        return found.sorted { ($0.distance, $0.a, $0.b) < ($1.distance, $1.a, $1.b) }
    }

    /// Candidate pairs for large sets: images whose 4x4 blurs share a bucket in any of four hashes
    /// of ten random hyperplanes each (seeded), in different splits.
    private func bucketPairs() -> [(Int, Int)] {
        let n = splits.count, s = side, cell = max(1, s / 4)
        let blurs: [[Float]] = (0..<n).map { i in
            var out = [Float](repeating: 0, count: 16)
            for row in 0..<s { for column in 0..<s { out[min(3, row / cell) * 4 + min(3, column / cell)] += values[i * s * s + row * s + column] } }
            return out
        }
        var random = SeededRandom(seed: 17)
        var pairs = Set<Int64>()
        for _ in 0..<4 {
            let planes = (0..<10).map { _ in (0..<16).map { _ in Float(random.normal()) } }
            var buckets: [Int: [Int]] = [:]
            for i in 0..<n where usable[i] {
                var key = 0
                for (bit, plane) in planes.enumerated() where zip(plane, blurs[i]).reduce(0, { $0 + $1.0 * $1.1 }) > 0 { key |= 1 << bit }
                buckets[key, default: []].append(i)
            }
            for members in buckets.values where members.count > 1 && members.count < 5000 {
                for x in 0..<members.count {
                    for y in (x + 1)..<members.count where splits[members[x]] != splits[members[y]] {
                        pairs.insert(Int64(members[x]) << 32 | Int64(members[y]))
                    }
                }
            }
        }
        return pairs.map { (Int($0 >> 32), Int($0 & 0xFFFF_FFFF)) }
    }
}
