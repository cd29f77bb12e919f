import CairnSupport
import CairnCatalog
import CairnVersioning
import CairnRepository
import CairnStore
import Foundation

/// What went wrong with a remote (transport and S3 errors are `S3Error`; unknown remote names
/// and bad ones are `RepositoryError`, where remotes are configured).
public enum RemoteError: CairnError {
    case noRemote
    case notACairnRemote(String)
    case newerFormat(String, version: Int)
    case tagConflict(tag: String, remote: String, local: String)
    case badTarget(String)

    public var description: String {
        switch self {
        case .noRemote: "this repository has no remote; add one with `cairn remote add origin s3://BUCKET/PREFIX` (or file:///PATH)"
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
    public let store: RemoteBlobStore
    /// Where the remote's objects are (S3, or a directory).
    public var objects: any ObjectStore { store.objects }
    var tree: SnapshotTree { SnapshotTree(store: repository.store) }

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
        self.store = RemoteBlobStore(objects: try Self.objectStore(settings, credentials: credentials, parallelism: parallelism, retry: retry))
    }

    /// The object store `settings` names: a directory for `file:///PATH`, else an S3 client with
    /// credentials from the standard places unless given.
    public static func objectStore(_ settings: RepositoryConfig.RemoteSettings, credentials: AWSCredentials? = nil, parallelism: Int = 16,
                                   retry: RetryPolicy = RetryPolicy()) throws -> any ObjectStore {
        if settings.url.hasPrefix("file:") { return try DirectoryObjectStore(url: settings.url, parallelism: parallelism) }
        return try s3Client(settings, credentials: credentials, parallelism: parallelism, retry: retry)
    }

    /// Checks that `settings` name a remote this cairn can reach (the URL's form, not the remote).
    public static func validate(_ settings: RepositoryConfig.RemoteSettings) throws {
        if settings.url.hasPrefix("file:") {
            guard settings.endpoint == nil, settings.pathStyle == nil else {
                throw RemoteError.badTarget("--endpoint and --path-style are for s3:// remotes, not \(Printable.escaped(settings.url))")
            }
            _ = try DirectoryObjectStore(url: settings.url)
        } else if settings.url.hasPrefix("s3:") {
            _ = try S3Location(url: settings.url, endpoint: settings.endpoint)
        } else {
            throw ObjectStoreError.badURL(settings.url)
        }
    }

    /// An S3 client for `settings` with credentials from the standard places unless given.
    public static func s3Client(_ settings: RepositoryConfig.RemoteSettings, credentials: AWSCredentials? = nil, parallelism: Int = 16,
                                retry: RetryPolicy = RetryPolicy()) throws -> S3Client {
        let env = ProcessInfo.processInfo.environment
        let region = settings.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let location = try S3Location(url: settings.url, endpoint: settings.endpoint, region: region, pathStyle: settings.pathStyle ?? false)
        return S3Client(location: location, credentials: try credentials ?? AWSCredentials.standard(), parallelism: parallelism, retry: retry)
    }

    // MARK: Local bookkeeping (.cairn/remotes/NAME.*: `RemoteRecord`, the upload journal)

    typealias State = RemoteRecord

    var journalPath: String { repository.uploadJournalPath(remote: name) }

    func loadState() -> State? { repository.remoteRecord(name) }

    func saveState(_ state: State) throws { try repository.saveRemoteRecord(state, remote: name) }

    /// Ids uploaded by pushes that did not finish: each was stored on the remote whole.
    func journal() -> Set<BlobID> {
        guard let data = FileManager.default.contents(atPath: journalPath) else { return [] }
        var out = Set<BlobID>()
        data.withUnsafeBytes { raw in
            for start in stride(from: 0, to: raw.count - 31, by: 32) {
                if let id = BlobID(rawBytes: UnsafeRawBufferPointer(rebasing: raw[start..<start + 32])) { out.insert(id) }
            }
        }
        return out
    }

    // MARK: Remote metadata (each checked before use: `RemoteFiles`)

    /// Most bytes `catalog.json` may have: it grows with the labels (about 200 bytes a row), and a
    /// reply that runs longer is refused as it arrives.
    static let catalogLimit = 1 << 30

    /// The remote's identity; created on first push.
    func meta(create: Bool) async throws -> RemoteFiles.Meta {
        if let data = try await objects.getIfPresent("cairn-remote.json") {
            let meta = try RemoteFiles.meta(data)
            if meta.format > Self.formatVersion { throw RemoteError.newerFormat(objects.url, version: meta.format) }
            return meta
        }
        guard create else { throw RemoteError.notACairnRemote(objects.url) }
        _ = try await objects.list(prefix: "cairn-remote.json")  // NoSuchBucket surfaces here, before anything is written
        let meta = RemoteFiles.Meta(format: Self.formatVersion, instance: UUID().uuidString)
        try await objects.put("cairn-remote.json", try JSONEncoder().encode(meta))
        return meta
    }

    /// The snapshots the remote lists (each listed name a snapshot id; other names are ignored).
    func remoteSnapshots() async throws -> Set<BlobID> {
        Set(try await objects.list(prefix: "snapshots/").compactMap { BlobID(hex: $0.key.dropFirst("snapshots/".count)) })
    }

    /// tags.json (its valid tags, and those refused with why) and its ETag (nil when absent).
    func remoteTagsAndETag() async throws -> (tags: RemoteFiles.Tags, refused: [String: String], etag: String?) {
        guard let (data, etag) = try await objects.getWithETag("tags.json") else { return (RemoteFiles.Tags(), [:], nil) }
        let (tags, refused) = try RemoteFiles.tags(data)
        return (tags, refused, etag)
    }

    /// catalog.json and its ETag (nil when absent), for a conditional rewrite.
    func remoteBundleAndETag() async throws -> (bundle: CatalogBundle, etag: String?) {
        guard let (data, etag) = try await objects.getWithETag("catalog.json", limit: Self.catalogLimit) else { return (CatalogBundle(), nil) }
        let bundle: CatalogBundle
        do {
            bundle = try JSONDecoder().decode(CatalogBundle.self, from: data)
        } catch {
            throw RepositoryError.badRemoteFile(name: "catalog.json", reason: "not a catalog bundle")
        }
        if bundle.format > CatalogBundle.formatVersion { throw RemoteError.newerFormat(objects.url, version: bundle.format) }
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
                return (true, try await objects.put(name, try encode(value), ifStill: etag))
            } catch S3Error.changedMeanwhile where attempt < 8 {
                try await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.01...0.1) * Double(attempt) * 1e9))
            }
        }
    }

    /// Every tree object and blob under the snapshots in `roots` that this repository holds the trees of.
    func objectsUnder(_ roots: Set<BlobID>) throws -> (nodes: Set<BlobID>, blobs: Set<BlobID>) {
        var nodes = Set<BlobID>(), blobs = Set<BlobID>()
        let tree = self.tree
        for root in roots where try repository.store.contains(root) {
            nodes.insert(root)
            guard let top = try tree.root(root).items else { continue }
            try tree.forEachObject(under: top, visit: { nodes.insert($0).inserted }, items: { blobs.insert($0.blobID) })
        }
        return (nodes, blobs)
    }
}
