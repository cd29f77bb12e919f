import Foundation

/// A classifier fitted in memory on rows of a loaded pixel table, with no run recorded: what
/// confident learning's folds and the benches that simulate labeling use.
package struct Learner {
    package struct Settings: Sendable {
        package var model: ModelKind = .softmax
        package var hidden: [Int] = []
        package var epochs = 40
        package var batch = 64
        package var learningRate: Float = 0.01
        /// Steps the fit takes at least, however few the rows (a model of 20 labels needs more
        /// than 15 passes over one batch to be worth asking).
        package var minimumSteps = 300
        package var seed: UInt64 = 0
        /// Each step trains on its examples shifted by up to this many pixels each way (drawn per
        /// example, edges repeated): a model that has seen a digit one pixel over calls fewer clean
        /// labels wrong.
        package var shift = 0

        /// What works for confident learning's folds on small images: softmax learns fast with a
        /// large step; the MLP needs a smaller one.
        package static func forModel(_ model: ModelKind) -> Settings {
            switch model {
            case .softmax: Settings(model: .softmax, hidden: [], epochs: 15, batch: 32, learningRate: 0.01)
            // 15 epochs: as good as 30 or 60 on 5,000 real digits with flipped labels (precision 0.76
            // against 0.75 and 0.76 at 10% flips), in half the time, and it memorizes fewer flips.
            case .mlp: Settings(model: .mlp, hidden: [128], epochs: 15, batch: 64, learningRate: 0.003)
            case .cnn: Settings(model: .cnn, hidden: [64], epochs: 15, batch: 64, learningRate: 0.003)
            }
        }
    }

    package let network: Network
    let normalization: Normalization
    let classes: Int

    /// Fits a model of `settings` on `rows` of `table`, whose class indices are `labels[row]`.
    package init(_ table: PixelTable, rows: [Int], labels: [Int32], classes: Int, preprocessing: Preprocessing, settings: Settings) {
        let spec = ModelSpec(kind: settings.model, hidden: settings.hidden, width: preprocessing.width, height: preprocessing.height,
                             channels: preprocessing.channels, classes: classes)
        network = Network(spec: spec, seed: settings.seed)
        normalization = Normalization.fit(table, rows: rows, channels: preprocessing.channels)
        self.classes = classes
        let optimizer = Optimizer(kind: .adam, learningRate: settings.learningRate)
        var buffers = Network.StepBuffers()
        var order = rows
        var random = SeededRandom(seed: settings.seed &+ 1)
        let batchesPerEpoch = max(1, (rows.count + settings.batch - 1) / settings.batch)
        let epochs = max(settings.epochs, (settings.minimumSteps + batchesPerEpoch - 1) / batchesPerEpoch)
        for _ in 0..<epochs {
            random.shuffle(&order)
            for start in stride(from: 0, to: order.count, by: settings.batch) {
                _ = network.trainStep(table, rows: order[start..<min(order.count, start + settings.batch)], labels: labels,
                                      normalization: normalization, optimizer: optimizer, buffers: &buffers) { input, count in
                    if settings.shift > 0 { Self.shift(&input, count: count, preprocessing: preprocessing, by: settings.shift, random: &random) }
                }
            }
        }
    }

    /// Shifts each of `count` samples (height × width × channels, channels innermost) by a random
    /// whole number of pixels in −`by`...`by` each way, repeating the edge.
    package static func shift(_ samples: inout [Float], count: Int, preprocessing p: Preprocessing, by reach: Int, random: inout SeededRandom) {
        let (w, h, c) = (p.width, p.height, p.channels)
        var source = [Float](repeating: 0, count: w * h * c)
        for n in 0..<count {
            let dx = Int(random.next() % UInt64(2 * reach + 1)) - reach, dy = Int(random.next() % UInt64(2 * reach + 1)) - reach
            guard dx != 0 || dy != 0 else { continue }
            let base = n * w * h * c
            for i in 0..<(w * h * c) { source[i] = samples[base + i] }
            for y in 0..<h {
                let from = min(h - 1, max(0, y - dy))
                for x in 0..<w {
                    let column = min(w - 1, max(0, x - dx))
                    for k in 0..<c { samples[base + (y * w + x) * c + k] = source[(from * w + column) * c + k] }
                }
            }
        }
    }

    /// Class probabilities for `rows` (rows.count × classes, row-major).
    package func probabilities(_ table: PixelTable, rows: [Int]) -> [Float] {
        rows.isEmpty ? [] : network.probabilities(table, rows: rows, normalization: normalization)
    }
}
