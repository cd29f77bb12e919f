import CTurboJPEG
import Foundation

/// JPEG through TurboJPEG's `tj*` API. A handle is made per call, so calls are thread-safe.
enum JPEGCodec {
    private final class Handle {
        let raw: tjhandle
        init(compress: Bool) throws(ImagingError) {
            guard let raw = compress ? tjInitCompress() : tjInitDecompress() else {
                throw .invalid("cannot initialise TurboJPEG")
            }
            self.raw = raw
        }
        deinit { tjDestroy(raw) }
        var message: String { String(cString: tjGetErrorStr2(raw)) }
    }

    private struct Header {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
    }

    private static func header(_ handle: Handle, _ bytes: UnsafeRawBufferPointer) throws(ImagingError) -> Header {
        var h = Header()
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard tjDecompressHeader3(handle.raw, source, UInt(bytes.count), &h.width, &h.height, &h.subsampling, &h.colorspace) == 0
        else { throw .invalid(handle.message) }
        return h
    }

    private static func channels(of colorspace: Int32) -> Int {
        colorspace == Int32(TJCS_GRAY.rawValue) ? 1 : 3
    }

    static func probe(_ bytes: UnsafeRawBufferPointer) throws(ImagingError) -> ImageInfo {
        let handle = try Handle(compress: false)
        let h = try header(handle, bytes)
        return ImageInfo(format: .jpeg, width: Int(h.width), height: Int(h.height), channels: channels(of: h.colorspace))
    }

    /// Counts the scans (SOS markers) of a JPEG by walking its marker segments, without decoding.
    /// A progressive file may legally hold any number of scans, each costing a pass over the whole
    /// image: thousands of empty ones make a small file decode for tens of seconds (a "scan bomb").
    /// Stops counting past `limit`.
    static func scanCount(_ bytes: UnsafeRawBufferPointer, limit: Int) -> Int {
        var i = 2  // past SOI
        var scans = 0
        let n = bytes.count
        while i + 3 < n && scans <= limit {
            guard bytes[i] == 0xFF else { i += 1; continue }
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte
            if marker == 0xD9 { break }  // EOI
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }  // no length
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 2 else { break }
            i += 2 + length
            if marker == 0xDA {  // SOS: entropy-coded data follows until the next real marker
                scans += 1
                while i + 1 < n && !(bytes[i] == 0xFF && bytes[i + 1] != 0x00 && !(0xD0...0xD7).contains(bytes[i + 1])) { i += 1 }
            }
        }
        return scans
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws(ImagingError) -> PixelBuffer {
        let handle = try Handle(compress: false)
        let h = try header(handle, bytes)
        let info = ImageInfo(format: .jpeg, width: Int(h.width), height: Int(h.height), channels: channels(of: h.colorspace))
        try limits.check(info)
        let scans = scanCount(bytes, limit: limits.maxScans)
        // Each scan is a pass over the image: bound the passes, and the work (passes × pixels).
        guard scans <= limits.maxScans, scans.multipliedReportingOverflow(by: info.width * info.height).partialValue <= limits.maxScanWork else {
            throw .tooManyScans(scans: scans, limit: limits.maxScans)
        }
        let cmyk = h.colorspace == Int32(TJCS_CMYK.rawValue) || h.colorspace == Int32(TJCS_YCCK.rawValue)
        let pixelFormat: TJPF = info.channels == 1 ? TJPF_GRAY : (cmyk ? TJPF_CMYK : TJPF_RGB)
        let decodedChannels = cmyk ? 4 : info.channels
        var pixels = [UInt8](repeating: 0, count: info.width * info.height * decodedChannels)
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let status = pixels.withUnsafeMutableBufferPointer { dst in
            tjDecompress2(handle.raw, source, UInt(bytes.count), dst.baseAddress, h.width, 0, h.height,
                          Int32(pixelFormat.rawValue), TJFLAG_STOPONWARNING)
        }
        guard status == 0 else { throw .invalid(handle.message) }
        guard cmyk else { return PixelBuffer(width: info.width, height: info.height, channels: info.channels, pixels: pixels) }
        // Adobe-style CMYK JPEGs store inverted values: R = C*K/255 and so on.
        var rgb = [UInt8](repeating: 0, count: info.width * info.height * 3)
        for p in 0..<(info.width * info.height) {
            let k = UInt32(pixels[p * 4 + 3])
            for c in 0..<3 { rgb[p * 3 + c] = UInt8(UInt32(pixels[p * 4 + c]) * k / 255) }
        }
        return PixelBuffer(width: info.width, height: info.height, channels: 3, pixels: rgb)
    }

    static func encode(_ buffer: PixelBuffer, quality: Int) throws(ImagingError) -> Data {
        guard buffer.channels == 1 || buffer.channels == 3 else {
            throw .invalid("JPEG encoding takes gray or RGB pixels, not \(buffer.channels) channels")
        }
        let handle = try Handle(compress: true)
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let format = buffer.channels == 1 ? TJPF_GRAY : TJPF_RGB
        let subsampling = buffer.channels == 1 ? TJSAMP_GRAY : TJSAMP_420
        let status = buffer.pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle.raw, src.baseAddress, Int32(buffer.width), 0, Int32(buffer.height), Int32(format.rawValue),
                        &output, &size, Int32(subsampling.rawValue), Int32(quality), 0)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else { throw .invalid(handle.message) }
        return Data(bytes: output, count: Int(size))
    }
}
