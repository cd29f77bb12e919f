import Foundation
import Glibc

/// A file descriptor with errno-checked reads and writes; closed when released.
///
/// The store uses POSIX calls directly because it needs what Foundation does not promise:
/// `pread`, `fsync` of files and directories, `O_EXCL` creation and exact errno for disk-full.
public final class POSIXFile: @unchecked Sendable {
    // @unchecked: `fd` is immutable and the kernel serialises concurrent pread/pwrite on it.
    public let fd: Int32
    public let path: String

    /// Opens `path` with `flags` (and `mode` when creating).
    public init(path: String, flags: Int32, mode: mode_t = FileModes.file) throws(StoreError) {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError.fromErrno(errno, "open", path) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Writes every byte of `buffer` at the current offset.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(StoreError) {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.fromErrno(errno, "write", path)
            }
            offset += n
        }
    }

    /// Writes every byte of `data` at the current offset.
    public func writeAll(_ data: some ContiguousBytes) throws(StoreError) {
        let result: Result<Void, StoreError> = data.withUnsafeBytes { raw in
            Result { () throws(StoreError) in try writeAll(raw) }
        }
        try result.get()
    }

    /// Reads exactly `count` bytes at `offset`; a short file throws `damagedFile`.
    public func read(count: Int, at offset: UInt64) throws(StoreError) -> Data {
        var data = Data(count: count)
        let got = data.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return -Int(errno)
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        if got < 0 { throw StoreError.fromErrno(Int32(-got), "read", path) }
        guard got == count else {
            throw StoreError.damagedFile(path: path, reason: "expected \(count) bytes at offset \(offset), found \(got)")
        }
        return data
    }

    /// Reads up to `buffer.count` bytes at the current offset; 0 at end of file.
    public func readSome(into buffer: UnsafeMutableRawBufferPointer) throws(StoreError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR { throw StoreError.fromErrno(errno, "read", path) }
        }
    }

    /// Flushes the file's data and metadata to stable storage.
    public func sync() throws(StoreError) {
        guard fsync(fd) == 0 else { throw StoreError.fromErrno(errno, "fsync", path) }
    }

    /// The file's size in bytes.
    public func size() throws(StoreError) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StoreError.fromErrno(errno, "stat", path) }
        return UInt64(st.st_size)
    }
}

/// Small path operations with errno mapped to `StoreError`.
public enum FileOps {
    /// Renames atomically within one file system.
    public static func rename(_ from: String, _ to: String) throws(StoreError) {
        guard Glibc.rename(from, to) == 0 else { throw StoreError.fromErrno(errno, "rename", to) }
    }

    /// Makes `path` a directory if it is not one.
    public static func makeDirectory(_ path: String, mode: mode_t = FileModes.directory) throws(StoreError) {
        if mkdir(path, mode) != 0 && errno != EEXIST { throw StoreError.fromErrno(errno, "mkdir", path) }
    }

    /// Makes `path` and any missing parents directories (`FileModes.directory` before the umask).
    public static func makeDirectories(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            try makeDirectory(prefix)
        }
    }

    /// Writes `data` to `path` through a temporary file in the same directory and a rename, so a
    /// reader sees the whole file or none; `FileModes.file` before the umask. For derived files (caches,
    /// plots) nothing is fsynced; `durable` fsyncs the file before the rename and the directory after.
    public static func writeFile(_ data: some ContiguousBytes, to path: String, durable: Bool = false) throws(StoreError) {
        let staged = path + "." + uniqueName() + ".tmp"
        do {
            let file = try POSIXFile(path: staged, flags: O_WRONLY | O_CREAT | O_EXCL)
            try file.writeAll(data)
            if durable { try file.sync() }
        } catch {
            try? remove(staged)
            throw error
        }
        try rename(staged, path)
        if durable { try syncDirectory((path as NSString).deletingLastPathComponent) }
    }

    /// fsyncs a directory, making renames and creations inside it durable.
    /// Makes everything written to the file system holding `path` durable with one `syncfs`, rather
    /// than an fsync per file: after writing thousands of files (a materialized checkout, WebDataset
    /// shards) one wait costs what the data costs, not a round trip per file. Falls back to `sync`
    /// where the C library lacks `syncfs`.
    public static func syncFileSystem(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StoreError.fromErrno(errno, "open", path) }
        defer { close(fd) }
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else {  // RTLD_DEFAULT
            Glibc.sync()
            return
        }
        let syncfs = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
        guard syncfs(fd) == 0 else { throw StoreError.fromErrno(errno, "syncfs", path) }
    }

    public static func syncDirectory(_ path: String) throws(StoreError) {
        let file = try POSIXFile(path: path, flags: O_RDONLY | O_DIRECTORY)
        try file.sync()
    }

    /// Removes a file; a missing file is not an error.
    public static func remove(_ path: String) throws(StoreError) {
        if unlink(path) != 0 && errno != ENOENT { throw StoreError.fromErrno(errno, "unlink", path) }
    }

    /// True when `path` names an existing file system entry (symlinks not followed).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// The name of an entry `readdir` returned: its bytes up to the NUL, read in place (valid until
    /// the next `readdir` of that directory). Every reader of directory entries goes through here:
    /// `entry.pointee.d_name` copies all 256 bytes of the field, but readdir packs entries to their
    /// names' lengths (`d_reclen`), so that copy of the last entry in its buffer read past the end
    /// and crashed when that was the end of a mapped page (seen under load in the team bench).
    public static func entryName(_ entry: UnsafePointer<dirent>) -> UnsafeBufferPointer<UInt8> {
        let start = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: strlen(start.assumingMemoryBound(to: CChar.self)))
    }

    /// Names in a directory, without "." and "..".
    public static func list(_ path: String) throws(StoreError) -> [String] {
        guard let dir = opendir(path) else { throw StoreError.fromErrno(errno, "opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(decoding: entryName(entry), as: UTF8.self)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A random 128-bit hex name, for temporary and pack files that must never collide.
    public static func uniqueName() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", generator.next() as UInt64, generator.next() as UInt64)
    }
}
