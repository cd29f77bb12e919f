import CairnCatalog
import CairnRepository
import CairnStore
import Foundation
import Glibc

/// What gc found and did.
public struct GCReport: Sendable, Codable {
    public var dryRun: Bool
    public var reachable = 0
    /// Unreachable objects removed (or that would be, with --dry-run).
    public var deletedObjects = 0
    public var freedBytes: Int64 = 0
    public var packsRewritten = 0
    public var packsDeleted = 0
    /// Bytes of purged images that were still here (an interrupted purge, or purges a pull brought).
    public var purgedErased = 0
    /// Leftovers of crashed writers (temporary files, packs without an index).
    public var abandonedFiles = 0
    /// Unreachable objects kept because they were written within the grace period.
    public var keptRecent = 0
    /// Extra copies of live objects removed (concurrent imports of the same files each store one).
    public var duplicatesRemoved = 0
}

extension Versioning {
    /// Every object id reachable from the working state, every snapshot, tag, tag history entry
    /// and run: snapshot roots, tree nodes, item blobs and run checkpoints.
    ///
    /// - Complexity: proportional to the distinct tree nodes; subtrees shared by snapshots are walked once.
    public func reachableObjects() throws -> Set<BlobID> {
        var live = Set<BlobID>()
        let (blobs, snapshots) = try catalog.read { tx in (try tx.rootBlobs(), try tx.rootSnapshotIDs()) }
        live.formUnion(blobs)
        var visited = Set<BlobID>()
        for id in snapshots {
            live.insert(id)
            let root = try tree.root(id)
            guard let top = root.items else { continue }
            try tree.forEachObject(under: top, visit: { visited.insert($0).inserted }) { live.insert($0.blobID) }
        }
        live.formUnion(visited)
        return live
    }

    /// Deletes objects unreachable from every snapshot, tag and the working state, never one
    /// written within `gracePeriod` (an import may be about to reference it).
    public func gc(dryRun: Bool = false, gracePeriod: TimeInterval = 3600) throws -> GCReport {
        if catalog.isReadOnly && !dryRun { throw CatalogError.readOnly(location: catalog.location) }
        return try repository.withLock(exclusive: !dryRun) {
            let store = repository.store
            let purgedErased = dryRun ? 0 : try erasePurgedLocked().objects
            let live = try reachableObjects()
            let cutoff = Date().addingTimeInterval(-gracePeriod)
            var report = GCReport(dryRun: dryRun, reachable: live.count)
            report.purgedErased = purgedErased
            let packs = try store.packInfos().sorted { ($0.modified, $0.name) < ($1.modified, $1.name) }
            // One copy of each live object is kept: the one in the oldest pack. Processes importing
            // the same files at once each store a copy; the others are dead weight.
            var keeper: [BlobID: String] = [:]
            for pack in packs { for entry in pack.entries where live.contains(entry.id) && keeper[entry.id] == nil { keeper[entry.id] = pack.name } }
            for pack in packs {
                let dead = pack.entries.filter { keeper[$0.id] != pack.name }
                guard !dead.isEmpty else { continue }
                guard pack.modified < cutoff else {
                    report.keptRecent += dead.filter { !live.contains($0.id) }.count
                    continue
                }
                let duplicates = dead.filter { live.contains($0.id) }.count
                report.duplicatesRemoved += duplicates
                report.deletedObjects += dead.count - duplicates
                report.freedBytes += Int64(dead.reduce(0) { $0 + $1.length })
                if dead.count == pack.entries.count {
                    report.packsDeleted += 1
                    if !dryRun { try store.deletePack(pack.name) }
                } else {
                    report.packsRewritten += 1
                    if !dryRun { try store.repack(pack.name, keeping: Set(pack.entries.map(\.id).filter { keeper[$0] == pack.name })) }
                }
            }
            for object in try store.looseObjects() {
                guard let id = object.id, !live.contains(id) else { continue }
                guard let modified = store.modified(object.path), modified < cutoff else {
                    report.keptRecent += 1
                    continue
                }
                report.deletedObjects += 1
                report.freedBytes += Int64((try? FileManager.default.attributesOfItem(atPath: object.path)[.size] as? Int) ?? 0)
                if !dryRun { try FileOps.remove(object.path) }
            }
            for path in try store.abandonedFiles(before: cutoff) {
                report.abandonedFiles += 1
                if !dryRun { try FileOps.remove(path) }
            }
            return report
        }
    }
}

extension Versioning {
    /// Blobs of snapshots a remote holds completely (as of the last push or pull): when one is
    /// absent here, a partial pull left it there and `cairn pull` fetches it.
    public func promisedBlobs() throws -> Set<BlobID> {
        var out = Set<BlobID>()
        for id in Set(repository.snapshotsHeldByRemotes().values.joined()) where try repository.store.contains(id) {
            // A damaged tree is fsck's to report; what can be read of it still counts.
            try? tree.forEachItem(under: try tree.root(id).items) { out.insert($0.blobID) }
        }
        return out
    }

    /// `Repository.fsck` plus the snapshots: every tree object of every snapshot and tag must be
    /// present and decode, and every item blob a snapshot names must be stored. Orphans are
    /// objects nothing reachable names.
    public func fsck(progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> FsckReport {
        let (blobs, ids) = try catalog.read { tx in (try tx.rootBlobs(), try tx.rootSnapshotIDs()) }
        var live = blobs
        var treeProblems: [String] = []
        var treeMissing = Set<BlobID>()  // a tree object absent here stops the walk of its snapshot
        var snapshotBlobs = Set<BlobID>()
        var visited = Set<BlobID>()
        for id in ids.sorted() {
            live.insert(id)
            do {
                guard let top = try tree.root(id).items else { continue }
                try tree.forEachObject(under: top, visit: { visited.insert($0).inserted }) { snapshotBlobs.insert($0.blobID) }
            } catch {
                treeProblems.append("snapshot \(id): \(error)")
                if case StoreError.notFound(let missing) = error { treeMissing.insert(missing) }
            }
        }
        live.formUnion(visited)
        live.formUnion(snapshotBlobs)
        var report = try repository.fsck(reachable: live, progress: progress)
        report.problems += treeProblems
        for id in snapshotBlobs.union(treeMissing).sorted() where try !repository.store.contains(id) {
            if !report.missing.contains(id.hex) { report.missing.append(id.hex) }
        }
        let purged = try catalog.read { try $0.purgedBlobs() }
        report.purged = report.missing.filter { BlobID(hex: $0).map(purged.contains) ?? false }
        report.missing.removeAll { BlobID(hex: $0).map(purged.contains) ?? false }
        report.purgedStillStored = try purged.filter { try repository.store.contains($0) }.map(\.hex).sorted()
        if try repository.derivedCacheIsStale() {
            report.purgedInCaches = [repository.cairnDirectory + "/cache/\(geteuid())"]
        } else if !catalog.isReadOnly {
            report.damagedCaches = try verifyMaterializations()
        }
        let held = Set(try heldPurges().map(\.blob))
        report.heldPurges = report.missing.filter { BlobID(hex: $0).map(held.contains) ?? false }
        report.missing.removeAll { BlobID(hex: $0).map(held.contains) ?? false }
        let promised = try promisedBlobs()
        report.notFetched = report.missing.filter { BlobID(hex: $0).map(promised.contains) ?? false }
        report.missing.removeAll { BlobID(hex: $0).map(promised.contains) ?? false }
        if let upstream = repository.store.upstream, !report.missing.isEmpty {
            let held = try upstream.holding(report.missing.compactMap { BlobID(hex: $0) })
            report.notCached = report.missing.filter { BlobID(hex: $0).map(held.contains) ?? false }
            report.missing.removeAll { BlobID(hex: $0).map(held.contains) ?? false }
        }
        return report
    }

    /// What `restore` did.
    public struct RestoreReport: Sendable, Codable {
        public var snapshot: BlobID
        /// Items whose label was set back, as verdicts by the restoring user.
        public var restored = 0
        /// Items whose boxes were set back, as box verdicts by the restoring user.
        public var boxesRestored = 0
        /// Items unlabeled or in conflict in the snapshot but labeled now (a verdict cannot
        /// unlabel), or labeled there with a class removed since: left as they are and listed. The
        /// same for boxes: none drawn or unresolved there but resolved now, or of a removed class.
        public var leftAsIs: [String] = []
        /// Snapshot items no longer in the catalog.
        public var missing = 0
        /// With `items`: items added since, removed from the working state.
        public var removed = 0
        /// With `items`: items removed since, brought back.
        public var broughtBack = 0
        /// With `items`: snapshot items whose bytes were purged since; they stay out.
        public var purged = 0
    }

    /// Sets the working labels back to snapshot `ref`'s, recording each change as a reviewer
    /// verdict by `author` (history is append-only, so nothing is erased). A new author is added
    /// as a reviewer; an existing one must be a reviewer or admin. With `items`, the item set too:
    /// items added since are removed from the working state, items removed since come back.
    public func restore(_ ref: String, author: String, items restoreItems: Bool = false) throws -> RestoreReport {
        let row = try resolve(ref)
        let root = try tree.root(row.id)
        let target = try tree.items(under: root.items)
        return try catalog.write { tx in
            var report = RestoreReport(snapshot: row.id)
            let reviewer = try tx.reviewer(named: author)
            let purged = try tx.purgedBlobs()
            report.purged = target.filter { purged.contains($0.blobID) }.count
            var current: [BlobID: (id: Int64, label: ResolvedLabel, boxes: BoxSet?)] = [:]
            try tx.forEachItemRecord(ids: nil) { id, record in current[record.blobID] = (id, record.resolved, record.boxes?.resolved) }
            if restoreItems {
                // The item set too: what was added since leaves the working state, what was removed comes back.
                let wanted = Set(target.map(\.blobID))
                let added = current.filter { !wanted.contains($0.key) }.map(\.value.id)
                let removed = try tx.removedItems().filter { wanted.contains($0.blobID) }
                let back = removed.filter { !purged.contains($0.blobID) }.map(\.id)
                if !added.isEmpty { try tx.setRemoved(itemIDs: added, removed: true, personID: reviewer.id, at: Date(), stamp: nil) }
                if !back.isEmpty { try tx.setRemoved(itemIDs: back, removed: false, personID: reviewer.id, at: Date(), stamp: nil) }
                (report.removed, report.broughtBack) = (added.count, back.count)
                current = [:]
                try tx.forEachItemRecord(ids: nil) { id, record in current[record.blobID] = (id, record.resolved, record.boxes?.resolved) }
            }
            // A class removed since cannot come back: labels that carry it are left as they are.
            let gone = Set(try tx.removedClasses().map(\.name))
            for name in root.classes where !gone.contains(name) { _ = try tx.ensureClass(name) }
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            for record in target {
                guard let (itemID, now, boxesNow) = current[record.blobID] else {
                    if !purged.contains(record.blobID) { report.missing += 1 }  // a purged one is counted as purged
                    continue
                }
                let boxes = record.boxes?.resolved
                if boxes != boxesNow {
                    if let boxes, boxes.boxes.allSatisfy({ classes[$0.className] != nil }), let item = try tx.item(id: itemID) {
                        try tx.appendBoxVerdict(item: item, reviewer: reviewer, boxes: boxes, classes: classes)
                        report.boxesRestored += 1
                    } else {
                        report.leftAsIs.append(record.path)
                    }
                }
                if let label = record.label, label.classes.contains(where: gone.contains) {
                    if now.label != label { report.leftAsIs.append(record.path) }
                    continue
                }
                if let label = record.label {
                    if now.label != label {
                        try tx.appendVerdict(itemID: itemID, reviewer: reviewer, classIDs: try tx.ensureClasses(label))
                        report.restored += 1
                    }
                } else if now.label != nil {
                    report.leftAsIs.append(record.path)
                }
            }
            var listed = Set<String>()
            report.leftAsIs = report.leftAsIs.filter { listed.insert($0).inserted }
            return report
        }
    }
}
