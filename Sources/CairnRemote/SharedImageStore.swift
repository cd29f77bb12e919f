import CairnRepository
import CairnStore
import Dispatch
import Foundation
import Synchronization

/// A team's shared image store: a remote (S3 or a directory, in the remote layout) that holds every
/// object a team repository's catalog names, with each machine's `.cairn` store as a cache of it
/// (`[store] shared = "REMOTE"`, set by `cairn remote add NAME URL --image-store`).
///
/// Objects go up when the local store flushes, before the catalog records them, so another machine
/// never reads an id it cannot fetch; they come down one at a time when a reader misses them
/// locally, verified against their ids like every pull. The remote is reached on first use only.
public final class SharedImageStore: BlobUpstream {
    public let settings: RepositoryConfig.RemoteSettings
    private let opened = Mutex<RemoteBlobStore?>(nil)

    public var location: String { settings.url }

    public init(settings: RepositoryConfig.RemoteSettings) {
        self.settings = settings
    }

    /// Makes repositories whose config names a shared store use this type (called by `cairn`'s main).
    public static func register() {
        SharedStores.register { SharedImageStore(settings: $0) }
    }

    private func remote() throws -> RemoteBlobStore {
        try opened.withLock { opened in
            if let opened { return opened }
            let store = RemoteBlobStore(objects: try Remote.objectStore(settings))
            opened = store
            return store
        }
    }

    public func publish(_ ids: [BlobID], from store: FileBlobStore) throws {
        let remote = try remote()
        try Self.wait {
            try await remote.loadPackIndexes()
            // Small objects are only ever packed, so the indexes say whether the remote has them;
            // a large one is asked for by name.
            let packed = remote.packed(ids)
            let large = try ids.filter { id in try !packed.contains(id) && store.size(of: id) > RemoteBlobStore.looseThreshold }
            let heldLarge = try await remote.holding(large)
            let wanted = ids.filter { !packed.contains($0) && !heldLarge.contains($0) }
            try await remote.upload(wanted, from: store) { _, _ in }
        }
    }

    public func fetch(_ ids: [BlobID], into store: FileBlobStore) throws -> Set<BlobID> {
        let remote = try remote()
        let got = try Self.wait { () async throws -> Set<BlobID> in
            var got = Set<BlobID>()
            // The remote is listed only when the packs known here lack an id (it may be in a pack
            // written since, or loose): a machine reading what it has seen lists nothing.
            if remote.packed(ids).count < ids.count { try await remote.loadPackIndexes() }
            let held = try await remote.holding(ids)
            try await remote.fetch(ids.filter(held.contains), staging: store.tmpDir) { fetched in
                switch fetched {
                // One image read alone (the labeling UI's) stays a file of its own; a batch is one pack.
                case .bytes(let blob): try store.cache(blob, loose: ids.count == 1)
                case .file(let id, let path, _): try store.adoptStaged(path, id: id, publish: false)
                }
                got.insert(fetched.id)
            }
            return got
        }
        try store.flushLocally()
        return got
    }

    public func holding(_ ids: [BlobID]) throws -> Set<BlobID> {
        let remote = try remote()
        return try Self.wait {
            try await remote.loadPackIndexes()
            return try await remote.holding(ids)
        }
    }

    public func erase(_ ids: Set<BlobID>) throws -> (objects: Int, bytes: Int64) {
        let remote = try remote()
        return try Self.wait {
            try await remote.loadPackIndexes()
            return try await remote.erase(ids)
        }
    }

    /// Runs `work` to completion and returns its result, blocking the calling thread (the store's
    /// callers are synchronous). The work runs on threads of its own (`BridgeExecutor`), never on
    /// the cooperative pool the caller may be blocking a thread of: a test runner or a server calling
    /// the store from tasks would otherwise hold every pool thread while the work waits for one.
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: BridgeExecutor.shared) {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}

/// Runs tasks on a dispatch queue of its own, whose threads are not the cooperative pool's.
final class BridgeExecutor: TaskExecutor {
    static let shared = BridgeExecutor()
    private let queue = DispatchQueue(label: "cairn.shared-store", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
