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

    /// Trains `spec` on `features` (normalized, `spec.inputSize` per row) for `epochs` with
    /// shuffled mini-batches of `batch` and Adam at `learningRate`, exactly as `cairn train` does.
    public static func timeEpochs(features: [Float], labels: [Int32], spec: ModelSpec, epochs: Int, batch: Int,
                                  learningRate: Float = 3e-4, seed: UInt64 = 0, threads: Int) -> Result {
        BLAS.threads = threads
        let network = Network(spec: spec, seed: seed)
        network.profile.enabled = true
        let optimizer = Optimizer(kind: .adam, learningRate: learningRate)
        var random = SeededRandom(seed: seed)
        var order = Array(labels.indices)
        var input: [Float] = []
        var batchLabels: [Int32] = []
        var perEpoch: [Double] = []
        var loss = 0.0
        let size = spec.inputSize
        let started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<epochs {
            let epochStart = DispatchTime.now().uptimeNanoseconds
            random.shuffle(&order)
            var sum = 0.0
            for start in stride(from: 0, to: order.count, by: batch) {
                let rows = order[start..<min(order.count, start + batch)]
                input.removeAll(keepingCapacity: true)
                batchLabels.removeAll(keepingCapacity: true)
                features.withUnsafeBufferPointer { f in
                    for row in rows {
                        input.append(contentsOf: UnsafeBufferPointer(rebasing: f[row * size..<(row + 1) * size]))
                        batchLabels.append(labels[row])
                    }
                }
                sum += network.lossAndGradients(input, labels: batchLabels[...], batch: rows.count) * Double(rows.count)
                optimizer.update(network.parameters)
            }
            loss = sum / Double(order.count)
            perEpoch.append(Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9)
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return Result(secondsPerEpoch: perEpoch, gemmShare: network.profile.seconds / total, finalLoss: loss)
    }
}
