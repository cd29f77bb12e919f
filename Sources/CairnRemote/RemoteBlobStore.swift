import CairnStore
import CairnSupport
import Crypto
import Dispatch
import Foundation
import Synchronization

/// Blobs in a remote's object store (S3, a directory, memory): small ones in packs, large ones as
/// objects of their own.
///
/// - `PREFIX/packs/<name>.pack` + `.idx`: many objects in one pack, in the local pack format,
///   named by the pack's SHA-256; the index is written after the pack and makes it visible.
/// - `PREFIX/objects/<id hex>`: one object larger than `looseThreshold`.
///
/// One request then carries thousands of small images, in both directions: a push uploads packs
/// of up to `packTarget` bytes, and a pull reads the objects it wants with range requests, merging
/// neighbours into one. A remote may be written by others, so nothing it says is trusted before it
/// is checked: every index is validated against its pack's listed size (and packs hold nothing over
/// `looseThreshold`), every download is hashed and compared with its id before a caller sees it,
/// large objects are streamed to disk rather than held in memory, and an object stored twice is
/// fetched from its other copy when the first is damaged.
public final class RemoteBlobStore: Sendable {
    public let objects: any ObjectStore
    /// Objects up to this size travel in packs.
    public static let looseThreshold = FileBlobStore.defaultLooseThreshold
    /// A push closes a pack once it holds this many bytes.
    public static let packTarget = 8 << 20
    /// Range reads merge objects less than this far apart, up to `maxRange` bytes per request.
    static let maxGap: UInt64 = 1 << 20
    static let maxRange: UInt64 = 16 << 20
    /// The largest loose object a pull accepts (and streams to disk).
    public static let maxObjectSize = 1 << 40

    private let indexes = Mutex<[String: PackIndex]>([:])

    public init(objects: any ObjectStore) {
        self.objects = objects
    }

    public static func key(_ id: BlobID) -> String { "objects/\(id.hex)" }
    static func packKey(_ name: String) -> String { "packs/\(name).pack" }
    static func indexKey(_ name: String) -> String { "packs/\(name).idx" }

    // MARK: Packs

    /// Reads the indexes of remote packs not seen yet (one listing, then one GET per new pack) and
    /// validates each against its pack's listed size. An index whose pack is not listed is not
    /// visible yet and is left alone. Returns how many objects the new indexes hold.
    /// - Throws: `StoreError.damagedFile` naming a remote index that fails any check.
    @discardableResult
    public func loadPackIndexes() async throws -> Int {
        let known = indexes.withLock { Set($0.keys) }
        let listing = try await objects.list(prefix: "packs/")
        var packSizes: [String: UInt64] = [:]
        var names: [String] = []
        for object in listing {
            let file = object.key.dropFirst("packs/".count)
            if file.hasSuffix(".pack") { packSizes[String(file.dropLast(5))] = object.size }
            if file.hasSuffix(".idx") { names.append(String(file.dropLast(4))) }
        }
        let wanted = names.filter { !known.contains($0) && packSizes[$0] != nil }.sorted()
        let sizes = packSizes
        var count = 0
        try await forEachConcurrently(wanted, { [objects] name in
            let key = Self.indexKey(name)
            let packSize = sizes[name]!
            // An index is 1,056 bytes of header and checksum and 48 per record of at least 41 bytes.
            let limit = Int(min(UInt64(smallObjectLimit), 1_056 + packSize / 41 * 48 + 48))
            return try PackIndex(data: try await objects.get(key, limit: limit), name: name, path: "\(objects.url)/\(key)",
                                 packSize: packSize, maxObjectSize: UInt64(Self.looseThreshold))
        }, done: { name, index in
            count += index.count
            indexes.withLock { $0[name] = index }
        })
        return count
    }

    /// Uploads `blobs` as one pack (the pack, then its index) and returns the bytes sent.
    public func putPack(_ blobs: [HashedBlob]) async throws -> Int {
        let (pack, index) = PackFormat.build(blobs)
        let name = SHA256.hash(data: pack).map { String(format: "%02x", $0) }.joined()
        try await objects.put(Self.packKey(name), pack)
        try await objects.put(Self.indexKey(name), index)
        let loaded = try PackIndex(data: index, name: name, path: Self.indexKey(name), packSize: UInt64(pack.count))
        indexes.withLock { $0[name] = loaded }
        return pack.count + index.count
    }

    /// Uploads `ids`, read from `local`, with at most `objects.parallelism` requests in flight: small
    /// objects in packs, in the order given (so a pull reading them in that order merges neighbours
    /// into one range request), each of about `packSize` bytes (default: an even share of the work
    /// across the parallel requests, 1 to 8 MiB); objects above `looseThreshold` alone. `done` is
    /// called serially with each acknowledged batch's ids and bytes sent.
    public func upload(_ ids: [BlobID], from local: any BlobStore, packSize: Int? = nil,
                       done: ([BlobID], Int64) throws -> Void) async throws {
        let sizes = try ids.map { Int(try local.size(of: $0)) }
        let smallBytes = sizes.filter { $0 <= Self.looseThreshold }.reduce(0, +)
        // Packs no bigger than an even share of the work, so small uploads still run in parallel.
        let target = packSize ?? max(1 << 20, min(Self.packTarget, smallBytes / objects.parallelism + 1))
        // A batch is one pack of small objects, or one large object on its own.
        var batches: [(ids: [BlobID], loose: Bool)] = []
        var pack: [BlobID] = [], packBytes = 0
        for (id, size) in zip(ids, sizes) {
            if size > Self.looseThreshold {
                batches.append(([id], true))
                continue
            }
            pack.append(id)
            packBytes += size
            if packBytes >= target {
                batches.append((pack, false))
                (pack, packBytes) = ([], 0)
            }
        }
        if !pack.isEmpty { batches.append((pack, false)) }
        try await forEachConcurrently(batches, { [objects] batch in
            if batch.loose, let id = batch.ids.first {
                let data = try local.get(id)
                try await objects.put(Self.key(id), data)
                return Int64(data.count)
            }
            return Int64(try await self.putPack(try batch.ids.map { HashedBlob(try local.get($0)) }))
        }, done: { batch, size in try done(batch.ids, size) })
    }

    /// Deletes every copy of `ids` on the remote (a purge): each loose object, and each loaded pack
    /// holding one, rewritten without it — the new pack and index are uploaded before the old
    /// index, then the old pack, are deleted, so every other object stays readable throughout.
    /// Every kept object is verified against its id on the way. Returns the objects and bytes erased.
    public func erase(_ ids: Set<BlobID>) async throws -> (objects: Int, bytes: Int64) {
        var erased = 0, bytes: Int64 = 0
        for id in ids.sorted() {
            guard let size = try await objects.head(Self.key(id)) else { continue }
            try await objects.delete(Self.key(id))
            erased += 1
            bytes += Int64(size)
        }
        let affected = indexes.withLock { indexes in
            indexes.filter { _, index in index.entries.contains { ids.contains($0.id) } }.sorted { $0.key < $1.key }
        }
        for (name, index) in affected {
            let pack = try await objects.get(Self.packKey(name))
            var kept: [HashedBlob] = []
            for entry in index.entries {
                if ids.contains(entry.id) {
                    erased += 1
                    bytes += Int64(entry.length)
                    continue
                }
                guard entry.offset + entry.length <= UInt64(pack.count) else {
                    throw StoreError.damagedFile(path: "\(objects.url)/\(Self.packKey(name))", reason: "shorter than its index says")
                }
                let start = pack.startIndex + Int(entry.offset)
                let blob = HashedBlob(pack.subdata(in: start..<start + Int(entry.length)))
                guard blob.id == entry.id else { throw StoreError.corrupt(entry.id, location: "\(objects.url)/\(Self.packKey(name))") }
                kept.append(blob)
            }
            if !kept.isEmpty { _ = try await putPack(kept) }
            try await objects.delete(Self.indexKey(name))
            try await objects.delete(Self.packKey(name))
            _ = indexes.withLock { $0.removeValue(forKey: name) }
        }
        return (erased, bytes)
    }

    /// Which of `ids` the remote holds: in a loaded pack index, or loose (one HEAD each, in parallel).
    public func holding(_ ids: [BlobID]) async throws -> Set<BlobID> {
        var held = Set(ids.filter { !locations($0).isEmpty })
        try await forEachConcurrently(ids.filter { !held.contains($0) }, { [objects] id in
            try await objects.head(Self.key(id)) != nil
        }, done: { id, present in
            if present { held.insert(id) }
        })
        return held
    }

    /// Which of `ids` the loaded pack indexes hold (no request).
    public func packed(_ ids: [BlobID]) -> Set<BlobID> {
        indexes.withLock { indexes in Set(ids.filter { id in indexes.values.contains { $0.find(id) != nil } }) }
    }

    /// Every loaded pack holding `id`, in pack-name order (so every run tries copies alike).
    private func locations(_ id: BlobID) -> [(pack: String, entry: PackEntry)] {
        indexes.withLock { indexes in
            indexes.keys.sorted().compactMap { name in indexes[name]!.find(id).map { (name, $0) } }
        }
    }

    /// Every object in the loaded packs and every loose object.
    public func allIDs() async throws -> [BlobID] {
        let loose = try await objects.list(prefix: "objects/").compactMap { BlobID(hex: $0.key.dropFirst(8)) }
        return loose + indexes.withLock { $0.values.flatMap { $0.entries.map(\.id) } }
    }

    // MARK: Fetching

    /// A verified object as fetched: small ones in memory, large (loose) ones in a file.
    public enum Fetched: Sendable {
        case bytes(HashedBlob)
        /// A file in the staging directory given to `fetch`, holding the object's exact bytes.
        case file(BlobID, path: String, size: Int)

        public var id: BlobID {
            switch self {
            case .bytes(let blob): blob.id
            case .file(let id, _, _): id
            }
        }

        /// The bytes, read from the file for a large object.
        public func data() throws -> Data {
            switch self {
            case .bytes(let blob): return blob.data
            case .file(_, let path, let size):
                let file = try POSIXFile(path: path, flags: O_RDONLY)
                return try file.read(count: size, at: 0)
            }
        }
    }

    /// The blob's bytes, verified against its id: a mismatch throws `StoreError.corrupt` naming the
    /// remote object, and the bytes are not returned.
    public func fetch(_ id: BlobID, staging: String) async throws -> Data {
        var found: Data?
        try await fetch([id], staging: staging) { fetched in
            found = try fetched.data()
            if case .file(_, let path, _) = fetched { try FileOps.remove(path) }
        }
        guard let found else { throw StoreError.notFound(id) }
        return found
    }

    /// Downloads `ids` with at most `objects.parallelism` requests in flight, calling `done`
    /// serially for each verified object. Objects in loaded packs come by range requests, merging
    /// neighbours; others are streamed, as loose objects, to files in `staging` (`done` owns them).
    /// When a copy's bytes do not match its id, the object's next copy is tried (another pack, then
    /// a loose object); only when none is good does the fetch stop.
    /// - Throws: `StoreError.notFound` for an object the remote lacks, `StoreError.corrupt` naming
    ///   the remote object when no copy is good.
    public func fetch(_ ids: [BlobID], staging: String, done: (Fetched) throws -> Void) async throws {
        var attempt = Dictionary(uniqueKeysWithValues: ids.map { ($0, 0) })
        var pending = ids
        var lastError: [BlobID: any Error] = [:]
        while !pending.isEmpty {
            var failed: [BlobID] = []
            try await fetchOnce(pending, attempts: attempt, staging: staging, done: done) { id, error in
                lastError[id] = lastError[id] ?? error  // the first copy's fault is the one to report
                failed.append(id)
            }
            pending = []
            for id in failed {
                attempt[id, default: 0] += 1
                // Candidates: each pack holding it, then a loose copy.
                if attempt[id]! <= locations(id).count { pending.append(id) } else { throw lastError[id]! }
            }
        }
    }

    /// One round of `fetch`: each id from its candidate number `attempts[id]`; ids whose copy is
    /// damaged go to `failed` (with the error), every other error stops the round.
    private func fetchOnce(_ ids: [BlobID], attempts: [BlobID: Int], staging: String, done: (Fetched) throws -> Void,
                           failed: (BlobID, any Error) -> Void) async throws {
        var byPack: [String: [PackEntry]] = [:]
        var units: [FetchUnit] = []
        for id in ids {
            let candidates = locations(id)
            let n = attempts[id] ?? 0
            if n < candidates.count { byPack[candidates[n].pack, default: []].append(candidates[n].entry) } else { units.append(.loose(id)) }
        }
        for (pack, entries) in byPack {
            var run: [PackEntry] = []
            var runEnd: UInt64 = 0
            for entry in entries.sorted(by: { $0.offset < $1.offset }) {
                if let first = run.first, entry.offset > runEnd + Self.maxGap || entry.offset + entry.length - first.offset > Self.maxRange {
                    units.append(.range(pack: pack, run))
                    run = []
                }
                run.append(entry)
                runEnd = max(runEnd, entry.offset + entry.length)
            }
            if !run.isEmpty { units.append(.range(pack: pack, run)) }
        }
        let location = objects.url
        let maxObject = Self.maxObjectSize
        try await forEachConcurrently(units, { [objects] unit -> [Result<Fetched, StoreError>] in
            switch unit {
            case .loose(let id):
                let path = staging + "/" + FileOps.uniqueName() + ".obj"
                let size: Int, digest: SHA256.Digest
                do {
                    (size, digest) = try await objects.download(Self.key(id), to: path, limit: maxObject)
                } catch S3Error.notFound {
                    return [.failure(.notFound(id))]
                }
                guard BlobID(digest: digest) == id else {
                    try? FileOps.remove(path)
                    return [.failure(.corrupt(id, location: "\(location)/\(Self.key(id))"))]
                }
                return [.success(.file(id, path: path, size: size))]
            case .range(let pack, let entries):
                let start = entries[0].offset
                let end = entries.map { $0.offset + $0.length }.max()!
                let bytes = try await objects.get(Self.packKey(pack), offset: start, length: Int(end - start))
                return entries.map { entry in
                    let from = Int(entry.offset - start)
                    let blob = HashedBlob(bytes.subdata(in: from..<from + Int(entry.length)))
                    guard blob.id == entry.id else {
                        return .failure(.corrupt(entry.id, location: "\(location)/\(Self.packKey(pack)) at offset \(entry.offset)"))
                    }
                    return .success(.bytes(blob))
                }
            }
        }, done: { unit, results in
            for (result, id) in zip(results, unit.ids) {
                switch result {
                case .success(let fetched): try done(fetched)
                case .failure(let error): failed(id, error)
                }
            }
        })
    }

    private enum FetchUnit: Sendable {
        case loose(BlobID)
        case range(pack: String, [PackEntry])

        var ids: [BlobID] {
            switch self {
            case .loose(let id): [id]
            case .range(_, let entries): entries.map(\.id)
            }
        }
    }

    /// Runs `work` for every element with at most `objects.parallelism` in flight, calling
    /// `done` (serially) as each finishes. The first error cancels the rest and is rethrown.
    public func forEachConcurrently<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ work: @escaping @Sendable (Element) async throws -> Result,
        done: (Element, Result) throws -> Void
    ) async throws {
        try await Parallel.forEach(elements, width: objects.parallelism, work, done: done)
    }
}
