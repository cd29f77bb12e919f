import CairnStore
import Foundation

/// The mutable working state of a repository: items, classes, people, label history, the
/// snapshots and tags recorded so far, runs and labeling leases.
///
/// ```swift
/// let catalog: any Catalog = try SQLiteCatalog(path: ".cairn/catalog.sqlite")
/// try catalog.write { tx in
///     let (item, _) = try tx.insertItem(newItem)
///     try tx.annotate(itemID: item.id, label: "cat", annotator: "ada")
/// }
/// print(try catalog.read { try $0.itemCount() })
/// ```
///
/// A backend gives transactions: every `write` commits all of its body durably or none of it,
/// and every `read` sees one consistent state while other processes write. A read's body gets a
/// `CatalogReadTransaction`, the reading half of each concern (`CatalogItemsReading`, …), so a
/// write in a read does not compile; a write's body gets a `CatalogTransaction`, which adds the
/// writes. Backends implement the storage requirements of both; the rules (which names are valid,
/// who may review, which item a short id names) are protocol extensions every backend shares.
/// The backends are `SQLiteCatalog` and `PostgresCatalog` (CairnPostgres); `CatalogConformance`
/// in CairnTestSupport is the suite each passes.
public protocol Catalog: AnyObject, Sendable {
    /// Where the catalog lives, for messages (a file path for SQLite).
    var location: String { get }
    /// True when the catalog can be read but not written; writes fail with `CatalogError.readOnly`.
    var isReadOnly: Bool { get }
    /// Runs `body` in one write transaction: all of it commits, or none of it.
    func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// `write` for a body that is safe to run twice (its effects outside the catalog can be
    /// repeated): a backend on a server may then start the transaction without waiting for the
    /// server's answer, and run the body once more on a new connection when that answer says the
    /// connection had dropped — nothing of the first run reached the server. The labeling UI's
    /// save uses it; the default is `write`.
    func writeRepeatable<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// Runs `body` against a consistent read-only view of the catalog: a `CatalogReadTransaction`,
    /// which has no writes to call.
    func read<T>(_ body: (any CatalogReadTransaction) throws -> T) throws -> T
    /// What is wrong with the catalog's own storage, in words; empty when it is sound.
    func integrityProblems() throws -> [String]
}

/// What a read transaction offers: the reading half of each concern's protocol. Code that only
/// reads takes one of these, so the compiler keeps writes out of `Catalog.read`.
public protocol CatalogReadTransaction:
    CatalogItemsReading, CatalogClassesReading, CatalogPeopleReading, CatalogLabelsReading, CatalogSnapshotsReading, CatalogRunsReading,
    CatalogPredictionsReading, CatalogReportsReading, CatalogLeasesReading, CatalogExchange, CatalogSplitsReading, CatalogRemovalsReading,
    CatalogPurgesReading, CatalogSweepsReading, CatalogBoxesReading {}

/// Everything a write transaction offers: every read, and the writes of each concern's protocol.
public protocol CatalogTransaction:
    CatalogReadTransaction, CatalogItems, CatalogClasses, CatalogPeople, CatalogLabels, CatalogSnapshots, CatalogRuns, CatalogPredictions,
    CatalogReports, CatalogLeases, CatalogSplits, CatalogRemovals, CatalogPurges, CatalogSweeps, CatalogBoxes {}

extension Catalog {
    public func writeRepeatable<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T { try write(body) }

    /// Number of items.
    public func itemCount() throws -> Int { try read { try $0.itemCount() } }
}
