import CairnModels
import Foundation

/// A chart axis laid out once, for both renderers (the PNG plots and the report's SVG): a range that
/// holds every finite value, ticks 1, 2 or 5 × 10^k apart, and labels with just enough digits that
/// no two ticks read the same.
///
/// Total over finite input: equal values get a padded range, a span too wide for a Double
/// (−1.7e308 … 1.7e308) is handled in halves, and there are never more than `maxTicks` + 1 ticks,
/// so no value a program reports can hang or crash the drawing.
package struct ChartAxis: Equatable {
    /// The ends of the axis (ticks fall on them when they can).
    var low: Double
    var high: Double
    /// The distance between ticks.
    var step: Double
    package var ticks: [Double]
    /// What the axis measures ("epoch", "step"…).
    package var title: String

    /// An axis for `values` (non-finite ones ignored); `includeZero` for quantities read against
    /// zero (loss, accuracy); `integers` keeps ticks on whole numbers (epochs, steps).
    package init(values: [Double], title: String, includeZero: Bool = false, integers: Bool = false, maxTicks: Int = 6) {
        self.title = title
        let finite = values.filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if includeZero { (lo, hi) = (min(lo, 0), max(hi, 0)) }
        if !(hi - lo > max(abs(hi), abs(lo)) * 1e-12) {  // one value, or all equal to the Double's precision
            let pad = max(max(abs(lo), abs(hi)) * 0.05, integers ? 1 : 0.5)
            (lo, hi) = (lo - pad, hi + pad)
        }
        lo = max(lo, -.greatestFiniteMagnitude)
        hi = min(hi, .greatestFiniteMagnitude)
        // Half the span is always finite; the raw step comes from it without overflowing.
        let raw = (hi / 2 - lo / 2) / Double(max(1, maxTicks - 1)) * 2
        var step = Self.nice(raw)
        if integers { step = max(1, step.rounded(.up)) }
        if !step.isFinite || step <= 0 { step = raw }
        let (first, last) = ((lo / step).rounded(.down) * step, (hi / step).rounded(.up) * step)
        if first.isFinite && last.isFinite { (lo, hi) = (first, last) }
        let count = min(maxTicks * 2, Int(((hi / 2 - lo / 2) / step * 2).rounded()))
        (low, high, self.step) = (lo, hi, step)
        // In halves again, so that no tick overflows on the way to a finite value.
        ticks = (0...max(0, count)).map { (lo / 2 + Double($0) * (step / 2)) * 2 }.filter { $0.isFinite && $0 / 2 <= hi / 2 + step / 4 }
    }

    /// Where `value` falls between `low` (0) and `high` (1); values outside are held just past the
    /// ends, and a non-finite one goes to 0.
    package func fraction(_ value: Double) -> Double {
        let f = (value / 2 - low / 2) / (high / 2 - low / 2)
        return f.isFinite ? min(1.02, max(-0.02, f)) : 0
    }

    /// `value` as a tick label: whole numbers as such, fractions with the decimals the step needs,
    /// large or tiny magnitudes with the significant digits that keep neighbouring ticks apart.
    package func label(_ value: Double) -> String {
        let magnitude = max(abs(low), abs(high))
        if magnitude < 1e6 && step >= 1e-6 {
            let decimals = step >= 1 && step == step.rounded() ? 0 : max(1, Int((-log10(step) - 1e-9).rounded(.up)))
            let text = String(format: "%.\(decimals)f", value)
            return text == "-0" || text.hasPrefix("-0.") && Double(text) == 0 ? String(text.dropFirst()) : text
        }
        let digits = min(17, max(2, Int(log10(magnitude).rounded(.up) - log10(step).rounded(.down)) + 1))
        return String(format: "%.\(digits)g", value).replacingOccurrences(of: "e+", with: "e")
    }

    /// 1, 2 or 5 × 10^k, the smallest not below `raw`.
    static func nice(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, log10(raw).rounded(.down))
        let fraction = raw / magnitude
        return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
    }
}
