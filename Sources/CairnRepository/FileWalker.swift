import CairnStore
import Foundation
import Glibc

/// A regular file found under an import root, with the stat fields the import cache keys on.
public struct WalkedFile: Sendable, Hashable {
    /// Absolute path, used to read the file and as the import-cache key.
    public let absolutePath: String
    /// Path relative to the import root it was found under (never empty, never `..`).
    public let relativePath: String
    public let size: Int64
    public let mtimeNanoseconds: Int64
    public let inode: UInt64
}

/// A path the walk refused, and why.
public struct Rejection: Sendable, Hashable, Codable {
    public let path: String
    public let reason: String
}

/// Recursive, sorted directory walk that never leaves its root unless told to.
///
/// Hidden entries (names starting with `.`) are skipped, so `.cairn`, `.git` and editor files
/// never become items. Symbolic links are followed only when their target stays inside the
/// root, or when `followSymlinks` is set; directory cycles are detected either way.
struct FileWalker {
    let followSymlinks: Bool

    struct Result {
        var files: [WalkedFile] = []
        var rejections: [Rejection] = []
    }

    /// Walks `root` (a directory or a single file).
    func walk(root: String) throws -> Result {
        var result = Result()
        var st = stat()
        guard stat(root, &st) == 0 else {
            throw RepositoryError.badPath(path: root, reason: String(cString: strerror(errno)))
        }
        let realRoot = realPath(root) ?? root
        if (st.st_mode & S_IFMT) == S_IFREG {
            let name = (root as NSString).lastPathComponent
            result.files.append(file(absolute: root, relative: name, st))
            return result
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw RepositoryError.badPath(path: root, reason: "not a regular file or directory")
        }
        var visited: Set<[UInt64]> = [[UInt64(st.st_dev), UInt64(st.st_ino)]]
        walkDirectory(absolute: root, relative: "", realRoot: realRoot, visited: &visited, into: &result)
        result.files.sort { $0.relativePath < $1.relativePath }
        return result
    }

    private func file(absolute: String, relative: String, _ st: stat) -> WalkedFile {
        WalkedFile(absolutePath: absolute, relativePath: relative, size: Int64(st.st_size),
                   mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                   inode: UInt64(st.st_ino))
    }

    private func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private func walkDirectory(absolute: String, relative: String, realRoot: String,
                               visited: inout Set<[UInt64]>, into result: inout Result) {
        guard let dir = opendir(absolute) else {
            result.rejections.append(Rejection(path: absolute, reason: "cannot read directory: \(String(cString: strerror(errno)))"))
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let bytes = FileOps.entryName(entry)
            guard let name = String(validating: bytes, as: UTF8.self) else {
                let lossy = String(decoding: bytes, as: UTF8.self)
                result.rejections.append(Rejection(path: absolute + "/" + lossy,
                                                   reason: "file name is not valid UTF-8; rename it to import it"))
                continue
            }
            if name.hasPrefix(".") { continue }
            names.append(name)
        }
        closedir(dir)
        for name in names.sorted() {
            let childAbsolute = absolute + "/" + name
            let childRelative = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(childAbsolute, &st) == 0 else {
                result.rejections.append(Rejection(path: childAbsolute, reason: String(cString: strerror(errno))))
                continue
            }
            var kind = st.st_mode & S_IFMT
            if kind == S_IFLNK {
                guard let target = realPath(childAbsolute), stat(childAbsolute, &st) == 0 else {
                    result.rejections.append(Rejection(path: childAbsolute, reason: "broken symbolic link"))
                    continue
                }
                let inside = target == realRoot || target.hasPrefix(realRoot + "/")
                if !inside && !followSymlinks {
                    result.rejections.append(Rejection(
                        path: childAbsolute,
                        reason: "symbolic link to \(target) leaves the imported directory; not followed (use --follow-symlinks)"))
                    continue
                }
                kind = st.st_mode & S_IFMT
            }
            switch kind {
            case S_IFREG:
                result.files.append(file(absolute: childAbsolute, relative: childRelative, st))
            case S_IFDIR:
                let key = [UInt64(st.st_dev), UInt64(st.st_ino)]
                if visited.contains(key) { continue }  // a link back into a directory already walked
                visited.insert(key)
                walkDirectory(absolute: childAbsolute, relative: childRelative, realRoot: realRoot,
                              visited: &visited, into: &result)
            default:
                result.rejections.append(Rejection(path: childAbsolute, reason: "not a regular file"))
            }
        }
    }
}
