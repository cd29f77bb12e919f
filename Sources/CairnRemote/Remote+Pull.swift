import CairnCatalog
import CairnRepository
import CairnStore
import CairnVersioning
import Foundation

/// What `pull` did.
public struct PullReport: Sendable, Codable {
    public var remote: String
    public var url: String
    public var snapshots: [String] = []
    public var treeObjects = 0
    public var blobs = 0
    public var bytes: Int64 = 0
    /// Blobs of the pulled refs left on the remote by `--split` / `--class`.
    public var blobsLeftOnRemote = 0
    /// Images of the pulled refs that were purged (here or, by the remote's bundle, elsewhere): never fetched.
    public var purged = 0
    /// Copies of purged images that were still here, erased (purges the pull brought).
    public var purgedErased = 0
    public var tagsAdded: [String] = []
    /// Tags that name a different snapshot here than on the remote (kept as they are here).
    public var tagConflicts: [String] = []
    /// Tags on the remote that no tag may be called (or that name no snapshot), with why: not added.
    public var tagsRefused: [String: String] = [:]
    public var merged = CatalogBundle.MergeCounts()
    /// Catalog rows the remote's bundle holds that were not taken (items no remote snapshot holds,
    /// names no catalog accepts, rows that point at nothing).
    public var refused = BundleRefusals()
    public var requests = 0
    public var retries = 0
    public var seconds = 0.0
}

extension Remote {
    /// What phase 1 of a pull reads from the remote.
    struct RemoteView {
        var snapshots: Set<BlobID>
        var tags: RemoteFiles.Tags
        var refusedTags: [String: String]
        var bundle: CatalogBundle
    }

    /// Fetches the remote's snapshot trees, the blobs of `refs` (default: every remote tag) that
    /// pass the filters, and merges tags and the catalog bundle. Resumable: what is already here is
    /// never fetched again. Nothing the remote says is taken unchecked: indexes, descriptions and
    /// tags are validated, every object is hashed against its id, and only catalog rows about images
    /// the remote's snapshots hold are merged.
    ///
    /// Phases: 1. read the remote's listing, indexes, tags and bundle, 2. fetch the snapshot
    /// descriptions and trees, 3. fetch the chosen images and checkpoints, 4. record snapshots,
    /// tags and the screened catalog rows.
    public func pull(refs: [String], splits: Set<Split> = [], classes: Set<String> = [],
                     progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws -> PullReport {
        let started = Date()
        var report = try await repository.withLock(exclusive: false) {
            try await pullLocked(refs: refs, splits: splits, classes: classes, progress: progress)
        }
        report.purgedErased = try Versioning(repository: repository).erasePurged().objects  // purges the bundle brought
        (report.requests, report.retries) = objects.requestCount
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private func pullLocked(refs: [String], splits: Set<Split>, classes: Set<String>,
                            progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> PullReport {
        var report = PullReport(remote: name, url: objects.url)
        let meta = try await meta(create: false)
        let view = try await readRemote()
        report.tagsRefused = view.refusedTags

        let rows = try await fetchDescriptions(view.snapshots)
        report.treeObjects = try await fetchTrees(Array(view.snapshots), progress: progress)
        try repository.store.flush()  // an interrupted pull keeps the trees (and, below, every 2,048 images)

        let held = try objectsUnder(view.snapshots).blobs
        let (bundle, refused) = view.bundle.screened(items: held, snapshots: view.snapshots)
        report.refused = refused
        let purged = try repository.catalog.read { try $0.purgedBlobs() }.union((bundle.purges ?? []).compactMap { BlobID(hex: $0.blob) })
        let chosen = try chooseBlobs(refs: refs, view: view, runs: bundle.runs, splits: splits, classes: classes, purged: purged)
        let wanted = chosen.wanted
        (report.blobsLeftOnRemote, report.purged) = (chosen.leftOnRemote, chosen.purged)
        (report.blobs, report.bytes) = try await fetch(wanted, phase: "download", progress: progress)
        try repository.store.flush()

        try recordPull(rows: rows, view: view, bundle: bundle, report: &report)
        var state = loadState() ?? State(instance: meta.instance)
        if state.instance != meta.instance { state = State(instance: meta.instance) }  // another remote at this URL now
        state.snapshots = view.snapshots.map(\.hex).sorted()
        // The bundle names only checkpoints and artifacts the remote holds (push writes them before the bundle).
        state.held = Set(state.held ?? []).union(bundle.runs.flatMap { [$0.checkpoint].compactMap { $0 } + ($0.artifacts ?? []) }).sorted()
        try saveState(state)
        report.snapshots = rows.map(\.id.hex)
        return report
    }

    /// Phase 1: the remote's snapshots, pack indexes (validated), tags (checked) and bundle.
    func readRemote() async throws -> RemoteView {
        let snapshots = try await remoteSnapshots()
        try await store.loadPackIndexes()
        let (tags, refused, _) = try await remoteTagsAndETag()
        let (bundle, _) = try await remoteBundleAndETag()
        return RemoteView(snapshots: snapshots, tags: tags, refusedTags: refused, bundle: bundle)
    }

    /// Phase 2a: the descriptions of the remote's snapshots this catalog lacks, each checked to
    /// describe the snapshot it is named after.
    func fetchDescriptions(_ snapshots: Set<BlobID>) async throws -> [SnapshotRecord] {
        let known = Set(try repository.catalog.read { try $0.allSnapshots() }.map(\.id))
        var rows: [SnapshotRecord] = []
        try await store.forEachConcurrently(Array(snapshots.subtracting(known)), { [objects] id in
            try RemoteFiles.snapshot(try await objects.get("snapshots/\(id.hex)"), id: id)
        }, done: { _, row in rows.append(row) })
        return rows
    }

    /// Phase 2b: every tree object under `roots` that is not here, level by level (a level's objects
    /// in parallel). Objects already here are read locally to find their children, so an
    /// interrupted pull that stored a parent but not its children completes them.
    func fetchTrees(_ roots: [BlobID], progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> Int {
        var level = roots.map { ($0, true) }
        var seen = Set(roots)
        var fetched = 0
        while !level.isEmpty {
            var absent: [BlobID] = []
            var next: [(BlobID, Bool)] = []
            func children(_ id: BlobID, _ data: Data, isRoot: Bool) throws {
                let ids: [BlobID]
                if isRoot {
                    ids = try TreeFormat.decodeRoot(data, id: id).items.map { [$0] } ?? []
                } else if case .interior(let kids) = try TreeFormat.decodeNode(data, id: id) {
                    ids = kids.compactMap { $0?.id }
                } else {
                    ids = []
                }
                for child in ids where seen.insert(child).inserted { next.append((child, false)) }
            }
            var isRoot: [BlobID: Bool] = [:]
            for (id, root) in level {
                isRoot[id] = root
                if try repository.store.contains(id) { try children(id, try repository.store.get(id), isRoot: root) } else { absent.append(id) }
            }
            let (count, _) = try await fetch(absent, phase: "trees", progress: progress) { fetched in
                try children(fetched.id, try fetched.data(), isRoot: isRoot[fetched.id] ?? false)
            }
            fetched += count
            level = next
        }
        return fetched
    }

    /// Phase 3a: the images of the chosen refs that pass the filters, are not here and were not
    /// `purged`, and the checkpoints of the (screened) runs; how many images the filters left on the
    /// remote, and how many were purged.
    func chooseBlobs(refs: [String], view: RemoteView, runs: [CatalogBundle.RunEntry], splits: Set<Split>,
                     classes: Set<String>, purged: Set<BlobID>) throws -> (wanted: [BlobID], leftOnRemote: Int, purged: Int) {
        var targets: [BlobID] = []
        if refs.isEmpty {
            targets = view.tags.tags.values.compactMap { BlobID(hex: $0.snapshot) }.filter(view.snapshots.contains)
            if targets.isEmpty { targets = Array(view.snapshots) }
        } else {
            for ref in refs {
                if let tag = view.tags.tags[ref], let id = BlobID(hex: tag.snapshot), view.snapshots.contains(id) {
                    targets.append(id)
                } else if ref.count >= 4, let id = view.snapshots.first(where: { $0.hex.hasPrefix(ref.lowercased()) }) {
                    targets.append(id)
                } else {
                    throw RemoteError.badTarget("the remote has no tag or snapshot '\(ref)' "
                                                + "(tags there: \(view.tags.tags.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        var wanted: [BlobID] = []
        var left = 0, skipped = 0
        var seen = Set<BlobID>()
        let tree = self.tree
        for target in Set(targets) {
            try tree.forEachItem(under: try tree.root(target).items) { item in
                guard seen.insert(item.blobID).inserted else { return }
                if purged.contains(item.blobID) {
                    if try !repository.store.contains(item.blobID) { skipped += 1 }
                    return
                }
                let selected = (splits.isEmpty || splits.contains(item.split))
                    && (classes.isEmpty || item.label?.classes.contains(where: classes.contains) == true)
                if !selected { left += 1; return }
                if try !repository.store.contains(item.blobID) { wanted.append(item.blobID) }
            }
        }
        for run in runs {
            for blob in ([run.checkpoint].compactMap { $0 } + (run.artifacts ?? [])).compactMap({ BlobID(hex: $0) })
            where try !repository.store.contains(blob) {
                wanted.append(blob)
            }
        }
        return (wanted, left, skipped)
    }

    /// Downloads `ids` in parallel and stores each once verified: small ones from memory, large ones
    /// streamed to `.cairn/tmp` and adopted from there. A damaged copy on the remote is replaced by
    /// another copy when there is one; otherwise the pull stops naming the remote object, and
    /// nothing of it is stored.
    func fetch(_ ids: [BlobID], phase: String, progress: @Sendable (TransferProgress) -> Void,
               then: (RemoteBlobStore.Fetched) throws -> Void = { _ in }) async throws -> (Int, Int64) {
        let local = repository.store
        var done = 0, bytes: Int64 = 0
        do {
            try await store.fetch(ids, staging: local.tmpDir) { fetched in
                try then(fetched)
                switch fetched {
                case .bytes(let blob):
                    try local.put(blob)
                    bytes += Int64(blob.data.count)
                case .file(let id, let path, let size):
                    try local.adoptStaged(path, id: id)
                    bytes += Int64(size)
                }
                done += 1
                if done % 2048 == 0 { try local.flush() }
                progress(TransferProgress(phase: phase, done: done, total: ids.count, bytes: bytes))
            }
        } catch {
            local.discardPending()
            throw error
        }
        return (done, bytes)
    }

    /// Phase 4: the new snapshots' descriptions (oldest first; HEAD only in a repository that had
    /// none), the remote's valid tags this repository lacks, and the screened bundle, in one transaction.
    func recordPull(rows: [SnapshotRecord], view: RemoteView, bundle: CatalogBundle, report: inout PullReport) throws {
        let localTags = try repository.catalog.read { try $0.tags() }
        var added: [String] = [], conflicts: [String] = []
        let merged = try repository.catalog.write { tx -> CatalogBundle.MergeCounts in
            let hadHead = try tx.headSnapshot() != nil
            for row in (rows + bundle.snapshots).sorted(by: { $0.createdAt < $1.createdAt }) where view.snapshots.contains(row.id) {
                try tx.importSnapshot(row)
            }
            if !hadHead, let latest = rows.max(by: { $0.createdAt < $1.createdAt }) { try tx.setHead(latest.id) }
            for (tagName, entry) in view.tags.tags.sorted(by: { $0.key < $1.key }) {
                guard let id = BlobID(hex: entry.snapshot), view.snapshots.contains(id) else { continue }
                if let local = localTags.first(where: { $0.name == tagName }) {
                    if local.snapshotID != id { conflicts.append(tagName) }
                    continue
                }
                try tx.setTag(tagName, to: id, author: entry.author, force: false)
                added.append(tagName)
            }
            return try bundle.merge(into: tx)
        }
        (report.tagsAdded, report.tagConflicts, report.merged) = (added, conflicts, merged)
    }
}
