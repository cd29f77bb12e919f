import CairnStore
import CairnSupport
import Crypto
import Foundation
import Synchronization

/// Named objects somewhere else, as a remote holds them: what push, pull, clone, repair and
/// exports need and nothing more. `S3Client` is one (`s3://`), `DirectoryObjectStore` another
/// (`file://`, a mounted share or a local disk), `MemoryObjectStore` a third, for tests.
///
/// Names are relative to the store's root (`packs/<sha>.pack`, `tags.json`). An object store may
/// be written by others: every implementation bounds what it reads (`limit`), and the layers above
/// check everything they read before they use it.
///
/// Errors: `S3Error.notFound` for an absent object where one is required, `S3Error.changedMeanwhile`
/// when a conditional write loses; anything else is the store's own.
public protocol ObjectStore: Sendable {
    /// Where the objects are, for messages (`s3://BUCKET/PREFIX`, `file:///PATH`).
    var url: String { get }
    /// How many requests callers should keep in flight.
    var parallelism: Int { get }
    /// Requests sent so far (including retries) and how many were retries.
    var requestCount: (sent: Int, retried: Int) { get }

    /// Stores `body` as `name`, replacing what was there; returns its new ETag.
    @discardableResult
    func put(_ name: String, _ body: Data) async throws -> String?
    /// Replaces `name` only if it is still the version read: `expected` is the ETag it had, or nil
    /// when it was absent (then the write only creates). Returns the new ETag.
    @discardableResult
    func put(_ name: String, _ body: Data, ifStill expected: String?) async throws -> String?
    /// Stores the file at `path` as `name` without holding a large one in memory.
    @discardableResult
    func putFile(_ name: String, path: String) async throws -> String?

    /// The object's bytes and ETag, or nil when it is absent; more than `limit` bytes are refused.
    func getWithETag(_ name: String, limit: Int) async throws -> (data: Data, etag: String)?
    /// The object's bytes (at most `limit`).
    func get(_ name: String, limit: Int) async throws -> Data
    /// Exactly `length` bytes of the object from `offset`; any other length is refused.
    func get(_ name: String, offset: UInt64, length: Int) async throws -> Data
    /// Streams the object into a new file at `path` (at most `limit` bytes), hashing it on the way;
    /// nothing is left at `path` when this throws.
    func download(_ name: String, to path: String, limit: Int) async throws -> (size: Int, digest: SHA256.Digest)
    /// The object's ETag, or nil when it is absent.
    func etag(_ name: String) async throws -> String?
    /// The object's size, or nil when it is absent.
    func head(_ name: String) async throws -> UInt64?
    /// Deletes the object; an absent one is not an error.
    func delete(_ name: String) async throws
    /// Every object whose name starts with `prefix`, names relative to the root.
    func list(prefix: String) async throws -> [ListedObject]
}

/// Most bytes a small object (a remote's JSON descriptions, a pack index) may have: a reply that
/// runs longer is refused as it arrives, never buffered whole.
public let smallObjectLimit = 64 << 20

extension ObjectStore {
    public func get(_ name: String) async throws -> Data { try await get(name, limit: smallObjectLimit) }

    public func getWithETag(_ name: String) async throws -> (data: Data, etag: String)? { try await getWithETag(name, limit: smallObjectLimit) }

    /// The object's bytes (at most `limit`), or nil when it is absent.
    public func getIfPresent(_ name: String, limit: Int = smallObjectLimit) async throws -> Data? {
        do { return try await get(name, limit: limit) } catch S3Error.notFound { return nil }
    }
}

/// One listed object.
public struct ListedObject: Sendable, Hashable {
    public var key: String
    public var size: UInt64

    public init(key: String, size: UInt64) { (self.key, self.size) = (key, size) }
}

/// What went wrong with a remote directory.
public enum ObjectStoreError: CairnError, Equatable {
    case badURL(String)
    case noDirectory(String)
    case badName(String)
    case unsafeEntry(path: String)
    case tooLarge(name: String, limit: Int)

    public var description: String {
        switch self {
        case .badURL(let url): "\(Printable.escaped(url)) is not a remote URL: expected s3://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH"
        case .noDirectory(let path): "remote directory \(Printable.escaped(path)) does not exist (create it first, e.g. `mkdir -p`)"
        case .badName(let name): "\(Printable.escaped(name)) is not an object name (relative, no '.' or '..' parts)"
        case .unsafeEntry(let path): "\(Printable.escaped(path)) in the remote directory is a link or not a regular entry; refusing to use it"
        case .tooLarge(let name, let limit): "\(Printable.escaped(name)) on the remote is longer than the \(limit) bytes expected"
        }
    }
}

/// A remote in a directory (`file:///PATH`): a local disk, or a share mounted by several machines.
///
/// Each object is a file under the root, written to `.tmp/`, synced and renamed into place (and
/// its directory synced), so a reader never sees half an object and a crash loses none a later
/// write relied on. Conditional writes hold an exclusive `flock` on `.lock` while they
/// compare and rename; an ETag is the file's inode, size and modification time (every write is a
/// new inode). Nothing under the root is followed if it is a symbolic link: a directory written by
/// others cannot send a write, a delete or a read elsewhere.
public final class DirectoryObjectStore: ObjectStore {
    public let root: String
    public let parallelism: Int
    private let requests = Atomic<Int>(0)

    public init(root: String, parallelism: Int = 8) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.parallelism = max(1, parallelism)
    }

    /// `file:///ABSOLUTE/PATH`.
    public convenience init(url: String, parallelism: Int = 8) throws {
        guard url.hasPrefix("file:///"), !url.contains("\0") else { throw ObjectStoreError.badURL(url) }
        let path = String(url.dropFirst("file://".count))
        guard path.split(separator: "/").allSatisfy({ $0 != "." && $0 != ".." }) else { throw ObjectStoreError.badURL(url) }
        self.init(root: path, parallelism: parallelism)
    }

    public var url: String { "file://" + root }
    public var requestCount: (sent: Int, retried: Int) { (requests.load(ordering: .relaxed), 0) }

    // MARK: Paths

    /// The path of `name`, each directory on the way checked to be a real directory (made when
    /// `create`), the root first.
    private func path(_ name: String, create: Bool = false) throws -> String {
        requests.add(1, ordering: .relaxed)
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.contains("\0"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }), parts.first != ".tmp",
            name != ".lock"
        else { throw ObjectStoreError.badName(name) }
        guard isDirectory(root) == true else { throw ObjectStoreError.noDirectory(root) }
        var path = root
        for part in parts.dropLast() {
            path += "/" + part
            switch isDirectory(path) {
            case true: continue
            case false: throw ObjectStoreError.unsafeEntry(path: path)
            case nil:
                guard create else { continue }  // absent: so is the object
                if mkdir(path, 0o755) != 0 && errno != EEXIST { throw StoreError.fromErrno(errno, "mkdir", path) }
                guard isDirectory(path) == true else { throw ObjectStoreError.unsafeEntry(path: path) }
            }
        }
        return path + "/" + parts.last!
    }

    /// True for a real directory, false for anything else (a link among them), nil when absent.
    private func isDirectory(_ path: String) -> Bool? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    /// The open object, or nil when absent. - Throws: for a link or anything but a regular file.
    private func open(_ name: String) throws -> (file: POSIXFile, size: UInt64, etag: String)? {
        let path = try path(name)
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ObjectStoreError.unsafeEntry(path: path) }
        let file = try POSIXFile(path: path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        guard fstat(file.fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw ObjectStoreError.unsafeEntry(path: path) }
        return (file, UInt64(info.st_size), Self.etag(info))
    }

    private static func etag(_ info: stat) -> String { "\(info.st_ino)-\(info.st_size)-\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" }

    private func etagOf(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Self.etag(info)
    }

    // MARK: Writing

    @discardableResult
    public func put(_ name: String, _ body: Data) async throws -> String? { try write(name, expected: nil, conditional: false) { try $0.writeAll(body) } }

    @discardableResult
    public func put(_ name: String, _ body: Data, ifStill expected: String?) async throws -> String? {
        try write(name, expected: expected, conditional: true) { try $0.writeAll(body) }
    }

    @discardableResult
    public func putFile(_ name: String, path source: String) async throws -> String? {
        let input = try POSIXFile(path: source, flags: O_RDONLY)
        let size = try input.size()
        return try write(name, expected: nil, conditional: false) { output in
            var offset: UInt64 = 0
            while offset < size {
                let chunk = try input.read(count: Int(min(4 << 20, size - offset)), at: offset)
                guard !chunk.isEmpty else { break }
                try output.writeAll(chunk)
                offset += UInt64(chunk.count)
            }
        }
    }

    /// Writes a new file in `.tmp/`, then renames it over `name` (under the lock, after checking
    /// the ETag, when `conditional`). Returns the new ETag.
    private func write(_ name: String, expected: String?, conditional: Bool, _ fill: (POSIXFile) throws -> Void) throws -> String? {
        let target = try path(name, create: true)
        let staging = root + "/.tmp"
        if isDirectory(staging) == nil, mkdir(staging, 0o755) != 0, errno != EEXIST { throw StoreError.fromErrno(errno, "mkdir", staging) }
        guard isDirectory(staging) == true else { throw ObjectStoreError.unsafeEntry(path: staging) }
        let temporary = staging + "/" + FileOps.uniqueName()
        do {
            let file = try POSIXFile(path: temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
            try fill(file)
            try file.sync()
            var lock: POSIXFile?
            if conditional {
                lock = try POSIXFile(path: root + "/.lock", flags: O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o644)
                guard flock(lock!.fd, LOCK_EX) == 0 else { throw StoreError.fromErrno(errno, "flock", root + "/.lock") }
                guard etagOf(target) == expected else { throw S3Error.changedMeanwhile(operation: "upload \(name)") }
            }
            guard rename(temporary, target) == 0 else { throw StoreError.fromErrno(errno, "rename", target) }
            _ = lock  // held until here
            // Durable before the caller goes on: a snapshot description is written only after the
            // objects it names, and must not outlive them in a crash.
            try FileOps.syncDirectory(String(target[..<target.lastIndex(of: "/")!]))
            return etagOf(target)
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    public func delete(_ name: String) async throws {
        let path = try path(name)
        if unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR { throw StoreError.fromErrno(errno, "unlink", path) }
    }

    // MARK: Reading

    public func getWithETag(_ name: String, limit: Int) async throws -> (data: Data, etag: String)? {
        guard let (file, size, etag) = try open(name) else { return nil }
        guard size <= UInt64(limit) else { throw ObjectStoreError.tooLarge(name: name, limit: limit) }
        return (try file.read(count: Int(size), at: 0), etag)
    }

    public func get(_ name: String, limit: Int) async throws -> Data {
        guard let (data, _) = try await getWithETag(name, limit: limit) else { throw S3Error.notFound(key: name) }
        return data
    }

    public func get(_ name: String, offset: UInt64, length: Int) async throws -> Data {
        guard let (file, size, _) = try open(name) else { throw S3Error.notFound(key: name) }
        let operation = "read \(name) (bytes \(offset)-\(offset + UInt64(length) - 1))"
        guard length > 0, offset + UInt64(length) <= size else {
            throw S3Error.badResponse(operation: operation, reason: "the object has \(size) bytes")
        }
        let data = try file.read(count: length, at: offset)
        guard data.count == length else { throw S3Error.badResponse(operation: operation, reason: "\(data.count) bytes instead of \(length)") }
        return data
    }

    public func download(_ name: String, to path: String, limit: Int) async throws -> (size: Int, digest: SHA256.Digest) {
        guard let (input, size, _) = try open(name) else { throw S3Error.notFound(key: name) }
        guard size <= UInt64(limit) else { throw ObjectStoreError.tooLarge(name: name, limit: limit) }
        do {
            try FileOps.remove(path)
            let output = try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
            var hasher = SHA256()
            var offset: UInt64 = 0
            while offset < size {
                let chunk = try input.read(count: Int(min(4 << 20, size - offset)), at: offset)
                guard !chunk.isEmpty else { break }
                hasher.update(data: chunk)
                try output.writeAll(chunk)
                offset += UInt64(chunk.count)
            }
            return (Int(offset), hasher.finalize())
        } catch {
            try? FileOps.remove(path)
            throw error
        }
    }

    public func etag(_ name: String) async throws -> String? { try open(name)?.etag }

    public func head(_ name: String) async throws -> UInt64? { try open(name)?.size }

    /// Walks the directories under the root that can hold names starting with `prefix`, regular
    /// files only (links and the root's `.tmp` and `.lock` are not objects).
    public func list(prefix: String) async throws -> [ListedObject] {
        requests.add(1, ordering: .relaxed)
        guard isDirectory(root) == true else { throw ObjectStoreError.noDirectory(root) }
        var out: [ListedObject] = []
        func walk(_ directory: String, _ relative: String) throws {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
            for entry in entries.sorted() {
                let name = relative + entry
                if relative.isEmpty && (entry == ".tmp" || entry == ".lock") { continue }
                guard name.hasPrefix(prefix) || prefix.hasPrefix(name + "/") else { continue }
                var info = stat()
                guard lstat(directory + "/" + entry, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: try walk(directory + "/" + entry, name + "/")
                case S_IFREG where name.hasPrefix(prefix): out.append(ListedObject(key: name, size: UInt64(info.st_size)))
                default: continue
                }
            }
        }
        try walk(root, "")
        return out
    }
}

/// Objects in memory, for tests: a remote without a server or a disk.
public final class MemoryObjectStore: ObjectStore {
    public let url: String
    public let parallelism = 8
    private let state = Mutex<(objects: [String: (data: Data, etag: String)], version: Int, requests: Int)>(([:], 0, 0))

    public init(name: String = "test") { url = "memory://" + name }

    public var requestCount: (sent: Int, retried: Int) { (state.withLock { $0.requests }, 0) }

    /// Every object's name, sorted (for tests that look at what a push left).
    public var names: [String] { state.withLock { $0.objects.keys.sorted() } }

    /// Replaces an object's bytes behind the store's users' backs (for tests of damaged remotes).
    public func tamper(_ name: String, _ change: (inout Data) -> Void) {
        state.withLock { state in
            guard var object = state.objects[name] else { return }
            change(&object.data)
            state.version += 1
            object.etag = "v\(state.version)"
            state.objects[name] = object
        }
    }

    private func object(_ name: String) -> (data: Data, etag: String)? {
        state.withLock { state in
            state.requests += 1
            return state.objects[name]
        }
    }

    @discardableResult
    public func put(_ name: String, _ body: Data) async throws -> String? { try store(name, body, expected: nil, conditional: false) }

    @discardableResult
    public func put(_ name: String, _ body: Data, ifStill expected: String?) async throws -> String? {
        try store(name, body, expected: expected, conditional: true)
    }

    @discardableResult
    public func putFile(_ name: String, path: String) async throws -> String? {
        try store(name, try Data(contentsOf: URL(fileURLWithPath: path)), expected: nil, conditional: false)
    }

    private func store(_ name: String, _ body: Data, expected: String?, conditional: Bool) throws -> String? {
        try state.withLock { state in
            state.requests += 1
            if conditional && state.objects[name]?.etag != expected { throw S3Error.changedMeanwhile(operation: "upload \(name)") }
            state.version += 1
            state.objects[name] = (body, "v\(state.version)")
            return "v\(state.version)"
        }
    }

    public func getWithETag(_ name: String, limit: Int) async throws -> (data: Data, etag: String)? {
        guard let object = object(name) else { return nil }
        guard object.data.count <= limit else { throw ObjectStoreError.tooLarge(name: name, limit: limit) }
        return object
    }

    public func get(_ name: String, limit: Int) async throws -> Data {
        guard let (data, _) = try await getWithETag(name, limit: limit) else { throw S3Error.notFound(key: name) }
        return data
    }

    public func get(_ name: String, offset: UInt64, length: Int) async throws -> Data {
        guard let data = object(name)?.data else { throw S3Error.notFound(key: name) }
        guard length > 0, offset + UInt64(length) <= UInt64(data.count) else {
            throw S3Error.badResponse(operation: "read \(name)", reason: "the object has \(data.count) bytes")
        }
        return data.subdata(in: data.startIndex + Int(offset)..<data.startIndex + Int(offset) + length)
    }

    public func download(_ name: String, to path: String, limit: Int) async throws -> (size: Int, digest: SHA256.Digest) {
        let data = try await get(name, limit: limit)
        try FileOps.remove(path)
        try POSIXFile(path: path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444).writeAll(data)
        return (data.count, SHA256.hash(data: data))
    }

    public func etag(_ name: String) async throws -> String? { object(name)?.etag }

    public func head(_ name: String) async throws -> UInt64? { object(name).map { UInt64($0.data.count) } }

    public func delete(_ name: String) async throws {
        _ = state.withLock { state in
            state.requests += 1
            return state.objects.removeValue(forKey: name)
        }
    }

    public func list(prefix: String) async throws -> [ListedObject] {
        state.withLock { state in
            state.requests += 1
            return state.objects.filter { $0.key.hasPrefix(prefix) }.map { ListedObject(key: $0.key, size: UInt64($0.value.data.count)) }
                .sorted { $0.key < $1.key }
        }
    }
}
