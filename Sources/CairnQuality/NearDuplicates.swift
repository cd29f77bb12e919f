import CairnCatalog
import CairnImaging
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import Foundation
import Synchronization

/// Normalized grayscale thumbnails of a snapshot's images, and the near-duplicate search over them
/// (`cairn check`).
///
/// Every image becomes one thumbnail at the dataset's own size (its most common side, from 8 to
/// 64 pixels, so a 28x28 digit or a 64x64 tile keeps every pixel and a one-pixel shift stays one
/// pixel; larger images are reduced by averaging areas; smaller thumbnails when the set's would
/// pass `memoryBudget`), from 16 pixels up blurred a little (σ 0.7 px, which averages noise and
/// JPEG blocks away but keeps strokes; 1.2 px for `photos`), then normalized to zero mean and
/// unit variance (so brightness and contrast do not matter) and kept as bytes (1/20 of a standard
/// deviation per step; a pair is widened to 16 bits before its shifted products, which then run on
/// the processor's 16-bit multiply-add: twice as fast as bytes widened product by product). Two
/// images are one picture when the best correlation of their thumbnails reaches 1 − threshold over
/// - shifts of up to `reach` pixels (2 from 16 pixels up), on the overlap;
/// - crops of up to 10% resized back (`cropDistance`, for pairs already close; among glyphs the
///   distance it finds counts double);
/// - with `flips`, the mirror image too;
/// and when that distance is at most `flatRatio` times the flatter image's `step` — how far a
/// one-pixel shift takes it from itself. A flat picture (clear sky, a smooth gradient, a dark
/// corner) is close to every other flat picture; a copy of it must be as close as its own
/// pixel-shifted self, not merely under the threshold.
struct Thumbnails {
    /// Quantization: a normalized value v is kept as round(v × scale), clamped to ±127.
    static let scale: Float = 20
    /// Zooms searched for crops (the part of the image kept).
    static let zooms: [Float] = [0.967, 0.933, 0.9]
    /// Pairs further apart than this without zoom are not searched for crops.
    static let cropGate = 0.25
    /// The same for photos: every pair the screen passes (fine texture or sparse stars, which a
    /// crop of 10% takes 0.26–0.44 apart unzoomed; they are few enough to search).
    static let photoCropGate = 1.0
    /// Crop searches whose coarse pass ends further apart than this are not refined.
    static let refineGate = 0.08
    /// An image this far from one member of a group of copies is not compared with the others.
    static let farApart = 0.03
    /// A pair is one picture only when its distance is at most this many times the flatter image's `step`.
    static let flatRatio = 2.0
    /// The most the thumbnails may take, in bytes: 64x64 thumbnails up to about 320,000 images.
    static let memoryBudget = 1_500_000_000

    let side: Int
    /// The σ, in pixels, the thumbnails were blurred with.
    let blur: Float
    /// Whether the images are photos rather than glyphs (most larger than 32 pixels): their fine
    /// texture, resampled on another grid or re-encoded, moves by fractions of a pixel, so their
    /// copies are less close.
    let photos: Bool
    /// Shifts searched each way, in thumbnail pixels.
    let reach: Int
    /// Per image, its side × side values inside a border of `reach` zeros (`pitch` × `pitch`), so
    /// that a shifted product is one run over memory (all zero for a flat or unreadable image).
    let values: [Int8]
    var pitch: Int { side + 2 * reach }
    var area: Int { pitch * pitch }
    let splits: [Split]
    /// Images that could not be read or decoded are left out of the search.
    let usable: [Bool]
    /// Per image and shift k = (dy + reach) * width + (dx + reach): the sum of squares over the part
    /// of the image a shift compares, so the search computes only the products. The other image's
    /// part under shift k is this image's part under the opposite shift, count − 1 − k.
    let energies: [Int32]
    /// Per image, 1 − the correlation of its thumbnail with itself shifted one pixel (the mean of
    /// right and down): small for a flat picture, large for fine texture.
    let steps: [Float]

    init(_ items: [ItemRecord], store: any BlobStore, progress: @escaping @Sendable (Int, Int) -> Void) throws {
        let common = Dictionary(items.map { (max($0.width, $0.height), 1) }, uniquingKeysWith: +).max { ($0.value, $0.key) < ($1.value, $1.key) }?.key ?? 16
        let side = Self.side(common: common, count: items.count)
        // Photos (larger than 32 pixels) keep detail up to the thumbnail's last pixel (fine texture
        // a resampling or JPEG moves): blurred more.
        let blur: Float = common > 32 ? 1.2 : 0.7
        let done = Atomic<Int>(0)
        // Each thumbnail kept as bytes as soon as it is made: a million 28x28 images are 0.8 GB so,
        // and were 3 GB as floats.
        let rows = Parallel.map(items.count) { i -> [Int8]? in
            defer {
                let n = done.add(1, ordering: .relaxed).newValue
                if n % 1000 == 0 { progress(n, items.count) }
            }
            guard let bytes = try? store.get(items[i].blobID), let image = try? ImageCodec.decode(bytes) else { return nil }
            return Self.quantized(Self.thumbnail(image, side: side, blur: blur))
        }
        self.init(quantized: rows, side: side, blur: blur, photos: common > 32, splits: items.map(\.split))
    }

    /// The thumbnails' side for `count` images whose most common side is `common`: that side, from
    /// 8 to 64 pixels, and less when `count` thumbnails (with their borders) would pass `memoryBudget`.
    static func side(common: Int, count: Int) -> Int {
        let fits = Int(Double(memoryBudget / max(1, count)).squareRoot()) - 4
        return max(8, min(64, common, fits))
    }

    /// Normalized values as kept: round(v × scale), clamped to ±127.
    static func quantized(_ normalized: [Float]) -> [Int8] { normalized.map { Int8(max(-127, min(127, ($0 * scale).rounded()))) } }

    /// The default `check --threshold` for these thumbnails: 0.006 from 16 pixels up (on 28x28
    /// MNIST digits the closest two different handwritten digits are 0.0064 apart, copies with
    /// noise of σ 16 gray levels up to 0.0073), 0.01 below (unblurred 8x8 digits: the closest two
    /// different ones 0.006 apart, their noisy copies up to 0.006); 0.016 for photos (at 64 pixels,
    /// JPEG, rescaled and brightened copies of scikit-image's photos up to 0.015, low-contrast
    /// ones further; the closest other pictures that are not flat are overlapping tiles of one
    /// photo).
    var defaultThreshold: Double { photos ? 0.016 : side >= 16 ? 0.006 : 0.01 }

    /// `image` as a thumbnail: gray, `side` × `side`, blurred (σ 0.7 px) from 16 pixels up, zero mean
    /// and unit variance.
    static func thumbnail(_ image: PixelBuffer, side: Int, blur sigma: Float = 0.7) -> [Float] {
        let small = image.converted(toChannels: 1).resized(width: side, height: side)
        guard side >= 16 else { return normalized(small.pixels.map(Float.init)) }
        return normalized(blurred(small.pixels.map(Float.init), side: side, sigma: sigma))
    }

    /// `values` (`side` × `side`) blurred by a Gaussian of `sigma` pixels, the edges repeated.
    static func blurred(_ values: [Float], side: Int, sigma: Float) -> [Float] {
        let radius = Int((3 * sigma).rounded(.up))
        var kernel = (-radius...radius).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Float](repeating: 0, count: side * side), v = rows
        for y in 0..<side {
            for x in 0..<side {
                var sum: Float = 0
                for t in -radius...radius { sum += kernel[t + radius] * values[y * side + min(side - 1, max(0, x + t))] }
                rows[y * side + x] = sum
            }
        }
        for y in 0..<side {
            for x in 0..<side {
                var sum: Float = 0
                for t in -radius...radius { sum += kernel[t + radius] * rows[min(side - 1, max(0, y + t)) * side + x] }
                v[y * side + x] = sum
            }
        }
        return v
    }

    /// `v` with zero mean and unit variance (all zero when flat).
    private static func normalized(_ v: [Float]) -> [Float] {
        let mean = v.reduce(0, +) / Float(v.count)
        let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(v.count)
        let scale = variance > 1e-6 ? 1 / variance.squareRoot() : 0
        return v.map { ($0 - mean) * scale }
    }

    /// Thumbnails already made: `side` × `side` normalized values per image.
    init(normalized: [Float], side: Int, blur: Float? = nil, photos: Bool = false, splits: [Split], usable: [Bool]) {
        let area = side * side
        self.init(quantized: splits.indices.map { usable[$0] ? Self.quantized(Array(normalized[($0 * area)..<(($0 + 1) * area)])) : nil },
                  side: side, blur: blur, photos: photos, splits: splits)
    }

    /// Thumbnails already made and quantized (`quantized`), nil for an image that is not usable.
    private init(quantized rows: [[Int8]?], side: Int, blur: Float?, photos: Bool, splits: [Split]) {
        self.blur = blur ?? (side >= 16 ? 0.7 : 0)
        let reach = side >= 16 ? 2 : 1
        let pitch = side + 2 * reach, n = splits.count
        var values = [Int8](repeating: 0, count: n * pitch * pitch)
        for (i, row) in rows.enumerated() {
            guard let row else { continue }
            for y in 0..<side {
                for x in 0..<side { values[i * pitch * pitch + (y + reach) * pitch + x + reach] = row[y * side + x] }
            }
        }
        let usable = rows.map { $0 != nil }
        let width = 2 * reach + 1
        var energies = [Int32](repeating: 0, count: n * width * width)
        values.withUnsafeBufferPointer { v in
            for i in 0..<n {
                for k in 0..<(width * width) {
                    energies[i * width * width + k] = Self.energy(of: v.baseAddress! + i * pitch * pitch, side: side, reach: reach, shift: k)
                }
            }
        }
        let steps = values.withUnsafeBufferPointer { v in
            (0..<n).map { i in Self.step(of: v.baseAddress! + i * pitch * pitch, side: side, reach: reach) }
        }
        (self.values, self.side, self.reach, self.splits, self.usable, self.energies) = (values, side, reach, splits, usable, energies)
        (self.photos, self.steps) = (photos, steps)
    }

    /// Image `i`'s value at `row`, `column` (inside the thumbnail).
    func value(_ i: Int, _ row: Int, _ column: Int) -> Int8 { values[i * area + (row + reach) * pitch + column + reach] }

    /// Image `i`'s thumbnail as floats, `side` × `side`.
    func floats(_ i: Int) -> [Float] { (0..<(side * side)).map { Float(value(i, $0 / side, $0 % side)) } }

    /// 1 − the best correlation of images `a` and `b` over shifts of up to `reach` pixels (on the
    /// overlap); with `mirrored`, of `a` and the mirror image of `b`. `pair` is where the two are
    /// widened to 16 bits (a worker passes its own, which keeps `a` widened from one call to the next).
    func distance(_ a: Int, _ b: Int, mirrored: Bool = false, pair: WidePair? = nil) -> Double {
        let (p, width) = (pitch, 2 * reach + 1)
        // From the first inside value to the last: every product whose first factor is inside.
        let (start, end) = (reach * p + reach, (reach + side - 1) * p + reach + side)
        var best = -1.0
        let area = self.area
        let wide = pair ?? WidePair(area: area)
        values.withUnsafeBufferPointer { v in
            do {
                // The pair widened to 16 bits (the other mirrored when asked).
                let (x, y) = (wide.x, wide.y)
                if wide.holds != a {
                    for i in 0..<area { x[i] = Int16(v[a * area + i]) }
                    wide.holds = a
                }
                if mirrored {
                    for i in 0..<area { y[i] = 0 }
                    for row in 0..<side { for column in 0..<side { y[(row + reach) * p + column + reach] = Int16(value(b, row, side - 1 - column)) } }
                } else {
                    for i in 0..<area { y[i] = Int16(v[b * area + i]) }
                }
                for k in 0..<(width * width) {
                    let offset = (k / width - reach) * p + (k % width - reach)
                    let xx = energies[a * width * width + k]
                    let yy = mirrored ? Self.energy(of: UnsafePointer(y), side: side, reach: reach, shift: width * width - 1 - k)
                                      : energies[b * width * width + width * width - 1 - k]
                    guard xx > 0, yy > 0 else { continue }
                    var dot: Int32 = 0
                    let z = y + offset
                    for i in start..<end { dot &+= Int32(x[i]) &* Int32(z[i]) }
                    best = max(best, Double(dot) / (Double(xx) * Double(yy)).squareRoot())
                }
            }
        }
        return 1 - best
    }

    /// 1 − the correlation of padded thumbnail `x` with itself shifted one pixel, the mean of right and down.
    private static func step(of x: UnsafePointer<Int8>, side: Int, reach: Int) -> Float {
        let pitch = side + 2 * reach
        return [(1, 0), (0, 1)].map { (dx: Int, dy: Int) -> Float in
            var (dot, xx, yy): (Int32, Int32, Int32) = (0, 0, 0)
            for row in 0..<(side - dy) {
                for column in 0..<(side - dx) {
                    let i = (row + reach) * pitch + column + reach
                    let (a, b) = (Int32(x[i]), Int32(x[i + dy * pitch + dx]))
                    (dot, xx, yy) = (dot &+ a &* b, xx &+ a &* a, yy &+ b &* b)
                }
            }
            return xx > 0 && yy > 0 ? Float(1 - Double(dot) / (Double(xx) * Double(yy)).squareRoot()) : 0
        }.reduce(0, +) / 2
    }

    /// The sum of squares of padded thumbnail `y`'s part that shift `k` compares.
    private static func energy<T: BinaryInteger>(of y: UnsafePointer<T>, side: Int, reach: Int, shift k: Int) -> Int32 {
        let width = 2 * reach + 1, pitch = side + 2 * reach
        let (dy, dx) = (k / width - reach, k % width - reach)
        var sum: Int32 = 0
        for row in max(0, -dy)..<min(side, side - dy) {
            for column in max(0, -dx)..<min(side, side - dx) {
                let v = Int32(y[(row + reach) * pitch + column + reach])
                sum &+= v &* v
            }
        }
        return sum
    }

    /// Where a view reads a thumbnail along one axis: per output row (or column) the source index
    /// and the weight of the next one — for the part centred `center` pixels from the middle
    /// spanning `zoom` of the side, resized back (bilinear).
    typealias Taps = [(index: Int32, weight: Float)]

    static func taps(side: Int, zoom: Float, center: Float) -> Taps {
        let half = Float(side) / 2, last = Float(side - 1)
        return (0..<side).map { o in
            let source = min(last, max(0, half + center + (Float(o) + 0.5 - half) * zoom - 0.5))
            let low = min(side - 2, Int(source))
            return (Int32(low), source - Float(low))
        }
    }

    /// The side of the crop search's first pass: half the thumbnail's, at least 4.
    var coarseSide: Int { max(4, side / 2) }

    /// Where the crop search's first pass places a view of `zoom` along one axis, `room` being
    /// half the room the zoom leaves: the middle, both ends and halfway between (sparse detail, such
    /// as stars or a thin stroke, is lost by a misplacement of a third of a pixel).
    static func positions(zoom: Float, room: Float) -> [Float] {
        zoom == 1 ? [0] : [-room, -room / 2, 0, room / 2, room]
    }

    /// The crop search's first pass, the same for every pair: per zoom (1, then `zooms`) and
    /// position (`positions`), the taps at `coarseSide`.
    func coarseTaps() -> [[Taps]] {
        ([1] + Self.zooms).map { zoom in
            let room = (1 - zoom) * Float(coarseSide) / 2
            return Self.positions(zoom: zoom, room: room).map { Self.taps(side: coarseSide, zoom: zoom, center: $0) }
        }
    }

    /// `values` (`side` × `side`) shrunk to `to` × `to` by averaging areas (the weights images are resized with).
    static func shrunk(_ values: [Float], side: Int, to target: Int) -> [Float] {
        let weights = PixelBuffer.weights(from: side, to: target)
        var out = [Float](repeating: 0, count: target * target)
        for (r, rows) in weights.enumerated() {
            for (c, columns) in weights.enumerated() {
                var sum: Float = 0
                for y in rows { for x in columns { sum += y.weight * x.weight * values[y.index * side + x.index] } }
                out[r * target + c] = sum
            }
        }
        return out
    }

    /// The correlation of the view of `x` read through `rows` and `columns` (`taps`, both images
    /// `side` × `side`) with `y` whole.
    private static func viewCorrelation(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, side s: Int, rows: Taps, columns: Taps) -> Double {
        var dot: Float = 0, sum: Float = 0, squares: Float = 0, ySum: Float = 0, ySquares: Float = 0
        for (r, (row, ty)) in rows.enumerated() {
            let upper = x + Int(row) * s, lower = upper + s, target = y + r * s
            for (c, (column, tx)) in columns.enumerated() {
                let i = Int(column)
                let a = upper[i] + tx * (upper[i + 1] - upper[i])
                let b = lower[i] + tx * (lower[i + 1] - lower[i])
                let value = a + ty * (b - a), other = target[c]
                sum += value
                squares += value * value
                dot += value * other
                ySum += other
                ySquares += other * other
            }
        }
        let m = Float(s * s)
        let variance = Double(squares - sum * sum / m) * Double(ySquares - ySum * ySum / m)
        return variance > 0 ? Double(dot - sum * ySum / m) / variance.squareRoot() : -1
    }

    private static func viewCorrelation(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, side: Int, zoom: (x: Float, y: Float),
                                        center: (x: Float, y: Float)) -> Double {
        viewCorrelation(x, y, side: side, rows: taps(side: side, zoom: zoom.y, center: center.y),
                        columns: taps(side: side, zoom: zoom.x, center: center.x))
    }

    /// 1 − the best correlation of a zoomed view of either image (a crop of up to 10%, resized
    /// back) with the other whole, or 2 when no crop explains the pair. First pass at a quarter of
    /// the size (`coarseSide`, areas averaged): zooms of 0.967, 0.933 and 0.9 at 5x5 positions
    /// both ways, beside the unzoomed view; a pair goes on only when its best
    /// view comes within `refineGate` and, among glyphs, a zoom halves the unzoomed distance (noisy
    /// copies and merely similar images stop here). Then the best two are refined at full size,
    /// each side's zoom and the centre in turn, halving the steps; for photos the unzoomed view is
    /// among the starts, so a shift of a fraction of a pixel (a one-pixel shift of a 128-pixel
    /// image, at 64) is found too. A zoomed view's blur is wider by 1/zoom, so the other image is
    /// blurred to match.
    func cropDistance(_ a: Int, _ b: Int, coarseTaps: [[Taps]]) -> Double {
        let q = coarseSide
        typealias View = (correlation: Double, from: Int, zoom: Float, center: (x: Float, y: Float))
        let whole = [a, b].map(floats)
        let small = whole.map { Self.shrunk($0, side: side, to: q) }
        var coarse: [View] = []
        var unzoomed = -1.0
        for (from, to) in [(0, 1), (1, 0)] {
            small[from].withUnsafeBufferPointer { x in
                small[to].withUnsafeBufferPointer { y in
                    for (z, zoom) in ([1] + Self.zooms).enumerated() {
                        let room = (1 - zoom) * Float(side) / 2
                        let centers = Self.positions(zoom: zoom, room: room)
                        for (i, cy) in centers.enumerated() {
                            for (j, cx) in centers.enumerated() {
                                let c = Self.viewCorrelation(x.baseAddress!, y.baseAddress!, side: q, rows: coarseTaps[z][i], columns: coarseTaps[z][j])
                                if zoom == 1 { unzoomed = max(unzoomed, c) }
                                if zoom < 1 || photos { coarse.append((c, from, zoom, (cx, cy))) }
                            }
                        }
                    }
                }
            }
        }
        guard let top = coarse.max(by: { $0.correlation < $1.correlation }), top.correlation >= 1 - Self.refineGate,
              photos || 1 - top.correlation <= (1 - unzoomed) / 2 else { return 2 }
        var best = -1.0
        for start in coarse.sorted(by: { $0.correlation > $1.correlation }).prefix(2) {
            let extra = blur * (1 / (start.zoom * start.zoom) - 1).squareRoot()
            let target = extra > 0.1 ? Self.blurred(whole[1 - start.from], side: side, sigma: extra) : whole[1 - start.from]
            let correlation = whole[start.from].withUnsafeBufferPointer { x in
                target.withUnsafeBufferPointer { y -> Double in
                    var (zoom, center) = ((x: start.zoom, y: start.zoom), start.center)
                    var correlation = Self.viewCorrelation(x.baseAddress!, y.baseAddress!, side: side, zoom: zoom, center: center)
                    var step = (zoom: Float(0.017), offset: (1 - Self.zooms.last!) * Float(side) / 4)
                    for _ in 0..<5 {
                        for parameter in 0..<4 {
                            for sign: Float in [-1, 1] {
                                var (z, c) = (zoom, center)
                                switch parameter {
                                case 0: z.x = min(1, z.x + sign * step.zoom)
                                case 1: z.y = min(1, z.y + sign * step.zoom)
                                case 2: c.x += sign * step.offset
                                default: c.y += sign * step.offset
                                }
                                let r = Self.viewCorrelation(x.baseAddress!, y.baseAddress!, side: side, zoom: z, center: c)
                                if r > correlation { (correlation, zoom, center) = (r, z, c) }
                            }
                        }
                        step = (step.zoom / 2, step.offset / 2)
                    }
                    return correlation
                }
            }
            best = max(best, correlation)
        }
        return 1 - best
    }

    /// Near-duplicates as groups: images with identical thumbnails are one group from the start
    /// (one of them stands for all in the search), and pairs of usable images in different splits
    /// closer than `threshold` join their groups. Returns the joining pairs, closest first, and
    /// every group of two or more images.
    ///
    /// No list of candidate pairs is ever made (20,000 images are 200 million pairs): each image's
    /// partners are screened as they are met, first by 4x4 blurs — the best correlation of one
    /// image's blur with the blurs of the other shifted by up to `reach` pixels (144 products; a
    /// shifted or cropped copy keeps it near 1), then by the shift search, then for pairs still
    /// apart by the crop search — and a pair already in one group is not compared again, so a set
    /// of near-identical images costs one pass, and memory stays linear in the images.
    /// - Complexity: O(r²) screens for r distinct thumbnails up to `allPairsUpTo`; past that,
    ///   within the buckets of a locality-sensitive hash.
    func duplicates(threshold: Double, flips: Bool = false, allPairsUpTo: Int = 20_000) -> (pairs: [(a: Int, b: Int, distance: Double)], groups: [[Int]]) {
        let n = splits.count
        // Identical thumbnails: one representative each.
        var first: [Int: Int] = [:]
        var representative = Array(0..<n)
        let area = self.area
        values.withUnsafeBufferPointer { v in
            for i in 0..<n where usable[i] {
                var hasher = Hasher()
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(v)[(i * area)..<((i + 1) * area)]))
                let key = hasher.finalize()
                if let j = first[key], v[(j * area)..<((j + 1) * area)].elementsEqual(v[(i * area)..<((i + 1) * area)]) {
                    representative[i] = j
                } else if first[key] == nil {
                    first[key] = i
                }
            }
        }
        let reps = (0..<n).filter { usable[$0] && representative[$0] == $0 }
        let blurs = self.blurs()
        let coarseTaps = self.coarseTaps()
        // Crops are searched all against all; among the hashed buckets of a large set, pairs of
        // merely similar images are too many (100,000 noisy variants of 1,797 digits: hours).
        let crops = reps.count <= allPairsUpTo
        // A crop of 10% can bring the blurs' correlation down to 0.85; a shifted or noisy copy keeps 0.9.
        let screenLevel: Float = crops ? 0.85 : 0.9
        @Sendable func screen(_ a: Int, _ b: Int, mirrored: Bool) -> Bool {
            var best: Float = -1
            for shift in 0..<9 {
                var dot: Float = 0
                for j in 0..<16 { dot += blurs[(a * 9 + 4) * 16 + j] * blurs[(b * 9 + shift) * 16 + (mirrored ? j / 4 * 4 + 3 - j % 4 : j)] }
                best = max(best, dot)
            }
            return best >= screenLevel
        }
        /// Whether images `a` and `b`, `d` apart, are one picture: within the threshold, and
        /// within `flatRatio` times the flatter one's step.
        @Sendable func same(_ a: Int, _ b: Int, _ d: Double) -> Bool {
            d <= threshold && d <= Self.flatRatio * Double(min(steps[a], steps[b]))
        }
        /// The distance of two images in different splits (2 when the screen tells them apart at
        /// once); the crop search and the mirror image are tried only while they are not `same`.
        @Sendable func apart(_ a: Int, _ b: Int, _ pair: WidePair) -> Double {
            var d = 2.0
            if screen(a, b, mirrored: false) {
                d = distance(a, b, pair: pair)
                // A crop search tries many alignments: among glyphs, where copies are close and
                // different pictures alike, its best is held to half the threshold.
                if crops && !same(a, b, d) && d <= (photos ? Self.photoCropGate : Self.cropGate) {
                    d = min(d, (photos ? 1 : 2) * cropDistance(a, b, coarseTaps: coarseTaps))
                }
            }
            if flips && !same(a, b, d) && screen(a, b, mirrored: true) { d = min(d, distance(a, b, mirrored: true, pair: pair)) }
            return d
        }
        /// The pairs across splits that join `members` (indices into `reps`' images), with a
        /// union-find of its own so that members already joined are not compared again. An image
        /// far from one member of a group (distance over `farApart`) is not compared with the rest
        /// of that group: its members are copies of one picture, so none of them is near it either
        /// (30,000 noisy variants of 1,797 digits: 140 s -> 49 s, the same groups).
        @Sendable func join(_ rows: [Int], among members: [Int]) -> [(a: Int, b: Int, distance: Double)] {
            var groups = UnionFind(members.count)
            var out: [(a: Int, b: Int, distance: Double)] = []
            var far = Set<Int>()
            let pair = WidePair(area: area)
            for x in rows {
                far.removeAll(keepingCapacity: true)
                for y in (x + 1)..<members.count where splits[members[x]] != splits[members[y]] {
                    let root = groups.find(y)
                    guard groups.find(x) != root, !far.contains(root) else { continue }
                    let d = apart(members[x], members[y], pair)
                    if same(members[x], members[y], d) {
                        groups.union(x, y)
                        out.append((min(members[x], members[y]), max(members[x], members[y]), d))
                    } else if d > Self.farApart {
                        far.insert(root)
                    }
                }
            }
            return out
        }
        var found: [(a: Int, b: Int, distance: Double)]
        if reps.count <= allPairsUpTo {
            // Rows in interleaved chunks, so early rows (with more partners) spread over the cores.
            let chunks = min(max(reps.count, 1), 256)
            found = Parallel.map(chunks) { c in join(Array(stride(from: c, to: reps.count, by: chunks)), among: reps) }.flatMap { $0 }
        } else {
            let buckets = self.buckets(blurs, of: reps, flips: flips)
            found = Parallel.map(buckets.count) { i in join(Array(0..<buckets[i].count), among: buckets[i]) }.flatMap { $0 }
        }
        // The groups: identical thumbnails with their representative, then the joining pairs, each
        // kept only when it joins two groups not yet one (so at most one pair per image).
        var groups = UnionFind(n)
        var pairs: [(a: Int, b: Int, distance: Double)] = []
        for i in 0..<n where representative[i] != i {
            groups.union(i, representative[i])
            if splits[i] != splits[representative[i]] { pairs.append((min(i, representative[i]), max(i, representative[i]), 0)) }
        }
        pairs += groups.join(found)
        return (pairs.sorted { ($0.distance, $0.a, $0.b) < ($1.distance, $1.a, $1.b) }, groups.groups(of: (0..<n).filter { usable[$0] }))
    }

    /// Each image's thumbnail shifted by up to `reach` pixels each way (the edge repeated; shift 4
    /// is the image itself), blurred to 4x4 and normalized to unit length: 9 × 16 floats per image.
    private func blurs() -> [Float] {
        let n = splits.count, s = side, cell = max(1, s / 4)
        var out = [Float](repeating: 0, count: n * 9 * 16)
        for i in 0..<n {
            for shift in 0..<9 {
                let (dx, dy) = ((shift % 3 - 1) * reach, (shift / 3 - 1) * reach)
                let base = (i * 9 + shift) * 16
                for row in 0..<s {
                    let from = min(s - 1, max(0, row - dy))
                    for column in 0..<s {
                        out[base + min(3, row / cell) * 4 + min(3, column / cell)] += Float(value(i, from, min(s - 1, max(0, column - dx))))
                    }
                }
                let norm = (0..<16).reduce(Float(0)) { $0 + out[base + $1] * out[base + $1] }.squareRoot()
                for j in 0..<16 { out[base + j] = norm > 0 ? out[base + j] / norm : 0 }
            }
        }
        return out
    }

    /// For large sets: the buckets (of two or more of `images`) of four locality-sensitive hashes
    /// of the blurs, ten random hyperplanes each (seeded). An image joins the buckets of its nine
    /// shifted blurs (and with `flips`, of its mirror image), so a shifted copy meets its original.
    /// A bucket of 5,000 or more distinct thumbnails is left out: thousands of merely similar
    /// images would cost billions of comparisons (copies of one picture are not affected:
    /// identical thumbnails are grouped before any hashing, however many there are).
    private func buckets(_ blurs: [Float], of images: [Int], flips: Bool) -> [[Int]] {
        var random = SeededRandom(seed: 17)
        var out: [[Int]] = []
        for _ in 0..<4 {
            let planes = (0..<10).map { _ in (0..<16).map { _ in Float(random.normal()) } }
            var buckets: [Int: [Int]] = [:]
            for i in images {
                var keys = Set<Int>()
                for shift in 0..<9 {
                    for mirrored in flips ? [false, true] : [false] where !mirrored || shift == 4 {
                        var key = 0
                        for (bit, plane) in planes.enumerated()
                        where (0..<16).reduce(Float(0), { $0 + plane[$1] * blurs[(i * 9 + shift) * 16 + (mirrored ? $1 / 4 * 4 + 3 - $1 % 4 : $1)] }) > 0 {
                            key |= 1 << bit
                        }
                        keys.insert(key)
                    }
                }
                for key in keys { buckets[key, default: []].append(i) }
            }
            out += buckets.values.filter { $0.count > 1 && $0.count < 5_000 }
        }
        return out
    }
}

/// Two thumbnails widened to 16 bits for their products, and which image the first holds: one per
/// worker, so comparing one image with many widens it once.
final class WidePair {
    let x: UnsafeMutablePointer<Int16>, y: UnsafeMutablePointer<Int16>
    var holds = -1

    init(area: Int) {
        x = .allocate(capacity: 2 * area)
        y = x + area
    }

    deinit { x.deallocate() }
}

/// Disjoint sets of 0..<n with path halving and union by size.
struct UnionFind {
    private var parent: [Int32]
    private var size: [Int32]

    init(_ n: Int) {
        parent = (0..<Int32(n)).map { $0 }
        size = [Int32](repeating: 1, count: n)
    }

    mutating func find(_ x: Int) -> Int {
        var x = Int32(x)
        while parent[Int(x)] != x {
            parent[Int(x)] = parent[Int(parent[Int(x)])]
            x = parent[Int(x)]
        }
        return Int(x)
    }

    mutating func union(_ a: Int, _ b: Int) {
        var (a, b) = (find(a), find(b))
        guard a != b else { return }
        if size[a] < size[b] { swap(&a, &b) }
        parent[b] = Int32(a)
        size[a] += size[b]
    }

    /// Joins near-duplicate pairs closest first, keeping each that joins two groups not yet one
    /// (so at most one pair per image joined); returns the kept pairs, closest first.
    mutating func join(_ found: [(a: Int, b: Int, distance: Double)]) -> [(a: Int, b: Int, distance: Double)] {
        var kept: [(a: Int, b: Int, distance: Double)] = []
        for pair in found.sorted(by: { ($0.distance, $0.a, $0.b) < ($1.distance, $1.a, $1.b) }) where find(pair.a) != find(pair.b) {
            union(pair.a, pair.b)
            kept.append(pair)
        }
        return kept
    }

    /// The groups of two or more among `members`, each in `members`' order, ordered by first member.
    mutating func groups(of members: [Int]) -> [[Int]] {
        var byRoot: [Int: [Int]] = [:]
        for i in members { byRoot[find(i), default: []].append(i) }
        return byRoot.values.filter { $0.count > 1 }.sorted { $0[0] < $1[0] }
    }
}
