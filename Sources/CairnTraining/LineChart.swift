import Foundation

/// A colour, as the PNG canvas and SVG both take it.
package struct RGB: Hashable, Sendable {
    package let red: UInt8, green: UInt8, blue: UInt8

    package init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        (self.red, self.green, self.blue) = (red, green, blue)
    }

    package var hex: String { String(format: "#%02x%02x%02x", red, green, blue) }
}

/// A line chart laid out once — its axes, its series in one palette, its legend — and drawn by
/// either renderer: `Plots` (PNG files in a run's directory) and the report pages (SVG). The two
/// pictures of one run differ in pixels only.
package struct LineChart {
    package struct Series {
        package var name: String
        package var color: RGB
        package var dashed = false
        package var points: [(x: Double, y: Double)]
    }

    /// Where the plot area sits in a picture of `width` × `height`.
    package struct Frame: Sendable {
        package let width: Int, height: Int
        package let left: Double, right: Double, top: Double, bottom: Double

        package static let png = Frame(width: 720, height: 420, left: 70, right: 700, top: 40, bottom: 370)
        package static let svg = Frame(width: 640, height: 320, left: 60, right: 620, top: 30, bottom: 280)
    }

    /// One colour per run (or per metric), in order.
    package static let palette = [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44), RGB(214, 39, 40),
                                  RGB(148, 103, 189), RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127)]

    package let title: String
    package let series: [Series]
    package let xAxis: ChartAxis
    package let yAxis: ChartAxis

    /// `yFromZero` for quantities read against zero (loss, accuracy).
    package init(title: String, series: [Series], xTitle: String, yFromZero: Bool) {
        self.title = title
        self.series = series
        xAxis = ChartAxis(values: series.flatMap { $0.points.map(\.x) }, title: xTitle, integers: true, maxTicks: 9)
        yAxis = ChartAxis(values: series.flatMap { $0.points.map(\.y) }, title: "", includeZero: yFromZero)
    }

    /// Where a value falls in `frame`, in the picture's coordinates (y grows downwards).
    package func x(_ value: Double, in frame: Frame) -> Double { frame.left + xAxis.fraction(value) * (frame.right - frame.left) }
    package func y(_ value: Double, in frame: Frame) -> Double { frame.bottom - yAxis.fraction(value) * (frame.bottom - frame.top) }

    /// The legend: one line per series at the plot's right, at the top, the middle or the bottom,
    /// whichever the lines cross least; where each entry's text starts.
    package func legend(in frame: Frame) -> [(series: Series, x: Double, y: Double)] {
        let height = Double(series.count) * 14 + 6
        // The lines' heights on the right 40% of the plot, ten samples per segment.
        let crossing = series.flatMap { s in
            zip(s.points, s.points.dropFirst()).flatMap { a, b in
                (0...10).map { t -> (x: Double, y: Double) in
                    let f = Double(t) / 10
                    return (a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f)
                }
            } + s.points
        }.filter { xAxis.fraction($0.x) > 0.6 }.map { y($0.y, in: frame) }
        let starts = [frame.top + 10, (frame.top + frame.bottom - height) / 2, frame.bottom - height]
        let start = starts.min { a, b in
            crossing.filter { (a - 4...a + height).contains($0) }.count < crossing.filter { (b - 4...b + height).contains($0) }.count
        }!
        return series.enumerated().map { i, s in (s, frame.right - 170, start + Double(i) * 14) }
    }

    // MARK: A run's charts

    /// Loss by epoch: train solid, val dashed, one colour per run (named when there are several).
    package static func loss(_ records: [RunRecord], title: String) -> LineChart? {
        var series: [Series] = []
        for (i, record) in records.enumerated() where !record.epochs.isEmpty {
            let (color, prefix) = (palette[i % palette.count], records.count > 1 ? "\(record.name) " : "")
            series.append(Series(name: prefix + "train loss", color: color, points: record.epochs.map { (Double($0.epoch), $0.trainLoss) }))
            let val = record.epochs.compactMap { m in m.valLoss.map { (x: Double(m.epoch), y: $0) } }
            if !val.isEmpty { series.append(Series(name: prefix + "val loss", color: color, dashed: true, points: val)) }
        }
        return series.isEmpty ? nil : LineChart(title: title, series: series, xTitle: "epoch", yFromZero: true)
    }

    /// Validation accuracy by epoch in percent, one colour per run; for one run, its majority-class
    /// baseline as a grey dashed line.
    package static func accuracy(_ records: [RunRecord], title: String) -> LineChart? {
        var series: [Series] = []
        for (i, record) in records.enumerated() {
            let points = record.epochs.compactMap { m in m.valAccuracy.map { (x: Double(m.epoch), y: $0 * 100) } }
            guard !points.isEmpty else { continue }
            series.append(Series(name: (records.count > 1 ? "\(record.name) " : "") + "val accuracy %", color: palette[i % palette.count], points: points))
            if records.count == 1, let baseline = record.baseline, let first = record.epochs.first, let last = record.epochs.last {
                let level = baseline.accuracy * 100
                series.append(Series(name: "baseline %", color: RGB(127, 127, 127), dashed: true,
                                     points: [(Double(first.epoch), level), (Double(last.epoch), level)]))
            }
        }
        return series.isEmpty ? nil : LineChart(title: title, series: series, xTitle: "epoch", yFromZero: true)
    }

    /// A program's metrics, one series per numeric field (at most eight, by name), against the
    /// step when the lines give one, else the epoch, else the line number (the axis says which).
    package static func programSeries(_ record: RunRecord, color offset: Int = 0) -> (axis: String, series: [Series]) {
        guard let points = record.program?.metrics, !points.isEmpty else { return ("step", []) }
        let names = Set(points.flatMap(\.values.keys)).sorted().prefix(8)
        let axis = points.allSatisfy { $0.step != nil } ? "step" : points.allSatisfy { $0.epoch != nil } ? "epoch" : "line"
        let series = names.enumerated().compactMap { i, name -> Series? in
            let pairs = points.enumerated().compactMap { n, p -> (x: Double, y: Double)? in
                let x = axis == "step" ? p.step : axis == "epoch" ? p.epoch : n + 1
                return p.values[name].map { (Double(x ?? n + 1), $0) }
            }
            return pairs.count >= 2 ? Series(name: name, color: palette[(offset + i) % palette.count], points: pairs) : nil
        }
        return (axis, series)
    }
}
