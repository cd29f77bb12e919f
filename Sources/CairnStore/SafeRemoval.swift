import Glibc

extension FileOps {
    /// Deletes `path` and everything under it without ever following a symbolic link: each directory
    /// is opened with `O_NOFOLLOW` relative to its parent's descriptor and its entries are unlinked
    /// relative to it, so a link planted anywhere inside (even swapped in while this runs) is removed
    /// as a link, and nothing outside `path` is touched. Read-only directories that the caller owns are
    /// made writable first (materializations are). A missing `path` is not an error.
    /// - Throws: `StoreError` naming the entry that could not be removed.
    public static func removeTree(_ path: String) throws(StoreError) {
        let parent = (path as String).split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let name = String(path.split(separator: "/").last ?? "")
        let parentFD = open(parent.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else {
            if errno == ENOENT { return }
            throw StoreError.fromErrno(errno, "open", parent)
        }
        defer { close(parentFD) }
        try removeEntry(name, in: parentFD, path: path)
    }

    private static func removeEntry(_ name: String, in dirFD: Int32, path: String) throws(StoreError) {
        var st = stat()
        guard fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw StoreError.fromErrno(errno, "stat", path)
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.fromErrno(errno, "open", path) }
            if st.st_mode & S_IWUSR == 0 { _ = fchmod(fd, (st.st_mode & 0o7777) | S_IRWXU) }
            guard let dir = fdopendir(fd) else {
                close(fd)
                throw StoreError.fromErrno(errno, "opendir", path)
            }
            var names: [String] = []
            while let entry = readdir(dir) {
                let child = String(decoding: FileOps.entryName(entry), as: UTF8.self)
                if child != "." && child != ".." { names.append(child) }
            }
            do {
                for child in names { try removeEntry(child, in: dirfd(dir), path: path + "/" + child) }
            } catch {
                closedir(dir)
                throw error
            }
            closedir(dir)
            guard unlinkat(dirFD, name, AT_REMOVEDIR) == 0 || errno == ENOENT else { throw StoreError.fromErrno(errno, "rmdir", path) }
        } else {
            guard unlinkat(dirFD, name, 0) == 0 || errno == ENOENT else { throw StoreError.fromErrno(errno, "unlink", path) }
        }
    }

    /// True when `path` is a real directory (not a symbolic link to one).
    public static func isRealDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }
}
