import CairnSupport
import Crypto
import Foundation
import Glibc
import Synchronization

/// The local blob store under `.cairn/`: small objects in pack files, large ones loose.
///
/// Layout (see Docs/FORMAT.md):
/// - `objects/sha256/ab/<62 more hex digits>`: a loose object, named by its id;
/// - `packs/<name>.pack` + `packs/<name>.idx`: a pack and its index;
/// - `tmp/`: staging; everything is written here and renamed into place.
///
/// Each `flush()` seals the objects put since the last one: the pack is fsynced and renamed
/// into `packs/`, its index is written, fsynced and renamed after it, and loose files are
/// fsynced before their rename. A crash at any point leaves at worst unindexed packs and
/// temporary files, which readers ignore.
///
/// With an `upstream` (a team's shared store) the store is a cache of it: `flush()` also publishes
/// every object put since the last one there, and `get`, `read` and `size` fetch an object this
/// store lacks from it. `contains` and `allIDs` answer for the local copy only.
public final class FileBlobStore: BlobStore {
    /// Objects larger than this stay loose files (see Docs/BENCHMARKS.md for the measurement).
    public static let defaultLooseThreshold = 1 << 20

    public let root: String
    public let looseThreshold: Int
    /// Seal the open pack once it grows past this many bytes.
    public let packSizeLimit: UInt64
    /// The shared store this one caches, if any.
    public let upstream: (any BlobUpstream)?

    let state: Mutex<State>

    struct LoadedPack {
        let index: PackIndex
        let path: String
        var file: POSIXFile?
    }

    struct OpenPack {
        let name: String
        let file: POSIXFile
        var size: UInt64
        var entries: [BlobID: PackEntry] = [:]
        var buffer: [UInt8] = []
    }

    struct State {
        var packs: [LoadedPack] = []
        var packNames: Set<String> = []
        var open: OpenPack?
        var pendingLoose: [BlobID: String] = [:]
        /// Objects put since they were last published upstream, in the order they were put (a pull
        /// reading them in that order finds neighbours side by side).
        var unpublished: [BlobID] = []
        var unpublishedSet: Set<BlobID> = []

        mutating func toPublish(_ id: BlobID) {
            if unpublishedSet.insert(id).inserted { unpublished.append(id) }
        }
    }

    var objectsDir: String { root + "/objects/sha256" }
    var packsDir: String { root + "/packs" }
    /// Staging for atomic writes, on the same file system as the objects (downloads land here too).
    public var tmpDir: String { root + "/tmp" }

    /// Creates the directories of an empty store under `root`.
    public static func create(at root: String) throws {
        for dir in [root, root + "/objects", root + "/objects/sha256", root + "/packs", root + "/tmp"] {
            try FileOps.makeDirectory(dir)
        }
    }

    /// Opens the store at `root` (made by `create(at:)`), loading its pack indexes.
    public init(root: String, looseThreshold: Int = defaultLooseThreshold, packSizeLimit: UInt64 = 512 << 20,
                upstream: (any BlobUpstream)? = nil) throws {
        self.root = root
        self.upstream = upstream
        self.looseThreshold = looseThreshold
        self.packSizeLimit = packSizeLimit
        self.state = Mutex(State())
        guard FileOps.exists(root + "/packs") else {
            throw StoreError.damagedFile(path: root, reason: "not a Cairn object store (no packs/ directory)")
        }
        // Deletions and writes go inside these by name: a symbolic link in their place (planted by
        // someone sharing the repository) would send them elsewhere, so anything but a real directory is refused.
        for dir in [root, root + "/objects", root + "/objects/sha256", root + "/packs", root + "/tmp"] where !FileOps.isRealDirectory(dir) {
            throw StoreError.unsafeEntry(path: dir, expected: "a real directory")
        }
        try refreshPacks()
    }

    // MARK: Paths

    /// Where the loose object `id` lives.
    public func loosePath(_ id: BlobID) -> String {
        let hex = id.hex
        return "\(objectsDir)/\(hex.prefix(2))/\(hex.dropFirst(2))"
    }

    /// Loads indexes of packs that appeared since the last look (e.g. written by another process).
    public func refreshPacks() throws {
        let names = try FileOps.list(packsDir).filter { $0.hasSuffix(".idx") }.map { String($0.dropLast(4)) }
        let present = Set(names)
        let known = state.withLock { state in
            // Packs removed by gc since the last look.
            for gone in state.packNames.subtracting(present) { Self.forget(gone, in: &state) }
            return state.packNames
        }
        var loaded: [LoadedPack] = []
        for name in names where !known.contains(name) {
            let index = try PackIndex(path: "\(packsDir)/\(name).idx", name: name)
            loaded.append(LoadedPack(index: index, path: "\(packsDir)/\(name).pack", file: nil))
        }
        guard !loaded.isEmpty else { return }
        state.withLock { state in
            for pack in loaded where !state.packNames.contains(pack.index.name) {
                state.packNames.insert(pack.index.name)
                state.packs.append(pack)
            }
        }
    }

    private static func forget(_ name: String, in state: inout State) {
        state.packNames.remove(name)
        state.packs.removeAll { $0.index.name == name }
    }

    func forgetPack(_ name: String) {
        state.withLock { Self.forget(name, in: &$0) }
    }

    /// Writes `blobs` into a new pack even if other packs hold them (gc's repack), and seals it.
    func writeFreshPack(_ blobs: [HashedBlob]) throws {
        guard !blobs.isEmpty else { return }
        try state.withLock { state throws in
            if state.open != nil { try sealOpenPack(&state) }
            do {
                for blob in blobs { try appendToOpenPack(blob, &state) }
                try sealOpenPack(&state)
            } catch {
                discardPending(&state)
                throw error
            }
        }
    }

    // MARK: Writing

    @discardableResult
    public func put(_ blob: HashedBlob) throws -> Bool {
        try put(blob, publish: true)
    }

    /// Stores a copy of an object fetched from `upstream` (it is not published back). `loose`
    /// keeps a small one as a file of its own rather than in a pack: for objects fetched one at a
    /// time (a labeling UI's reads), where a pack each would leave thousands of packs for every
    /// later lookup and index reload to go through.
    @discardableResult
    public func cache(_ blob: HashedBlob, loose: Bool = false) throws -> Bool {
        loose ? try putLoose(blob) : try put(blob, publish: false)
    }

    private func put(_ blob: HashedBlob, publish: Bool) throws -> Bool {
        if publish && upstream != nil { state.withLock { $0.toPublish(blob.id) } }
        if blob.data.count > looseThreshold {
            return try putLoose(blob)
        }
        return try state.withLock { state throws -> Bool in
            // Small objects are only ever packed (unless the threshold changed, when at worst an
            // object is stored twice), so no loose-file lookup is needed here.
            if Self.locate(blob.id, in: &state) != nil { return false }
            do {
                try appendToOpenPack(blob, &state)
            } catch {
                discardPending(&state)
                throw error
            }
            return true
        }
    }

    private func appendToOpenPack(_ blob: HashedBlob, _ state: inout State) throws {
        if state.open == nil {
            let name = FileOps.uniqueName()
            let file = try POSIXFile(path: "\(tmpDir)/\(name).pack", flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o444)
            state.open = OpenPack(name: name, file: file, size: UInt64(PackFormat.packHeaderSize))
            state.open!.buffer = PackFormat.packHeader()
        }
        let header = PackFormat.recordHeader(id: blob.id, length: blob.data.count)
        let offset = state.open!.size + UInt64(header.count)
        state.open!.buffer.append(contentsOf: header)
        if blob.data.count >= 64 << 10 {
            // Large enough to write straight from the caller's bytes, saving a copy.
            try Self.drainBuffer(&state.open!)
            try state.open!.file.writeAll(blob.data)
        } else {
            state.open!.buffer.append(contentsOf: blob.data)
        }
        state.open!.size = offset + UInt64(blob.data.count)
        state.open!.entries[blob.id] = PackEntry(id: blob.id, offset: offset, length: UInt64(blob.data.count))
        if state.open!.buffer.count >= 4 << 20 { try Self.drainBuffer(&state.open!) }
        if state.open!.size >= packSizeLimit { try sealOpenPack(&state) }
    }

    /// Drops every object put since the last `flush()` and deletes its staging files: what a
    /// command that fails before it flushes must do, so nothing it staged stays on a full disk.
    public func discardPending() {
        state.withLock { discardPending(&$0) }
    }

    /// Takes over `path`, a file in `tmpDir` holding exactly the bytes of `id` (a caller that
    /// streamed a download there has verified the hash), as a loose object to publish at the next
    /// `flush()`. When the store already holds `id`, the file is deleted. Returns true when new.
    /// `publish: false` is for a copy fetched from `upstream`.
    @discardableResult
    public func adoptStaged(_ path: String, id: BlobID, publish: Bool = true) throws -> Bool {
        guard (path as NSString).deletingLastPathComponent == tmpDir else {
            throw StoreError.io(operation: "adopt", path: path, errno: EXDEV)
        }
        if publish && upstream != nil { state.withLock { $0.toPublish(id) } }
        if try contains(id) {
            try FileOps.remove(path)
            return false
        }
        return try state.withLock { state throws -> Bool in
            if state.pendingLoose[id] != nil {
                try FileOps.remove(path)
                return false
            }
            state.pendingLoose[id] = path
            return true
        }
    }

    /// After a failed write, drops every object not yet flushed and deletes its staging files, so a
    /// full disk leaves nothing partial behind. Callers only reference objects after `flush()`.
    private func discardPending(_ state: inout State) {
        if let open = state.open { try? FileOps.remove("\(tmpDir)/\(open.name).pack") }
        state.open = nil
        for tmp in state.pendingLoose.values { try? FileOps.remove(tmp) }
        state.pendingLoose = [:]
        // Nothing put since the last flush will be referenced now; objects flushed here but not
        // published are put again by whoever references them next.
        state.unpublished = []
        state.unpublishedSet = []
    }

    private func putLoose(_ blob: HashedBlob) throws -> Bool {
        if try contains(blob.id) { return false }
        let tmp = "\(tmpDir)/\(FileOps.uniqueName()).obj"
        do {
            let file = try POSIXFile(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
            try file.writeAll(blob.data)
        } catch {
            // A failed write (a full disk) drops everything staged since the last flush, as a
            // failed pack append does: the caller cannot reference any of it now.
            try? FileOps.remove(tmp)
            discardPending()
            throw error
        }
        return state.withLock { state in
            if state.pendingLoose[blob.id] != nil {
                try? FileOps.remove(tmp)
                return false
            }
            state.pendingLoose[blob.id] = tmp
            return true
        }
    }

    @discardableResult
    public func putFile(atPath path: String) throws -> (id: BlobID, isNew: Bool) {
        let source = try POSIXFile(path: path, flags: O_RDONLY)
        if try source.size() <= UInt64(looseThreshold) {
            let blob = HashedBlob(try source.read(count: Int(try source.size()), at: 0))
            return (blob.id, try put(blob))
        }
        let tmp = "\(tmpDir)/\(FileOps.uniqueName()).obj"
        var hasher = SHA256()
        do {
            let out = try POSIXFile(path: tmp, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try source.readSome(into: $0) }
                if n == 0 { break }
                try chunk.withUnsafeBytes { raw in
                    let part = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    hasher.update(bufferPointer: part)
                    try out.writeAll(part)
                }
            }
        } catch {
            try? FileOps.remove(tmp)
            discardPending()
            throw error
        }
        let id = BlobID(digest: hasher.finalize())
        if upstream != nil { state.withLock { $0.toPublish(id) } }
        if try contains(id) {
            try FileOps.remove(tmp)
            return (id, false)
        }
        let isNew = state.withLock { state in
            if state.pendingLoose[id] != nil { return false }
            state.pendingLoose[id] = tmp
            return true
        }
        if !isNew { try FileOps.remove(tmp) }
        return (id, isNew)
    }

    /// Seals what was put since the last flush and, with an upstream, publishes it there: once this
    /// returns, every object put is durable here and upstream.
    public func flush() throws {
        try flushLocally()
        guard let upstream else { return }
        let ids = state.withLock { $0.unpublished }
        guard !ids.isEmpty else { return }
        try upstream.publish(ids, from: self)
        state.withLock { state in
            state.unpublishedSet.subtract(ids)
            state.unpublished = state.unpublished.filter { state.unpublishedSet.contains($0) }
        }
    }

    /// Seals what was put since the last flush, here only (for copies fetched from upstream).
    public func flushLocally() throws {
        try state.withLock { state throws in
            do {
                if state.open != nil { try sealOpenPack(&state) }
                try publishLoose(&state)
            } catch {
                discardPending(&state)
                throw error
            }
        }
    }

    private static func drainBuffer(_ pack: inout OpenPack) throws {
        guard !pack.buffer.isEmpty else { return }
        try pack.file.writeAll(pack.buffer)
        pack.buffer.removeAll(keepingCapacity: true)
    }

    /// Makes the open pack durable, then its index, then publishes both.
    private func sealOpenPack(_ state: inout State) throws {
        guard var pack = state.open else { return }
        state.open = nil
        do {
            try Self.drainBuffer(&pack)
            try pack.file.sync()
            let packPath = "\(packsDir)/\(pack.name).pack"
            try FileOps.rename("\(tmpDir)/\(pack.name).pack", packPath)
            let indexData = PackFormat.encodeIndex(Array(pack.entries.values))
            let tmpIndex = "\(tmpDir)/\(pack.name).idx"
            let indexFile = try POSIXFile(path: tmpIndex, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o444)
            try indexFile.writeAll(indexData)
            try indexFile.sync()
            try FileOps.rename(tmpIndex, "\(packsDir)/\(pack.name).idx")
            try FileOps.syncDirectory(packsDir)
            let index = try PackIndex(data: indexData, name: pack.name, path: tmpIndex, packSize: pack.size)
            state.packs.append(LoadedPack(index: index, path: packPath, file: nil))
            state.packNames.insert(pack.name)
        } catch {
            // Nothing was published: remove what was staged so no partial pack lingers.
            try? FileOps.remove("\(tmpDir)/\(pack.name).pack")
            try? FileOps.remove("\(packsDir)/\(pack.name).pack")
            try? FileOps.remove("\(tmpDir)/\(pack.name).idx")
            throw error
        }
    }

    /// fsyncs staged loose objects (in parallel), renames them into place, fsyncs their directories.
    private func publishLoose(_ state: inout State) throws {
        guard !state.pendingLoose.isEmpty else { return }
        let pending = Array(state.pendingLoose)
        state.pendingLoose = [:]
        do {
            try Parallel.forEach(pending.count) { i in try POSIXFile(path: pending[i].value, flags: O_RDONLY).sync() }
        } catch {
            for (_, tmp) in pending { try? FileOps.remove(tmp) }
            throw error
        }
        var directories: Set<String> = []
        var createdFanout = false
        for (n, (id, tmp)) in pending.enumerated() {
            do {
                let dir = "\(objectsDir)/\(id.hex.prefix(2))"
                if !directories.contains(dir) && !FileOps.exists(dir) {
                    try FileOps.makeDirectory(dir)
                    createdFanout = true
                }
                directories.insert(dir)
                try FileOps.rename(tmp, loosePath(id))
            } catch {
                // Those not renamed yet would stay in tmp/ for good: remove them.
                for (_, left) in pending[n...] { try? FileOps.remove(left) }
                throw error
            }
        }
        for dir in directories { try FileOps.syncDirectory(dir) }
        if createdFanout { try FileOps.syncDirectory(objectsDir) }
    }

    // MARK: Reading

    private enum Location {
        case packed(packIndex: Int, PackEntry)
        case open(PackEntry)
        case pendingLoose(String)
    }

    private static func locate(_ id: BlobID, in state: inout State) -> Location? {
        if let entry = state.open?.entries[id] { return .open(entry) }
        if let tmp = state.pendingLoose[id] { return .pendingLoose(tmp) }
        // By index: `enumerated()` would copy (retain and release) every pack's fields per lookup.
        for i in state.packs.indices {
            if let entry = state.packs[i].index.find(id) { return .packed(packIndex: i, entry) }
        }
        return nil
    }

    public func contains(_ id: BlobID) throws -> Bool {
        if state.withLock({ Self.locate(id, in: &$0) }) != nil { return true }
        return FileOps.exists(loosePath(id))
    }

    /// Fetches from upstream, in one batch, those of `ids` this store does not hold: for a reader
    /// about to read many (without an upstream, nothing happens).
    public func prefetch(_ ids: [BlobID]) throws {
        guard let upstream else { return }
        let missing = try ids.filter { try !contains($0) }
        if !missing.isEmpty { _ = try upstream.fetch(missing, into: self) }
    }

    /// Finds `id`, reloading pack indexes once if another process may have added it, and fetching
    /// it from upstream when this store does not hold it.
    private func resolve(_ id: BlobID) throws -> (file: POSIXFile, offset: UInt64, length: UInt64, location: String) {
        if let found = try resolveLocally(id) { return found }
        if let upstream, try upstream.fetch([id], into: self).contains(id), let found = try resolveLocally(id) { return found }
        throw StoreError.notFound(id)
    }

    private func resolveLocally(_ id: BlobID) throws -> (file: POSIXFile, offset: UInt64, length: UInt64, location: String)? {
        for attempt in 0..<2 {
            let found = try state.withLock { state throws -> (POSIXFile, UInt64, UInt64, String)? in
                switch Self.locate(id, in: &state) {
                case .open(let entry)?:
                    try Self.drainBuffer(&state.open!)
                    return (state.open!.file, entry.offset, entry.length, "the open pack \(state.open!.name)")
                case .pendingLoose(let tmp)?:
                    let file = try POSIXFile(path: tmp, flags: O_RDONLY)
                    return (file, 0, try file.size(), tmp)
                case .packed(let i, let entry)?:
                    if state.packs[i].file == nil {
                        do {
                            state.packs[i].file = try POSIXFile(path: state.packs[i].path, flags: O_RDONLY)
                        } catch StoreError.io(_, _, ENOENT) where attempt == 0 {
                            return nil  // removed by gc after we loaded its index: look again
                        }
                    }
                    return (state.packs[i].file!, entry.offset, entry.length,
                            "\(state.packs[i].path) offset \(entry.offset)")
                case nil:
                    return nil
                }
            }
            if let found { return found }
            let loose = loosePath(id)
            // Not a loose object when absent; any other failure (a permission error, say) is reported as itself.
            if let file = try Self.openIfPresent(loose) { return (file, 0, try file.size(), loose) }
            if attempt == 0 { try refreshPacks() }
        }
        return nil
    }

    /// The file at `path` open for reading, or nil when there is none.
    private static func openIfPresent(_ path: String) throws -> POSIXFile? {
        do {
            return try POSIXFile(path: path, flags: O_RDONLY)
        } catch StoreError.io(_, _, ENOENT) {
            return nil
        }
    }

    public func get(_ id: BlobID) throws -> Data {
        let (file, offset, length, location) = try resolve(id)
        let data: Data
        do {
            data = try file.read(count: Int(length), at: offset)
        } catch StoreError.damagedFile {
            throw StoreError.corrupt(id, location: location)
        }
        guard BlobID(hashing: data) == id else { throw StoreError.corrupt(id, location: location) }
        return data
    }

    public func read(_ id: BlobID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let (file, offset, length, location) = try resolve(id)
        var hasher = SHA256()
        var done: UInt64 = 0
        let chunkSize: UInt64 = 1 << 20
        while done < length {
            let count = Int(min(chunkSize, length - done))
            let chunk: Data
            do {
                chunk = try file.read(count: count, at: offset + done)
            } catch StoreError.damagedFile {
                throw StoreError.corrupt(id, location: location)
            }
            try chunk.withUnsafeBytes { raw in
                hasher.update(bufferPointer: raw)
                try body(raw)
            }
            done += UInt64(count)
        }
        guard BlobID(digest: hasher.finalize()) == id else { throw StoreError.corrupt(id, location: location) }
    }

    public func size(of id: BlobID) throws -> UInt64 { try resolve(id).length }

    public func allIDs() throws -> [BlobID] {
        try refreshPacks()
        var ids = Set<BlobID>()
        state.withLock { state in
            for pack in state.packs { for entry in pack.index.entries { ids.insert(entry.id) } }
            if let open = state.open { ids.formUnion(open.entries.keys) }
            ids.formUnion(state.pendingLoose.keys)
        }
        for object in try looseObjects() { if let id = object.id { ids.insert(id) } }
        return Array(ids)
    }
}
