import CairnImaging
import CairnModels
import CairnQuality
import CairnStore
import CairnSupport
import CairnTraining
import Foundation

/// The parallel-coordinates plot of a sweep: one vertical axis per parameter and one for the
/// metric, one line per trial through its values, coloured by its metric (bright = better). Laid
/// out once, drawn as PNG (`sweep show`) or inline SVG (`report`).
public struct ParallelCoordinates: Sendable {
    public struct Axis: Sendable {
        public var name: String
        /// Tick labels from bottom to top.
        public var ticks: [(position: Double, label: String)]
    }
    public struct Line: Sendable {
        public var trial: Int
        /// Height on each axis, 0 (bottom) to 1 (top).
        public var heights: [Double]
        /// 0 (worst) to 1 (best) among the trials; nil without a metric.
        public var quality: Double?
    }

    public var title: String
    public var axes: [Axis]
    public var lines: [Line]

    public init(_ summary: SweepSummary) {
        let spec = summary.sweep.spec
        let names = spec.parameters.keys.sorted()
        var axes: [Axis] = []
        var columns: [[Double?]] = []
        for name in names {
            let values = summary.trials.map { $0.parameters[name] }
            let numbers = values.compactMap { $0?.number }
            if numbers.count == values.count, !numbers.isEmpty {
                // Log scale for log-distributed ranges, and for positive values spanning two orders of magnitude or more.
                var isLogRange = false
                if case .range(_, _, .logUniformValues)? = spec.parameters[name] { isLogRange = true }
                let log = numbers.allSatisfy { $0 > 0 } && (isLogRange || numbers.max()! / numbers.min()! >= 100)
                let f: (Double) -> Double = log ? { Foundation.log10($0) } : { $0 }
                let low = f(numbers.min()!), high = f(numbers.max()!)
                let span = high - low
                columns.append(numbers.map { span > 0 ? (f($0) - low) / span : 0.5 })
                let tickValues = span > 0 ? [numbers.min()!, numbers.max()!] : [numbers[0]]
                axes.append(Axis(name: name + (log ? " (log)" : ""), ticks: tickValues.map { v in
                    (span > 0 ? (f(v) - low) / span : 0.5, Self.format(v))
                }))
            } else {
                let labels = Array(Set(values.map { $0?.argument ?? "" })).sorted()
                let position = { (label: String) in labels.count > 1 ? Double(labels.firstIndex(of: label)!) / Double(labels.count - 1) : 0.5 }
                columns.append(values.map { position($0?.argument ?? "") })
                axes.append(Axis(name: name, ticks: labels.map { (position($0), $0) }))
            }
        }
        let metrics = summary.trials.map(\.metric)
        let known = metrics.compactMap { $0 }
        let (low, high) = (known.min() ?? 0, known.max() ?? 1)
        let better: (Double) -> Double = { v in
            let t = high > low ? (v - low) / (high - low) : 1
            return spec.metric.goal == .maximize ? t : 1 - t
        }
        columns.append(metrics.map { $0.map { high > low ? ($0 - low) / (high - low) : 0.5 } })
        axes.append(Axis(name: spec.metric.name, ticks: known.isEmpty ? [] : (high > low ? [(0, Self.format(low)), (1, Self.format(high))]
                                                                                             : [(0.5, Self.format(low))])))
        lines = summary.trials.enumerated().map { i, trial in
            Line(trial: trial.trial, heights: columns.map { $0[i] ?? 0 }, quality: trial.metric.map(better))
        }
        title = "sweep \(summary.sweep.id): \(summary.trials.count) trials by \(spec.metric.name)"
        self.axes = axes
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int64(v)) : String(format: abs(v) < 0.01 || abs(v) >= 1e5 ? "%.2e" : "%.4g", v)
    }

    /// Viridis-like: dark purple (worst) through teal to yellow (best); grey without a metric.
    public static func color(_ quality: Double?) -> (UInt8, UInt8, UInt8) {
        guard let q = quality.map({ min(1, max(0, $0)) }) else { return (190, 190, 190) }
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let x = q * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(x)), t = x - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        return (UInt8(a.0 + (b.0 - a.0) * t), UInt8(a.1 + (b.1 - a.1) * t), UInt8(a.2 + (b.2 - a.2) * t))
    }

    /// The plot as a PNG.
    public func png() throws -> Data {
        let width = max(480, 140 * axes.count + 80), height = 420
        var canvas = Canvas(width: width, height: height)
        let (top, bottom, left) = (50, 360, 60)
        let step = axes.count > 1 ? (width - 2 * left) / (axes.count - 1) : 0
        func x(_ i: Int) -> Int { left + i * step }
        func y(_ h: Double) -> Int { bottom - Int(h * Double(bottom - top)) }
        canvas.text(title, x: 10, y: 12, color: (0, 0, 0))
        // Worst first, so the best lines are drawn on top.
        for line in lines.sorted(by: { ($0.quality ?? -1) < ($1.quality ?? -1) }) {
            for i in 1..<max(1, line.heights.count) {
                canvas.line(x(i - 1), y(line.heights[i - 1]), x(i), y(line.heights[i]), color: Self.color(line.quality), thick: true)
            }
        }
        for (i, axis) in axes.enumerated() {
            canvas.line(x(i), top, x(i), bottom, color: (0, 0, 0))
            let name = String(axis.name.prefix(22))
            canvas.text(name, x: x(i) - name.count * 3, y: bottom + 14, color: (0, 0, 0))
            for tick in axis.ticks {
                let label = String(tick.label.prefix(12))
                canvas.fill(x(i) - 3, y(tick.position), 7, 1, color: (0, 0, 0))
                canvas.text(label, x: x(i) + 5, y: y(tick.position) - 3, color: (60, 60, 60))
            }
        }
        return try ImageCodec.encodePNG(canvas.image)
    }

    /// The plot as an SVG element (text escaped for HTML).
    public func svg() -> HTML {
        let width = max(480, 140 * axes.count + 80), height = 420
        let (top, bottom, left) = (40.0, 360.0, 60.0)
        let step = axes.count > 1 ? Double(width - 120) / Double(axes.count - 1) : 0
        func x(_ i: Int) -> Double { left + Double(i) * step }
        func y(_ h: Double) -> Double { bottom - h * (bottom - top) }
        let c = ReportHTML.coordinate
        var out: HTML = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"parallel\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">"
        out += "<text x=\"10\" y=\"20\" font-size=\"13\">\(title)</text>"
        for line in lines.sorted(by: { ($0.quality ?? -1) < ($1.quality ?? -1) }) {
            let points = line.heights.enumerated().map { "\(c(x($0))),\(c(y($1)))" }.joined(separator: " ")
            let (r, g, b) = Self.color(line.quality)
            out += "<polyline data-trial=\"\(line.trial)\" fill=\"none\" stroke-width=\"2\" stroke=\"rgb(\(r),\(g),\(b))\" points=\"\(points)\"/>"
        }
        for (i, axis) in axes.enumerated() {
            out += "<line x1=\"\(c(x(i)))\" y1=\"\(c(top))\" x2=\"\(c(x(i)))\" y2=\"\(c(bottom))\" stroke=\"black\"/>"
            out += "<text x=\"\(c(x(i)))\" y=\"\(c(bottom + 20))\" font-size=\"12\" text-anchor=\"middle\">\(axis.name)</text>"
            for tick in axis.ticks {
                out += "<text x=\"\(c(x(i) + 5))\" y=\"\(c(y(tick.position) + 4))\" font-size=\"11\" fill=\"#444\">\(tick.label)</text>"
            }
        }
        return out + "</svg>"
    }
}

/// Where `sweep show` keeps the plot.
public enum SweepPlots {
    /// Writes the parallel-coordinates PNG under `.cairn/sweeps/ID/`; returns its path relative to the repository.
    public static func write(_ summary: SweepSummary, training: Training) throws -> String {
        let directory = training.versioning.repository.cairnDirectory + "/sweeps/" + summary.sweep.id
        try FileOps.makeDirectories(directory)
        try FileOps.writeFile(try ParallelCoordinates(summary).png(), to: directory + "/parallel-coordinates.png")
        return ".cairn/sweeps/\(summary.sweep.id)/parallel-coordinates.png"
    }
}
