@testable import CairnModels
@testable import CairnQuality
@testable import CairnTraining
import CairnCatalog
import CairnImaging
import CairnTestSupport
import Foundation
import Testing

/// Near-duplicates (`cairn check`) at real sizes: copies shifted by one or two pixels, cropped by
/// up to 10% and resized back, darkened, noisy or mirrored are found; different pictures are not.
@Suite struct NearDuplicateTests {
    /// The first `count` sample digits, enlarged to `side` x `side` (bilinear), as real-sized
    /// handwriting with soft edges.
    private func digits(_ count: Int, side: Int) throws -> [PixelBuffer] {
        let files = try FileManager.default.subpathsOfDirectory(atPath: Fixtures.digits).filter { $0.hasSuffix(".png") }.sorted()
        return try files.prefix(count).map {
            try ImageCodec.decode(Data(contentsOf: URL(fileURLWithPath: Fixtures.digits + "/" + $0))).converted(toChannels: 1).resized(width: side, height: side)
        }
    }

    /// `image` (gray) read through `transform`: output pixel (x, y) takes the source at
    /// `transform(x, y)`, bilinear, edges repeated; then `tone` applied and clamped.
    private func warped(_ image: PixelBuffer, _ transform: (Double, Double) -> (Double, Double), tone: (Double) -> Double = { $0 }) -> PixelBuffer {
        let (w, h) = (image.width, image.height)
        func at(_ x: Int, _ y: Int) -> Double { Double(image.pixels[min(h - 1, max(0, y)) * w + min(w - 1, max(0, x))]) }
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let (sx, sy) = transform(Double(x), Double(y))
                let (x0, y0) = (Int(sx.rounded(.down)), Int(sy.rounded(.down)))
                let (tx, ty) = (sx - Double(x0), sy - Double(y0))
                let top = at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx, bottom = at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx
                out[y * w + x] = UInt8(max(0, min(255, tone(top * (1 - ty) + bottom * ty).rounded())))
            }
        }
        return PixelBuffer(width: w, height: h, channels: 1, pixels: out)
    }

    /// Each original's copy of its kind in the other split; returns the groups found.
    private func search(_ originals: [PixelBuffer], copies: [PixelBuffer], flips: Bool = false) -> (groups: [Set<Int>], pairs: Int) {
        let images = originals + copies
        let side = images[0].width
        let thumbnails = Thumbnails(normalized: images.flatMap { Thumbnails.thumbnail($0, side: side) }, side: side,
                                    splits: originals.map { _ in .train } + copies.map { _ in .test }, usable: images.map { _ in true })
        let (pairs, groups) = thumbnails.duplicates(threshold: thumbnails.defaultThreshold, flips: flips)
        return (groups.map(Set.init), pairs.count)
    }

    /// `count` photo-like textures, `side` x `side`: noise blurred by `grain` pixels, stretched to 30–225.
    private func textures(_ count: Int, side: Int, grain: Float, seed: UInt64) -> [PixelBuffer] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            let noise = Thumbnails.blurred((0..<(side * side)).map { _ in Float(random.normal()) }, side: side, sigma: grain)
            let (low, high) = (noise.min()!, noise.max()!)
            return PixelBuffer(width: side, height: side, channels: 1, pixels: noise.map { UInt8(30 + 195 * ($0 - low) / (high - low)) })
        }
    }

    /// As `search`, for photos: 64-pixel thumbnails blurred by 1.2 px, the photos' threshold.
    private func photoSearch(_ originals: [PixelBuffer], copies: [PixelBuffer]) -> [Set<Int>] {
        let images = originals + copies
        let thumbnails = Thumbnails(normalized: images.flatMap { Thumbnails.thumbnail($0, side: 64, blur: 1.2) }, side: 64, blur: 1.2, photos: true,
                                    splits: originals.map { _ in .train } + copies.map { _ in .test }, usable: images.map { _ in true })
        #expect(thumbnails.defaultThreshold == 0.016)
        return thumbnails.duplicates(threshold: thumbnails.defaultThreshold).groups.map(Set.init)
    }

    private func found(_ originals: [PixelBuffer], in groups: [Set<Int>]) -> Int {
        originals.indices.filter { i in groups.contains { $0.contains(i) && $0.contains(originals.count + i) } }.count
    }

    @Test func photosFindSubPixelShiftsAndCrops() throws {
        // 128-pixel textures: a one-pixel shift is half a pixel of their 64-pixel thumbnails, which
        // no whole-pixel shift undoes; a crop of 8% resized back moves their fine grain further.
        let originals = textures(16, side: 128, grain: 2, seed: 21)
        let shifted = originals.map { image in warped(image, { ($0 - 1, $1) }) }
        let cropped = originals.map { image in warped(image, { (5 + ($0 + 0.5) * 0.92 - 0.5, 3 + ($1 + 0.5) * 0.92 - 0.5) }) }
        for (kind, copies) in [("shifted", shifted), ("cropped", cropped)] {
            let groups = photoSearch(originals, copies: copies)
            #expect(found(originals, in: groups) >= 15, "\(kind): \(found(originals, in: groups)) of 16 found")
            #expect(groups.allSatisfy { $0.filter { $0 < originals.count }.count <= 1 }, "\(kind): different textures grouped")
        }
    }

    @Test func flatPicturesMustBeAsCloseAsTheirOwnShiftedSelves() throws {
        // Smooth fields like neighbouring tiles of a clear sky: one shared swell of three slow
        // waves, each picture with a ripple of its own at a third of its strength — some under
        // the photos' threshold of each other (shifted or zoomed), but each further than twice
        // what a one-pixel shift does to it. Each one's brightened copy is the same picture.
        var random = SeededRandom(seed: 3)
        func waves() -> [Double] {
            var field = [Double](repeating: 0, count: 96 * 96)
            for _ in 0..<3 {
                let (angle, frequency, phase) = (random.uniform() * .pi, 2 * .pi / 150 * (0.7 + 0.6 * random.uniform()), random.uniform() * 2 * .pi)
                for i in field.indices { field[i] += cos(frequency * (Double(i % 96) * cos(angle) + Double(i / 96) * sin(angle)) + phase) }
            }
            return field
        }
        let swell = waves()
        let skies = (0..<6).map { _ -> PixelBuffer in
            let ripple = waves()
            let field = swell.indices.map { swell[$0] + 0.35 * ripple[$0] }
            let peak = field.map(abs).max()!
            return PixelBuffer(width: 96, height: 96, channels: 1, pixels: field.map { UInt8(128 + 40 * $0 / peak) })
        }
        let (even, odd) = (stride(from: 0, to: 6, by: 2).map { skies[$0] }, stride(from: 1, to: 6, by: 2).map { skies[$0] })
        let images = even + odd
        let thumbnails = Thumbnails(normalized: images.flatMap { Thumbnails.thumbnail($0, side: 64, blur: 1.2) }, side: 64, blur: 1.2, photos: true,
                                    splits: even.map { _ in .train } + odd.map { _ in .test }, usable: images.map { _ in true })
        let taps = thumbnails.coarseTaps()
        let close = even.indices.flatMap { a in
            odd.indices.map { b in min(thumbnails.distance(a, even.count + b), thumbnails.cropDistance(a, even.count + b, coarseTaps: taps)) }
        }.filter { $0 <= thumbnails.defaultThreshold }
        #expect(close.count >= 3, "the premise: pairs of skies within the threshold (\(close.count) of 9)")
        let groups = thumbnails.duplicates(threshold: thumbnails.defaultThreshold).groups
        #expect(groups.isEmpty, "different skies grouped: \(groups)")
        let brighter = skies.map { image in warped(image, { ($0, $1) }, tone: { $0 * 1.15 + 10 }) }
        #expect(found(skies, in: photoSearch(skies, copies: brighter)) == 6)
    }

    @Test func thumbnailSideFollowsTheImagesWithinTheMemoryBudget() {
        #expect(Thumbnails.side(common: 28, count: 1_000_000) == 28)
        #expect(Thumbnails.side(common: 4000, count: 100_000) == 64)
        #expect(Thumbnails.side(common: 4000, count: 1_000_000) == 34)
        #expect(Thumbnails.side(common: 6, count: 10) == 8)
    }

    @Test func copiesOfEveryKindAreFoundAt28Pixels() throws {
        let originals = try digits(60, side: 28)
        var random = SeededRandom(seed: 5)
        let kinds = ["shift", "crop", "darker", "noise"]
        let copies = originals.enumerated().map { i, image -> PixelBuffer in
            switch kinds[i % 4] {
            case "shift":  // one or two pixels
                let d = Double(1 + i % 2)
                return warped(image, { ($0 - d, $1 + (i % 3 == 0 ? d : 0)) })
            case "crop":  // 90–95% kept, resized back, somewhere in the image
                let keep = 0.9 + 0.05 * Double(i % 5) / 4, room = (1 - keep) * 28
                let (left, top) = (room * Double(i % 3) / 2, room * Double(i % 2))
                return warped(image, { (left + ($0 + 0.5) * keep - 0.5, top + ($1 + 0.5) * keep - 0.5) })
            case "darker":  // brightness and contrast 20% down
                return warped(image, { ($0, $1) }, tone: { ($0 * 0.8 - 100) * 0.8 + 100 })
            default:  // noise of σ 12 gray levels
                return warped(image, { ($0, $1) }, tone: { $0 + random.normal() * 12 })
            }
        }
        let (groups, _) = search(originals, copies: copies)
        let found = originals.indices.filter { i in groups.contains { $0.contains(i) && $0.contains(originals.count + i) } }
        var perKind: [String: Int] = [:]
        for i in found { perKind[kinds[i % 4], default: 0] += 1 }
        for kind in kinds { #expect(perKind[kind, default: 0] >= 14, "\(kind): \(perKind[kind, default: 0]) of 15 found") }
        // Nothing else is joined: no group holds two originals.
        let wrong = groups.filter { $0.filter { $0 < originals.count }.count > 1 }
        #expect(wrong.isEmpty, "different digits grouped: \(wrong)")
    }

    @Test func mirroredCopiesOnlyWithFlips() throws {
        let originals = try digits(20, side: 28)
        let mirrored = originals.map { image in warped(image, { (Double(image.width - 1) - $0, $1) }) }
        let count = { (groups: [Set<Int>]) in originals.indices.filter { i in groups.contains { $0.contains(i) && $0.contains(originals.count + i) } }.count }
        #expect(count(search(originals, copies: mirrored, flips: true).groups) >= 19)
        // Without --flips a mirror image is another picture (most digits are not symmetric).
        #expect(count(search(originals, copies: mirrored).groups) <= 3)
    }

    @Test func largeImagesUseTheSameSearch() throws {
        // 128x128 pictures (enlarged digits with a texture of their own) and their 92% crops.
        var random = SeededRandom(seed: 9)
        let originals = try digits(12, side: 128).map { image in warped(image, { ($0, $1) }, tone: { $0 * 0.7 + random.uniform() * 60 }) }
        let copies = originals.map { image in warped(image, { (4 + ($0 + 0.5) * 0.92 - 0.5, 6 + ($1 + 0.5) * 0.92 - 0.5) }) }
        let (groups, _) = search(originals, copies: copies)
        let found = originals.indices.filter { i in groups.contains { $0.contains(i) && $0.contains(originals.count + i) } }
        #expect(found.count >= 11, "\(found.count) of 12 crops found")
        #expect(groups.allSatisfy { $0.filter { $0 < originals.count }.count <= 1 })
    }
}
