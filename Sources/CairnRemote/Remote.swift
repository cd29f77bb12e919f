import CairnCatalog
import CairnVersioning
import CairnRepository
import CairnStore
import Foundation

/// What went wrong with a remote (transport and S3 errors are `S3Error`; unknown remote names
/// and bad ones are `RepositoryError`, where remotes are configured).
public enum RemoteError: Error, Sendable, CustomStringConvertible {
    case noRemote
    case notACairnRemote(String)
    case newerFormat(String, version: Int)
    case tagConflict(tag: String, remote: String, local: String)
    case badTarget(String)

    public var description: String {
        switch self {
        case .noRemote: "this repository has no remote; add one with `cairn remote add origin s3://BUCKET/PREFIX`"
        case .notACairnRemote(let url): "\(url) holds no Cairn data (no cairn-remote.json); push to it first"
        case .newerFormat(let url, let version):
            "\(url) was written by a newer cairn (remote format \(version), this cairn reads \(Remote.formatVersion)); upgrade cairn"
        case .tagConflict(let tag, let remote, let local):
            "tag \(tag) names \(remote.prefix(12)) on the remote but \(local.prefix(12)) here; `cairn push --force` moves the remote's tag"
        case .badTarget(let reason): reason
        }
    }
}

/// Progress of a push or pull: the phase, objects and bytes so far.
public struct TransferProgress: Sendable {
    public var phase: String
    public var done: Int
    public var total: Int
    public var bytes: Int64
}

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
    public var requests = 0
    public var retries = 0
    public var seconds = 0.0
}

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
    public var tagsAdded: [String] = []
    /// Tags that name a different snapshot here than on the remote (kept as they are here).
    public var tagConflicts: [String] = []
    public var merged = CatalogBundle.MergeCounts()
    public var requests = 0
    public var retries = 0
    public var seconds = 0.0
}

/// A repository's view of one remote: push, pull and the bookkeeping that makes both resumable.
///
/// Remote layout (Docs/FORMAT.md, "Remotes"):
/// ```
/// PREFIX/cairn-remote.json      {"format": 1, "instance": UUID}
/// PREFIX/packs/<sha>.pack, .idx  blobs and tree objects up to 1 MiB, many to a pack (the local pack format)
/// PREFIX/objects/<id>           a larger blob, its exact bytes
/// PREFIX/snapshots/<id>         a snapshot's description; written only once every object it reaches is there
/// PREFIX/tags.json              {"tags": {NAME: {"snapshot", "createdAt", "author"}}}
/// PREFIX/catalog.json           the catalog bundle (CatalogBundle)
/// ```
public final class Remote: Sendable {
    public static let formatVersion = 1

    public let name: String
    public let repository: Repository
    public let store: S3BlobStore
    public var client: S3Client { store.client }
    private var tree: SnapshotTree { SnapshotTree(store: repository.store) }

    /// The remote `name` (default: `origin`, or the only one) of `repository`.
    public init(repository: Repository, name: String?, credentials: AWSCredentials? = nil, parallelism: Int = 16,
                retry: RetryPolicy = RetryPolicy()) throws {
        let remotes = repository.config.remotes
        let chosen: String
        if let name {
            chosen = name
        } else if remotes["origin"] != nil {
            chosen = "origin"
        } else if remotes.count == 1 {
            chosen = remotes.keys.first!
        } else {
            if remotes.isEmpty { throw RemoteError.noRemote }
            throw RepositoryError.unknownRemote("origin", known: remotes.keys.sorted())
        }
        guard let settings = remotes[chosen] else { throw RepositoryError.unknownRemote(chosen, known: remotes.keys.sorted()) }
        self.name = chosen
        self.repository = repository
        self.store = S3BlobStore(client: try Self.client(settings, credentials: credentials, parallelism: parallelism, retry: retry))
    }

    /// An S3 client for `settings` with credentials from the standard places unless given.
    public static func client(_ settings: RepositoryConfig.RemoteSettings, credentials: AWSCredentials? = nil, parallelism: Int = 16,
                              retry: RetryPolicy = RetryPolicy()) throws -> S3Client {
        let env = ProcessInfo.processInfo.environment
        let region = settings.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let location = try S3Location(url: settings.url, endpoint: settings.endpoint, region: region, pathStyle: settings.pathStyle ?? false)
        return S3Client(location: location, credentials: try credentials ?? AWSCredentials.standard(), parallelism: parallelism, retry: retry)
    }

    // MARK: Local bookkeeping (.cairn/remotes/NAME.*: `RemoteRecord`, the upload journal)

    typealias State = RemoteRecord

    private var journalPath: String { repository.uploadJournalPath(remote: name) }

    private func loadState() -> State? { repository.remoteRecord(name) }

    private func saveState(_ state: State) throws { try repository.saveRemoteRecord(state, remote: name) }

    /// Ids uploaded by pushes that did not finish: each was stored on the remote whole.
    private func journal() -> Set<BlobID> {
        guard let data = FileManager.default.contents(atPath: journalPath) else { return [] }
        var out = Set<BlobID>()
        data.withUnsafeBytes { raw in
            for start in stride(from: 0, to: raw.count - 31, by: 32) {
                if let id = BlobID(rawBytes: UnsafeRawBufferPointer(rebasing: raw[start..<start + 32])) { out.insert(id) }
            }
        }
        return out
    }

    // MARK: Remote metadata

    struct Meta: Codable {
        var format: Int
        var instance: String
    }

    struct TagEntry: Codable, Equatable {
        var snapshot: String
        var createdAt: Double
        var author: String
    }

    struct Tags: Codable, Equatable {
        var tags: [String: TagEntry] = [:]
    }

    /// The remote's identity; created on first push.
    private func meta(create: Bool) async throws -> Meta {
        if let data = try await client.getIfPresent("cairn-remote.json") {
            guard let meta = try? JSONDecoder().decode(Meta.self, from: data) else {
                throw S3Error.badResponse(operation: "read \(client.location.key("cairn-remote.json"))", reason: "not a Cairn remote description")
            }
            if meta.format > Self.formatVersion { throw RemoteError.newerFormat(client.location.url, version: meta.format) }
            return meta
        }
        guard create else { throw RemoteError.notACairnRemote(client.location.url) }
        _ = try await client.list(prefix: "cairn-remote.json")  // NoSuchBucket surfaces here, before anything is written
        let meta = Meta(format: Self.formatVersion, instance: UUID().uuidString)
        try await client.put("cairn-remote.json", try JSONEncoder().encode(meta))
        return meta
    }

    private func remoteSnapshots() async throws -> Set<BlobID> {
        Set(try await client.list(prefix: "snapshots/").compactMap { BlobID(hex: $0.key.dropFirst("snapshots/".count)) })
    }

    private func remoteTags() async throws -> Tags { try await remoteTagsAndETag().tags }

    /// tags.json and its ETag (nil when absent), for a conditional rewrite.
    func remoteTagsAndETag() async throws -> (tags: Tags, etag: String?) {
        guard let (data, etag) = try await client.getWithETag("tags.json") else { return (Tags(), nil) }
        guard let tags = try? JSONDecoder().decode(Tags.self, from: data) else {
            throw S3Error.badResponse(operation: "read tags.json", reason: "not a tag list")
        }
        return (tags, etag)
    }

    private func remoteBundle() async throws -> CatalogBundle { try await remoteBundleAndETag().bundle }

    /// catalog.json and its ETag (nil when absent), for a conditional rewrite.
    private func remoteBundleAndETag() async throws -> (bundle: CatalogBundle, etag: String?) {
        guard let (data, etag) = try await client.getWithETag("catalog.json") else { return (CatalogBundle(), nil) }
        guard let bundle = try? JSONDecoder().decode(CatalogBundle.self, from: data) else {
            throw S3Error.badResponse(operation: "read catalog.json", reason: "not a catalog bundle")
        }
        if bundle.format > CatalogBundle.formatVersion { throw RemoteError.newerFormat(client.location.url, version: bundle.format) }
        return (bundle, etag)
    }

    /// Reads `name`, lets `update` merge into it, and writes the result only if the object is
    /// still the version read; when another writer got there first, reads and merges again.
    /// Two repositories pushing at once then both keep what they added.
    func readMergeWrite<Value: Equatable>(
        _ name: String, read: () async throws -> (Value, String?), update: (inout Value) throws -> Void, encode: (Value) throws -> Data
    ) async throws -> (written: Bool, etag: String?) {
        var attempt = 0
        while true {
            attempt += 1
            let (original, etag) = try await read()
            var value = original
            try update(&value)
            if value == original && etag != nil { return (false, etag) }
            do {
                return (true, try await client.put(name, try encode(value), ifStill: etag))
            } catch S3Error.changedMeanwhile where attempt < 8 {
                try await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.01...0.1) * Double(attempt) * 1e9))
            }
        }
    }

    /// Every tree object and blob under the snapshots in `roots` that this repository holds the trees of.
    private func objectsUnder(_ roots: Set<BlobID>) throws -> (nodes: Set<BlobID>, blobs: Set<BlobID>) {
        var nodes = Set<BlobID>(), blobs = Set<BlobID>()
        let tree = self.tree
        for root in roots where try repository.store.contains(root) {
            nodes.insert(root)
            guard let top = try tree.root(root).items else { continue }
            try tree.forEachObject(under: top, visit: { nodes.insert($0).inserted }, items: { blobs.insert($0.blobID) })
        }
        return (nodes, blobs)
    }

    // MARK: Push

    /// Uploads what `refs` (default: every tag) need that the remote lacks, then their tags, then the
    /// catalog bundle: a remote never names an object it does not hold.
    /// Small objects go in packs of about `packSize` bytes (default: an even share of the push
    /// across the parallel requests, 1 to 8 MiB).
    public func push(refs: [String], force: Bool = false, packSize: Int? = nil, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) throws -> PushReport {
        let started = Date()
        let versioning = Versioning(repository: repository)
        let localTags = try repository.catalog.read { try $0.tags() }
        var targets: [(tag: String?, row: SnapshotRow)] = refs.isEmpty
            ? try localTags.map { ($0.name, try versioning.resolve($0.name)) }
            : try refs.map { ref in (localTags.contains { $0.name == ref } ? ref : nil, try versioning.resolve(ref)) }
        // With no refs, HEAD goes too when no tag names it: untagged work is not left behind.
        if refs.isEmpty, let head = try? versioning.resolve("HEAD"), !targets.contains(where: { $0.row.id == head.id }) {
            targets.append((nil, head))
        }
        if targets.isEmpty { throw RemoteError.badTarget("nothing to push: there are no snapshots yet; make one with `cairn snapshot -m MESSAGE`") }
        let chosen = targets
        var report = try blocking { [self] in
            try await self.push(targets: chosen, localTags: localTags, force: force, packSize: packSize, progress: progress)
        }
        (report.requests, report.retries) = client.requestCount
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private func push(targets: [(tag: String?, row: SnapshotRow)], localTags: [TagRow], force: Bool, packSize: Int?,
                      progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> PushReport {
        var report = PushReport(remote: name, url: client.location.url)
        let meta = try await self.meta(create: true)
        var state = self.loadState() ?? State(instance: meta.instance)
        if state.instance != meta.instance {
            state = State(instance: meta.instance)
            try? FileOps.remove(self.journalPath)
        }
        let before = try await self.remoteSnapshots()
        let wanted = Dictionary(targets.map { ($0.row.id, $0.row) }, uniquingKeysWith: { a, _ in a })
        let newSnapshots = wanted.values.filter { !before.contains($0.id) }.sorted { $0.createdAt < $1.createdAt }
        let runs = try self.repository.catalog.read { try $0.runs() }

        // 1. Objects: walk each new snapshot, pruning subtrees the remote's complete snapshots hold.
        let (complete, heldBlobs) = try self.objectsUnder(before)
        var completeBlobs = heldBlobs
        let uploaded = self.journal()
        // Tree objects first, then images, then checkpoints: a pull reads trees level by level and
        // finds a level's objects side by side in the packs.
        var missingTrees: [BlobID] = [], missingBlobs: [BlobID] = []
        var queued = Set<BlobID>()
        var newItems = Set<BlobID>()  // every image of the new snapshots outside subtrees the remote holds
        func want(_ id: BlobID, tree: Bool) {
            if !completeBlobs.contains(id) && !complete.contains(id) && !uploaded.contains(id) && queued.insert(id).inserted {
                if tree { missingTrees.append(id) } else { missingBlobs.append(id) }
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
                newItems.insert(item.blobID)
            })
        }
        let onRemote = before.union(newSnapshots.map(\.id))
        let heldExtras = Set((state.held ?? []).compactMap { BlobID(hex: $0) })
        var extras: [BlobID] = []
        for run in runs where onRemote.contains(run.snapshotID) {
            if let checkpoint = run.checkpointID, !heldExtras.contains(checkpoint) {
                want(checkpoint, tree: false)
                extras.append(checkpoint)
            }
        }
        try await self.upload(missingTrees + missingBlobs, packSize: packSize, report: &report, progress: progress)
        state.held = heldExtras.union(extras).map(\.hex).sorted()

        // 2. Snapshot markers, oldest first: each says "everything I reach is here".
        for snapshot in newSnapshots {
            try await self.client.put("snapshots/\(snapshot.id.hex)", try JSONEncoder().encode(snapshot))
            report.snapshots.append(snapshot.id.hex)
        }
        completeBlobs.formUnion(newItems)

        // 3. Tags.
        _ = try await readMergeWrite("tags.json", read: { try await self.remoteTagsAndETag() }, update: { tags in
            report.tagsUpdated = []
            for target in targets {
                guard let tagName = target.tag, let local = localTags.first(where: { $0.name == tagName }) else { continue }
                if let existing = tags.tags[tagName], existing.snapshot != local.snapshotID.hex, !force {
                    throw RemoteError.tagConflict(tag: tagName, remote: existing.snapshot, local: local.snapshotID.hex)
                }
                if tags.tags[tagName]?.snapshot != local.snapshotID.hex {
                    tags.tags[tagName] = TagEntry(snapshot: local.snapshotID.hex, createdAt: local.createdAt.timeIntervalSince1970,
                                                  author: local.author)
                    report.tagsUpdated.append(tagName)
                }
            }
        }, encode: { try JSONEncoder.sorted.encode($0) })

        // 4. The catalog bundle, merged with what the remote has.
        let fingerprint = try self.repository.catalog.read { try $0.bundleFingerprint() } + ";" + onRemote.map(\.hex).sorted().joined()
        let etag = try await self.client.etag("catalog.json")
        if state.fingerprint != fingerprint || etag == nil || state.bundleETag != etag {
            let local = try self.repository.catalog.read {
                try CatalogBundle.export($0, items: completeBlobs, snapshots: onRemote)
            }
            let (written, newETag) = try await readMergeWrite("catalog.json", read: { try await self.remoteBundleAndETag() },
                                                              update: { $0 = $0.merging(local) },
                                                              encode: { try JSONEncoder.sorted.encode($0) })
            report.catalogUpdated = written
            state.fingerprint = fingerprint
            state.bundleETag = newETag
        }
        state.snapshots = onRemote.map(\.hex).sorted()
        try self.saveState(state)
        try? FileOps.remove(self.journalPath)
        return report
    }

    /// Uploads `ids` from the local store in parallel, journaling each one the remote acknowledged.
    /// Small objects go in packs, in the order given (so a pull reading them in that order merges
    /// neighbours into one range request); objects above `S3BlobStore.looseThreshold` go alone.
    private func upload(_ ids: [BlobID], packSize: Int?, report: inout PushReport, progress: @Sendable (TransferProgress) -> Void) async throws {
        if ids.isEmpty { return }
        try FileOps.makeDirectory(repository.remotesDirectory)
        let journal = try POSIXFile(path: journalPath, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
        let local = repository.store
        let sizes = try ids.map { Int(try local.size(of: $0)) }
        let smallBytes = sizes.filter { $0 <= S3BlobStore.looseThreshold }.reduce(0, +)
        // Packs no bigger than an even share of the work, so small pushes still run in parallel.
        let target = packSize ?? max(1 << 20, min(S3BlobStore.packTarget, smallBytes / client.parallelism + 1))
        // A batch is one pack of small objects, or one large object on its own.
        var batches: [(ids: [BlobID], loose: Bool)] = []
        var pack: [BlobID] = [], packBytes = 0
        for (id, size) in zip(ids, sizes) {
            if size > S3BlobStore.looseThreshold {
                batches.append(([id], true))
                continue
            }
            pack.append(id)
            packBytes += size
            if packBytes >= target {
                batches.append((pack, false))
                (pack, packBytes) = ([], 0)
            }
        }
        if !pack.isEmpty { batches.append((pack, false)) }

        let store = self.store
        var done = 0, bytes: Int64 = 0
        var raw = [UInt8](repeating: 0, count: 32)
        try await store.forEachConcurrently(batches, { batch in
            if batch.loose, let id = batch.ids.first {
                let data = try local.get(id)
                try await store.client.put(S3BlobStore.key(id), data)
                return Int64(data.count)
            }
            return Int64(try await store.putPack(try batch.ids.map { HashedBlob(try local.get($0)) }))
        }, done: { batch, size in
            var record = Data(capacity: batch.ids.count * 32)
            for id in batch.ids {
                raw.withUnsafeMutableBytes { id.writeRaw(to: $0.baseAddress!) }
                record.append(contentsOf: raw)
            }
            try journal.writeAll(record)
            done += batch.ids.count
            bytes += size
            progress(TransferProgress(phase: "upload", done: done, total: ids.count, bytes: bytes))
        })
        report.objectsUploaded += done
        report.bytesUploaded += bytes
    }

    // MARK: Pull

    /// Fetches the remote's snapshot trees, the blobs of `refs` (default: every remote tag) that
    /// pass the filters, and merges tags and the catalog bundle. Resumable: what is already here is
    /// never fetched again.
    public func pull(refs: [String], splits: Set<Split> = [], classes: Set<String> = [],
                     progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) throws -> PullReport {
        let started = Date()
        var report = try repository.withLock(exclusive: false) {
            try blocking { [self] in try await self.pull(refs: refs, splits: splits, classes: classes, progress: progress) }
        }
        (report.requests, report.retries) = client.requestCount
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private func pull(refs: [String], splits: Set<Split>, classes: Set<String>,
                      progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> PullReport {
        var report = PullReport(remote: name, url: client.location.url)
        let meta = try await self.meta(create: false)
        let snapshotIDs = try await self.remoteSnapshots()
        try await self.store.loadPackIndexes()
        let tags = try await self.remoteTags()
        let bundle = try await self.remoteBundle()

        // 1. Trees of every remote snapshot: descriptions, then objects level by level.
        let known = Set(try self.repository.catalog.read { try $0.allSnapshots() }.map(\.id))
        var rows: [SnapshotRow] = []
        try await self.store.forEachConcurrently(Array(snapshotIDs.subtracting(known)), { id in
            try JSONDecoder().decode(SnapshotRow.self, from: try await self.client.get("snapshots/\(id.hex)"))
        }, done: { id, row in
            guard row.id == id else { throw S3Error.badResponse(operation: "read snapshots/\(id.hex)", reason: "it describes \(row.id)") }
            rows.append(row)
        })
        report.treeObjects = try await self.fetchTrees(Array(snapshotIDs), progress: progress)
        try self.repository.store.flush()  // an interrupted pull keeps the trees (and, below, every 2,048 images)

        // 2. Blobs of the chosen refs.
        var targets: [BlobID] = []
        if refs.isEmpty {
            targets = tags.tags.values.compactMap { BlobID(hex: $0.snapshot) }
            if targets.isEmpty { targets = Array(snapshotIDs) }
        } else {
            for ref in refs {
                if let tag = tags.tags[ref], let id = BlobID(hex: tag.snapshot) {
                    targets.append(id)
                } else if let id = snapshotIDs.first(where: { $0.hex.hasPrefix(ref.lowercased()) }), ref.count >= 4 {
                    targets.append(id)
                } else {
                    throw RemoteError.badTarget("the remote has no tag or snapshot '\(ref)' (tags there: \(tags.tags.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        var blobs: [BlobID] = []
        var seen = Set<BlobID>()
        let tree = self.tree
        for target in Set(targets) {
            try tree.forEachItem(under: try tree.root(target).items) { item in
                guard seen.insert(item.blobID).inserted else { return }
                let selected = (splits.isEmpty || splits.contains(item.split)) && (classes.isEmpty || item.label?.classes.contains(where: classes.contains) == true)
                if !selected { report.blobsLeftOnRemote += 1; return }
                if try !self.repository.store.contains(item.blobID) { blobs.append(item.blobID) }
            }
        }
        for run in bundle.runs where snapshotIDs.contains(where: { $0.hex == run.snapshot }) {
            if let checkpoint = run.checkpoint.flatMap({ BlobID(hex: $0) }), try !self.repository.store.contains(checkpoint) {
                blobs.append(checkpoint)
            }
        }
        (report.blobs, report.bytes) = try await self.fetch(blobs, phase: "download", progress: progress)
        try self.repository.store.flush()

        // 3. Catalog: snapshot descriptions (oldest first), tags, then the bundle.
        let localTags = try self.repository.catalog.read { try $0.tags() }
        try self.repository.catalog.write { tx in
            let hadHead = try tx.headSnapshot() != nil
            for row in (rows + bundle.snapshots).sorted(by: { $0.createdAt < $1.createdAt }) where snapshotIDs.contains(row.id) {
                try tx.importSnapshot(row)
            }
            if !hadHead, let latest = rows.max(by: { $0.createdAt < $1.createdAt }) { try tx.setHead(latest.id) }
            for (tagName, entry) in tags.tags.sorted(by: { $0.key < $1.key }) {
                guard let id = BlobID(hex: entry.snapshot), snapshotIDs.contains(id) else { continue }
                if let local = localTags.first(where: { $0.name == tagName }) {
                    if local.snapshotID != id { report.tagConflicts.append(tagName) }
                    continue
                }
                try tx.setTag(tagName, to: id, author: entry.author, force: false)
                report.tagsAdded.append(tagName)
            }
            report.merged = try bundle.merge(into: tx)
        }
        var state = self.loadState() ?? State(instance: meta.instance)
        if state.instance != meta.instance { state = State(instance: meta.instance) }  // another remote at this URL now
        state.snapshots = snapshotIDs.map(\.hex).sorted()
        // The bundle names only checkpoints the remote holds (push writes them before the bundle).
        state.held = Set(state.held ?? []).union(bundle.runs.compactMap(\.checkpoint)).sorted()
        try self.saveState(state)
        report.snapshots = rows.map(\.id.hex)
        return report
    }

    /// Fetches every tree object under `roots` that is not here, level by level (a level's objects
    /// in parallel). Objects already here are read locally to find their children, so an
    /// interrupted pull that stored a parent but not its children completes them.
    private func fetchTrees(_ roots: [BlobID], progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> Int {
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
            let (count, _) = try await fetch(absent, phase: "trees", progress: progress) { blob in
                try children(blob.id, blob.data, isRoot: isRoot[blob.id] ?? false)
            }
            fetched += count
            level = next
        }
        return fetched
    }

    /// Downloads `ids` in parallel, verifies each against its id and stores it; a mismatch stops
    /// the pull with `StoreError.corrupt` naming the remote object, and nothing of it is stored.
    private func fetch(_ ids: [BlobID], phase: String, progress: @Sendable (TransferProgress) -> Void,
                       then: (HashedBlob) throws -> Void = { _ in }) async throws -> (Int, Int64) {
        let local = repository.store
        var done = 0, bytes: Int64 = 0
        try await store.fetch(ids) { blob in
            try local.put(blob)
            try then(blob)
            done += 1
            bytes += Int64(blob.data.count)
            if done % 2048 == 0 { try local.flush() }
            progress(TransferProgress(phase: phase, done: done, total: ids.count, bytes: bytes))
        }
        return (done, bytes)
    }

    // MARK: Repair

    /// What `repair` did.
    public struct RepairReport: Sendable, Encodable {
        public var remote: String
        /// Ids put back from the remote.
        public var repaired: [String] = []
        /// Ids still corrupt or missing: not on the remote, or in a local pack with another bad
        /// record the remote lacks.
        public var unrepaired: [String] = []
        /// The check after the last repair.
        public var fsck: FsckReport
    }

    /// Puts back what `report` (an fsck) finds corrupt or missing, from good copies on the remote,
    /// each verified against its id (`FileBlobStore.repair` writes them). Then runs `check` again,
    /// and repeats while it finds damage not tried yet: a restored tree object can reveal more of
    /// its snapshot.
    public func repair(_ report: FsckReport, check: () throws -> FsckReport) throws -> RepairReport {
        var result = RepairReport(remote: name, fsck: report)
        var tried = Set<String>()
        while case let damaged = result.fsck.corrupt + result.fsck.missing, !Set(damaged).isSubset(of: tried) {
            tried.formUnion(damaged)
            result.repaired += try repair(damaged.compactMap { BlobID(hex: $0) }).map(\.hex)
            result.fsck = try check()
        }
        result.unrepaired = Set(result.fsck.corrupt + result.fsck.missing).sorted()
        return result
    }

    /// One round: fetches the copies the remote holds and puts them back; returns the ids put back.
    private func repair(_ ids: [BlobID]) throws -> [BlobID] {
        let copies = try blocking { [self] in
            try await self.store.loadPackIndexes()
            let held = try await self.store.holding(ids)
            var copies: [HashedBlob] = []
            try await self.store.fetch(ids.filter(held.contains)) { copies.append($0) }
            return copies
        }
        // Exclusive, as for gc: it may delete packs.
        let left = Set(try repository.withLock(exclusive: true) { try repository.store.repair(copies) })
        return copies.map(\.id).filter { !left.contains($0) }.sorted()
    }

    // MARK: Clone

    /// Makes a repository at `directory` (which must not hold one) from the remote at `settings`,
    /// names the remote `origin`, and pulls into it. A failed clone removes what it created.
    public static func clone(_ settings: RepositoryConfig.RemoteSettings, into directory: String, refs: [String] = [],
                             splits: Set<Split> = [], classes: Set<String> = [], credentials: AWSCredentials? = nil,
                             parallelism: Int = 16, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) throws
        -> (Repository, PullReport)
    {
        let root = Repository.absolute(directory)
        if FileManager.default.fileExists(atPath: root + "/" + Repository.directoryName) {
            throw RepositoryError.alreadyInitialized(path: root)
        }
        let existed = FileManager.default.fileExists(atPath: root)
        if existed, let entries = try? FileManager.default.contentsOfDirectory(atPath: root), !entries.isEmpty {
            throw RemoteError.badTarget("\(root) exists and is not empty; clone into a new directory")
        }
        _ = try client(settings, credentials: credentials, parallelism: parallelism)  // check the URL and credentials first
        do {
            var config = RepositoryConfig()
            config.remotes["origin"] = settings
            _ = try Repository.initialize(at: root, config: config)
            let repository = try Repository(root: root)
            let remote = try Remote(repository: repository, name: "origin", credentials: credentials, parallelism: parallelism)
            let report = try remote.pull(refs: refs, splits: splits, classes: classes, progress: progress)
            return (repository, report)
        } catch {
            try? FileManager.default.removeItem(atPath: existed ? root + "/" + Repository.directoryName : root)
            throw error
        }
    }
}
