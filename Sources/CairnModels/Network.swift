import COpenBLAS
import CairnSupport
import Foundation

/// The model families `cairn train` offers.
public enum ModelKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Multinomial logistic regression: one dense layer.
    case softmax
    /// Dense layers with ReLU between them (`hidden` sizes).
    case mlp
    /// conv3×3(16) → ReLU → maxpool → conv3×3(32) → ReLU → maxpool → dense(hidden…) → dense.
    case cnn
}

/// Everything needed to rebuild a network's shape: stored in every checkpoint.
public struct ModelSpec: Sendable, Hashable, Codable {
    public var kind: ModelKind
    /// Hidden dense layer sizes (MLP: the layers; CNN: dense layers after the convolutions).
    public var hidden: [Int]
    public var width: Int
    public var height: Int
    public var channels: Int
    public var classes: Int

    public init(kind: ModelKind, hidden: [Int], width: Int, height: Int, channels: Int, classes: Int) {
        self.kind = kind
        self.hidden = hidden
        self.width = width
        self.height = height
        self.channels = channels
        self.classes = classes
    }

    /// Values per input sample.
    public var inputSize: Int { width * height * channels }
}

/// A feed-forward network with a softmax cross-entropy head.
package final class Network {
    let spec: ModelSpec
    package let layers: [any Layer]
    let profile = GemmProfile()

    package init(spec: ModelSpec, seed: UInt64) {
        self.spec = spec
        var random = SeededRandom(seed: seed)
        var layers: [any Layer] = []
        var size = spec.inputSize
        if spec.kind == .cnn {
            var (h, w, c) = (spec.height, spec.width, spec.channels)
            for filters in [16, 32] {
                layers.append(Conv2D(height: h, width: w, channels: c, filters: filters, random: &random, profile: profile))
                layers.append(ReLU(size: h * w * filters))
                let pool = MaxPool2(height: h, width: w, channels: filters)
                layers.append(pool)
                (h, w, c) = (pool.outHeight, pool.outWidth, filters)
            }
            size = h * w * c
        }
        if spec.kind != .softmax {
            for hidden in spec.hidden {
                layers.append(Dense(inputs: size, outputs: hidden, random: &random, profile: profile))
                layers.append(ReLU(size: hidden))
                size = hidden
            }
        }
        layers.append(Dense(inputs: size, outputs: spec.classes, random: &random, profile: profile))
        self.layers = layers
    }

    var parameters: [Parameter] { layers.flatMap(\.parameters) }

    package var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Logits for a batch of `batch` samples.
    func logits(_ input: [Float], batch: Int) -> [Float] {
        var x = input
        for layer in layers { layer.forward(&x, batch: batch) }
        return x
    }

    /// Class probabilities, `classes` per sample.
    package func probabilities(_ input: [Float], batch: Int) -> [Float] {
        var p = logits(input, batch: batch)
        Self.softmaxInPlace(&p, classes: spec.classes)
        return p
    }

    /// Class probabilities for `rows` of `table`, normalized on the way in, 512 rows at a time.
    package func probabilities(_ table: PixelTable, rows: [Int], normalization: Normalization) -> [Float] {
        var out: [Float] = []
        var input: [Float] = []
        for start in stride(from: 0, to: rows.count, by: 512) {
            let part = rows[start..<min(rows.count, start + 512)]
            normalization.apply(table, rows: part, into: &input)
            out += probabilities(input, batch: part.count)
        }
        return out
    }

    /// Reusable buffers for `trainStep`, so a step allocates no batch-sized arrays of its own.
    package struct StepBuffers {
        var input: [Float] = []
        var labels: [Int32] = []

        package init() {}
    }

    /// One optimizer step on `rows` of `table`: normalize, `augment` (the batch's inputs, in place),
    /// forward, backward, update. Returns the batch's mean loss (NaN when the network diverged).
    package func trainStep(_ table: PixelTable, rows: ArraySlice<Int>, labels: [Int32], normalization: Normalization,
                   optimizer: Optimizer, buffers: inout StepBuffers, augment: (inout [Float], Int) -> Void = { _, _ in }) -> Double {
        normalization.apply(table, rows: rows, into: &buffers.input)
        augment(&buffers.input, rows.count)
        buffers.labels.removeAll(keepingCapacity: true)
        for row in rows { buffers.labels.append(labels[row]) }
        let loss = lossAndGradients(buffers.input, labels: buffers.labels[...], batch: rows.count)
        if loss.isFinite { optimizer.update(parameters) }
        return loss
    }

    /// One forward and backward pass: fills every parameter's gradient and returns the mean
    /// cross-entropy loss over the batch.
    func lossAndGradients(_ input: [Float], labels: ArraySlice<Int32>, batch: Int) -> Double {
        var grad = logits(input, batch: batch)
        Self.softmaxInPlace(&grad, classes: spec.classes)
        let classes = spec.classes
        var loss = 0.0
        for (row, label) in labels.enumerated() {
            let p = grad[row * classes + Int(label)]
            // NaN must reach the caller (it means divergence), so it is not clamped away.
            loss -= p.isNaN ? .nan : log(Double(max(p, .leastNormalMagnitude)))
            grad[row * classes + Int(label)] -= 1
        }
        let scale = 1 / Float(batch)
        for i in grad.indices { grad[i] *= scale }
        for (index, layer) in layers.enumerated().reversed() {
            layer.backward(&grad, batch: batch, needsInputGradient: index > 0)
        }
        return loss / Double(batch)
    }

    static func softmaxInPlace(_ values: inout [Float], classes: Int) {
        values.withUnsafeMutableBufferPointer { v in
            for row in 0..<(v.count / classes) {
                let base = row * classes
                var top = v[base]
                for j in 1..<classes { top = max(top, v[base + j]) }
                var sum: Float = 0
                for j in 0..<classes {
                    let e = expf(v[base + j] - top)
                    v[base + j] = e
                    sum += e
                }
                for j in 0..<classes { v[base + j] /= sum }
            }
        }
    }

    // MARK: Weights

    /// Every parameter's values, concatenated in layer order.
    package func flatWeights() -> [Float] { parameters.flatMap(\.value) }

    /// Loads weights produced by `flatWeights()` of a network with the same spec.
    func load(_ weights: [Float]) throws(TrainingError) {
        guard weights.count == parameterCount else {
            throw .badCheckpoint("it holds \(weights.count) weights; a \(spec.kind.rawValue) of this shape has \(parameterCount)")
        }
        var offset = 0
        for parameter in parameters {
            parameter.value = Array(weights[offset..<offset + parameter.value.count])
            offset += parameter.value.count
        }
    }
}

/// Optimizers over a network's parameters.
public enum OptimizerKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Adam (β1 0.9, β2 0.999, ε 1e-8).
    case adam
    /// Stochastic gradient descent with momentum 0.9.
    case sgd
}

/// Applies gradients; keeps the per-parameter state (moments, velocity) between steps.
package final class Optimizer {
    let kind: OptimizerKind
    let learningRate: Float
    let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, momentum: Float = 0.9
    /// First moments (Adam) or velocities (SGD), then second moments (Adam), per parameter.
    private var first: [UnsafeMutableBufferPointer<Float>] = []
    private var second: [UnsafeMutableBufferPointer<Float>] = []
    private var step = 0

    package init(kind: OptimizerKind, learningRate: Float) {
        self.kind = kind
        self.learningRate = learningRate
    }

    deinit {
        for buffer in first + second { buffer.deallocate() }
    }

    private static func zeros(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        buffer.initialize(repeating: 0)
        return buffer
    }

    func update(_ parameters: [Parameter]) {
        if first.isEmpty {
            first = parameters.map { Self.zeros($0.value.count) }
            second = kind == .adam ? parameters.map { Self.zeros($0.value.count) } : []
        }
        step += 1
        switch kind {
        case .adam:
            let (b1, b2) = (beta1, beta2)
            let correction1 = 1 - Float(pow(Double(b1), Double(step)))
            let correction2 = 1 - Float(pow(Double(b2), Double(step)))
            // The bias corrections folded into the step size and epsilon (Kingma & Ba, section 2).
            let stepSize = learningRate * correction2.squareRoot() / correction1
            let epsHat = epsilon * correction2.squareRoot()
            for (index, parameter) in parameters.enumerated() {
                let m = first[index].baseAddress!, v = second[index].baseAddress!
                parameter.value.withUnsafeMutableBufferPointer { w in
                    parameter.grad.withUnsafeBufferPointer { g in
                        // The update is memory-bound: large tensors are split across cores.
                        let lanes = AdamLanes(w: w.baseAddress!, g: g.baseAddress!, m: m, v: v)
                        let total = w.count
                        let parts = total >= 1 << 16 ? Parallel.cores : 1
                        let chunk = (total / parts + 7) & ~7
                        Parallel.forEach(parts) { part in
                            let start = part * chunk, count = min(chunk, total - start)
                            guard count > 0 else { return }
                            Self.adam(lanes.w + start, lanes.g + start, lanes.m + start, lanes.v + start, count, b1, b2, stepSize, epsHat)
                        }
                    }
                }
            }
        case .sgd:
            let (mu, lr) = (momentum, learningRate)
            for (index, parameter) in parameters.enumerated() {
                let velocity = first[index]
                parameter.value.withUnsafeMutableBufferPointer { w in
                    parameter.grad.withUnsafeBufferPointer { g in
                        for i in 0..<w.count {
                            velocity[i] = mu * velocity[i] - lr * g[i]
                            w[i] += velocity[i]
                        }
                    }
                }
            }
        }
    }

    /// One Adam step over `count` weights (the vectorized kernel in COpenBLAS's shim).
    @inline(__always)
    private static func adam(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                             _ v: UnsafeMutablePointer<Float>, _ count: Int, _ b1: Float, _ b2: Float, _ stepSize: Float,
                             _ epsHat: Float) {
        cairn_adam_step(w, g, m, v, count, b1, b2, stepSize, epsHat)
    }
}

/// The four arrays of one Adam update. @unchecked Sendable: each concurrent part touches only its
/// own disjoint range, and the arrays outlive `Parallel.forEach`, which returns after every part.
private struct AdamLanes: @unchecked Sendable {
    let w: UnsafeMutablePointer<Float>
    let g: UnsafePointer<Float>
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
}
