import CairnImaging
import CairnModels
import CairnStore
import Foundation

/// PNG plots of a run: loss curves, accuracy curve, confusion matrix. Drawn on a small raster
/// canvas with a built-in 5×7 font, encoded by `CairnImaging`.
package enum Plots {
    /// Writes the run's plots into `directory`; returns their paths relative to `root`.
    static func write(_ record: RunRecord, to directory: String, relativeTo root: String) throws -> [String] {
        try FileOps.makeDirectories(directory)
        var written: [String] = []
        func save(_ canvas: Canvas, _ name: String) throws {
            let path = directory + "/" + name
            try FileOps.writeFile(ImageCodec.encodePNG(canvas.image), to: path)
            written.append(path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path)
        }
        if let chart = LineChart.loss([record], title: "loss by epoch - run \(record.id)") { try save(draw(chart), "loss.png") }
        if let chart = LineChart.accuracy([record], title: "accuracy by epoch - run \(record.id)") { try save(draw(chart), "accuracy.png") }
        if let evaluation = record.test ?? record.val, !evaluation.confusion.isEmpty {  // large ones are summarized in the record
            try save(confusion(evaluation, title: "confusion (\(record.test != nil ? "test" : "val")) rows true, columns predicted"),
                     "confusion.png")
        }
        let (axis, metrics) = LineChart.programSeries(record)
        for series in metrics {
            try save(draw(LineChart(title: "\(series.name) - run \(record.id)", series: [series], xTitle: axis, yFromZero: false)),
                     "metric-\(fileName(series.name)).png")
        }
        return written
    }

    /// A metric's name as a file name: letters, digits, `-` and `_` kept, anything else `_`.
    static func fileName(_ name: String) -> String {
        String(name.prefix(40).map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
    }

    /// `chart` on a 720 × 420 canvas.
    static func draw(_ chart: LineChart) -> Canvas {
        let frame = LineChart.Frame.png
        var canvas = Canvas(width: frame.width, height: frame.height)
        let (left, right, top, bottom) = (Int(frame.left), Int(frame.right), Int(frame.top), Int(frame.bottom))
        func px(_ x: Double) -> Int { Int(chart.x(x, in: frame)) }
        func py(_ y: Double) -> Int { Int(chart.y(y, in: frame)) }
        canvas.text(chart.title, x: left, y: 12, color: (0, 0, 0))
        for tick in chart.yAxis.ticks {
            canvas.line(left, py(tick), right, py(tick), color: (225, 225, 225))
            let label = chart.yAxis.label(tick)
            canvas.text(label, x: max(0, left - 8 - label.count * 6), y: py(tick) - 3, color: (60, 60, 60))
        }
        for tick in chart.xAxis.ticks {
            let label = chart.xAxis.label(tick)
            canvas.text(label, x: px(tick) - label.count * 3, y: bottom + 8, color: (60, 60, 60))
        }
        let xTitle = chart.xAxis.title
        canvas.text(xTitle, x: (left + right) / 2 - xTitle.count * 3, y: bottom + 24, color: (60, 60, 60))
        canvas.line(left, top, left, bottom, color: (0, 0, 0))
        canvas.line(left, bottom, right, bottom, color: (0, 0, 0))
        for s in chart.series {
            let color = (s.color.red, s.color.green, s.color.blue)
            for j in s.points.indices.dropFirst() {
                canvas.line(px(s.points[j - 1].x), py(s.points[j - 1].y), px(s.points[j].x), py(s.points[j].y), color: color, thick: true, dashed: s.dashed)
            }
            if s.points.count == 1 { canvas.fill(px(s.points[0].x) - 2, py(s.points[0].y) - 2, 5, 5, color: color) }
        }
        for (s, x, y) in chart.legend(in: frame) {
            let color = (s.color.red, s.color.green, s.color.blue)
            canvas.line(Int(x) - 20, Int(y) + 3, Int(x) - 6, Int(y) + 3, color: color, thick: true, dashed: s.dashed)
            canvas.text(s.name, x: Int(x), y: Int(y), color: (0, 0, 0))
        }
        return canvas
    }

    static func confusion(_ evaluation: Evaluation, title: String) -> Canvas {
        let k = evaluation.confusion.count
        let cell = max(8, min(48, 560 / max(k, 1)))
        let labelWidth = 70
        var canvas = Canvas(width: labelWidth + k * cell + 40, height: 60 + k * cell + 40)
        canvas.text(title, x: 10, y: 10, color: (0, 0, 0))
        let (x0, y0) = (labelWidth, 50)
        for (t, row) in evaluation.confusion.enumerated() {
            let total = max(1, row.reduce(0, +))
            let name = String(evaluation.perClass[t].name.prefix(10))
            canvas.text(name, x: max(2, x0 - 6 - name.count * 6), y: y0 + t * cell + cell / 2 - 3, color: (0, 0, 0))
            for (p, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let shade = UInt8(255 - Int(share * 200))
                canvas.fill(x0 + p * cell, y0 + t * cell, cell - 1, cell - 1, color: (shade, shade, 255))
                let text = "\(count)"
                if cell >= text.count * 6 + 4 {
                    canvas.text(text, x: x0 + p * cell + (cell - text.count * 6) / 2, y: y0 + t * cell + cell / 2 - 3,
                                color: share > 0.5 ? (255, 255, 255) : (0, 0, 0))
                }
            }
        }
        for p in 0..<k {
            let name = String(evaluation.perClass[p].name.prefix(max(1, (cell - 2) / 6)))
            canvas.text(name, x: x0 + p * cell + (cell - name.count * 6) / 2, y: y0 + k * cell + 6, color: (0, 0, 0))
        }
        return canvas
    }

}

/// An RGB raster with lines, boxes and 5×7 text.
package struct Canvas {
    let width: Int, height: Int
    var pixels: [UInt8]

    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    package var image: PixelBuffer { PixelBuffer(width: width, height: height, channels: 3, pixels: pixels) }

    mutating func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        (pixels[i], pixels[i + 1], pixels[i + 2]) = color
    }

    package mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, color: (UInt8, UInt8, UInt8)) {
        for yy in y..<y + max(h, 0) { for xx in x..<x + max(w, 0) { set(xx, yy, color) } }
    }

    /// Bresenham's line; `thick` draws it two pixels wide, `dashed` in 5-pixel dashes.
    package mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, color: (UInt8, UInt8, UInt8), thick: Bool = false,
                               dashed: Bool = false) {
        var (x, y) = (x0, y0)
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var error = dx + dy
        var drawn = 0
        while true {
            if !dashed || (drawn / 5) % 2 == 0 {
                set(x, y, color)
                if thick { set(x + 1, y, color); set(x, y + 1, color) }
            }
            drawn += 1
            if x == x1 && y == y1 { break }
            let e2 = 2 * error
            if e2 >= dy { error += dy; x += sx }
            if e2 <= dx { error += dx; y += sy }
        }
    }

    /// Draws `text` (shown in upper case) with its top-left corner at (x, y), 6 pixels per character.
    package mutating func text(_ text: String, x: Int, y: Int, color: (UInt8, UInt8, UInt8)) {
        for (i, character) in text.uppercased().enumerated() {
            let rows = Font.glyphs[character] ?? Font.unknown
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> c) != 0 { set(x + i * 6 + c, y + r, color) }
            }
        }
    }
}

/// A 5×7 bitmap font: seven rows per glyph, the top five bits of each row's low byte.
private enum Font {
    static let unknown: [UInt8] = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F]
    static let glyphs: [Character: [UInt8]] = {
        let table: [(Character, UInt64)] = [
            ("0", 0x0E_11_13_15_19_11_0E), ("1", 0x04_0C_04_04_04_04_0E), ("2", 0x0E_11_01_02_04_08_1F),
            ("3", 0x1F_02_04_02_01_11_0E), ("4", 0x02_06_0A_12_1F_02_02), ("5", 0x1F_10_1E_01_01_11_0E),
            ("6", 0x06_08_10_1E_11_11_0E), ("7", 0x1F_01_02_04_08_08_08), ("8", 0x0E_11_11_0E_11_11_0E),
            ("9", 0x0E_11_11_0F_01_02_0C), ("A", 0x0E_11_11_1F_11_11_11), ("B", 0x1E_11_11_1E_11_11_1E),
            ("C", 0x0E_11_10_10_10_11_0E), ("D", 0x1C_12_11_11_11_12_1C), ("E", 0x1F_10_10_1E_10_10_1F),
            ("F", 0x1F_10_10_1E_10_10_10), ("G", 0x0E_11_10_17_11_11_0F), ("H", 0x11_11_11_1F_11_11_11),
            ("I", 0x0E_04_04_04_04_04_0E), ("J", 0x07_02_02_02_02_12_0C), ("K", 0x11_12_14_18_14_12_11),
            ("L", 0x10_10_10_10_10_10_1F), ("M", 0x11_1B_15_15_11_11_11), ("N", 0x11_11_19_15_13_11_11),
            ("O", 0x0E_11_11_11_11_11_0E), ("P", 0x1E_11_11_1E_10_10_10), ("Q", 0x0E_11_11_11_15_12_0D),
            ("R", 0x1E_11_11_1E_14_12_11), ("S", 0x0F_10_10_0E_01_01_1E), ("T", 0x1F_04_04_04_04_04_04),
            ("U", 0x11_11_11_11_11_11_0E), ("V", 0x11_11_11_11_11_0A_04), ("W", 0x11_11_11_15_15_15_0A),
            ("X", 0x11_11_0A_04_0A_11_11), ("Y", 0x11_11_11_0A_04_04_04), ("Z", 0x1F_01_02_04_08_10_1F),
            (".", 0x00_00_00_00_00_0C_0C), ("-", 0x00_00_00_1F_00_00_00), (":", 0x00_0C_0C_00_0C_0C_00),
            ("%", 0x18_19_02_04_08_13_03), ("/", 0x00_01_02_04_08_10_00), ("(", 0x02_04_08_08_08_04_02),
            (")", 0x08_04_02_02_02_04_08), ("_", 0x00_00_00_00_00_00_1F), ("=", 0x00_00_1F_00_1F_00_00),
            (",", 0x00_00_00_00_0C_04_08), (" ", 0),
        ]
        var out: [Character: [UInt8]] = [:]
        for (character, bits) in table { out[character] = (0..<7).map { UInt8((bits >> (8 * (6 - $0))) & 0xFF) } }
        return out
    }()
}
