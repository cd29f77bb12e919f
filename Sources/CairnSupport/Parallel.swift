import Dispatch
import Foundation
import Synchronization

/// Bounded parallel loops over indices: every CPU-bound "do this for each item" in Cairn (import's
/// hashing and decoding, the training loader, checkout, store verification, agreement checks)
/// goes through here, so work sharing, cancellation on error and error reporting are written once.
///
/// ```swift
/// let sizes = try Parallel.map(paths.count) { i in try POSIXFile(path: paths[i], flags: O_RDONLY).size() }
/// ```
///
/// Workers take the next index from a shared counter, so uneven items balance themselves. When
/// `body` throws, no new index is started, the loop waits for the running ones, and the error of
/// the lowest failing index is rethrown (the same error on every run).
public enum Parallel {
    /// The machine's cores: the default number of workers.
    public static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// Calls `body` for every index in `0..<count` on up to `workers` threads.
    ///
    /// - Complexity: `count` calls of `body`, spread over `min(workers, count)` threads.
    public static func forEach(_ count: Int, workers: Int = cores, _ body: @Sendable (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let next = Atomic<Int>(0)
        let failure = Mutex<(index: Int, error: any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < count, failure.withLock({ $0 == nil }) else { return }
                do {
                    try body(i)
                } catch {
                    failure.withLock { if $0 == nil || i < $0!.index { $0 = (i, error) } }
                }
            }
        }
        if let (_, error) = failure.withLock({ $0 }) { throw error }
    }

    /// `transform` of every index in `0..<count`, in index order, computed on up to `workers` threads.
    public static func map<T: Sendable>(_ count: Int, workers: Int = cores, _ transform: @Sendable (Int) throws -> T) throws -> [T] {
        let results = Slots<T>(count)
        try forEach(count, workers: workers) { i in results.set(i, try transform(i)) }
        return results.values()
    }
}

/// Results written by parallel workers, one slot per index.
private final class Slots<T: Sendable>: @unchecked Sendable {
    // @unchecked: each index is claimed by exactly one worker through `Parallel.forEach`'s atomic
    // counter, so no two threads touch the same slot; `values()` runs after concurrentPerform has
    // joined every worker.
    private let buffer: UnsafeMutableBufferPointer<T?>
    init(_ count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: nil)
    }
    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }
    func set(_ i: Int, _ value: T) { buffer[i] = value }
    func values() -> [T] { buffer.map { $0! } }
}
