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
    public let catalog: any Catalog
    public let config: RepositoryConfig

    /// The path of `.cairn/config.toml`.
    public var configPath: String { cairnDirectory + "/config.toml" }

    /// Name of the state directory inside a dataset directory.
    public static let directoryName = ".cairn"

    /// Opens the repository whose root is `root`.
    /// - Throws: `RepositoryError.notARepository`, or `.notOwned` for a repository that belongs to
    ///   someone else and is neither shared with a group of the caller's nor marked safe.
    public init(root: String) throws {
        let root = Self.absolute(root)
        let dir = root + "/" + Self.directoryName
        // First whose it is: a shared repository keeps others out, so they cannot even see its catalog.
        if FileOps.isRealDirectory(dir) { try Self.checkTrusted(dir) }
        guard Self.isRepository(dir) else { throw RepositoryError.notARepository(path: root) }
        // Caches are deleted inside by name; a link in its place would send that elsewhere (the store
        // checks its own directories).
        if FileOps.exists(dir + "/cache") && !FileOps.isRealDirectory(dir + "/cache") {
            throw StoreError.unsafeEntry(path: dir + "/cache", expected: "a real directory")
        }
        if Self.isShared(dir) { FileModes.shareWithGroup() }
        self.root = root
        self.cairnDirectory = dir
        let config = try RepositoryConfig.load(path: dir + "/config.toml")
        self.config = config
        let upstream = try config.sharedStore.map { try SharedStores.open(config.remotes[$0]!, configPath: dir + "/config.toml") }
        self.store = try FileBlobStore(root: dir, upstream: upstream)
        self.catalog = try Self.openCatalog(config.catalog, directory: dir)
    }

    /// Whether `dir` (a `.cairn`) holds a repository: its config, or a catalog kept in it.
    static func isRepository(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: dir + "/config.toml") || FileManager.default.fileExists(atPath: dir + "/catalog.sqlite")
    }

    /// Opens the catalog `backend` names for the repository state in `dir` (the config's choice, so
    /// a second backend is one more case here), making it first with `create`.
    /// - Throws: `RepositoryError.notARepository` when the catalog is missing.
    static func openCatalog(_ backend: RepositoryConfig.CatalogBackend, directory dir: String, create: Bool = false) throws -> any Catalog {
        switch backend {
        case .sqlite:
            let path = dir + "/catalog.sqlite"
            guard create || FileManager.default.fileExists(atPath: path) else {
                throw RepositoryError.notARepository(path: (dir as NSString).deletingLastPathComponent)
            }
            return try SQLiteCatalog(path: path)
        case .postgresql(let url):
            // What is kept per store (import state) is kept per repository: this host and this .cairn.
            var name = [CChar](repeating: 0, count: 256)
            let host = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            return try CatalogServers.open(url: url, scope: host + ":" + dir)
        }
    }

    /// Creates `.cairn/` in `root` (made if missing) and opens it; `sharedWithGroup` makes it a
    /// repository the group of `root` shares (`FileModes`).
    /// - Throws: `RepositoryError.alreadyInitialized` if one exists.
    @discardableResult
    public static func initialize(at root: String, config: RepositoryConfig = RepositoryConfig(),
                                  sharedWithGroup: Bool = false) throws -> Repository {
        let root = absolute(root)
        let dir = root + "/" + directoryName
        if FileManager.default.fileExists(atPath: dir) { throw RepositoryError.alreadyInitialized(path: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        if sharedWithGroup { FileModes.shareWithGroup() }
        try FileOps.makeDirectory(dir)
        if sharedWithGroup { try makeShared(dir, directory: true) }
        try FileBlobStore.create(at: dir)
        try FileOps.makeDirectory(dir + "/cache")
        // Written with an explicit mode (Foundation's atomic write would make it 0666 under umask 000).
        let staged = dir + "/tmp/config.toml." + FileOps.uniqueName()
        let file = try POSIXFile(path: staged, flags: O_WRONLY | O_CREAT | O_EXCL)
        try file.writeAll(Data(config.rendered().utf8))
        try file.sync()
        try FileOps.rename(staged, dir + "/config.toml")
        do {
            _ = try openCatalog(config.catalog, directory: dir, create: true)
        } catch {
            // A catalog that cannot be opened (a server that does not answer) leaves no half-made
            // repository behind, so the same init can simply run again.
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        // SQLite creates the catalog 0644 whatever the umask allows, and its WAL and shared-memory
        // files take the catalog's mode: made group-writable once, they all are.
        if sharedWithGroup { try makeShared(dir + "/catalog.sqlite", directory: false) }
        let repository = try Repository(root: root)
        // The creator is the first admin: the one who grants roles to everyone else.
        if let creator = try? repository.person(nil, option: "--annotator") { try repository.recordCreator(creator) }
        return repository
    }

    /// Whether `.cairn` at `dir` is shared with its group: setgid and group-writable.
    static func isShared(_ dir: String) -> Bool {
        var st = stat()
        return stat(dir, &st) == 0 && st.st_mode & (S_IWGRP | S_ISGID) == (S_IWGRP | S_ISGID)
    }

    /// Makes an existing repository one its group shares (`cairn config shared group`): every
    /// directory under `.cairn` setgid and group-writable, every file group-readable, and
    /// group-writable where its owner may write.
    /// - Throws: `StoreError` naming the first file the caller cannot change (one another user owns).
    public func shareWithGroup() throws {
        FileModes.shareWithGroup()
        try Self.makeShared(cairnDirectory, directory: true)
        guard let walker = FileManager.default.enumerator(atPath: cairnDirectory) else { return }
        while let relative = walker.nextObject() as? String {
            let path = cairnDirectory + "/" + relative
            if relative.hasPrefix("cache/") {  // users' private caches (`derivedCache`) stay private
                walker.skipDescendants()
                continue
            }
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: try Self.makeShared(path, directory: true)
            case S_IFREG: try Self.makeShared(path, directory: false)
            default: continue
            }
        }
    }

    /// Adds the group bits to `path` and takes away the others': rwx and setgid for a directory; r,
    /// and w where the owner has it, for a file.
    private static func makeShared(_ path: String, directory: Bool) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw StoreError.fromErrno(errno, "stat", path) }
        var mode = st.st_mode & 0o7777 & ~0o007
        if directory {
            mode |= S_ISGID | S_IRGRP | S_IWGRP | S_IXGRP
        } else {
            mode |= S_IRGRP | (mode & S_IWUSR != 0 ? S_IWGRP : 0)
        }
        guard mode != st.st_mode & 0o7777 else { return }
        guard chmod(path, mode) == 0 else { throw StoreError.fromErrno(errno, "chmod", path) }
    }

    /// Finds the repository containing `path` (or the current directory), like git does.
    public static func discover(from path: String = FileManager.default.currentDirectoryPath) throws -> Repository {
        var dir = absolute(path)
        while true {
            let state = dir + "/" + directoryName
            // A .cairn the caller may not enter is still a repository: opening it says whose.
            if isRepository(state) || (FileOps.isRealDirectory(state) && access(state, X_OK) != 0) {
                return try Repository(root: dir)
            }
            if dir == "/" || dir.isEmpty { throw RepositoryError.notARepository(path: absolute(path)) }
            dir = (dir as NSString).deletingLastPathComponent
        }
    }

    /// Trusts `.cairn` only when the caller owns it, or it is a shared repository (group-writable
    /// and setgid, as `init --shared` makes it) whose group the caller is in, or its root is listed in
    /// `$CAIRN_SAFE_DIRECTORIES` (`:`-separated; `*` for any) or `~/.config/cairn/safe-directories`
    /// (one a line), as git's `safe.directory`. Otherwise a `.cairn` that another user planted
    /// above a shared directory would take in the caller's images.
    static func checkTrusted(_ dir: String) throws {
        var st = stat()
        guard stat(dir, &st) == 0 else { return }
        if st.st_uid == geteuid() { return }
        let shared = isShared(dir)
        if shared && callerGroups().contains(st.st_gid) { return }
        let root = (dir as NSString).deletingLastPathComponent
        if safeDirectories().contains(where: { $0 == "*" || absolute($0) == root }) { return }
        let owner = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(st.st_uid)"
        let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "gid \(st.st_gid)"
        throw RepositoryError.notOwned(path: root, owner: owner, group: shared ? group : nil)
    }

    /// The caller's effective and supplementary groups.
    static func callerGroups() -> Set<gid_t> {
        var groups = [gid_t](repeating: 0, count: Int(max(1, getgroups(0, nil))))
        let count = getgroups(Int32(groups.count), &groups)
        return Set(groups.prefix(Int(max(0, count)))).union([getegid()])
    }

    /// Repository roots the caller trusts although others own them.
    static func safeDirectories() -> [String] {
        let env = ProcessInfo.processInfo.environment
        var out = (env["CAIRN_SAFE_DIRECTORIES"] ?? "").split(separator: ":").map(String.init)
        let config = (env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.config")) + "/cairn/safe-directories"
        if let text = try? String(contentsOfFile: config, encoding: .utf8) {
            out += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        return out
    }

    /// `path` made absolute against the current directory and standardized (no `.` or `..`).
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let standardized = (full as NSString).standardizingPath
        return standardized.isEmpty ? "/" : standardized
    }
}
