import CairnSupport
import Crypto
import Foundation
import Glibc
import Synchronization

extension FileBlobStore {
    // MARK: Checking

    /// The id of a file's bytes, read in 1 MiB chunks.
    static func hashFile(_ path: String) throws -> BlobID {
        let file = try POSIXFile(path: path, flags: O_RDONLY)
        var hasher = SHA256()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try file.readSome(into: $0) }
            if n == 0 { break }
            chunk.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return BlobID(digest: hasher.finalize())
    }

    /// Checks that the loose file of `id` still hashes to `id` (before it is handed out by a link).
    /// - Throws: `StoreError.corrupt` naming the file when it does not.
    public func verifyLoose(_ id: BlobID) throws {
        let path = loosePath(id)
        guard try Self.hashFile(path) == id else { throw StoreError.corrupt(id, location: path) }
    }

    /// A file under `objects/` and the id its name claims (nil when the name is not an id).
    public struct LooseFile: Sendable {
        public let path: String
        public let id: BlobID?
    }

    /// Every file under `objects/sha256/`.
    public func looseObjects() throws -> [LooseFile] {
        var out: [LooseFile] = []
        for dir in try FileOps.list(objectsDir).sorted() {
            let dirPath = "\(objectsDir)/\(dir)"
            var st = stat()
            guard lstat(dirPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                out.append(LooseFile(path: dirPath, id: nil))
                continue
            }
            for name in try FileOps.list(dirPath).sorted() {
                out.append(LooseFile(path: "\(dirPath)/\(name)", id: dir.count == 2 ? BlobID(hex: dir + name) : nil))
            }
        }
        return out
    }

    /// One problem found by `verify`.
    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        /// The object's bytes do not hash to its id.
        case corrupt(BlobID, location: String)
        /// A pack or index that cannot be read.
        case damagedFile(path: String, reason: String)
        /// A file under `objects/` whose name is not an object id.
        case strayFile(path: String)

        public var description: String {
            switch self {
            case .corrupt(let id, let location): "corrupt object \(id) at \(location)"
            case .damagedFile(let path, let reason): "damaged file \(path): \(reason)"
            case .strayFile(let path): "stray file \(path) (not named by an object id)"
            }
        }
    }

    /// Re-hashes every stored object, on every core. `progress` is called with (objects done, total).
    ///
    /// - Complexity: reads every stored byte once.
    public func verify(progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> (checked: Int, problems: [Problem]) {
        try refreshPacks()
        let packs = state.withLock { $0.packs }
        let loose = try looseObjects()
        let total = packs.reduce(0) { $0 + $1.index.count } + loose.count
        let done = Atomic<Int>(0)
        let problems = withoutActuallyEscaping(progress) { progress in
            let counted: @Sendable (Int) -> Void = { n in
                let now = done.add(n, ordering: .relaxed).newValue
                if now / 4096 != (now - n) / 4096 { progress(now, total) }
            }
            // Indexes whose files were damaged are reported by refreshPacks throwing; check packs here.
            return packs.flatMap { Self.verify($0, counted: counted) } + Parallel.map(loose.count) { i -> Problem? in
                defer { counted(1) }
                let object = loose[i]
                guard let id = object.id else { return .strayFile(path: object.path) }
                return (try? Self.hashFile(object.path)) == id ? nil : .corrupt(id, location: object.path)
            }.compactMap { $0 }
        }
        progress(total, total)
        return (total, problems)
    }

    /// The problems of one pack: a header that is not a pack's, records that do not hash to their ids.
    private static func verify(_ pack: LoadedPack, counted: @Sendable (Int) -> Void) -> [Problem] {
        let file: POSIXFile
        var problems: [Problem] = []
        do {
            file = try POSIXFile(path: pack.path, flags: O_RDONLY)
            let header = try file.read(count: PackFormat.packHeaderSize, at: 0)
            if Array(header.prefix(8)) != PackFormat.packMagic { problems.append(.damagedFile(path: pack.path, reason: "bad pack header")) }
        } catch {
            counted(pack.index.count)
            return [.damagedFile(path: pack.path, reason: "\(error)")] + pack.index.entries.map { .corrupt($0.id, location: pack.path) }
        }
        let entries = pack.index.entries
        let chunk = 256
        let bad = Parallel.map((entries.count + chunk - 1) / chunk) { c -> [Problem] in
            let part = entries[c * chunk..<min(entries.count, (c + 1) * chunk)]
            defer { counted(part.count) }
            return part.compactMap { entry in
                let location = "\(pack.path) offset \(entry.offset)"
                guard let record = try? file.read(count: PackFormat.recordHeaderSize + Int(entry.length),
                                                  at: entry.offset - UInt64(PackFormat.recordHeaderSize)) else {
                    return .corrupt(entry.id, location: location)
                }
                let ok = record.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
                    let headerID = BlobID(rawBytes: raw)!
                    let headerLength = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
                    let body = UnsafeRawBufferPointer(rebasing: raw[PackFormat.recordHeaderSize...])
                    return headerID == entry.id && headerLength == entry.length && BlobID(hashing: body) == entry.id
                }
                return ok ? nil : .corrupt(entry.id, location: location)
            }
        }
        return problems + bad.flatMap { $0 }
    }
}

extension FileBlobStore {
    /// Puts back good copies of objects that are damaged or missing here; returns the ids it could
    /// not put back.
    ///
    /// - An object stored nowhere is stored anew.
    /// - A loose object whose bytes are wrong is replaced by an atomic rename of the good copy.
    /// - A pack with bad records is rewritten from its good records and the copies, then the old
    ///   pack is deleted; the new pack is durable and indexed first, so no good object is ever
    ///   unreadable. A pack with a bad record that has no copy is left as it is (its copies would
    ///   be shadowed by it), and those ids are returned.
    ///
    /// - Complexity: reads each affected pack whole.
    public func repair(_ copies: [HashedBlob]) throws -> [BlobID] {
        try refreshPacks()
        let byID = Dictionary(copies.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var placed = Set<BlobID>()
        var left: [BlobID] = []
        let packs = state.withLock { $0.packs }
        for pack in packs where byID.keys.contains(where: { pack.index.find($0) != nil }) {
            let file = try? POSIXFile(path: pack.path, flags: O_RDONLY)
            var blobs: [HashedBlob] = []
            var mended: [BlobID] = [], unrecoverable: [BlobID] = []
            for entry in pack.index.entries {
                if let bytes = try? file?.read(count: Int(entry.length), at: entry.offset), case let good = HashedBlob(bytes),
                   good.id == entry.id {
                    blobs.append(good)
                } else if let copy = byID[entry.id] {
                    blobs.append(copy)
                    mended.append(entry.id)
                } else {
                    unrecoverable.append(entry.id)
                }
            }
            // Either way no copy of this pack's objects goes elsewhere: the pack would shadow it.
            placed.formUnion(pack.index.entries.map(\.id))
            if !unrecoverable.isEmpty {
                left += unrecoverable + mended
            } else if !mended.isEmpty {
                try writeFreshPack(blobs)
                try deletePack(pack.index.name)
            }
        }
        for copy in copies where !placed.contains(copy.id) {
            let path = loosePath(copy.id)
            if FileOps.exists(path) {
                let tmp = "\(tmpDir)/\(FileOps.uniqueName()).obj"
                do {
                    let file = try POSIXFile(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
                    try file.writeAll(copy.data)
                    try file.sync()
                    try FileOps.rename(tmp, path)
                } catch {
                    try? FileOps.remove(tmp)
                    throw error
                }
                try FileOps.syncDirectory((path as NSString).deletingLastPathComponent)
            } else {
                try put(copy)
            }
        }
        try flush()
        return left.sorted()
    }
}
