import Foundation

/// Timing of the training loop alone, for `cairn-bench train` (which sets it beside scikit-learn's).
public enum TrainingBenchmark {
    /// What `timeEpochs` measured.
    public struct Result: Sendable {
        public var secondsPerEpoch: [Double]
        /// Fraction of the loop's time spent inside sgemm.
        public var gemmShare: Double
        public var finalLoss: Double
    }

    /// Trains `spec` on `rows` of `table` for `epochs` with shuffled mini-batches of `batch` and
    /// Adam at `learningRate`, through the same step `cairn train` takes.
    public static func timeEpochs(table: PixelTable, rows: Int, labels: [Int32], normalization: Normalization, spec: ModelSpec,
                                  epochs: Int, batch: Int, learningRate: Float = 3e-4, seed: UInt64 = 0, threads: Int) -> Result {
        BLAS.threads = threads
        let network = Network(spec: spec, seed: seed)
        network.profile.enabled = true
        let optimizer = Optimizer(kind: .adam, learningRate: learningRate)
        var random = SeededRandom(seed: seed)
        var order = Array(0..<rows)
        var buffers = Network.StepBuffers()
        var perEpoch: [Double] = []
        var loss = 0.0
        let started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<epochs {
            let epochStart = DispatchTime.now().uptimeNanoseconds
            random.shuffle(&order)
            var sum = 0.0
            for start in stride(from: 0, to: order.count, by: batch) {
                let part = order[start..<min(order.count, start + batch)]
                sum += network.trainStep(table, rows: part, labels: labels, normalization: normalization, optimizer: optimizer,
                                         buffers: &buffers) * Double(part.count)
            }
            loss = sum / Double(order.count)
            perEpoch.append(Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9)
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return Result(secondsPerEpoch: perEpoch, gemmShare: network.profile.seconds / total, finalLoss: loss)
    }
}
