import Dispatch
import Foundation
import Synchronization

/// Bounded parallel loops: every "do this for each item" in Cairn goes through here — import's
/// hashing and decoding, the training loader, checkout, store verification and publishing, the
/// optimizer's update, and (the async form) S3 transfers — so work sharing, stopping on error and
/// error reporting are written once.
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
    public static func forEach<E: Error>(_ count: Int, workers: Int = cores, _ body: @Sendable (Int) throws(E) -> Void) throws(E) {
        guard count > 0 else { return }
        let next = Atomic<Int>(0)
        let failure = Mutex<(index: Int, error: E)?>(nil)
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < count, failure.withLock({ $0 == nil }) else { return }
                do throws(E) {
                    try body(i)
                } catch {
                    failure.withLock { if $0 == nil || i < $0!.index { $0 = (i, error) } }
                }
            }
        }
        if let (_, error) = failure.withLock({ $0 }) { throw error }
    }

    /// `transform` of every index in `0..<count`, in index order, computed on up to `workers` threads.
    public static func map<T: Sendable, E: Error>(_ count: Int, workers: Int = cores, _ transform: @Sendable (Int) throws(E) -> T) throws(E) -> [T] {
        let results = Slots<T>(count)
        try forEach(count, workers: workers) { (i) throws(E) in results.set(i, try transform(i)) }
        return results.values()
    }
}

extension Parallel {
    /// Runs `work` for every element with at most `width` in flight (network transfers, where
    /// waiting is the cost), calling `done` serially on the caller's task as each finishes. The
    /// first error cancels the work still running and is rethrown.
    ///
    /// ```swift
    /// try await Parallel.forEach(names, width: 8, { try await client.get($0) }) { name, data in sizes[name] = data.count }
    /// ```
    public static func forEach<Element: Sendable, Result: Sendable>(
        _ elements: [Element], width: Int, _ work: @escaping @Sendable (Element) async throws -> Result,
        done: (Element, Result) throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: (Element, Result).self) { group in
            var next = 0
            func add() {
                let element = elements[next]
                next += 1
                group.addTask { (element, try await work(element)) }
            }
            while next < min(max(1, width), elements.count) { add() }
            while let (element, result) = try await group.next() {
                try done(element, result)
                if next < elements.count { add() }
            }
        }
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
