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

    /// Images that are one picture, as a group: joined by near-duplicate pairs across splits and by
    /// identical thumbnails (so 20,000 copies of one picture are one group, not 200 million pairs).
    public struct DuplicateGroup: Sendable, Codable, Hashable {
        /// How many images the group holds (`members` lists the first `keptMembers`).
        public var size: Int
        /// Its images per split.
        public var splits: [String: Int]
        public var members: [Member]

        public struct Member: Sendable, Codable, Hashable {
            public var blob: String, path: String, split: String
        }
    }

    /// At most this many leaks and groups are kept in a report (the closest, the largest).
    public static let keptLeaks = 10_000
    /// At most this many members are listed per group.
    public static let keptMembers = 100

    public var snapshot: String
    public var items: Int
    /// Groups of near-duplicates that span splits (each a train/test leak, however many images it holds).
    public var leakCount: Int
    /// Images in those groups.
    public var leakedItems: Int?
    /// The pairs across splits that joined the groups (at most one per image it joined), closest first,
    /// at most `keptLeaks`.
    public var leaks: [Leak]
    /// The groups that span splits, largest first, at most `keptLeaks`.
    public var groups: [DuplicateGroup]?
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
    public func check(data ref: String, threshold: Double = 0.01, minimumCount: Int = 10,
                      progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> CheckReport {
        let started = Date()
        let snapshot = try versioning.resolve(ref)
        let items = try versioning.withoutPurged(try versioning.tree.items(under: try versioning.tree.root(snapshot.id).items)).items
        let thumbnails = try Thumbnails(items, store: repository.store, progress: progress)
        let (found, components) = thumbnails.duplicates(threshold: threshold)
        let leaks = found.prefix(CheckReport.keptLeaks).map { pair in
            CheckReport.Leak(a: items[pair.a].blobID.hex, b: items[pair.b].blobID.hex, splits: [items[pair.a].split.rawValue, items[pair.b].split.rawValue],
                             paths: [items[pair.a].path, items[pair.b].path], distance: pair.distance)
        }
        let spanning = components.filter { Set($0.map { items[$0].split }).count > 1 }.sorted { ($0.count, $1.first ?? 0) > ($1.count, $0.first ?? 0) }
        let groups = spanning.prefix(CheckReport.keptLeaks).map { members in
            CheckReport.DuplicateGroup(
                size: members.count, splits: Dictionary(members.map { (items[$0].split.rawValue, 1) }, uniquingKeysWith: +),
                members: members.prefix(CheckReport.keptMembers).map { .init(blob: items[$0].blobID.hex, path: items[$0].path, split: items[$0].split.rawValue) })
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
        let report = CheckReport(snapshot: snapshot.id.hex, items: items.count, leakCount: spanning.count,
                                 leakedItems: spanning.reduce(0) { $0 + $1.count }, leaks: leaks, groups: groups, imbalance: imbalance,
                                 labels: health, threshold: threshold, seconds: Date().timeIntervalSince(started), createdAt: Date())
        if !catalog.isReadOnly {
            let json = String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self)
            try catalog.write { try $0.saveReport(SnapshotReport(snapshotID: snapshot.id, kind: CheckReport.kind, createdAt: Date(), json: json)) }
        }
        return report
    }

    /// What `cairn suspects` and `cairn check` measured of snapshot `id`, when they were run on it.
    public func health(of id: BlobID) throws -> SnapshotHealth? {
        let check = try checkReport(snapshot: id)
        let suspects = try catalog.read { try $0.report(snapshot: id, kind: SuspectReport.kind) }
            .map { try JSONDecoder().decode(SuspectReport.self, from: Data($0.json.utf8)) }
        guard check != nil || suspects != nil else { return nil }
        return SnapshotHealth(estimatedNoise: suspects?.estimatedNoise ?? check?.labels.estimatedNoise, noiseSource: suspects?.source,
                              leaks: check?.leakCount, leakThreshold: check?.threshold)
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
    /// Per image and shift k = (dy + 1) * 3 + (dx + 1): the sum of squares over the part of the
    /// image a shift search compares (`distance`), so the search computes only the products. The
    /// other image's part under shift k is this image's part under the opposite shift, 8 − k.
    let energies: [Float]

    init(_ items: [ItemRecord], store: any BlobStore, progress: @escaping @Sendable (Int, Int) -> Void) throws {
        let common = Dictionary(items.map { (max($0.width, $0.height), 1) }, uniquingKeysWith: +).max { $0.value < $1.value }?.key ?? 16
        let side = max(4, min(16, common))
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
        self.init(values: rows.flatMap { $0 ?? [Float](repeating: 0, count: side * side) }, side: side,
                  splits: items.map(\.split), usable: rows.map { $0 != nil })
    }

    /// Thumbnails already made: `side` × `side` normalized values per image.
    init(values: [Float], side: Int, splits: [Split], usable: [Bool]) {
        (self.values, self.side, self.splits, self.usable) = (values, side, splits, usable)
        var energies = [Float](repeating: 0, count: splits.count * 9)
        for i in 0..<splits.count {
            for k in 0..<9 {
                let (dy, dx) = (k / 3 - 1, k % 3 - 1)
                var sum: Float = 0
                for row in max(0, -dy)..<min(side, side - dy) {
                    for column in max(0, -dx)..<min(side, side - dx) {
                        let p = values[i * side * side + row * side + column]
                        sum += p * p
                    }
                }
                energies[i * 9 + k] = sum
            }
        }
        self.energies = energies
    }

    /// 1 − the best correlation of images `a` and `b` over shifts of up to one pixel (on the overlap).
    func distance(_ a: Int, _ b: Int) -> Double {
        let s = side
        var best = -1.0
        values.withUnsafeBufferPointer { v in
            let x = v.baseAddress! + a * s * s, y = v.baseAddress! + b * s * s
            for k in 0..<9 {
                let (dy, dx) = (k / 3 - 1, k % 3 - 1)
                let xx = energies[a * 9 + k], yy = energies[b * 9 + 8 - k]
                guard xx > 0, yy > 0 else { continue }
                var dot: Float = 0
                for row in max(0, -dy)..<min(s, s - dy) {
                    let p = x + row * s, q = y + (row + dy) * s + dx
                    for column in max(0, -dx)..<min(s, s - dx) { dot += p[column] * q[column] }
                }
                best = max(best, Double(dot / (xx * yy).squareRoot()))
            }
        }
        return 1 - best
    }

    /// Near-duplicates as groups: images with identical thumbnails are one group from the start
    /// (one of them stands for all in the search), and pairs of usable images in different splits
    /// closer than `threshold` join their groups. Returns the joining pairs, closest first, and
    /// every group of two or more images.
    ///
    /// No list of candidate pairs is ever made (20,000 images are 200 million pairs): each image's
    /// partners are screened as they are met, first by 4x4 blurs — the best correlation of one
    /// image's blur with the blurs of the other shifted by up to a pixel (144 products; a shifted
    /// copy keeps it near 1, where a single blur of an 8x8 image can drop to 0.5), then by the full
    /// shift search — and a pair already in one group is not compared again, so a set of
    /// near-identical images costs one pass, and memory stays linear in the images.
    /// - Complexity: O(r²) screens for r distinct thumbnails up to 20,000; past that, within the
    ///   buckets of a locality-sensitive hash.
    func duplicates(threshold: Double, allPairsUpTo: Int = 20_000) -> (pairs: [(a: Int, b: Int, distance: Double)], groups: [[Int]]) {
        let n = splits.count
        // Identical thumbnails: one representative each.
        var first: [Int: Int] = [:]
        var representative = Array(0..<n)
        let area = side * side
        values.withUnsafeBufferPointer { v in
            for i in 0..<n where usable[i] {
                var hasher = Hasher()
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(v)[(i * area * 4)..<((i + 1) * area * 4)]))
                let key = hasher.finalize()
                if let j = first[key], Array(v[(j * area)..<((j + 1) * area)]) == Array(v[(i * area)..<((i + 1) * area)]) {
                    representative[i] = j
                } else if first[key] == nil {
                    first[key] = i
                }
            }
        }
        let reps = (0..<n).filter { usable[$0] && representative[$0] == $0 }
        let blurs = self.blurs()
        @Sendable func close(_ a: Int, _ b: Int) -> (a: Int, b: Int, distance: Double)? {
            guard splits[a] != splits[b] else { return nil }
            var best: Float = -1
            for shift in 0..<9 {
                var dot: Float = 0
                for j in 0..<16 { dot += blurs[(a * 9 + 4) * 16 + j] * blurs[(b * 9 + shift) * 16 + j] }
                best = max(best, dot)
            }
            guard best >= 0.9 else { return nil }
            let d = distance(a, b)
            return d <= threshold ? (min(a, b), max(a, b), d) : nil
        }
        /// The pairs that join `members` (indices into `reps`' images), with a union-find of its own
        /// so that members already joined are not compared again.
        @Sendable func join(_ rows: [Int], among members: [Int]) -> [(a: Int, b: Int, distance: Double)] {
            var groups = UnionFind(members.count)
            var out: [(a: Int, b: Int, distance: Double)] = []
            for x in rows {
                for y in (x + 1)..<members.count where groups.find(x) != groups.find(y) {
                    if let pair = close(members[x], members[y]) {
                        groups.union(x, y)
                        out.append(pair)
                    }
                }
            }
            return out
        }
        var found: [(a: Int, b: Int, distance: Double)]
        if reps.count <= allPairsUpTo {
            // Rows in interleaved chunks, so early rows (with more partners) spread over the cores.
            let chunks = min(max(reps.count, 1), 256)
            found = Parallel.map(chunks) { c in join(Array(stride(from: c, to: reps.count, by: chunks)), among: reps) }.flatMap { $0 }
        } else {
            let buckets = self.buckets(blurs, of: reps)
            found = Parallel.map(buckets.count) { i in join(Array(0..<buckets[i].count), among: buckets[i]) }.flatMap { $0 }
        }
        // The groups: identical thumbnails with their representative, then the joining pairs, each
        // kept only when it joins two groups not yet one (so at most one pair per image).
        var groups = UnionFind(n)
        var pairs: [(a: Int, b: Int, distance: Double)] = []
        for i in 0..<n where representative[i] != i {
            groups.union(i, representative[i])
            if splits[i] != splits[representative[i]] { pairs.append((min(i, representative[i]), max(i, representative[i]), 0)) }
        }
        for pair in found.sorted(by: { ($0.distance, $0.a, $0.b) < ($1.distance, $1.a, $1.b) }) where groups.find(pair.a) != groups.find(pair.b) {
            groups.union(pair.a, pair.b)
            pairs.append(pair)
        }
        var members: [Int: [Int]] = [:]
        for i in 0..<n where usable[i] { members[groups.find(i), default: []].append(i) }
        return (pairs.sorted { ($0.distance, $0.a, $0.b) < ($1.distance, $1.a, $1.b) },
                members.values.filter { $0.count > 1 }.sorted { $0[0] < $1[0] })
    }

    /// Each image's thumbnail shifted by up to a pixel each way (the edge repeated; shift 4 is the
    /// image itself), blurred to 4x4 and normalized to unit length: 9 × 16 floats per image.
    private func blurs() -> [Float] {
        let n = splits.count, s = side, cell = max(1, s / 4)
        var out = [Float](repeating: 0, count: n * 9 * 16)
        for i in 0..<n {
            for shift in 0..<9 {
                let (dx, dy) = (shift % 3 - 1, shift / 3 - 1)
                let base = (i * 9 + shift) * 16
                for row in 0..<s {
                    let from = min(s - 1, max(0, row - dy))
                    for column in 0..<s {
                        out[base + min(3, row / cell) * 4 + min(3, column / cell)] += values[i * s * s + from * s + min(s - 1, max(0, column - dx))]
                    }
                }
                let norm = (0..<16).reduce(Float(0)) { $0 + out[base + $1] * out[base + $1] }.squareRoot()
                for j in 0..<16 { out[base + j] = norm > 0 ? out[base + j] / norm : 0 }
            }
        }
        return out
    }

    /// For large sets: the buckets (of two or more of `images`) of four locality-sensitive hashes
    /// of the blurs, ten random hyperplanes each (seeded). An image joins the buckets of its nine
    /// shifted blurs, so a copy shifted by a pixel meets its original. A bucket of 5,000 or more
    /// distinct thumbnails is left out: thousands of merely similar images would cost billions of
    /// comparisons (copies of one picture are not affected: identical thumbnails are grouped before
    /// any hashing, however many there are).
    private func buckets(_ blurs: [Float], of images: [Int]) -> [[Int]] {
        var random = SeededRandom(seed: 17)
        var out: [[Int]] = []
        for _ in 0..<4 {
            let planes = (0..<10).map { _ in (0..<16).map { _ in Float(random.normal()) } }
            var buckets: [Int: [Int]] = [:]
            for i in images {
                var keys = Set<Int>()
                for shift in 0..<9 {
                    var key = 0
                    for (bit, plane) in planes.enumerated() where (0..<16).reduce(Float(0), { $0 + plane[$1] * blurs[(i * 9 + shift) * 16 + $1] }) > 0 {
                        key |= 1 << bit
                    }
                    keys.insert(key)
                }
                for key in keys { buckets[key, default: []].append(i) }
            }
            out += buckets.values.filter { $0.count > 1 && $0.count < 5_000 }
        }
        return out
    }
}

/// Disjoint sets of 0..<n with path halving and union by size.
struct UnionFind {
    private var parent: [Int32]
    private var size: [Int32]

    init(_ n: Int) {
        parent = (0..<Int32(n)).map { $0 }
        size = [Int32](repeating: 1, count: n)
    }

    mutating func find(_ x: Int) -> Int {
        var x = Int32(x)
        while parent[Int(x)] != x {
            parent[Int(x)] = parent[Int(parent[Int(x)])]
            x = parent[Int(x)]
        }
        return Int(x)
    }

    mutating func union(_ a: Int, _ b: Int) {
        var (a, b) = (find(a), find(b))
        guard a != b else { return }
        if size[a] < size[b] { swap(&a, &b) }
        parent[b] = Int32(a)
        size[a] += size[b]
    }
}

/// A snapshot's figures from `suspects` and `check`, as `log` and `diff` show them.
public struct SnapshotHealth: Sendable, Codable, Hashable {
    public var estimatedNoise: Double?
    /// What estimated the noise ("softmax, 5 folds", "run 1a2b3c4d5e6f").
    public var noiseSource: String?
    public var leaks: Int?
    /// The `check --threshold` the leaks were counted at.
    public var leakThreshold: Double?

    /// "estimated noise 4.1% (softmax, 5 folds), leaks 12 (threshold 0.01)" (what is known).
    public var summary: String {
        [estimatedNoise.map { String(format: "estimated noise %.1f%%", $0 * 100) + (noiseSource.map { " (\($0))" } ?? "") },
         leaks.map { "leaks \($0)" + (leakThreshold.map { " (threshold \($0))" } ?? "") }].compactMap { $0 }.joined(separator: ", ")
    }

    /// "estimated noise 4.1% -> 2.3%, leaks 12 -> 0" for the figures both snapshots have, saying when
    /// they were measured differently.
    public static func change(_ a: SnapshotHealth?, _ b: SnapshotHealth?) -> String? {
        var parts: [String] = []
        if let x = a?.estimatedNoise, let y = b?.estimatedNoise {
            parts.append(String(format: "estimated noise %.1f%% -> %.1f%%", x * 100, y * 100)
                         + (a?.noiseSource != b?.noiseSource ? " (estimated by \(a?.noiseSource ?? "?") and \(b?.noiseSource ?? "?"))" : ""))
        }
        if let x = a?.leaks, let y = b?.leaks {
            parts.append("leaks \(x) -> \(y)" + (a?.leakThreshold != b?.leakThreshold
                ? " (thresholds \(a?.leakThreshold.map { "\($0)" } ?? "?") and \(b?.leakThreshold.map { "\($0)" } ?? "?"))" : ""))
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
