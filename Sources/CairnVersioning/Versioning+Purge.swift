import CairnCatalog
import CairnRepository
import CairnStore
import CairnSupport
import Foundation

/// What `purge` did.
public struct PurgeReport: Sendable, Codable {
    public struct PurgedItem: Sendable, Codable, Equatable {
        public var blob: BlobID
        public var path: String
    }
    /// Items purged now.
    public var purged: [PurgedItem] = []
    /// Items named that were purged before (nothing more to do for them).
    public var alreadyPurged: [PurgedItem] = []
    /// Copies deleted from the store (loose files and pack entries) and their bytes.
    public var objectsErased = 0
    public var bytesErased: Int64 = 0
    public var reason: String
}

extension Versioning {
    /// Every purge, by blob: these images' bytes are gone though snapshots still name them.
    public func purges() throws -> [BlobID: PurgeRecord] {
        Dictionary(try catalog.read { try $0.purges() }.map { ($0.blob, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Deletes the bytes of the items `refs` name (blob ids, prefixes or imported paths, removed
    /// items too) from the store, however many snapshots name them, and records each purge (who,
    /// when, `reason`). The items leave the working state. Snapshot ids do not change: their trees
    /// still name the ids, and everything that reads bytes (checkout, export, train, runs, pull)
    /// leaves purged items out and says so. The caches derived from images are dropped.
    ///
    /// The records are durable before any byte goes, so an interrupted purge is finished by the next
    /// `purge`, `pull` or `gc` (all call `erasePurged`).
    /// - Throws: `CatalogError.notFound`/`.ambiguous` for a ref (nothing changes then),
    ///   `CatalogError.notReviewer` for an author who may not record verdicts.
    public func purge(_ refs: [String], author: String, reason: String) throws -> PurgeReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        return try repository.withLock(exclusive: true) {
            var report = try catalog.write { tx in
                var report = PurgeReport(reason: reason)
                let who = try tx.reviewer(named: author)
                var seen = Set<BlobID>()
                let items = try refs.map { try tx.item(matching: $0) }.filter { seen.insert($0.blobID).inserted }
                let now = Date()
                var present: [Int64] = []
                for item in items {
                    let entry = PurgeReport.PurgedItem(blob: item.blobID, path: item.path)
                    if try tx.recordPurge(blob: item.blobID, personID: who.id, reason: reason, at: now) {
                        report.purged.append(entry)
                    } else {
                        report.alreadyPurged.append(entry)
                    }
                    if try !tx.isRemoved(itemID: item.id) { present.append(item.id) }
                }
                if !present.isEmpty { try tx.setRemoved(itemIDs: present, removed: true, personID: who.id, at: now, stamp: nil) }
                return report
            }
            (report.objectsErased, report.bytesErased) = try erasePurgedLocked()
            return report
        }
    }

    /// Purges a pull brought from people not trusted here to purge: held, their images untouched.
    public func heldPurges() throws -> [PurgeRecord] { try catalog.read { try $0.heldPurges() } }

    /// Applies held purges (all of them, or those whose blob id starts with one of `blobs`): each is
    /// recorded as it was made elsewhere (who, when, why), its item leaves the working state and its
    /// bytes are erased, as `purge` does. `author` takes the decision and must be a reviewer or admin.
    /// - Throws: `CatalogError.notFound` for a prefix no held purge has (nothing changes then).
    public func applyHeldPurges(_ blobs: [String]?, author: String) throws -> PurgeReport {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        return try repository.withLock(exclusive: true) {
            var report = try catalog.write { tx in
                let who = try tx.reviewer(named: author)
                let chosen = try Self.choose(try tx.heldPurges(), blobs)
                var report = PurgeReport(reason: "")
                let now = Date()
                for held in chosen {
                    guard let person = try tx.annotator(named: held.person) else { continue }
                    try tx.recordPurge(blob: held.blob, personID: person.id, reason: held.reason, at: held.at)
                    try tx.releaseHeldPurge(blob: held.blob)
                    let item = try tx.item(matching: held.blob.hex)
                    report.purged.append(.init(blob: held.blob, path: item.path))
                    if try !tx.isRemoved(itemID: item.id) {
                        try tx.setRemoved(itemIDs: [item.id], removed: true, personID: who.id, at: now, stamp: nil)
                    }
                }
                return report
            }
            (report.objectsErased, report.bytesErased) = try erasePurgedLocked()
            return report
        }
    }

    /// Forgets held purges (all, or those whose blob id starts with one of `blobs`) without erasing
    /// anything; `author` must be a reviewer or admin. Returns those dismissed.
    public func dismissHeldPurges(_ blobs: [String]?, author: String) throws -> [PurgeRecord] {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        return try catalog.write { tx in
            _ = try tx.reviewer(named: author)
            let chosen = try Self.choose(try tx.heldPurges(), blobs)
            for held in chosen { try tx.releaseHeldPurge(blob: held.blob) }
            return chosen
        }
    }

    /// The held purges `prefixes` name (every one for nil); a prefix that names none throws.
    private static func choose(_ held: [PurgeRecord], _ prefixes: [String]?) throws -> [PurgeRecord] {
        guard let prefixes, !prefixes.isEmpty else { return held }
        var out: [PurgeRecord] = []
        for prefix in prefixes {
            let matches = held.filter { $0.blob.hex.hasPrefix(prefix.lowercased()) }
            guard !matches.isEmpty else { throw CatalogError.notFound(kind: "held purge", name: prefix) }
            out += matches.filter { m in !out.contains(m) }
        }
        return out
    }

    /// Deletes whatever bytes of purged images are still here (an interrupted purge, or purges a
    /// pull brought), and then the caches derived from images (materialized runs, tensors).
    /// - Returns: the objects and bytes erased.
    @discardableResult
    public func erasePurged() throws -> (objects: Int, bytes: Int64) {
        if catalog.isReadOnly { return (0, 0) }
        return try repository.withLock(exclusive: true) { try erasePurgedLocked() }
    }

    /// `items` without those whose bytes were purged, and how many those were: every reader of a
    /// snapshot's bytes goes through this. In a repository whose images live in a shared store, the
    /// bytes of those kept that are not here are fetched now, in one batch rather than one by one.
    public func readableItems(_ items: [ItemRecord]) throws -> (items: [ItemRecord], purged: Int) {
        let purged = try catalog.read { try $0.purgedBlobs() }
        let kept = purged.isEmpty ? items : items.filter { !purged.contains($0.blobID) }
        try repository.store.prefetch(kept.map(\.blobID))
        return (kept, items.count - kept.count)
    }

    func erasePurgedLocked() throws -> (objects: Int, bytes: Int64) {
        let store = repository.store
        let purged = try catalog.read { try $0.purgedBlobs() }
        let here = try purged.filter { try store.contains($0) }
        var erased = here.isEmpty ? (0, 0) : try store.erase(Set(here))
        // A team's shared store loses its copies too, or every other machine could still fetch them.
        if let upstream = store.upstream, !purged.isEmpty {
            let shared = try upstream.erase(purged)
            erased = (erased.0 + shared.objects, erased.1 + shared.bytes)
        }
        // Caches hold copies derived from images: this user's are cleared now (they know how many
        // purges they were cleared for), other members' at their next use; rebuilt without the purged ones.
        _ = try repository.derivedCache()
        return erased
    }
}
