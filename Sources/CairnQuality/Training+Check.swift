import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// A snapshot's health (`cairn check`): near-duplicates across splits (train/test leakage), class
/// imbalance, and label health. Kept with the snapshot; `log` and `diff` show its figures.
public struct CheckReport: Sendable, Codable {
    public static let kind = "check"

    /// Two images in different splits that are the same picture, give or take brightness and
    /// contrast, a shift of a pixel or two, a crop of up to 10%, noise, JPEG re-encoding.
    public struct Leak: Sendable, Codable, Hashable {
        public var a: String, b: String
        public var splits: [String]
        public var paths: [String]
        /// 1 − the best correlation of the two normalized thumbnails over shifts and crops (`Thumbnails`).
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
    /// Whether mirror images counted as the same picture (`check --flips`).
    public var flips: Bool?
    /// What was compared: absent for thumbnails of the images, "run ID's embeddings" for `check --run`.
    public var source: String?
    /// With `--run`: items the run has no embedding for, not compared.
    public var uncovered: Int?
    public var seconds: Double
    public var createdAt: Date
}

extension Training {
    /// Checks snapshot `ref` (see `CheckReport`) and keeps the report with it: near-duplicates
    /// across splits as `Thumbnails` finds them (at `threshold`, by default
    /// `Thumbnails.defaultThreshold` for the images' size and thumbnails; with `flips`, mirror images too), class imbalance,
    /// and label health. With `run`, near-duplicates are by that run's embeddings instead (cosine
    /// distance, at most `threshold`, by default `embeddingThreshold`): pictures a model sees as the
    /// same, such as two photos of one object.
    public func check(data ref: String, threshold: Double? = nil, flips: Bool = false, run runRef: String? = nil, minimumCount: Int = 10,
                      progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> CheckReport {
        let started = Date()
        let snapshot = try versioning.resolve(ref)
        let items = try versioning.readableItems(try versioning.tree.items(under: try versioning.tree.root(snapshot.id).items)).items
        let found: [(a: Int, b: Int, distance: Double)], components: [[Int]], cutoff: Double
        var source: String?, uncovered: Int?
        if let runRef {
            if flips { throw TrainingError.badParameter("--flips compares thumbnails; a run's embeddings decide for themselves what a mirror image is") }
            let record = try run(runRef)
            let embeddings = try embeddings(of: record)
            cutoff = threshold ?? Self.embeddingThreshold
            (found, components, uncovered) = embeddings.duplicates(items, threshold: cutoff)
            source = "run \(record.id)'s embeddings"
        } else {
            let thumbnails = try Thumbnails(items, store: repository.store, progress: progress)
            cutoff = threshold ?? thumbnails.defaultThreshold
            (found, components) = thumbnails.duplicates(threshold: cutoff, flips: flips)
        }
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
                                 labels: health, threshold: cutoff, flips: flips, source: source, uncovered: uncovered, seconds: Date().timeIntervalSince(started), createdAt: Date())
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

/// A snapshot's figures from `suspects` and `check`, as `log` and `diff` show them.
public struct SnapshotHealth: Sendable, Codable, Hashable {
    public var estimatedNoise: Double?
    /// What estimated the noise ("mlp, 5 folds", "run 1a2b3c4d5e6f").
    public var noiseSource: String?
    public var leaks: Int?
    /// The `check --threshold` the leaks were counted at.
    public var leakThreshold: Double?

    /// "estimated noise 4.1% (mlp, 5 folds), leaks 12 (threshold 0.01)" (what is known).
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
