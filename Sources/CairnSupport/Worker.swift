import Dispatch
import Synchronization

/// Work done off the caller's thread, one job at a time in the order given: the one way Cairn
/// runs background work (the labeling UI's next frame and its queue count, the labeling loop's
/// retrainer, the importer's commits and its cache read).
///
/// A job is a closure; `submit` runs it after the ones before, `submitIfIdle` only when none is
/// waiting or running (a refresh that is pointless twice over), `start` returns a `Pending` whose
/// `value()` waits for the result, and `wait` returns once every job submitted so far is done.
/// (`cairn serve`'s batcher is the one long-lived thread of its own: it waits for a batch with a
/// deadline, and a network's forward pass keeps per-pass state that must stay on one thread.)
public final class Worker: Sendable {
    private let queue: DispatchQueue
    /// Jobs submitted and not finished.
    private let pending = Mutex(0)

    public init(_ label: String, qos: DispatchQoS = .utility) {
        queue = DispatchQueue(label: label, qos: qos)
    }

    /// Runs `job` after every job submitted before it.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        pending.withLock { $0 += 1 }
        enqueue(job)
    }

    /// Runs `job` when no job is waiting or running; returns whether it was taken.
    @discardableResult
    public func submitIfIdle(_ job: @escaping @Sendable () -> Void) -> Bool {
        let idle = pending.withLock { count in
            guard count == 0 else { return false }
            count = 1
            return true
        }
        if idle { enqueue(job) }
        return idle
    }

    /// Runs `work` after the jobs before it; the result (or error) is `value()` of what is returned.
    public func start<T: Sendable>(_ work: @escaping @Sendable () throws -> T) -> Pending<T> {
        let result = Pending<T>()
        submit { result.finish(Result { try work() }) }
        return result
    }

    /// Waits until every job submitted before this call has finished.
    public func wait() {
        queue.sync {}
    }

    private func enqueue(_ job: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            job()
            pending.withLock { $0 -= 1 }
        }
    }
}

/// The result of a job `Worker.start` runs; `value()` waits for it (from any number of threads).
public final class Pending<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    private let done = DispatchGroup()

    init() { done.enter() }

    fileprivate func finish(_ outcome: Result<T, any Error>) {
        result.withLock { $0 = outcome }
        done.leave()
    }

    /// The job's result, once it has finished.
    /// - Throws: what the job threw.
    public func value() throws -> T {
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
