import CairnStore
import Foundation

/// How a run ended, or that it is still going.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// `pruned`: a sweep trial its early-stopping rule ended (below the median of earlier trials).
    case running, finished, failed, interrupted, pruned
}

/// A hyper-parameter sweep as the catalog keeps it: the snapshot every trial is pinned to and the
/// training module's JSON record (spec, command, planned trials, outcome).
public struct SweepRow: Sendable, Hashable {
    public var id: String
    public var dataRef: String
    public var snapshotID: BlobID
    public var createdAt: Date
    public var record: String

    public init(id: String, dataRef: String, snapshotID: BlobID, createdAt: Date, record: String) {
        (self.id, self.dataRef, self.snapshotID, self.createdAt, self.record) = (id, dataRef, snapshotID, createdAt, record)
    }
}

/// What a read transaction offers of `CatalogSweeps`.
public protocol CatalogSweepsReading {
    /// Every sweep, oldest first.
    func sweeps() throws -> [SweepRow]
}

/// Sweeps (`cairn sweep`); their trials are runs.
public protocol CatalogSweeps: CatalogSweepsReading {
    /// Records a new sweep.
    /// - Throws: `CatalogError.notFound` when its snapshot is not recorded.
    func insertSweep(_ sweep: SweepRow) throws
    /// Replaces a sweep's record.
    func updateSweep(id: String, record: String) throws
}

extension CatalogSweepsReading {
    /// The sweep whose id starts with `ref` (4 to 12 hex digits).
    /// - Throws: `CatalogError.notFound`, `.ambiguous`.
    public func sweep(matching ref: String) throws -> SweepRow {
        let lower = ref.lowercased()
        let matches = lower.count >= 4 && lower.allSatisfy(\.isHexDigit) ? try sweeps().filter { $0.id.hasPrefix(lower) } : []
        if matches.count == 1 { return matches[0] }
        if matches.count > 1 { throw CatalogError.ambiguous(kind: "sweep", name: ref, matches: matches.map(\.id)) }
        throw CatalogError.notFound(kind: "sweep", name: ref)
    }
}

/// One run as the catalog keeps it: what it trained on and how it ended. `record` is the
/// training module's JSON; the catalog reads only the fields it needs for listing and for gc.
public struct Run: Sendable, Hashable {
    public var id: String
    public var name: String
    public var dataRef: String
    public var snapshotID: BlobID
    public var model: String
    public var status: RunStatus
    public var startedAt: Date
    public var endedAt: Date?
    public var checkpointID: BlobID?
    /// Files the run's program wrote, kept as blobs (gc and fsck roots, pushed with the run).
    public var artifactIDs: [BlobID]
    public var record: String

    public init(id: String, name: String, dataRef: String, snapshotID: BlobID, model: String, status: RunStatus,
                startedAt: Date, endedAt: Date?, checkpointID: BlobID?, artifactIDs: [BlobID] = [], record: String) {
        self.id = id
        self.name = name
        self.dataRef = dataRef
        self.snapshotID = snapshotID
        self.model = model
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.checkpointID = checkpointID
        self.artifactIDs = artifactIDs.sorted()
        self.record = record
    }
}

/// What a read transaction offers of `CatalogRuns`.
public protocol CatalogRunsReading {
    /// Every run, oldest first.
    func runs() throws -> [Run]
    /// Runs whose id starts with `prefix` (lowercase hex), oldest first, at most `limit`.
    func runs(idPrefix prefix: String, limit: Int) throws -> [Run]
    /// The latest run named `name`, if any.
    func latestRun(named name: String) throws -> Run?
    /// The runs whose record names sweep `id` (its JSON's `sweep.id`: the sweep's trials), oldest first.
    func runs(inSweep id: String) throws -> [Run]
}

/// Runs pinned to snapshots.
public protocol CatalogRuns: CatalogRunsReading {
    /// Records a new run.
    /// - Throws: `CatalogError.notFound` when its snapshot is not recorded.
    func insertRun(_ run: Run) throws
    /// Updates a run's name and outcome: status, end time, checkpoint, artifacts and record.
    /// - Throws: `CatalogError.notFound` for an unknown run.
    func updateRun(_ run: Run) throws
}

extension CatalogRunsReading {
    /// The run whose id starts with `ref` (4 to 12 hex digits) or whose name is `ref` (the latest such).
    /// - Throws: `CatalogError.notFound`, `.ambiguous`, `.prefixTooShort`.
    public func run(matching ref: String) throws -> Run {
        let lower = ref.lowercased()
        if lower.count >= 4, lower.count <= 12, lower.allSatisfy(\.isHexDigit) {
            let matches = try runs(idPrefix: lower, limit: 6)
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw CatalogError.ambiguous(kind: "run", name: ref, matches: matches.map(\.id)) }
        }
        if let named = try latestRun(named: ref) { return named }
        if !lower.isEmpty, lower.count < 4, lower.allSatisfy(\.isHexDigit) { throw CatalogError.prefixTooShort(kind: "run", name: ref) }
        throw CatalogError.notFound(kind: "run", name: ref)
    }
}

extension CatalogReadTransaction {
    /// Every snapshot something still names: all snapshots, tags, tag history and runs. gc keeps
    /// and fsck checks everything reachable from these.
    public func rootSnapshotIDs() throws -> Set<BlobID> {
        Set(try allSnapshots().map(\.id) + tags().map(\.snapshotID) + runs().map(\.snapshotID)).union(try snapshotIDsInTagHistory())
    }

    /// Objects outside any snapshot that something names: item blobs, run checkpoints and artifacts.
    public func rootBlobs() throws -> Set<BlobID> {
        let runs = try runs()
        return Set(try referencedBlobs() + runs.compactMap(\.checkpointID) + runs.flatMap(\.artifactIDs))
    }
}
