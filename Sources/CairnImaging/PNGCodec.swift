import CPNG
import Foundation

/// PNG through libpng's simplified `png_image_*` API, which reports errors in the image
/// struct instead of longjmp, so no setjmp is needed on this side.
enum PNGCodec {
    /// Reads width, height and channels from the IHDR chunk alone.
    static func probe(_ bytes: UnsafeRawBufferPointer) throws(ImagingError) -> ImageInfo {
        guard bytes.count >= 33 else { throw .invalid("PNG header truncated") }
        guard bytes[12] == UInt8(ascii: "I"), bytes[13] == UInt8(ascii: "H"),
              bytes[14] == UInt8(ascii: "D"), bytes[15] == UInt8(ascii: "R")
        else { throw .invalid("PNG does not start with an IHDR chunk") }
        let width = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        let height = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        let channels: Int
        switch bytes[25] {
        case 0: channels = 1
        case 2, 3: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: throw .invalid("unknown PNG colour type \(bytes[25])")
        }
        return ImageInfo(format: .png, width: width, height: height, channels: channels)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws(ImagingError) -> PixelBuffer {
        let header = try probe(bytes)
        try limits.check(header)
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
            throw .invalid(message(of: &image))
        }
        // The file's own layout (palettes expanded). 16-bit files are read as 16-bit and reduced
        // here, because libpng's 8-bit path would treat them as linear light and gamma-encode them.
        let sixteen = bytes[24] == 16
        image.format &= ~UInt32(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLORMAP | PNG_FORMAT_FLAG_BGR | PNG_FORMAT_FLAG_AFIRST)
        if sixteen { image.format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
        let channels = Int(cairn_png_image_pixel_channels(image.format))
        let info = ImageInfo(format: .png, width: Int(image.width), height: Int(image.height), channels: channels)
        try limits.check(info)
        let samples = info.width * info.height * channels
        if !sixteen {
            var pixels = [UInt8](repeating: 0, count: samples)
            let ok = pixels.withUnsafeMutableBytes { raw in
                png_image_finish_read(&image, nil, raw.baseAddress, Int32(info.width * channels), nil)
            }
            guard ok != 0 else { throw .invalid(message(of: &image)) }
            return PixelBuffer(width: info.width, height: info.height, channels: channels, pixels: pixels)
        }
        var wide = [UInt16](repeating: 0, count: samples)
        let ok = wide.withUnsafeMutableBytes { raw in
            png_image_finish_read(&image, nil, raw.baseAddress, Int32(info.width * channels), nil)
        }
        guard ok != 0 else { throw .invalid(message(of: &image)) }
        // Linear output premultiplies colour by alpha; undo that before reducing to 8 bits.
        let hasAlpha = channels == 2 || channels == 4
        var pixels = [UInt8](repeating: 0, count: samples)
        for p in 0..<(info.width * info.height) {
            let base = p * channels
            let alpha = hasAlpha ? UInt64(wide[base + channels - 1]) : 65535
            for c in 0..<channels {
                var v = UInt64(wide[base + c])
                if hasAlpha && c < channels - 1 { v = alpha == 0 ? 0 : min(65535, (v * 65535 + alpha / 2) / alpha) }
                pixels[base + c] = UInt8((v * 255 + 32767) / 65535)
            }
        }
        return PixelBuffer(width: info.width, height: info.height, channels: channels, pixels: pixels)
    }

    static func encode(_ buffer: PixelBuffer) throws(ImagingError) -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(buffer.width)
        image.height = UInt32(buffer.height)
        image.format = switch buffer.channels {
        case 1: 0
        case 2: UInt32(PNG_FORMAT_FLAG_ALPHA)
        case 3: UInt32(PNG_FORMAT_FLAG_COLOR)
        default: UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        }
        defer { png_image_free(&image) }
        var size = 0
        let stride = Int32(buffer.width * buffer.channels)
        let sized = buffer.pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, stride, nil)
        }
        guard sized != 0 else { throw .invalid(message(of: &image)) }
        var out = Data(count: size)
        let written = out.withUnsafeMutableBytes { dst in
            buffer.pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, raw.baseAddress, stride, nil)
            }
        }
        guard written != 0 else { throw .invalid(message(of: &image)) }
        return out.prefix(size)
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let text = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            return text.isEmpty ? "libpng error" : text
        }
    }
}
