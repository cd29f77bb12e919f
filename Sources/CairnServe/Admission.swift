import CairnInference
import Foundation
import NIOCore
import Synchronization

/// How many inference requests are worked on at once, and how many may wait for a turn.
///
/// A request is admitted before its body is read, so one that waits holds no memory but its
/// connection; the work of an admitted one (parsing, decoding, preprocessing) runs on
/// `Admission.work`, never on the threads that answer health and metadata requests. Past
/// `waiting` requests queued, a request is refused at once with 503 and `Retry-After`.
actor Admission {
    private let limit: Int
    private let waitingLimit: Int
    private var active = 0
    private var queue: [CheckedContinuation<Void, Never>] = []

    init(active: Int, waiting: Int) {
        (limit, waitingLimit) = (max(1, active), max(0, waiting))
    }

    /// Waits for a turn. - Throws: a 503 when `waiting` requests already wait.
    func enter() async throws(InferError) {
        if active < limit {
            active += 1
            return
        }
        guard queue.count < waitingLimit else {
            throw InferError(code: 503, message: "the server is busy (\(limit) requests in progress, \(queue.count) waiting); try again shortly")
        }
        await withCheckedContinuation { queue.append($0) }
    }

    /// Ends a turn: the next waiting request takes it.
    func leave() {
        if queue.isEmpty { active -= 1 } else { queue.removeFirst().resume() }
    }

    /// Runs `body` in a turn.
    func admitted<T: Sendable>(_ body: @Sendable () async throws(InferError) -> T) async throws(InferError) -> T {
        try await enter()
        let result: Result<T, InferError>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        leave()
        return try result.get()
    }

    /// Runs CPU-heavy `body` (parsing, decoding) on a queue of its own and awaits it, so the
    /// cooperative threads stay free for every other request.
    static func work<T: Sendable>(_ body: @escaping @Sendable () throws(InferError) -> T) async throws(InferError) -> T {
        let result: Result<T, InferError> = await withCheckedContinuation { continuation in
            workQueue.async {
                continuation.resume(returning: Result { () throws(InferError) -> T in try body() })
            }
        }
        return try result.get()
    }

    private static let workQueue = DispatchQueue(label: "cairn-serve-work", attributes: .concurrent)
}

/// How many connections are open, shared by every `ConnectionLimit`.
final class ConnectionCount: Sendable {
    let open = Atomic<Int>(0)
}

/// Closes connections past `limit` open at once as they arrive (each costs buffers and a task).
///
/// `@unchecked Sendable`: NIO calls a handler only on its channel's event loop; `counted` is
/// touched there alone, and the count is atomic.
final class ConnectionLimit: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    private let count: ConnectionCount
    private let limit: Int
    private var counted = false

    init(count: ConnectionCount, limit: Int) {
        (self.count, self.limit) = (count, limit)
    }

    func channelActive(context: ChannelHandlerContext) {
        if count.open.add(1, ordering: .relaxed).newValue > limit {
            count.open.subtract(1, ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        counted = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            count.open.subtract(1, ordering: .relaxed)
            counted = false
        }
        context.fireChannelInactive()
    }
}
