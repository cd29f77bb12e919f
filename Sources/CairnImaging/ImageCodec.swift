import Foundation

/// Reads and writes PNG and JPEG images with limits checked before allocation.
///
/// ```swift
/// let info = try ImageCodec.probe(data)          // header only
/// let image = try ImageCodec.decode(data)        // full decode, 8-bit samples
/// let thumb = image.resized(width: 64, height: 64)
/// ```
///
/// Every function is thread-safe: each call owns its decoder state.
public enum ImageCodec {
    /// Format, dimensions and channels from the header, without decoding pixels.
    /// - Throws: `ImagingError` for empty, unknown or malformed data.
    public static func probe(_ data: some ContiguousBytes) throws(ImagingError) -> ImageInfo {
        try withBytes(data) { raw throws(ImagingError) in
            switch try format(of: raw) {
            case .png: try PNGCodec.probe(raw)
            case .jpeg: try JPEGCodec.probe(raw)
            }
        }
    }

    /// Decodes every pixel to 8-bit samples; the image's header is checked against `limits` first.
    /// - Throws: `ImagingError.tooLarge` before allocating, `.invalid` for corrupt or truncated data.
    public static func decode(_ data: some ContiguousBytes, limits: DecodeLimits = DecodeLimits()) throws(ImagingError)
        -> PixelBuffer
    {
        try withBytes(data) { raw throws(ImagingError) in
            switch try format(of: raw) {
            case .png: try PNGCodec.decode(raw, limits: limits)
            case .jpeg: try JPEGCodec.decode(raw, limits: limits)
            }
        }
    }

    /// Encodes `image` as PNG (lossless, any channel count).
    public static func encodePNG(_ image: PixelBuffer) throws(ImagingError) -> Data {
        try PNGCodec.encode(image)
    }

    /// Encodes a gray or RGB `image` as baseline JPEG at `quality` (1–100).
    public static func encodeJPEG(_ image: PixelBuffer, quality: Int = 90) throws(ImagingError) -> Data {
        try JPEGCodec.encode(image, quality: quality)
    }

    /// `ContiguousBytes.withUnsafeBytes` rethrows untyped errors; this keeps `ImagingError` typed.
    private static func withBytes<T>(_ data: some ContiguousBytes,
                                     _ body: (UnsafeRawBufferPointer) throws(ImagingError) -> T) throws(ImagingError) -> T {
        let result: Result<T, ImagingError> = data.withUnsafeBytes { raw in
            Result { () throws(ImagingError) -> T in try body(raw) }
        }
        return try result.get()
    }

    private static func format(of raw: UnsafeRawBufferPointer) throws(ImagingError) -> ImageFormat {
        guard raw.count > 0 else { throw .empty }
        guard let format = ImageFormat.sniff(raw) else { throw .unsupportedFormat }
        return format
    }
}
