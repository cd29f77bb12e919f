import CairnStore
import Foundation
import Glibc

extension Repository {
    /// The caller's directory for caches derived from images (decoded tensors, materialized
    /// snapshots): `.cairn/cache/UID`, mode 0700, so in a shared repository no other member can
    /// read or rewrite what this user's runs train on.
    ///
    /// It is also where purges reach derived copies: the directory records how many purges it was
    /// cleared for (`purges`), and whenever the catalog has more (a purge here, one a pull applied,
    /// a purge killed before it dropped the caches) everything in it is deleted before it is used.
    /// So an interrupted purge never leaves a copy that a later run could read.
    /// - Throws: `StoreError` for a cache entry that is a symbolic link, not a directory, or not the caller's.
    public func derivedCache() throws -> String {
        let base = cairnDirectory + "/cache"
        try FileOps.makeDirectory(base)
        let mine = base + "/\(geteuid())"
        if mkdir(mine, 0o700) != 0 && errno != EEXIST { throw StoreError.fromErrno(errno, "mkdir", mine) }
        var st = stat()
        guard lstat(base, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, lstat(mine, &st) == 0, st.st_mode & S_IFMT == S_IFDIR,
              st.st_uid == geteuid() else {
            throw StoreError.unsafeEntry(path: mine, expected: "a real directory of yours (each user's caches are private)")
        }
        if st.st_mode & 0o077 != 0 { guard chmod(mine, 0o700) == 0 else { throw StoreError.fromErrno(errno, "chmod", mine) } }
        let purges = try catalog.read { try $0.purges().count }
        guard Self.clearedPurges(mine) != purges else { return mine }
        // Cleared by one process at a time, and only if no other did it meanwhile: two runs starting
        // at once (a sweep's trials) must not delete each other's files half written.
        let lock = open(mine, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard lock >= 0 else { throw StoreError.fromErrno(errno, "open", mine) }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw StoreError.fromErrno(errno, "flock", mine) }
        if Self.clearedPurges(mine) != purges {
            for name in try FileOps.list(mine) { try FileOps.removeTree(mine + "/" + name) }
            // The layout before per-user caches (this user's, when they can be deleted).
            for legacy in ["tensors", "materialized"] { try? FileOps.removeTree(base + "/" + legacy) }
            try FileOps.writeFile(Data("\(purges)\n".utf8), to: mine + "/purges")
        }
        return mine
    }

    /// Whether the caller's derived cache may still hold copies of purged images (it was cleared
    /// for fewer purges than the catalog has); `derivedCache()` clears it at its next use.
    public func derivedCacheIsStale() throws -> Bool {
        let mine = cairnDirectory + "/cache/\(geteuid())"
        guard FileOps.exists(mine) else { return false }
        let count = try catalog.read { try $0.purges().count }
        let entries = try FileOps.list(mine)
        return Self.clearedPurges(mine) != count && entries.contains { $0 != "purges" }
    }

    /// How many purges the cache at `directory` was cleared for (nil when it never recorded it).
    private static func clearedPurges(_ directory: String) -> Int? {
        (try? String(contentsOfFile: directory + "/purges", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
