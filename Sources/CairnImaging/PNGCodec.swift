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
        // The file's own layout, as 8-bit samples (16-bit files are reduced; palettes expanded).
        image.format &= ~UInt32(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLORMAP | PNG_FORMAT_FLAG_BGR | PNG_FORMAT_FLAG_AFIRST)
        let channels = Int(cairn_png_image_pixel_channels(image.format))
        let info = ImageInfo(format: .png, width: Int(image.width), height: Int(image.height), channels: channels)
        try limits.check(info)
        var pixels = [UInt8](repeating: 0, count: info.width * info.height * channels)
        let ok = pixels.withUnsafeMutableBytes { raw in
            png_image_finish_read(&image, nil, raw.baseAddress, Int32(info.width * channels), nil)
        }
        guard ok != 0 else { throw .invalid(message(of: &image)) }
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
