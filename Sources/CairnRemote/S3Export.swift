import CairnRepository
import CairnStore
import CairnSupport
import CairnVersioning
import Foundation

/// Exports written to S3 instead of a directory: WebDataset shards that distributed training jobs
/// read straight from object storage.
public enum S3Export {
    /// Writes snapshot `ref` of `versioning` as WebDataset shards under `url` (`s3://BUCKET/PREFIX`):
    /// the shards are made in the repository's staging directory, uploaded (large ones in parts read
    /// from disk), then `classes.txt`, `_info.json` and last `manifest.json`, so a reader that finds
    /// the manifest finds every shard it names. The staged files are removed either way.
    public static func webDataset(_ versioning: Versioning, ref: String, to url: String, endpoint: String?, region: String?,
                                  pathStyle: Bool, shardSize: Int, credentials: AWSCredentials? = nil, parallelism: Int = 8,
                                  progress: @escaping @Sendable (TransferProgress) -> Void = { _ in }) async throws -> WebDataset.Manifest {
        let settings = RepositoryConfig.RemoteSettings(url: url, endpoint: endpoint, region: region, pathStyle: pathStyle)
        let objects = try Remote.objectStore(settings, credentials: credentials, parallelism: parallelism)
        let staging = versioning.repository.store.tmpDir + "/webdataset-" + FileOps.uniqueName()
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let manifest = try versioning.exportWebDataset(ref, to: staging, shardSize: shardSize) { done, total in
            progress(TransferProgress(phase: "writing shards", done: done, total: total, bytes: 0))
        }
        let files = manifest.shards.map(\.name) + ["classes.txt", "_info.json"]
        let total = manifest.shards.reduce(Int64(0)) { $0 + $1.bytes }
        var sent: Int64 = 0, done = 0
        try await Parallel.forEach(files, width: max(1, parallelism / 2), { name in
            try await objects.putFile(name, path: staging + "/" + name)
            return (try? FileManager.default.attributesOfItem(atPath: staging + "/" + name)[.size] as? Int64) ?? 0
        }) { (_: String, bytes: Int64) in
            sent += bytes
            done += 1
            progress(TransferProgress(phase: "uploading", done: done, total: files.count + 1, bytes: min(sent, total)))
        }
        try await objects.putFile("manifest.json", path: staging + "/manifest.json")
        progress(TransferProgress(phase: "uploading", done: files.count + 1, total: files.count + 1, bytes: total))
        return manifest
    }
}
