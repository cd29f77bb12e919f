import CairnStore
import Foundation

/// What a repository remembers about one remote, in `.cairn/remotes/NAME.json`: derived data that
/// makes pushes and pulls incremental, and that tells the rest of Cairn which snapshots a remote
/// holds completely (their images may be absent here on purpose, after a partial pull).
///
/// Deleting the file costs a re-upload or a re-check, nothing else.
public struct RemoteRecord: Sendable, Codable, Equatable {
    /// The remote's identity (`cairn-remote.json`); a different one means another remote at that URL.
    public var instance: String
    /// The catalog fingerprint and remote bundle ETag after the last push.
    public var fingerprint: String?
    public var bundleETag: String?
    /// Snapshots the remote held completely at the last push or pull.
    public var snapshots: [String]?
    /// Objects outside snapshot trees (run checkpoints) known to be on the remote.
    public var held: [String]?
    /// Purged images whose bytes a push has erased on the remote.
    public var purged: [String]?

    public init(instance: String) { self.instance = instance }
}

extension Repository {
    /// `.cairn/remotes`: one record and one upload journal per remote.
    public var remotesDirectory: String { cairnDirectory + "/remotes" }

    /// Where a push journals the objects the remote acknowledged (32-byte ids), so an interrupted
    /// push resumes.
    public func uploadJournalPath(remote name: String) -> String { remotesDirectory + "/\(name).uploaded" }

    /// What this repository remembers about remote `name`; nil when nothing (or nothing readable).
    public func remoteRecord(_ name: String) -> RemoteRecord? {
        FileManager.default.contents(atPath: remotesDirectory + "/\(name).json").flatMap { try? JSONDecoder().decode(RemoteRecord.self, from: $0) }
    }

    /// Replaces what this repository remembers about remote `name`.
    public func saveRemoteRecord(_ record: RemoteRecord, remote name: String) throws {
        try RepositoryConfig.validateRemoteName(name)
        try FileOps.makeDirectory(remotesDirectory)
        try FileOps.writeFile(try JSONEncoder().encode(record), to: remotesDirectory + "/\(name).json")
    }

    /// Forgets remote `name`: its `config.toml` table and its record and journal. Nothing on the
    /// remote is touched.
    /// - Throws: `RepositoryError.unknownRemote` when there is no such remote.
    public func removeRemote(_ name: String) throws {
        var config = self.config
        if config.sharedStore == name {
            throw RepositoryError.badConfig(path: configPath, reason: "remote \(name) holds this repository's images ([store] shared); it cannot be removed")
        }
        guard config.remotes.removeValue(forKey: name) != nil else {
            throw RepositoryError.unknownRemote(name, known: self.config.remotes.keys.sorted())
        }
        try config.save(path: configPath)
        for file in [remotesDirectory + "/\(name).json", uploadJournalPath(remote: name)] { try FileOps.remove(file) }
    }

    /// Adds remote `name` to `config.toml`.
    /// - Throws: `RepositoryError.badConfig` for an invalid name, `.remoteExists` when it is taken.
    /// With `imageStore`, the remote also becomes the store of the repository's images
    /// (`[store] shared`): it replaces the one named before, if any.
    public func addRemote(_ name: String, _ settings: RepositoryConfig.RemoteSettings, imageStore: Bool = false) throws {
        try RepositoryConfig.validateRemoteName(name)
        if config.remotes[name] != nil { throw RepositoryError.remoteExists(name) }
        var config = self.config
        config.remotes[name] = settings
        if imageStore { config.sharedStore = name }
        try config.save(path: configPath)
    }

    /// For each remote, the snapshots it held completely at the last push or pull.
    public func snapshotsHeldByRemotes() -> [String: Set<BlobID>] {
        var out: [String: Set<BlobID>] = [:]
        for name in config.remotes.keys {
            guard let record = remoteRecord(name) else { continue }
            out[name] = Set((record.snapshots ?? []).compactMap { BlobID(hex: $0) })
        }
        return out
    }
}
