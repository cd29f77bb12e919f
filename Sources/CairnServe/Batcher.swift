import CairnModels
import CairnTraining
import Foundation

/// Runs one model's forward passes on a thread of its own, merging requests that wait into one
/// pass: while a pass runs, what arrives queues, and the next pass takes the queue — up to
/// `maxBatch` images, after waiting at most `window` for company when the queue is short. A
/// network keeps per-pass state, so one thread per model is also what keeps it correct.
///
/// `@unchecked Sendable`: `queue` and `stopped` are touched only under `condition`, and `model`'s
/// forward pass only by the batcher's own thread.
final class Batcher: @unchecked Sendable {
    private struct Job {
        var inputs: [Float]
        var count: Int
        var continuation: CheckedContinuation<[Float], Never>
    }

    private let model: TrainedModel
    private let maxBatch: Int
    private let window: TimeInterval
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopped = false

    init(model: TrainedModel, maxBatch: Int, window: TimeInterval) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.window = window
        let thread = Thread { self.loop() }  // the thread keeps the batcher until `stop` ends it
        thread.name = "cairn-serve-batcher"
        thread.start()
    }

    /// Class probabilities of `count` inputs (made by `TrainedModel.input`), `classes` per image.
    func probabilities(_ inputs: [Float], count: Int) async -> [Float] {
        await withCheckedContinuation { continuation in
            condition.lock()
            queue.append(Job(inputs: inputs, count: count, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
    }

    /// Finishes what is queued, then ends the thread.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        let k = model.classes.count
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty {
                condition.unlock()
                return
            }
            if window > 0 {
                let deadline = Date().addingTimeInterval(window)
                while queue.reduce(0, { $0 + $1.count }) < maxBatch && !stopped && condition.wait(until: deadline) {}
            }
            var taken = 0, images = 0
            while taken < queue.count && (taken == 0 || images + queue[taken].count <= maxBatch) {
                images += queue[taken].count
                taken += 1
            }
            let batch = Array(queue.prefix(taken))
            queue.removeFirst(taken)
            condition.unlock()

            var inputs: [Float] = []
            inputs.reserveCapacity(images * model.inputSize)
            for job in batch { inputs += job.inputs }
            let p = model.probabilities(inputs: inputs, count: images)
            var offset = 0
            for job in batch {
                job.continuation.resume(returning: Array(p[offset * k..<(offset + job.count) * k]))
                offset += job.count
            }
        }
    }
}
