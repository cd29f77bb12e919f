import CairnImaging
import Foundation

extension TrainedModel {
    /// Values per preprocessed image: the network's input size.
    public var inputSize: Int { preprocessing.sampleSize }

    /// One image's bytes as the network's input: decoded within `limits` (checked from the header,
    /// before any pixel is allocated), converted, resized and normalized as the run's images were.
    /// - Throws: `ImagingError` for bytes that do not decode or an image over the limits.
    public func input(imageBytes bytes: Data, limits: DecodeLimits) throws(ImagingError) -> [Float] {
        let image = try ImageCodec.decode(bytes, limits: limits).converted(toChannels: preprocessing.channels)
            .resized(width: preprocessing.width, height: preprocessing.height)
        var out: [Float] = []
        checkpoint.header.normalization.apply(PixelTable(sampleSize: inputSize, pixels: image.pixels), rows: [0], into: &out)
        return out
    }

    /// Raw pixel values 0–255 of `count` images laid out N, C, H, W (ONNX's and Triton's order) as
    /// the network's input: normalized and reordered to H, W, C per image.
    public func input(pixelsNCHW values: [Float], count: Int) -> [Float] {
        let (c, h, w) = (preprocessing.channels, preprocessing.height, preprocessing.width)
        let normalization = checkpoint.header.normalization
        var out = [Float](repeating: 0, count: count * c * h * w)
        for n in 0..<count {
            for ch in 0..<c {
                let (scale, shift) = (1 / (255 * normalization.std[ch]), -normalization.mean[ch] / normalization.std[ch])
                for y in 0..<h {
                    for x in 0..<w {
                        out[((n * h + y) * w + x) * c + ch] = values[((n * c + ch) * h + y) * w + x] * scale + shift
                    }
                }
            }
        }
        return out
    }

    /// Class probabilities for `count` inputs made by `input(…)`, laid one after another.
    /// Not to be called from two threads at once on one model (the network keeps per-pass state).
    public func probabilities(inputs: [Float], count: Int) -> [Float] {
        network.probabilities(inputs, batch: count)
    }
}
