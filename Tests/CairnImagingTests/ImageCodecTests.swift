import CairnImaging
import CairnTestSupport
import Foundation
import Testing

/// The value make_fixtures.py writes at (x, y) in its gray fixtures.
private func grayValue(_ x: Int, _ y: Int) -> UInt8 { UInt8((x * 16 + y * 4) % 256) }

@Suite struct ImageCodecTests {
    @Test(arguments: [1, 2, 3, 4])
    func pngRoundTripsEveryChannelLayout(channels: Int) throws {
        let image = SyntheticImages.pixels(seed: channels, width: 13, height: 7, channels: channels)
        let data = try ImageCodec.encodePNG(image)
        #expect(try ImageCodec.probe(data) == ImageInfo(format: .png, width: 13, height: 7, channels: channels))
        #expect(try ImageCodec.decode(data) == image)
    }

    @Test func sixteenBitPNGIsReducedToEightBits() throws {
        let image = try ImageCodec.decode(try Fixtures.imageData("gray16.png"))
        #expect(image.channels == 1)
        #expect((image.width, image.height) == (16, 12))
        for (x, y) in [(0, 0), (5, 3), (15, 11)] { #expect(image[x, y, 0] == grayValue(x, y)) }
    }

    @Test func interlacedPNGDecodesToTheSamePixels() throws {
        let image = try ImageCodec.decode(try Fixtures.imageData("interlaced.png"))
        for y in 0..<12 { for x in 0..<16 { #expect(image[x, y, 0] == grayValue(x, y)) } }
    }

    @Test func palettePNGExpandsToRGB() throws {
        let image = try ImageCodec.decode(try Fixtures.imageData("palette.png"))
        #expect(image.channels == 3)
        #expect([image[0, 0, 0], image[0, 0, 1], image[0, 0, 2]] == [255, 0, 0])
        #expect([image[1, 0, 0], image[1, 0, 1], image[1, 0, 2]] == [0, 255, 0])
    }

    @Test func grayAlphaAndRGBAKeepTheirAlpha() throws {
        let ga = try ImageCodec.decode(try Fixtures.imageData("gray_alpha.png"))
        #expect(ga.channels == 2)
        #expect(ga[3, 0, 1] == 252)
        let rgba = try ImageCodec.decode(try Fixtures.imageData("rgba.png"))
        #expect(rgba.channels == 4)
        #expect(rgba[2, 1, 3] == 200)
    }

    @Test(arguments: ["baseline.jpg", "progressive.jpg", "cmyk.jpg"])
    func colourJPEGsDecodeToRGBCloseToTheSource(name: String) throws {
        let image = try ImageCodec.decode(try Fixtures.imageData(name))
        #expect(image.channels == 3)
        #expect((image.width, image.height) == (16, 12))
        // make_fixtures.py drew (x*16, y*16, 100); JPEG is lossy, so allow a margin.
        for (x, y) in [(2, 2), (10, 6), (13, 9)] {
            #expect(abs(Int(image[x, y, 0]) - x * 16) < 24)
            #expect(abs(Int(image[x, y, 1]) - y * 16) < 24)
            #expect(abs(Int(image[x, y, 2]) - 100) < 24)
        }
    }

    @Test func grayscaleJPEGHasOneChannel() throws {
        let data = try Fixtures.imageData("gray.jpg")
        #expect(try ImageCodec.probe(data).channels == 1)
        #expect(try ImageCodec.decode(data).channels == 1)
    }

    @Test func jpegRoundTripsApproximately() throws {
        let image = SyntheticImages.pixels(seed: 3, width: 32, height: 32, channels: 1).resized(width: 8, height: 8)
            .resized(width: 32, height: 32)
        let decoded = try ImageCodec.decode(try ImageCodec.encodeJPEG(image, quality: 95))
        let error = zip(image.pixels, decoded.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(error < 40)
    }

    @Test func emptyDataIsRejected() {
        #expect(throws: ImagingError.empty) { try ImageCodec.decode(Data()) }
    }

    @Test func nonImageDataIsRejected() {
        #expect(throws: ImagingError.unsupportedFormat) { try ImageCodec.probe(Data("hello, world".utf8)) }
    }

    @Test(arguments: ["baseline.jpg", "progressive.jpg", "interlaced.png", "gray16.png"])
    func truncatedImagesAreRejected(name: String) throws {
        let data = try Fixtures.imageData(name)
        #expect(throws: ImagingError.self) { try ImageCodec.decode(data.prefix(data.count * 2 / 3)) }
    }

    @Test func aHugeHeaderIsRejectedBeforeAnyPixelMemory() throws {
        let data = try Fixtures.imageData("huge_header.png")
        #expect(try ImageCodec.probe(data) == ImageInfo(format: .png, width: 100_000, height: 100_000, channels: 1))
        do {
            _ = try ImageCodec.decode(data)
            Issue.record("a 100000x100000 image was decoded")
        } catch {
            guard case .tooLarge(let w, let h, _) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect((w, h) == (100_000, 100_000))
        }
    }

    @Test func limitsAreConfigurable() throws {
        let data = SyntheticImages.png(seed: 1, width: 20, height: 20)
        #expect(throws: ImagingError.self) { try ImageCodec.decode(data, limits: DecodeLimits(maxPixels: 399)) }
        #expect(try ImageCodec.decode(data, limits: DecodeLimits(maxPixels: 400)).width == 20)
    }

    @Test func sniffRecognisesOnlyRealSignatures() {
        #expect(ImageFormat.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(ImageFormat.sniff([0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat.sniff([0xFF, 0xD8]) == nil)
        #expect(ImageFormat.sniff(Array("GIF89a".utf8)) == nil)
    }
}

@Suite struct ResizeTests {
    @Test func areaAveragingTakesTheMeanOfEachBlock() {
        let image = PixelBuffer(width: 4, height: 2, channels: 1, pixels: [0, 100, 200, 255, 50, 150, 0, 1])
        let small = image.resized(width: 2, height: 1)
        #expect(small.pixels == [75, 114])  // (0+100+50+150)/4, (200+255+0+1)/4 rounded
    }

    @Test func fractionalAreasAreWeighted() {
        // 3 -> 2: output 0 covers source 0 fully and half of source 1.
        let image = PixelBuffer(width: 3, height: 1, channels: 1, pixels: [0, 90, 180])
        #expect(image.resized(width: 2, height: 1).pixels == [30, 150])
    }

    @Test func upscalingInterpolatesAndKeepsConstantImagesConstant() {
        let flat = PixelBuffer(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 77, count: 12))
        #expect(flat.resized(width: 7, height: 5).pixels.allSatisfy { $0 == 77 })
        let ramp = PixelBuffer(width: 2, height: 1, channels: 1, pixels: [0, 200])
        let wide = ramp.resized(width: 4, height: 1).pixels
        #expect(wide == wide.sorted())
        #expect(wide.first == 0 && wide.last == 200)
    }

    @Test func channelConversionUsesLumaAndReplicatesGray() {
        let rgb = PixelBuffer(width: 1, height: 1, channels: 3, pixels: [255, 0, 0])
        #expect(rgb.converted(toChannels: 1).pixels == [76])
        let gray = PixelBuffer(width: 1, height: 1, channels: 1, pixels: [9])
        #expect(gray.converted(toChannels: 4).pixels == [9, 9, 9, 255])
    }
}
