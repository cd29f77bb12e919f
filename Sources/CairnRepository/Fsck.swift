import CairnCatalog
import CairnStore
import Foundation

/// The result of checking a repository end to end.
public struct FsckReport: Sendable, Codable, Equatable {
    /// Objects whose bytes were re-hashed.
    public var objectsChecked = 0
    /// Corrupt objects, damaged packs and stray files.
    public var problems: [String] = []
    /// Ids of objects whose stored bytes do not match them (each also described in `problems`).
    public var corrupt: [String] = []
    /// Objects the catalog or a snapshot references that the store does not hold.
    public var missing: [String] = []
    /// Images a remote holds that were left there on purpose by a partial pull (not damage).
    public var notFetched: [String] = []
    /// Objects this repository's shared image store holds and this machine has not cached yet
    /// (fetched when read; not damage).
    public var notCached: [String] = []
    /// Images snapshots name whose bytes were purged on purpose (`cairn purge`; not damage).
    public var purged: [String] = []
    /// Images a pull did not fetch because the remote says they were purged, by someone not trusted
    /// here to purge (`cairn purge --held`; not damage).
    public var heldPurges: [String] = []
    /// Purged images whose bytes are still stored (an interrupted purge; `cairn gc` erases them).
    public var purgedStillStored: [String] = []
    /// Cache directories (the caller's) that may still hold copies derived from purged images (a purge
    /// interrupted before it cleared them); the next command that uses the cache, or `cairn gc`, clears them.
    public var purgedInCaches: [String] = []
    /// The caller's materializations (`cairn run` data) whose files no longer hash to the blobs
    /// they stand for: rebuilt by the next run that uses them.
    public var damagedCaches: [String] = []
    /// Objects nothing references (left by an interrupted command; `gc` may remove them).
    public var orphans: [String] = []
    /// Problems SQLite's own integrity check found in the catalog file.
    public var catalogProblems: [String] = []

    /// True when nothing is corrupt or missing (orphans are not damage).
    public var isClean: Bool { problems.isEmpty && missing.isEmpty && catalogProblems.isEmpty }

    public init() {}
}

extension Repository {
    /// Re-hashes every object, checks every catalog reference, and lists orphans: stored objects
    /// outside `reachable` (default: the objects the catalog's items reference; pass the full
    /// reachable set, snapshots included, when there is one).
    ///
    /// - Complexity: reads every stored byte once.
    public func fsck(reachable: Set<BlobID>? = nil, progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> FsckReport {
        var report = FsckReport()
        let (checked, problems) = try store.verify(progress: progress)
        report.objectsChecked = checked
        report.problems = problems.map(\.description)
        report.corrupt = Set(problems.compactMap { if case .corrupt(let id, _) = $0 { id } else { nil } }).sorted().map(\.hex)
        report.catalogProblems = try catalog.integrityProblems()
        let referenced = Set(try catalog.read { try $0.referencedBlobs() })
        for id in referenced.sorted() where try !store.contains(id) {
            report.missing.append(id.hex)
        }
        let stored = Set(try store.allIDs())
        report.orphans = stored.subtracting(reachable ?? referenced).sorted().map(\.hex)
        return report
    }
}
