import Dispatch
import Foundation

/// Blobs on an S3-compatible server, one object per blob at `PREFIX/objects/<id hex>`.
///
/// The synchronous `BlobStore` methods serve single reads and writes (`fsck --repair`, reading a
/// remote tree); `upload` and `download` move many objects in parallel. Every download is hashed
/// and compared with its id before a caller sees it.
public final class S3BlobStore: BlobStore {
    public let client: S3Client

    public init(client: S3Client) {
        self.client = client
    }

    public static func key(_ id: BlobID) -> String { "objects/\(id.hex)" }

    // MARK: BlobStore

    public func put(_ blob: HashedBlob) throws -> Bool {
        _ = try blocking { try await self.client.put(Self.key(blob.id), blob.data) }
        return true
    }

    public func putFile(atPath path: String) throws -> (id: BlobID, isNew: Bool) {
        guard let data = FileManager.default.contents(atPath: path) else { throw StoreError.fromErrno(errno, "read", path) }
        let blob = HashedBlob(data)
        return (blob.id, try put(blob))
    }

    public func contains(_ id: BlobID) throws -> Bool {
        try blocking { try await self.client.head(Self.key(id)) != nil }
    }

    public func get(_ id: BlobID) throws -> Data {
        try blocking { try await self.fetch(id).data }
    }

    public func read(_ id: BlobID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try get(id).withUnsafeBytes { try body($0) }
    }

    public func size(of id: BlobID) throws -> UInt64 {
        guard let size = try blocking({ try await self.client.head(Self.key(id)) }) else { throw StoreError.notFound(id) }
        return size
    }

    public func flush() throws {}

    public func allIDs() throws -> [BlobID] {
        try blocking { try await self.client.list(prefix: "objects/") }.compactMap { BlobID(hex: $0.key.dropFirst(8)) }
    }

    // MARK: Bulk transfer

    /// The blob's bytes, verified against its id: a mismatch throws `StoreError.corrupt`
    /// naming the remote object, and the bytes are not returned.
    public func fetch(_ id: BlobID) async throws -> HashedBlob {
        let blob: HashedBlob
        do {
            blob = HashedBlob(try await client.get(Self.key(id)))
        } catch S3Error.notFound {
            throw StoreError.notFound(id)
        }
        guard blob.id == id else {
            throw StoreError.corrupt(id, location: "\(client.location.url)/\(Self.key(id))")
        }
        return blob
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
