import Foundation

/// A content-addressed store of immutable blobs.
///
/// ```swift
/// let blob = HashedBlob(Data(contentsOf: url))
/// try store.put(blob)          // stored, not yet durable
/// try store.flush()            // now durable and visible to other processes
/// let bytes = try store.get(blob.id)   // verified against the id
/// ```
///
/// Writes are buffered: an object is readable by this store at once, and durable and visible to
/// other processes after `flush()`. Callers that record ids elsewhere (the catalog) flush first.
public protocol BlobStore: AnyObject, Sendable {
    /// Stores `blob` unless an object with its id exists. Returns true when it was new.
    @discardableResult
    func put(_ blob: HashedBlob) throws -> Bool

    /// Streams the file at `path` into the store without holding it in memory.
    /// Returns its id and whether it was new.
    @discardableResult
    func putFile(atPath path: String) throws -> (id: BlobID, isNew: Bool)

    /// True when an object with this id is stored (durably or pending a flush).
    func contains(_ id: BlobID) throws -> Bool

    /// The object's bytes, verified against its id.
    /// - Throws: `StoreError.notFound`, `StoreError.corrupt`.
    func get(_ id: BlobID) throws -> Data

    /// Streams the object's bytes to `body` in chunks and verifies them once all are read.
    /// - Throws: `StoreError.corrupt` after the last chunk when the bytes do not match the id.
    func read(_ id: BlobID, _ body: (UnsafeRawBufferPointer) throws -> Void) throws

    /// The object's size in bytes.
    func size(of id: BlobID) throws -> UInt64

    /// Makes every object put so far durable and visible to other processes.
    func flush() throws

    /// Every stored object's id, in no particular order.
    func allIDs() throws -> [BlobID]
}

/// Where a store's objects also live: a team's shared store (S3 or a directory), which the local
/// store is a cache of. A `FileBlobStore` with an upstream publishes every object put into it at
/// `flush()`, before the caller records its id anywhere (so no one else is ever told of an object
/// they cannot fetch), and fetches an object it lacks when it is read.
///
/// The calls block; an implementation on async I/O must not run them on the event loops it needs.
public protocol BlobUpstream: Sendable {
    /// Makes each object in `ids` (read from `store`) durable upstream, unless it holds it already.
    func publish(_ ids: [BlobID], from store: FileBlobStore) throws

    /// Copies the objects in `ids` upstream holds into `store` (verified, put with `cache` and
    /// flushed) and returns their ids; the others are left out.
    func fetch(_ ids: [BlobID], into store: FileBlobStore) throws -> Set<BlobID>

    /// Which of `ids` upstream holds.
    func holding(_ ids: [BlobID]) throws -> Set<BlobID>

    /// Deletes every upstream copy of `ids` (a purge); returns the copies and bytes erased.
    func erase(_ ids: Set<BlobID>) throws -> (objects: Int, bytes: Int64)

    /// Where upstream is, for messages (no credentials).
    var location: String { get }
}
