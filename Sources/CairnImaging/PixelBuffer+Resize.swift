import Foundation

extension PixelBuffer {
    /// This image scaled to `width` x `height`: area averaging when shrinking an axis (each
    /// output sample is the mean of the source area it covers, fractional edges weighted),
    /// bilinear interpolation when enlarging one.
    ///
    /// - Complexity: O(source pixels + output pixels) per channel.
    public func resized(width newWidth: Int, height newHeight: Int) -> PixelBuffer {
        precondition(newWidth > 0 && newHeight > 0, "target size must be positive")
        if newWidth == width && newHeight == height { return self }
        let xWeights = Self.weights(from: width, to: newWidth)
        let yWeights = Self.weights(from: height, to: newHeight)
        // Horizontal pass into floats, then vertical pass into bytes.
        var horizontal = [Float](repeating: 0, count: newWidth * height * channels)
        pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let row = y * width * channels
                for (x, taps) in xWeights.enumerated() {
                    for c in 0..<channels {
                        var sum: Float = 0
                        for tap in taps { sum += Float(src[row + tap.index * channels + c]) * tap.weight }
                        horizontal[(y * newWidth + x) * channels + c] = sum
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        let rowLength = newWidth * channels
        for (y, taps) in yWeights.enumerated() {
            for i in 0..<rowLength {
                var sum: Float = 0
                for tap in taps { sum += horizontal[tap.index * rowLength + i] * tap.weight }
                out[y * rowLength + i] = UInt8(max(0, min(255, sum.rounded())))
            }
        }
        return PixelBuffer(width: newWidth, height: newHeight, channels: channels, pixels: out)
    }

    /// A source position an output sample reads, and its weight.
    public struct Tap: Sendable {
        public let index: Int
        public let weight: Float
    }

    /// For each output position, the source positions it reads and their weights (summing to 1):
    /// the areas it covers when shrinking, its two neighbours when enlarging.
    public static func weights(from source: Int, to target: Int) -> [[Tap]] {
        let scale = Double(source) / Double(target)
        return (0..<target).map { o in
            if scale >= 1 {
                let start = Double(o) * scale, end = start + scale
                var taps: [Tap] = []
                var s = Int(start)
                while Double(s) < end && s < source {
                    let overlap = min(end, Double(s + 1)) - max(start, Double(s))
                    if overlap > 1e-9 { taps.append(Tap(index: s, weight: Float(overlap / scale))) }
                    s += 1
                }
                return taps
            }
            let center = (Double(o) + 0.5) * scale - 0.5
            let left = max(0, min(source - 1, Int(center.rounded(.down))))
            let right = min(source - 1, left + 1)
            let t = Float(max(0, min(1, center - Double(left))))
            return left == right ? [Tap(index: left, weight: 1)] : [Tap(index: left, weight: 1 - t), Tap(index: right, weight: t)]
        }
    }

    /// This image with `count` channels: gray is replicated into RGB, colour is reduced to gray by
    /// Rec. 601 luma, alpha is dropped or set opaque.
    public func converted(toChannels count: Int) -> PixelBuffer {
        precondition((1...4).contains(count), "channels must be 1 to 4")
        if count == channels { return self }
        let n = width * height
        var out = [UInt8](repeating: 255, count: n * count)
        let hasColor = channels >= 3
        for p in 0..<n {
            let base = p * channels
            let r = pixels[base], g = hasColor ? pixels[base + 1] : r, b = hasColor ? pixels[base + 2] : r
            let alpha: UInt8 = (channels == 2 || channels == 4) ? pixels[base + channels - 1] : 255
            switch count {
            case 1, 2:
                let luma = (299 * Int(r) + 587 * Int(g) + 114 * Int(b) + 500) / 1000
                out[p * count] = UInt8(luma)
                if count == 2 { out[p * count + 1] = alpha }
            default:
                out[p * count] = r
                out[p * count + 1] = g
                out[p * count + 2] = b
                if count == 4 { out[p * count + 3] = alpha }
            }
        }
        return PixelBuffer(width: width, height: height, channels: count, pixels: out)
    }
}
