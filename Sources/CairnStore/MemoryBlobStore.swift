import Foundation
import Synchronization

/// A blob store held in memory, for tests and for callers that need a scratch store.
public final class MemoryBlobStore: BlobStore {
    private let objects = Mutex<[BlobID: Data]>([:])

    public init() {}

    @discardableResult
    public func put(_ blob: HashedBlob) throws -> Bool {
        objects.withLock { objects in
            if objects[blob.id] != nil { return false }
            objects[blob.id] = blob.data
            return true
        }
    }

    @discardableResult
    public func putFile(atPath path: String) throws -> (id: BlobID, isNew: Bool) {
        let blob = HashedBlob(try Data(contentsOf: URL(fileURLWithPath: path)))
        return (blob.id, try put(blob))
    }

    public func contains(_ id: BlobID) throws -> Bool { objects.withLock { $0[id] != nil } }

    public func get(_ id: BlobID) throws -> Data {
        guard let data = objects.withLock({ $0[id] }) else { throw StoreError.notFound(id) }
        guard BlobID(hashing: data) == id else { throw StoreError.corrupt(id, location: "memory") }
        return data
    }

    public func read(_ id: BlobID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try get(id).withUnsafeBytes { try body($0) }
    }

    public func size(of id: BlobID) throws -> UInt64 {
        guard let data = objects.withLock({ $0[id] }) else { throw StoreError.notFound(id) }
        return UInt64(data.count)
    }

    public func flush() throws {}

    public func allIDs() throws -> [BlobID] { objects.withLock { Array($0.keys) } }

    /// Replaces an object's bytes without changing its id: a test's way to simulate bit rot.
    public func corrupt(_ id: BlobID, with data: Data) {
        objects.withLock { $0[id] = data }
    }
}
