import CairnCatalog
import CairnRepository
import CairnStore
import CairnVersioning
import Foundation

/// What `push` did.
public struct PushReport: Sendable, Codable {
    public var remote: String
    public var url: String
    /// Snapshots that were not on the remote before.
    public var snapshots: [String] = []
    public var objectsUploaded = 0
    public var bytesUploaded: Int64 = 0
    public var tagsUpdated: [String] = []
    public var catalogUpdated = false
    /// Copies of purged images deleted on the remote (loose objects and pack entries) and their bytes.
    public var purgedErased = 0
    public var purgedBytes: Int64 = 0
    public var requests = 0
    public var retries = 0
    public var seconds = 0.0
}

extension Remote {
    /// A snapshot to push, and the local tag that names it (nil for a ref that is not a tag).
    typealias Target = (tag: String?, row: SnapshotRecord)

    /// Uploads what `refs` (default: every tag, and HEAD when no tag names it) need that the remote
    /// lacks, then their tags, then the catalog bundle: a remote never names an object it does not
    /// hold. Small objects go in packs of about `packSize` bytes (default: an even share of the push
    /// across the parallel requests, 1 to 8 MiB). Interrupted, it resumes: every acknowledged upload
    /// is journaled.
    ///
    /// Phases: 1. choose the snapshots, 2. plan the objects the remote lacks, 3. upload them,
    /// 4. write each new snapshot's description, 5. merge the tags, 6. merge the catalog bundle,
    /// 7. erase the bytes of images purged since the last push (the bundle records the purges first).
    public func push(refs: [String], force: Bool = false, packSize: Int? = nil,
                     progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws -> PushReport {
        let started = Date()
        let localTags = try repository.catalog.read { try $0.tags() }
        let targets = try pushTargets(refs, localTags: localTags)
        var report = PushReport(remote: name, url: objects.url)
        let meta = try await meta(create: true)
        var state = loadState() ?? State(instance: meta.instance)
        if state.instance != meta.instance {
            state = State(instance: meta.instance)  // another remote at this URL now: nothing known holds
            try? FileOps.remove(journalPath)
        }
        let before = try await remoteSnapshots()
        let newSnapshots = Dictionary(targets.map { ($0.row.id, $0.row) }, uniquingKeysWith: { a, _ in a }).values
            .filter { !before.contains($0.id) }.sorted { $0.createdAt < $1.createdAt }
        let onRemote = before.union(newSnapshots.map(\.id))

        let plan = try planUpload(newSnapshots: newSnapshots, before: before, onRemote: onRemote, state: state)
        try await upload(plan.objects, packSize: packSize, report: &report, progress: progress)
        state.held = plan.heldExtras.map(\.hex).sorted()
        for snapshot in newSnapshots {
            try await objects.put("snapshots/\(snapshot.id.hex)", try JSONEncoder().encode(snapshot))
            report.snapshots.append(snapshot.id.hex)
        }
        report.tagsUpdated = try await pushTags(targets, localTags: localTags, force: force)
        report.catalogUpdated = try await pushBundle(items: plan.items, onRemote: onRemote, state: &state)
        (report.purgedErased, report.purgedBytes) = try await erasePurged(plan.purged, state: &state)
        state.snapshots = onRemote.map(\.hex).sorted()
        try saveState(state)
        try? FileOps.remove(journalPath)
        (report.requests, report.retries) = objects.requestCount
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Phase 1: the snapshots `refs` name (default: every tag, and HEAD when no tag names it).
    func pushTargets(_ refs: [String], localTags: [SnapshotTag]) throws -> [Target] {
        let versioning = Versioning(repository: repository)
        var targets: [Target] = refs.isEmpty
            ? try localTags.map { ($0.name, try versioning.resolve($0.name)) }
            : try refs.map { ref in (localTags.contains { $0.name == ref } ? ref : nil, try versioning.resolve(ref)) }
        if refs.isEmpty, let head = try? versioning.resolve("HEAD"), !targets.contains(where: { $0.row.id == head.id }) {
            targets.append((nil, head))  // untagged work is not left behind
        }
        if targets.isEmpty { throw RemoteError.badTarget("nothing to push: there are no snapshots yet; make one with `cairn snapshot -m MESSAGE`") }
        return targets
    }

    /// What phase 2 decides: the objects to upload in order, every image the remote will hold, and
    /// the checkpoints it will hold.
    struct UploadPlan {
        var objects: [BlobID]
        var items: Set<BlobID>
        var heldExtras: Set<BlobID>
        /// Every purged image (their bytes are not here and never go up).
        var purged: Set<BlobID>
    }

    /// Phase 2: walks each new snapshot, pruning subtrees the remote's complete snapshots hold (as git
    /// does with commits the other side has), and lists tree objects first, then images, then
    /// checkpoints the remote lacks: a pull reads trees level by level and finds a level's objects
    /// side by side in the packs. Objects an interrupted push already stored are left out.
    func planUpload(newSnapshots: [SnapshotRecord], before: Set<BlobID>, onRemote: Set<BlobID>, state: State) throws -> UploadPlan {
        let (complete, heldBlobs) = try objectsUnder(before)
        let uploaded = journal()
        let purged = try repository.catalog.read { try $0.purgedBlobs() }
        var trees: [BlobID] = [], blobs: [BlobID] = []
        var queued = Set<BlobID>()
        var items = heldBlobs
        func want(_ id: BlobID, tree: Bool) {
            if !heldBlobs.contains(id) && !complete.contains(id) && !uploaded.contains(id) && !purged.contains(id) && queued.insert(id).inserted {
                if tree { trees.append(id) } else { blobs.append(id) }
            }
        }
        let tree = self.tree
        for snapshot in newSnapshots {
            want(snapshot.id, tree: true)
            guard let top = try tree.root(snapshot.id).items else { continue }
            try tree.forEachObjectByLevel(under: top, visit: { node in
                if complete.contains(node) { return false }
                want(node, tree: true)
                return true
            }, items: { item in
                want(item.blobID, tree: false)
                items.insert(item.blobID)
            })
        }
        // Checkpoints and artifacts of runs on the snapshots the remote will hold, each once: the record remembers them.
        var held = Set((state.held ?? []).compactMap { BlobID(hex: $0) })
        for run in try repository.catalog.read({ try $0.runs() }) where onRemote.contains(run.snapshotID) {
            for blob in [run.checkpointID].compactMap({ $0 }) + run.artifactIDs where held.insert(blob).inserted { want(blob, tree: false) }
        }
        return UploadPlan(objects: trees + blobs, items: items, heldExtras: held, purged: purged)
    }

    /// Phase 3: uploads `ids` from the local store in parallel, journaling each one the remote
    /// acknowledged. Small objects go in packs, in the order given (so a pull reading them in that
    /// order merges neighbours into one range request); objects above `RemoteBlobStore.looseThreshold` go alone.
    func upload(_ ids: [BlobID], packSize: Int?, report: inout PushReport, progress: @Sendable (TransferProgress) -> Void) async throws {
        if ids.isEmpty { return }
        try FileOps.makeDirectory(repository.remotesDirectory)
        let journal = try POSIXFile(path: journalPath, flags: O_WRONLY | O_CREAT | O_APPEND)
        var done = 0, bytes: Int64 = 0
        var raw = [UInt8](repeating: 0, count: 32)
        try await store.upload(ids, from: repository.store, packSize: packSize) { batch, size in
            var record = Data(capacity: batch.count * 32)
            for id in batch {
                raw.withUnsafeMutableBytes { id.writeRaw(to: $0.baseAddress!) }
                record.append(contentsOf: raw)
            }
            try journal.writeAll(record)
            done += batch.count
            bytes += size
            progress(TransferProgress(phase: "upload", done: done, total: ids.count, bytes: bytes))
        }
        report.objectsUploaded += done
        report.bytesUploaded += bytes
    }

    /// Phase 5: the targets' tags into `tags.json`, merged with what is there (a tag that names
    /// another snapshot there needs `force`). Returns the tags written.
    func pushTags(_ targets: [Target], localTags: [SnapshotTag], force: Bool) async throws -> [String] {
        var updated: [String] = []
        _ = try await readMergeWrite("tags.json", read: {
            let (tags, _, etag) = try await self.remoteTagsAndETag()  // tags no cairn would write are dropped
            return (tags, etag)
        }, update: { tags in
            updated = []
            for target in targets {
                guard let tagName = target.tag, let local = localTags.first(where: { $0.name == tagName }) else { continue }
                if let existing = tags.tags[tagName], existing.snapshot != local.snapshotID.hex, !force {
                    throw RemoteError.tagConflict(tag: tagName, remote: existing.snapshot, local: local.snapshotID.hex)
                }
                if tags.tags[tagName]?.snapshot != local.snapshotID.hex {
                    tags.tags[tagName] = RemoteFiles.Tag(snapshot: local.snapshotID.hex, createdAt: local.createdAt.timeIntervalSince1970,
                                                         author: local.author)
                    updated.append(tagName)
                }
            }
        }, encode: { try JSONEncoder.sorted.encode($0) })
        return updated
    }

    /// Phase 6: this catalog's rows for the images and snapshots the remote holds, merged into
    /// `catalog.json` (union; nothing there is dropped). Skipped when neither side changed since
    /// the last push. Returns whether it was written.
    func pushBundle(items: Set<BlobID>, onRemote: Set<BlobID>, state: inout State) async throws -> Bool {
        let fingerprint = try repository.catalog.read { try $0.changeFingerprint() } + ";" + onRemote.map(\.hex).sorted().joined()
        let etag = try await objects.etag("catalog.json")
        guard state.fingerprint != fingerprint || etag == nil || state.bundleETag != etag else { return false }
        let local = try repository.catalog.read { try CatalogBundle.export($0, items: items, snapshots: onRemote) }
        let (written, newETag) = try await readMergeWrite("catalog.json", read: { try await self.remoteBundleAndETag() },
                                                          update: { $0 = $0.merging(local) },
                                                          encode: { try JSONEncoder.sorted.encode($0) })
        state.fingerprint = fingerprint
        state.bundleETag = newETag
        return written
    }

    /// Phase 7: deletes on the remote every copy of the purged images it was not yet told of
    /// (after phase 6, so the remote's bundle records each purge before its bytes go).
    func erasePurged(_ purged: Set<BlobID>, state: inout State) async throws -> (objects: Int, bytes: Int64) {
        let done = Set((state.purged ?? []).compactMap { BlobID(hex: $0) })
        let todo = purged.subtracting(done)
        guard !todo.isEmpty else { return (0, 0) }
        try await store.loadPackIndexes()
        let erased = try await store.erase(todo)
        state.purged = done.union(todo).map(\.hex).sorted()
        return erased
    }
}
