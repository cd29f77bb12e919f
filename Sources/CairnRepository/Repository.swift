import CairnCatalog
import CairnStore
import Foundation
import Glibc

/// A dataset directory with its `.cairn/` state: the blob store, the catalog and the config.
///
/// ```swift
/// let repo = try Repository.initialize(at: "dataset")
/// let report = try Importer(repository: repo, options: .init(labelsFromDirectories: true))
///     .run(paths: ["dataset/images"])
/// ```
public final class Repository: Sendable {
    /// The dataset directory (the parent of `.cairn`).
    public let root: String
    /// The `.cairn` directory.
    public let cairnDirectory: String
    public let store: FileBlobStore
    public let catalog: Catalog
    public let config: RepositoryConfig

    /// Name of the state directory inside a dataset directory.
    public static let directoryName = ".cairn"

    /// Opens the repository whose root is `root`.
    public init(root: String) throws {
        let root = Self.absolute(root)
        let dir = root + "/" + Self.directoryName
        guard FileManager.default.fileExists(atPath: dir + "/catalog.sqlite") else {
            throw RepositoryError.notARepository(path: root)
        }
        self.root = root
        self.cairnDirectory = dir
        self.config = try RepositoryConfig.load(path: dir + "/config.toml")
        self.store = try FileBlobStore(root: dir)
        self.catalog = try Catalog(path: dir + "/catalog.sqlite")
    }

    /// Creates `.cairn/` in `root` (made if missing) and opens it.
    /// - Throws: `RepositoryError.alreadyInitialized` if one exists.
    @discardableResult
    public static func initialize(at root: String, config: RepositoryConfig = RepositoryConfig()) throws -> Repository {
        let root = absolute(root)
        let dir = root + "/" + directoryName
        if FileManager.default.fileExists(atPath: dir) { throw RepositoryError.alreadyInitialized(path: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileOps.makeDirectory(dir)
        try FileBlobStore.create(at: dir)
        try FileOps.makeDirectory(dir + "/cache")
        // Written with an explicit mode (Foundation's atomic write would make it 0666 under umask 000).
        let staged = dir + "/tmp/config.toml." + FileOps.uniqueName()
        let file = try POSIXFile(path: staged, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        try file.writeAll(Data(config.rendered().utf8))
        try file.sync()
        try FileOps.rename(staged, dir + "/config.toml")
        _ = try Catalog(path: dir + "/catalog.sqlite")
        return try Repository(root: root)
    }

    /// Finds the repository containing `path` (or the current directory), like git does.
    public static func discover(from path: String = FileManager.default.currentDirectoryPath) throws -> Repository {
        var dir = absolute(path)
        while true {
            if FileManager.default.fileExists(atPath: dir + "/" + directoryName + "/catalog.sqlite") {
                return try Repository(root: dir)
            }
            if dir == "/" || dir.isEmpty { throw RepositoryError.notARepository(path: absolute(path)) }
            dir = (dir as NSString).deletingLastPathComponent
        }
    }

    /// `path` made absolute against the current directory and standardized (no `.` or `..`).
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let standardized = (full as NSString).standardizingPath
        return standardized.isEmpty ? "/" : standardized
    }
}
