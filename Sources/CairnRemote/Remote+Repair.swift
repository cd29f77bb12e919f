import CairnCatalog
import CairnRepository
import CairnStore
import CairnVersioning
import Foundation

extension Remote {
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
    public func repair(_ report: FsckReport, check: () throws -> FsckReport) async throws -> RepairReport {
        var result = RepairReport(remote: name, fsck: report)
        var tried = Set<String>()
        while case let damaged = result.fsck.corrupt + result.fsck.missing, !Set(damaged).isSubset(of: tried) {
            tried.formUnion(damaged)
            result.repaired += try await repair(damaged.compactMap { BlobID(hex: $0) }).map(\.hex)
            result.fsck = try check()
        }
        result.unrepaired = Set(result.fsck.corrupt + result.fsck.missing).sorted()
        return result
    }

    /// One round: fetches the copies the remote holds and puts them back; returns the ids put back.
    private func repair(_ ids: [BlobID]) async throws -> [BlobID] {
        try await store.loadPackIndexes()
        let held = try await store.holding(ids)
        var copies: [HashedBlob] = []
        try await store.fetch(ids.filter(held.contains), staging: repository.store.tmpDir) { fetched in
            copies.append(HashedBlob(try fetched.data()))
            if case .file(_, let path, _) = fetched { try FileOps.remove(path) }
        }
        // Exclusive, as for gc: it may delete packs.
        let left = Set(try repository.withLock(exclusive: true) { try repository.store.repair(copies) })
        return copies.map(\.id).filter { !left.contains($0) }.sorted()
    }

    /// Makes a repository at `directory` (which must not hold one) from the remote at `settings`,
    /// names the remote `origin`, and pulls into it. A failed clone removes what it created.
    public static func clone(_ settings: RepositoryConfig.RemoteSettings, into directory: String, refs: [String] = [],
                             splits: Set<Split> = [], classes: Set<String> = [], credentials: AWSCredentials? = nil,
                             parallelism: Int = 16, progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws
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
        _ = try objectStore(settings, credentials: credentials, parallelism: parallelism)  // check the URL and credentials first
        do {
            var config = RepositoryConfig()
            config.remotes["origin"] = settings
            _ = try Repository.initialize(at: root, config: config)
            let repository = try Repository(root: root)
            let remote = try Remote(repository: repository, name: "origin", credentials: credentials, parallelism: parallelism)
            let report = try await remote.pull(refs: refs, splits: splits, classes: classes, progress: progress)
            return (repository, report)
        } catch {
            try? FileManager.default.removeItem(atPath: existed ? root + "/" + Repository.directoryName : root)
            throw error
        }
    }
}
