import CairnImaging
import Foundation

/// Checked-in files under `Tests/Fixtures` and the repository's own `sample-data`.
public enum Fixtures {
    /// The package's top directory, found from this source file's location.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `Tests/Fixtures/images/NAME`.
    public static func image(_ name: String) -> String { "\(packageRoot)/Tests/Fixtures/images/\(name)" }

    /// The bytes of `Tests/Fixtures/images/NAME`.
    public static func imageData(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: image(name)))
    }

    /// `sample-data/digits`.
    public static var digits: String { "\(packageRoot)/sample-data/digits" }
}

/// Small synthetic images for tests, each distinct for a distinct seed.
public enum SyntheticImages {
    /// A `width` x `height` gray PNG whose pixels depend on `seed`.
    public static func png(seed: Int, width: Int = 8, height: Int = 8, channels: Int = 1) -> Data {
        try! ImageCodec.encodePNG(pixels(seed: seed, width: width, height: height, channels: channels))
    }

    /// A `width` x `height` RGB JPEG whose pixels depend on `seed`.
    public static func jpeg(seed: Int, width: Int = 16, height: Int = 16) -> Data {
        try! ImageCodec.encodeJPEG(pixels(seed: seed, width: width, height: height, channels: 3))
    }

    /// Deterministic pixels.
    public static func pixels(seed: Int, width: Int, height: Int, channels: Int) -> PixelBuffer {
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        var bytes = [UInt8](repeating: 0, count: width * height * channels)
        for i in bytes.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        return PixelBuffer(width: width, height: height, channels: channels, pixels: bytes)
    }

    /// Writes `count` PNGs into `directory/<class>/<n>.png`, cycling over `classes`.
    @discardableResult
    public static func writeImageFolder(at directory: String, count: Int, classes: [String] = ["cat", "dog"],
                                        seedOffset: Int = 0) throws -> [String] {
        var paths: [String] = []
        for n in 0..<count {
            let folder = "\(directory)/\(classes[n % classes.count])"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = "\(folder)/\(String(format: "%04d", n)).png"
            try png(seed: n + seedOffset).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        return paths
    }
}

/// Encoders for writing test inputs.
public enum ImageFiles {
    /// `image` as a quality-90 JPEG.
    public static func jpeg(_ image: PixelBuffer) throws -> Data { try ImageCodec.encodeJPEG(image, quality: 90) }

    /// `image` as a PNG.
    public static func png(_ image: PixelBuffer) throws -> Data { try ImageCodec.encodePNG(image) }
}
