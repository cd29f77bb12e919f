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
/// and every `read` sees one consistent state while other processes write. Backends implement
/// the storage requirements of `CatalogTransaction`'s parts; the rules (which names are valid,
/// who may review, which item a short id names) are protocol extensions every backend shares.
/// `SQLiteCatalog` is the one backend; `CatalogConformance` in CairnTestSupport is the suite a
/// new backend must pass.
public protocol Catalog: AnyObject, Sendable {
    /// Where the catalog lives, for messages (a file path for SQLite).
    var location: String { get }
    /// True when the catalog can be read but not written; writes fail with `CatalogError.readOnly`.
    var isReadOnly: Bool { get }
    /// Runs `body` in one write transaction: all of it commits, or none of it.
    func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// Runs `body` against a consistent read-only view of the catalog.
    func read<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// What is wrong with the catalog's own storage, in words; empty when it is sound.
    func integrityProblems() throws -> [String]
}

/// Everything a catalog transaction offers, one protocol per concern.
public protocol CatalogTransaction:
    CatalogItems, CatalogClasses, CatalogPeople, CatalogLabels, CatalogSnapshots, CatalogRuns, CatalogPredictions, CatalogReports,
    CatalogLeases, CatalogExchange, CatalogSplits, CatalogRemovals, CatalogPurges, CatalogSweeps {}

extension Catalog {
    /// Number of items.
    public func itemCount() throws -> Int { try read { try $0.itemCount() } }
}
