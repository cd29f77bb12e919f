import CairnStore
import Foundation
import Glibc

extension Repository {
    /// Runs `body` holding the repository's writer lock (`.cairn/lock`, flock(2)).
    ///
    /// Commands that store objects and then reference them (import, snapshot) hold it shared, so
    /// they run together; gc holds it exclusively, so it never deletes an object that a writer has
    /// just found already stored (deduplicated) but not yet recorded. The kernel drops the lock if
    /// the holder dies. A read-only repository has no writers, so nothing is locked there.
    public func withLock<T>(exclusive: Bool, _ body: () throws -> T) throws -> T {
        if catalog.isReadOnly { return try body() }
        let file = try POSIXFile(path: cairnDirectory + "/lock", flags: O_RDWR | O_CREAT)
        while flock(file.fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno != EINTR { throw StoreError.fromErrno(errno, "flock", file.path) }
        }
        defer { flock(file.fd, LOCK_UN) }
        return try body()
    }

    /// `withLock` for async work (push and pull): the lock is held across every suspension.
    public func withLock<T>(exclusive: Bool, _ body: () async throws -> T) async throws -> T {
        if catalog.isReadOnly { return try await body() }
        let file = try POSIXFile(path: cairnDirectory + "/lock", flags: O_RDWR | O_CREAT)
        while flock(file.fd, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            if errno != EINTR { throw StoreError.fromErrno(errno, "flock", file.path) }
        }
        defer { flock(file.fd, LOCK_UN) }
        return try await body()
    }
}
