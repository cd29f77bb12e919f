import CairnStore
import Crypto
import Dispatch
import Foundation
import Synchronization

/// Blobs on an S3-compatible server: small ones in packs, large ones as objects of their own.
///
/// - `PREFIX/packs/<name>.pack` + `.idx`: many objects in one pack, in the local pack format,
///   named by the pack's SHA-256; the index is written after the pack and makes it visible.
/// - `PREFIX/objects/<id hex>`: one object larger than `looseThreshold`.
///
/// One request then carries thousands of small images, in both directions: a push uploads packs
/// of up to `packTarget` bytes, and a pull reads the objects it wants with range requests, merging
/// neighbours into one. Every download is hashed and compared with its id before a caller sees it.
/// The synchronous `BlobStore` methods serve single reads and writes (`fsck --repair`); the async
/// ones move many objects in parallel.
public final class S3BlobStore: BlobStore {
    public let client: S3Client
    /// Objects up to this size travel in packs.
    public static let looseThreshold = FileBlobStore.defaultLooseThreshold
    /// A push closes a pack once it holds this many bytes.
    public static let packTarget = 8 << 20
    /// Range reads merge objects less than this far apart, up to `maxRange` bytes per request.
    static let maxGap: UInt64 = 1 << 20
    static let maxRange: UInt64 = 16 << 20

    private let indexes = Mutex<[String: PackIndex]>([:])

    public init(client: S3Client) {
        self.client = client
    }

    public static func key(_ id: BlobID) -> String { "objects/\(id.hex)" }
    static func packKey(_ name: String) -> String { "packs/\(name).pack" }
    static func indexKey(_ name: String) -> String { "packs/\(name).idx" }

    // MARK: Packs

    /// Reads the indexes of remote packs not seen yet (one listing, then one GET per new pack).
    /// Returns how many objects they hold.
    @discardableResult
    public func loadPackIndexes() async throws -> Int {
        let known = indexes.withLock { Set($0.keys) }
        let names = try await client.list(prefix: "packs/").compactMap { object -> String? in
            let file = object.key.dropFirst("packs/".count)
            return file.hasSuffix(".idx") ? String(file.dropLast(4)) : nil
        }.filter { !known.contains($0) }
        var count = 0
        try await forEachConcurrently(names, { [client] name in
            let key = Self.indexKey(name)
            return try PackIndex(data: try await client.get(key), name: name, path: "\(client.location.url)/\(key)")
        }, done: { name, index in
            count += index.count
            indexes.withLock { $0[name] = index }
        })
        return count
    }

    /// Uploads `blobs` as one pack (the pack, then its index) and returns the bytes sent.
    public func putPack(_ blobs: [HashedBlob]) async throws -> Int {
        let (pack, index) = PackFormat.build(blobs)
        let name = SHA256.hash(data: pack).hexString
        try await client.put(Self.packKey(name), pack)
        try await client.put(Self.indexKey(name), index)
        let loaded = try PackIndex(data: index, name: name, path: Self.indexKey(name))
        indexes.withLock { $0[name] = loaded }
        return pack.count + index.count
    }

    /// Which of `ids` the remote holds: in a loaded pack index, or loose (one HEAD each, in parallel).
    public func holding(_ ids: [BlobID]) async throws -> Set<BlobID> {
        var held = Set(ids.filter { locate($0) != nil })
        try await forEachConcurrently(ids.filter { !held.contains($0) }, { [client] id in
            try await client.head(Self.key(id)) != nil
        }, done: { id, present in
            if present { held.insert(id) }
        })
        return held
    }

    private func locate(_ id: BlobID) -> (pack: String, entry: PackEntry)? {
        indexes.withLock { indexes in
            for (name, index) in indexes { if let entry = index.find(id) { return (name, entry) } }
            return nil
        }
    }

    // MARK: BlobStore

    public func put(_ blob: HashedBlob) throws -> Bool {
        if try contains(blob.id) { return false }
        _ = try blocking { try await self.client.put(Self.key(blob.id), blob.data) }
        return true
    }

    public func putFile(atPath path: String) throws -> (id: BlobID, isNew: Bool) {
        guard let data = FileManager.default.contents(atPath: path) else { throw StoreError.fromErrno(errno, "read", path) }
        let blob = HashedBlob(data)
        return (blob.id, try put(blob))
    }

    public func contains(_ id: BlobID) throws -> Bool {
        try blocking { try await self.holding([id]).contains(id) }
    }

    public func get(_ id: BlobID) throws -> Data {
        try blocking { try await self.fetch(id).data }
    }

    public func read(_ id: BlobID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try get(id).withUnsafeBytes { try body($0) }
    }

    public func size(of id: BlobID) throws -> UInt64 {
        if let (_, entry) = locate(id) { return entry.length }
        guard let size = try blocking({ try await self.client.head(Self.key(id)) }) else { throw StoreError.notFound(id) }
        return size
    }

    public func flush() throws {}

    /// Every object in the loaded packs and every loose object.
    public func allIDs() throws -> [BlobID] {
        let loose = try blocking { try await self.client.list(prefix: "objects/") }.compactMap { BlobID(hex: $0.key.dropFirst(8)) }
        return loose + indexes.withLock { $0.values.flatMap { $0.entries.map(\.id) } }
    }

    // MARK: Bulk transfer

    /// The blob's bytes, verified against its id: a mismatch throws `StoreError.corrupt`
    /// naming the remote object, and the bytes are not returned.
    public func fetch(_ id: BlobID) async throws -> HashedBlob {
        var found: HashedBlob?
        try await fetch([id]) { found = $0 }
        guard let found else { throw StoreError.notFound(id) }
        return found
    }

    /// Downloads `ids` (in packs whose indexes are loaded, or loose) with at most
    /// `client.parallelism` requests in flight, calling `done` serially for each verified blob.
    /// Neighbouring objects in one pack come in one range request. An object absent from the
    /// remote throws `StoreError.notFound`; one whose bytes do not match its id throws
    /// `StoreError.corrupt` before `done` sees it.
    public func fetch(_ ids: [BlobID], done: (HashedBlob) throws -> Void) async throws {
        var byPack: [String: [PackEntry]] = [:]
        var units: [FetchUnit] = []
        for id in ids {
            if let (pack, entry) = locate(id) { byPack[pack, default: []].append(entry) } else { units.append(.loose(id)) }
        }
        for (pack, entries) in byPack {
            var run: [PackEntry] = []
            for entry in entries.sorted(by: { $0.offset < $1.offset }) {
                if let first = run.first, let last = run.last,
                   entry.offset > last.offset + last.length + Self.maxGap || entry.offset + entry.length - first.offset > Self.maxRange {
                    units.append(.range(pack: pack, run))
                    run = []
                }
                run.append(entry)
            }
            if !run.isEmpty { units.append(.range(pack: pack, run)) }
        }
        let location = client.location.url
        try await forEachConcurrently(units, { [client] unit -> [HashedBlob] in
            switch unit {
            case .loose(let id):
                let blob: HashedBlob
                do { blob = HashedBlob(try await client.get(Self.key(id))) } catch S3Error.notFound { throw StoreError.notFound(id) }
                guard blob.id == id else { throw StoreError.corrupt(id, location: "\(location)/\(Self.key(id))") }
                return [blob]
            case .range(let pack, let entries):
                let start = entries[0].offset
                let length = Int(entries.last!.offset + entries.last!.length - start)
                let bytes = try await client.get(Self.packKey(pack), offset: start, length: length)
                return try entries.map { entry in
                    let from = Int(entry.offset - start)
                    let blob = HashedBlob(bytes.subdata(in: from..<from + Int(entry.length)))
                    guard blob.id == entry.id else {
                        throw StoreError.corrupt(entry.id, location: "\(location)/\(Self.packKey(pack)) at offset \(entry.offset)")
                    }
                    return blob
                }
            }
        }, done: { _, blobs in
            for blob in blobs { try done(blob) }
        })
    }

    private enum FetchUnit: Sendable {
        case loose(BlobID)
        case range(pack: String, [PackEntry])
    }

    /// Runs `work` for every element with at most `client.parallelism` in flight, calling
    /// `done` (serially) as each finishes. The first error cancels the rest and is rethrown.
    public func forEachConcurrently<Element: Sendable, Result: Sendable>(
        _ elements: [Element], _ work: @escaping @Sendable (Element) async throws -> Result,
        done: (Element, Result) throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: (Element, Result).self) { group in
            var next = 0
            func add() {
                let element = elements[next]
                next += 1
                group.addTask { (element, try await work(element)) }
            }
            while next < min(client.parallelism, elements.count) { add() }
            while let (element, result) = try await group.next() {
                try done(element, result)
                if next < elements.count { add() }
            }
        }
    }
}

/// Runs `body` on the concurrency pool and waits for it from synchronous code.
/// Must not be called from inside an async task (it would block one of its threads).
public func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
        done.signal()
    }
    done.wait()
    return try box.get()
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private var result: Result<T, any Error>?
    private let lock = NSLock()
    func set(_ value: Result<T, any Error>) {
        lock.lock()
        result = value
        lock.unlock()
    }
    func get() throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try result!.get()
    }
}
