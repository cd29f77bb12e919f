import CairnSupport
import Foundation

/// The image encodings Cairn reads.
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case png, jpeg

    /// The file extension used when writing images of this format out.
    public var fileExtension: String { self == .png ? "png" : "jpg" }

    /// Recognises a format from the first bytes of a file; nil when it is neither.
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }
}

/// What a header says about an image, read without decoding its pixels.
public struct ImageInfo: Sendable, Hashable, Codable {
    public let format: ImageFormat
    public let width: Int
    public let height: Int
    /// Channels the decoder will produce: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    public let channels: Int

    public init(format: ImageFormat, width: Int, height: Int, channels: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.channels = channels
    }
}

/// Bounds checked against an image's header before any pixel memory is allocated.
public struct DecodeLimits: Sendable, Hashable {
    /// Most pixels (width x height) an image may have.
    public var maxPixels: Int
    /// Longest side an image may have.
    public var maxDimension: Int
    /// Most scans a JPEG may have. Progressive files use about 10 (up to a few dozen with many
    /// components); each scan is a pass over the whole image, so thousands are an attack.
    public var maxScans: Int
    /// Most scans × pixels a JPEG may cost to decode (the work, not just the size).
    public var maxScanWork: Int

    public init(maxPixels: Int = 64 * 1024 * 1024, maxDimension: Int = 32768, maxScans: Int = 100, maxScanWork: Int = 64 * 64 * 1024 * 1024) {
        self.maxPixels = maxPixels
        self.maxDimension = maxDimension
        self.maxScans = maxScans
        self.maxScanWork = maxScanWork
    }

    /// Throws when `info` exceeds these limits.
    public func check(_ info: ImageInfo) throws(ImagingError) {
        guard info.width > 0, info.height > 0 else { throw .invalid("image has zero width or height") }
        guard info.width <= maxDimension, info.height <= maxDimension,
              info.width.multipliedReportingOverflow(by: info.height).partialValue <= maxPixels
        else { throw .tooLarge(width: info.width, height: info.height, limit: self) }
    }
}

/// An 8-bit image in memory, row-major, channels interleaved, no row padding.
public struct PixelBuffer: Sendable, Hashable {
    public let width: Int
    public let height: Int
    /// 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    public let channels: Int
    public var pixels: [UInt8]

    /// Wraps `pixels`, which must hold exactly `width * height * channels` bytes.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "pixel count does not match the dimensions")
        precondition((1...4).contains(channels), "channels must be 1 to 4")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The sample of channel `c` at (`x`, `y`).
    public subscript(x: Int, y: Int, c: Int) -> UInt8 {
        pixels[(y * width + x) * channels + c]
    }
}

/// Why an image could not be read.
public enum ImagingError: CairnError, Equatable {
    /// Neither PNG nor JPEG (by its first bytes).
    case unsupportedFormat
    /// An empty file.
    case empty
    /// The header asks for more pixels than the limits allow (checked before allocating).
    case tooLarge(width: Int, height: Int, limit: DecodeLimits)
    /// The decoder rejected the data (truncated, corrupt, unsupported variant).
    case invalid(String)
    /// A JPEG with more scans (decoding passes) than the limits allow, refused before decoding.
    case tooManyScans(scans: Int, limit: Int)

    public var description: String {
        switch self {
        case .unsupportedFormat: "not a PNG or JPEG image"
        case .empty: "empty file (0 bytes)"
        case .tooLarge(let w, let h, let limit):
            "image is \(w)x\(h) pixels, over the limit of \(limit.maxPixels) pixels or \(limit.maxDimension) per side"
        case .invalid(let reason): "corrupt or truncated image: \(reason)"
        case .tooManyScans(let scans, let limit):
            "JPEG has \(scans > limit ? "more than \(limit)" : "\(scans)") scans, each a pass over the whole image; refused before decoding "
                + "(at most \(limit), or fewer for very large images)"
        }
    }
}
