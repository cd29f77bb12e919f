import CairnSupport
import Foundation

/// A learnable tensor, its gradient for the current batch, and its shape.
package final class Parameter {
    let shape: [Int]
    package var value: [Float]
    var grad: [Float]

    init(shape: [Int], value: [Float]) {
        self.shape = shape
        self.value = value
        self.grad = [Float](repeating: 0, count: value.count)
    }
}

/// Time spent in sgemm, collected when `enabled` (the benchmark reports its share of training).
final class GemmProfile {
    var enabled = false
    var seconds: Double = 0

    @inline(__always)
    package func gemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
              beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
        guard enabled else {
            BLAS.gemm(transA, transB, m: m, n: n, k: k, a, b, beta: beta, c)
            return
        }
        let start = DispatchTime.now().uptimeNanoseconds
        BLAS.gemm(transA, transB, m: m, n: n, k: k, a, b, beta: beta, c)
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// One stage of a network. Inputs and outputs are batches of samples laid out row by row; images
/// are height × width × channels per sample (the order decoded pixels come in).
package protocol Layer: AnyObject {
    var parameters: [Parameter] { get }
    /// Values per sample coming out.
    var outputSize: Int { get }
    /// Replaces the batch `x` by this layer's output (in place where the layer can).
    func forward(_ x: inout [Float], batch: Int)
    /// Fills the parameters' gradients and replaces `grad` (with respect to the output) by the
    /// gradient with respect to the input (emptied when `needsInputGradient` is false: the first
    /// layer has no one to pass it to).
    func backward(_ grad: inout [Float], batch: Int, needsInputGradient: Bool)
}

/// A fully connected layer: y = x · W + b.
package final class Dense: Layer {
    package let inputs: Int, outputs: Int
    package let weight: Parameter, bias: Parameter
    let profile: GemmProfile
    private var input: [Float] = []

    init(inputs: Int, outputs: Int, random: inout SeededRandom, profile: GemmProfile) {
        self.inputs = inputs
        self.outputs = outputs
        self.profile = profile
        let scale = Float((2.0 / Double(inputs)).squareRoot())  // He initialization
        weight = Parameter(shape: [inputs, outputs], value: (0..<inputs * outputs).map { _ in Float(random.normal()) * scale })
        bias = Parameter(shape: [outputs], value: [Float](repeating: 0, count: outputs))
    }

    package var parameters: [Parameter] { [weight, bias] }
    package var outputSize: Int { outputs }

    package func forward(_ x: inout [Float], batch: Int) {
        let input = x
        self.input = input
        var out = [Float](unsafeUninitializedCapacity: batch * outputs) { buffer, count in
            for row in 0..<batch { for j in 0..<outputs { buffer[row * outputs + j] = bias.value[j] } }
            count = batch * outputs
        }
        input.withUnsafeBufferPointer { x in
            weight.value.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { y in
                    profile.gemm(false, false, m: batch, n: outputs, k: inputs, x.baseAddress!, w.baseAddress!, beta: 1, y.baseAddress!)
                }
            }
        }
        x = out
    }

    package func backward(_ grad: inout [Float], batch: Int, needsInputGradient: Bool) {
        let gradOutput = grad
        gradOutput.withUnsafeBufferPointer { dy in
            input.withUnsafeBufferPointer { x in
                weight.grad.withUnsafeMutableBufferPointer { dw in
                    profile.gemm(true, false, m: inputs, n: outputs, k: batch, x.baseAddress!, dy.baseAddress!, dw.baseAddress!)
                }
            }
            bias.grad.withUnsafeMutableBufferPointer { db in
                for j in 0..<outputs { db[j] = 0 }
                for row in 0..<batch { for j in 0..<outputs { db[j] += dy[row * outputs + j] } }
            }
        }
        guard needsInputGradient else {
            grad = []
            return
        }
        var dx = [Float](repeating: 0, count: batch * inputs)
        gradOutput.withUnsafeBufferPointer { dy in
            weight.value.withUnsafeBufferPointer { w in
                dx.withUnsafeMutableBufferPointer { dx in
                    profile.gemm(false, true, m: batch, n: inputs, k: outputs, dy.baseAddress!, w.baseAddress!, dx.baseAddress!)
                }
            }
        }
        grad = dx
    }
}

/// max(0, x), elementwise.
package final class ReLU: Layer {
    package let outputSize: Int
    private var output: [Float] = []

    init(size: Int) { outputSize = size }

    package var parameters: [Parameter] { [] }

    package func forward(_ x: inout [Float], batch: Int) {
        x.withUnsafeMutableBufferPointer { v in
            for i in 0..<v.count { v[i] = max(v[i], 0) }
        }
        output = x  // shares the buffer; only read in backward
    }

    package func backward(_ grad: inout [Float], batch: Int, needsInputGradient: Bool) {
        grad.withUnsafeMutableBufferPointer { g in
            output.withUnsafeBufferPointer { y in
                for i in 0..<g.count { g[i] = y[i] > 0 ? g[i] : 0 }  // a select, so it vectorizes
            }
        }
    }
}

/// A k×k convolution with stride 1 and "same" zero padding: a dense layer applied to every
/// patch at once (im2col), so the whole batch is one GEMM of [batch·h·w × k·k·c] · [k·k·c × filters].
package final class Conv2D: Layer {
    package let height: Int, width: Int, channels: Int, filters: Int, kernel: Int
    /// The per-patch weights (k·k·c × filters, patches ordered ky, kx, channel) and bias.
    package let patches: Dense

    init(height: Int, width: Int, channels: Int, filters: Int, kernel: Int = 3, random: inout SeededRandom, profile: GemmProfile) {
        self.height = height
        self.width = width
        self.channels = channels
        self.filters = filters
        self.kernel = kernel
        patches = Dense(inputs: kernel * kernel * channels, outputs: filters, random: &random, profile: profile)
    }

    package var parameters: [Parameter] { patches.parameters }
    package var outputSize: Int { height * width * filters }
    private var patchSize: Int { kernel * kernel * channels }

    /// Visits every (patch offset, pixel offset) pair that lies inside the image.
    @inline(__always)
    private func forEachTap(batch: Int, _ body: (Int, Int) -> Void) {
        let pad = kernel / 2
        for b in 0..<batch {
            for y in 0..<height {
                for x in 0..<width {
                    let row = ((b * height + y) * width + x) * patchSize
                    for ky in 0..<kernel {
                        let iy = y + ky - pad
                        guard iy >= 0, iy < height else { continue }
                        for kx in 0..<kernel {
                            let ix = x + kx - pad
                            guard ix >= 0, ix < width else { continue }
                            body(row + (ky * kernel + kx) * channels, ((b * height + iy) * width + ix) * channels)
                        }
                    }
                }
            }
        }
    }

    package func forward(_ x: inout [Float], batch: Int) {
        var columns = [Float](repeating: 0, count: batch * height * width * patchSize)
        let channels = self.channels
        x.withUnsafeBufferPointer { x in
            columns.withUnsafeMutableBufferPointer { cols in
                forEachTap(batch: batch) { to, from in
                    for c in 0..<channels { cols[to + c] = x[from + c] }
                }
            }
        }
        x = columns
        patches.forward(&x, batch: batch * height * width)
    }

    package func backward(_ grad: inout [Float], batch: Int, needsInputGradient: Bool) {
        patches.backward(&grad, batch: batch * height * width, needsInputGradient: needsInputGradient)
        guard needsInputGradient else { return }
        var dx = [Float](repeating: 0, count: batch * height * width * channels)
        let channels = self.channels
        grad.withUnsafeBufferPointer { dc in
            dx.withUnsafeMutableBufferPointer { dx in
                forEachTap(batch: batch) { from, to in
                    for c in 0..<channels { dx[to + c] += dc[from + c] }
                }
            }
        }
        grad = dx
    }
}

/// 2×2 max pooling with stride 2; an odd last row or column is dropped.
package final class MaxPool2: Layer {
    let height: Int, width: Int, channels: Int
    private var argmax: [Int32] = []

    init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
    }

    package var parameters: [Parameter] { [] }
    var outHeight: Int { height / 2 }
    var outWidth: Int { width / 2 }
    package var outputSize: Int { outHeight * outWidth * channels }

    package func forward(_ x: inout [Float], batch: Int) {
        let input = x
        var out = [Float](repeating: 0, count: batch * outputSize)
        argmax = [Int32](repeating: 0, count: batch * outputSize)
        let (h, w, c, oh, ow) = (height, width, channels, outHeight, outWidth)
        input.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                argmax.withUnsafeMutableBufferPointer { arg in
                    for b in 0..<batch {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                let o = ((b * oh + oy) * ow + ox) * c
                                let i00 = ((b * h + 2 * oy) * w + 2 * ox) * c
                                for ch in 0..<c {
                                    var best = i00 + ch
                                    if x[i00 + c + ch] > x[best] { best = i00 + c + ch }
                                    if x[i00 + w * c + ch] > x[best] { best = i00 + w * c + ch }
                                    if x[i00 + w * c + c + ch] > x[best] { best = i00 + w * c + c + ch }
                                    y[o + ch] = x[best]
                                    arg[o + ch] = Int32(best)
                                }
                            }
                        }
                    }
                }
            }
        }
        x = out
    }

    package func backward(_ grad: inout [Float], batch: Int, needsInputGradient: Bool) {
        let gradOutput = grad
        var dx = [Float](repeating: 0, count: batch * height * width * channels)
        dx.withUnsafeMutableBufferPointer { dx in
            argmax.withUnsafeBufferPointer { arg in
                for i in 0..<gradOutput.count { dx[Int(arg[i])] += gradOutput[i] }
            }
        }
        grad = dx
    }
}

/// A reproducible random source (SplitMix64): the same seed gives the same initialization and
/// the same batch order on every machine.
package struct SeededRandom: RandomNumberGenerator {
    private var source: SplitMix64
    private var spare: Double?

    package init(seed: UInt64) { source = SplitMix64(seed: seed) }

    package mutating func next() -> UInt64 { source.next() }

    /// A uniform double in [0, 1).
    package mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A standard normal sample (Box–Muller).
    package mutating func normal() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        let u1 = max(uniform(), .leastNonzeroMagnitude), u2 = uniform()
        let r = (-2 * log(u1)).squareRoot()
        spare = r * sin(2 * .pi * u2)
        return r * cos(2 * .pi * u2)
    }

    /// Fisher–Yates with this generator (Swift's `shuffle(using:)` does not promise a fixed algorithm).
    package mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            array.swapAt(i, j)
        }
    }
}
