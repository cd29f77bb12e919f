import CairnCatalog
import CairnImaging
import CairnSupport

/// The image area of box labeling: which part of the image shows (zoom and pan), the image
/// sampled for it once, and each frame composed on top of that sample — boxes in their class's
/// colour, the selected box in white, the box being drawn, a dotted crosshair, class names.
///
/// A keystroke does not touch the image: it redraws boxes and crosshair over the sample (one
/// pass over the boxes, clipped to the view) and writes only the terminal cells that changed.
/// The image is sampled again only when the view moves (zoom, or the crosshair leaving it).
///
/// In symbols mode each cell is an upper half block (`▀`) whose foreground is the upper
/// screen pixel and background the lower one, so screen pixels are square and box edges fall on
/// half-cell rows. Graphics modes draw the same composed pixels through libchafa.
public final class BoxCanvas {
    /// A terminal cell: a character and its colours (0xRRGGBB).
    public struct Cell: Equatable, Sendable {
        public var scalar: Unicode.Scalar
        public var foreground: UInt32
        public var background: UInt32
    }

    /// The image at full size and halved again and again (`ImagePyramid`).
    public let pyramid: ImagePyramid
    public var image: PixelBuffer { pyramid.levels[0] }
    public let renderer: ImageRenderer
    /// Class colours by name (`BoxCanvas.palette` in class order).
    public let colors: [String: UInt32]
    /// Cells of the image area.
    public private(set) var columns = 1, rows = 1
    /// 1, 2, 4, … times the size that fits the whole image.
    public private(set) var zoom = 1
    /// Image pixels shown: from `origin`, `visible` wide and high.
    public private(set) var origin = (x: 0.0, y: 0.0)
    /// Screen pixels per image pixel.
    public private(set) var scale = 1.0
    /// Screen pixels of the sample (at most `columns` x 2 `rows` in symbols mode).
    public private(set) var gridWidth = 1, gridHeight = 1
    private var pixelsPerCell: (x: Int, y: Int)
    private var sample: [UInt32] = []
    private var previous: [Cell] = []

    /// Distinct colours for up to 12 classes, then repeated.
    public static let palette: [UInt32] = [0xE6194B, 0x3CB44B, 0xFFE119, 0x4363D8, 0xF58231, 0x42D4F4, 0xF032E6, 0xBFEF45,
                                           0xFABED4, 0x469990, 0xDCBEFF, 0x9A6324]

    public init(image: ImagePyramid, renderer: ImageRenderer, classes: [String]) {
        pyramid = image
        // Sixel frames through libchafa's fixed 256-colour palette: a palette fitted to each frame
        // (truecolor) took 40 ms of sorting per keystroke, the fixed one 12 ms (`cairn-bench box-label`).
        self.renderer = renderer.mode == .sixel ? ImageRenderer(.sixel, environment: ["TERM": "xterm-256color"]) : renderer
        colors = Dictionary(classes.enumerated().map { ($1, Self.palette[$0 % Self.palette.count]) }, uniquingKeysWith: { a, _ in a })
        pixelsPerCell = renderer.mode == .symbols || renderer.mode == .auto ? (1, 2) : renderer.mode == .sixel ? (3, 6) : (4, 8)
    }

    /// Lays the view out for an area of `columns` x `rows` cells; true when the sample changed.
    @discardableResult
    public func layout(columns: Int, rows: Int) -> Bool {
        guard columns != self.columns || rows != self.rows || sample.isEmpty else { return false }
        (self.columns, self.rows) = (max(1, columns), max(1, rows))
        resample()
        return true
    }

    /// Image pixels one screen pixel covers, rounded, at least 1: what a movement key moves by.
    public var step: Int { max(1, Int((1 / scale).rounded())) }

    /// Zooms in (`by` > 0) or out around `center`; true when the view changed.
    @discardableResult
    public func zoom(by steps: Int, center: (x: Int, y: Int)) -> Bool {
        var next = zoom
        // In as far as 8 screen pixels per image pixel.
        if steps > 0 { while next < zoom << steps, fitScale * Double(next * 2) <= 8 { next *= 2 } } else { next = max(1, zoom >> -steps) }
        guard next != zoom else { return false }
        zoom = next
        centre(on: center)
        return true
    }

    /// Pans so that `point` is in view (half a view's margin when it has to move); true when the view changed.
    @discardableResult
    public func follow(_ point: (x: Int, y: Int)) -> Bool {
        let (w, h) = (Double(gridWidth) / scale, Double(gridHeight) / scale)
        let (x, y) = (Double(point.x), Double(point.y))
        guard x < origin.x || x > origin.x + w || y < origin.y || y > origin.y + h else { return false }
        centre(on: point)
        return true
    }

    /// The frame for `editor`, with a model's `proposals` dashed: cells of the image area, row by row.
    /// - Complexity: O(screen pixels + boxes).
    public func compose(_ editor: BoxEditor, proposals: [Box] = []) -> [UInt32] {
        var pixels = sample
        let (gw, gh) = (gridWidth, gridHeight)
        func plot(_ x: Int, _ y: Int, _ color: UInt32) {
            if x >= 0, y >= 0, x < gw, y < gh { pixels[y * gw + x] = color }
        }
        func rectangle(_ box: Box, _ color: UInt32, thick: Bool = false, dashed: Bool = false) {
            let l = Int(((box.x - origin.x) * scale).rounded(.down)), t = Int(((box.y - origin.y) * scale).rounded(.down))
            let r = max(l, Int(((box.x + box.width - origin.x) * scale).rounded(.up)) - 1)
            let b = max(t, Int(((box.y + box.height - origin.y) * scale).rounded(.up)) - 1)
            guard r >= 0, b >= 0, l < gw, t < gh else { return }
            for inset in 0..<(thick ? 2 : 1) where l + inset <= r - inset && t + inset <= b - inset {
                let (l, t, r, b) = (l + inset, t + inset, r - inset, b - inset)
                for x in max(0, l)...min(gw - 1, r) where !dashed || x % 2 == 0 { plot(x, t, color); plot(x, b, color) }
                for y in max(0, t)...min(gh - 1, b) where !dashed || y % 2 == 0 { plot(l, y, color); plot(r, y, color) }
            }
        }
        for (index, box) in editor.boxes.enumerated() where index != editor.selected {
            rectangle(box, colors[box.className] ?? 0xFFFFFF)
        }
        if let index = editor.selected { rectangle(editor.boxes[index], 0xFFFFFF, thick: true) }
        for proposal in proposals { rectangle(proposal, colors[proposal.className] ?? 0xFFFFFF, dashed: true) }
        if let pending = editor.pending { rectangle(pending, colors[pending.className] ?? 0xFFFFFF, dashed: true) }
        // The crosshair: dotted lines through the cursor, each dot the inverse of what it covers.
        let cx = Int(((Double(editor.cursor.x) - origin.x) * scale).rounded(.down))
        let cy = Int(((Double(editor.cursor.y) - origin.y) * scale).rounded(.down))
        let (px, py) = (min(max(cx, 0), gw - 1), min(max(cy, 0), gh - 1))
        if cx >= 0, cx <= gw { for y in stride(from: 0, to: gh, by: 2) { pixels[y * gw + px] ^= 0xFFFFFF } }
        if cy >= 0, cy <= gh { for x in stride(from: 0, to: gw, by: 2) where x != px || py % 2 != 0 { pixels[py * gw + x] ^= 0xFFFFFF } }
        return pixels
    }

    /// Symbols mode: the terminal output that turns the last frame written into `pixels`
    /// (`compose`), with class names over boxes, placed with the image's top-left cell at
    /// (`top`, 1); only changed cells unless `full`.
    public func write(_ pixels: [UInt32], editor: BoxEditor, top: Int, full: Bool) -> String {
        var cells = cells(pixels)
        label(&cells, editor)
        if full || previous.count != cells.count { previous = [] }
        var out = ""
        out.reserveCapacity(full ? cells.count * 40 : 4096)
        var (lastForeground, lastBackground): (UInt32?, UInt32?) = (nil, nil)
        for row in 0..<rows {
            var column = 0
            while column < columns {
                let at = row * columns + column
                guard previous.isEmpty || previous[at] != cells[at] else {
                    column += 1
                    continue
                }
                out += "\u{1B}[\(top + row);\(column + 1)H"
                while column < columns, previous.isEmpty || previous[row * columns + column] != cells[row * columns + column] {
                    let cell = cells[row * columns + column]
                    if cell.foreground != lastForeground || cell.background != lastBackground {
                        out += "\u{1B}[" + sgr(cell.foreground, background: false) + ";" + sgr(cell.background, background: true) + "m"
                        (lastForeground, lastBackground) = (cell.foreground, cell.background)
                    }
                    out.unicodeScalars.append(cell.scalar)
                    column += 1
                }
            }
        }
        previous = cells
        return out + "\u{1B}[0m"
    }

    /// Graphics modes: the composed pixels drawn by libchafa, one escape sequence at (`top`, 1).
    public func graphics(_ pixels: [UInt32], top: Int) -> String {
        var bytes = [UInt8](repeating: 0, count: pixels.count * 3)
        for (i, p) in pixels.enumerated() {
            (bytes[i * 3], bytes[i * 3 + 1], bytes[i * 3 + 2]) = (UInt8(p >> 16), UInt8((p >> 8) & 0xFF), UInt8(p & 0xFF))
        }
        let frame = PixelBuffer(width: gridWidth, height: gridHeight, channels: 3, pixels: bytes)
        let columns = (gridWidth + pixelsPerCell.x - 1) / pixelsPerCell.x, rows = (gridHeight + pixelsPerCell.y - 1) / pixelsPerCell.y
        return "\u{1B}[\(top);1H" + renderer.render(frame, columns: columns, rows: rows, cellPixels: (pixelsPerCell.x, pixelsPerCell.y)).joined(separator: "\r\n")
    }

    /// Forgets what the terminal shows (after the screen was cleared): the next `write` is whole.
    public func invalidate() { previous = [] }

    private var fitScale: Double {
        min(Double(columns * pixelsPerCell.x) / Double(image.width), Double(rows * pixelsPerCell.y) / Double(image.height))
    }

    private func centre(on point: (x: Int, y: Int)) {
        scale = fitScale * Double(zoom)
        let (w, h) = (Double(columns * pixelsPerCell.x) / scale, Double(rows * pixelsPerCell.y) / scale)
        origin.x = max(0, min(Double(point.x) - w / 2, Double(image.width) - w))
        origin.y = max(0, min(Double(point.y) - h / 2, Double(image.height) - h))
        resample()
    }

    /// Samples the image for the view: the mean of the image pixels under each screen pixel
    /// when shrinking, the nearest one when enlarging. Read from the pyramid level with one to two
    /// of its pixels per screen pixel, so a view costs about its own size whatever the image's.
    private func resample() {
        scale = fitScale * Double(zoom)
        if zoom == 1 { origin = (0, 0) }
        gridWidth = max(1, min(columns * pixelsPerCell.x, Int((Double(image.width) - origin.x) * scale)))
        gridHeight = max(1, min(rows * pixelsPerCell.y, Int((Double(image.height) - origin.y) * scale)))
        sample = [UInt32](repeating: 0, count: gridWidth * gridHeight)
        var level = 0
        while level + 1 < pyramid.levels.count, Double(1 << (level + 1)) <= 1 / scale { level += 1 }
        let source = pyramid.levels[level]
        let factor = Double(1 << level)
        let (width, height, levelScale) = (source.width, source.height, scale * factor)
        let (startX, startY) = (origin.x / factor, origin.y / factor)
        func span(_ i: Int, _ start: Double, _ limit: Int) -> Range<Int> {
            let low = min(limit - 1, Int(start + Double(i) / levelScale))
            return low..<max(low + 1, min(limit, Int(start + Double(i + 1) / levelScale)))
        }
        let xs = (0..<gridWidth).map { span($0, startX, width) }
        source.pixels.withUnsafeBufferPointer { source in
            for gy in 0..<gridHeight {
                let ys = span(gy, startY, height)
                for gx in 0..<gridWidth {
                    var (r, g, b) = (0, 0, 0)
                    for y in ys {
                        var at = (y * width + xs[gx].lowerBound) * 3
                        for _ in xs[gx] {
                            r += Int(source[at]); g += Int(source[at + 1]); b += Int(source[at + 2])
                            at += 3
                        }
                    }
                    let n = ys.count * xs[gx].count
                    sample[gy * gridWidth + gx] = UInt32(r / n) << 16 | UInt32(g / n) << 8 | UInt32(b / n)
                }
            }
        }
        previous = []
    }

    /// Screen pixels to half-block cells; cells beyond the image are blank.
    private func cells(_ pixels: [UInt32]) -> [Cell] {
        var cells = [Cell](repeating: Cell(scalar: " ", foreground: 0, background: 0), count: columns * rows)
        for row in 0..<min(rows, (gridHeight + 1) / 2) {
            for column in 0..<min(columns, gridWidth) {
                let upper = pixels[2 * row * gridWidth + column]
                let lower = 2 * row + 1 < gridHeight ? pixels[(2 * row + 1) * gridWidth + column] : 0
                cells[row * columns + column] = Cell(scalar: "▀", foreground: upper, background: lower)
            }
        }
        return cells
    }

    /// Writes each box's class name on the cell row above it (inside when at the top), the
    /// selected box's first; a name wider than its box or covering another is left out.
    private func label(_ cells: inout [Cell], _ editor: BoxEditor) {
        var taken = [Bool](repeating: false, count: cells.count)
        let order = (editor.selected.map { [$0] } ?? []) + editor.boxes.indices.filter { $0 != editor.selected }
        for index in order {
            let box = editor.boxes[index]
            let column = Int(((box.x - origin.x) * scale).rounded(.down))
            let top = Int(((box.y - origin.y) * scale).rounded(.down)) / 2
            let row = top > 0 ? top - 1 : top
            let name = Array(Printable.escaped(box.className).unicodeScalars.prefix(max(0, columns - max(0, column))))
            guard column >= 0, column < columns, row >= 0, row < rows, row < (gridHeight + 1) / 2, !name.isEmpty else { continue }
            // A name shows where it fits over its box (the selected box's always): a thousand small
            // boxes at full view would otherwise be a wall of names.
            guard index == editor.selected || Double(name.count) <= box.width * scale else { continue }
            let cellsAt = (0..<name.count).map { row * columns + column + $0 }
            guard !cellsAt.contains(where: { taken[$0] }) else { continue }
            let color = index == editor.selected ? 0xFFFFFF : colors[box.className] ?? 0xFFFFFF
            for (scalar, at) in zip(name, cellsAt) {
                cells[at] = Cell(scalar: scalar, foreground: 0, background: color)
                taken[at] = true
            }
        }
    }

    /// The SGR parameters for a colour in the terminal's colour depth.
    func sgr(_ color: UInt32, background: Bool) -> String {
        let (r, g, b) = (Int(color >> 16), Int((color >> 8) & 0xFF), Int(color & 0xFF))
        if renderer.colors > 256 { return "\(background ? 48 : 38);2;\(r);\(g);\(b)" }
        if renderer.colors == 256 {
            func level(_ v: Int) -> Int { v < 48 ? 0 : v < 115 ? 1 : (v - 35) / 40 }
            let cube = 16 + 36 * level(r) + 6 * level(g) + level(b)
            let gray = (r + g + b) / 3
            // A gray is nearer the 24-step gray ramp than the cube's 6 levels when the channels agree.
            let index = max(r, g, b) - min(r, g, b) < 12 && gray > 3 && gray < 243 ? 232 + min(23, (gray - 3) / 10) : cube
            return "\(background ? 48 : 38);5;\(index)"
        }
        let bright = r + g + b > 384
        let code = (r > 127 ? 1 : 0) | (g > 127 ? 2 : 0) | (b > 127 ? 4 : 0)
        return "\((background ? 40 : 30) + (bright ? 60 : 0) + code)"
    }
}

/// An RGB image and its halvings (each pixel the mean of the four under it) down to about the
/// size of a terminal: what `BoxCanvas` samples views from. Built once per image, off the
/// keystroke path.
/// - Complexity: O(pixels) to build (the levels after the first add a third).
public struct ImagePyramid: Sendable {
    public let levels: [PixelBuffer]

    public init(_ image: PixelBuffer) {
        var levels = [image.converted(toChannels: 3)]
        while let last = levels.last, last.width >= 256 || last.height >= 256, last.width >= 2, last.height >= 2 {
            levels.append(Self.halved(last))
        }
        self.levels = levels
    }

    private static func halved(_ image: PixelBuffer) -> PixelBuffer {
        let (w, h) = (image.width / 2, image.height / 2)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            let stride = image.width * 3
            for y in 0..<h {
                let row = 2 * y * stride
                for x in 0..<w {
                    let at = row + 2 * x * 3
                    for c in 0..<3 {
                        let sum = Int(src[at + c]) + Int(src[at + 3 + c]) + Int(src[at + stride + c]) + Int(src[at + stride + 3 + c])
                        out[(y * w + x) * 3 + c] = UInt8((sum + 2) / 4)
                    }
                }
            }
        }
        return PixelBuffer(width: w, height: h, channels: 3, pixels: out)
    }
}
