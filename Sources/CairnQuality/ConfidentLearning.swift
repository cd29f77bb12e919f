import CairnModels
import CairnSupport
import CairnTraining
import Foundation

/// Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
/// Dataset Labels", JAIR 70, 2021), written from the paper: given each example's label and
/// out-of-sample predicted probabilities, estimate the joint distribution of given and true labels
/// and find the examples whose labels are most likely wrong.
///
/// 1. Per-class thresholds: t_j is the mean predicted probability of class j over the examples
///    labeled j (the model's expected self-confidence for j).
/// 2. The confident joint C: an example labeled i counts toward C[i][j] for the class j of highest
///    probability among those whose probability reaches their threshold (none: it is not counted).
/// 3. Calibration: each row of C is scaled to the number of examples labeled i, then the whole is
///    normalized into the joint Q[i][j] ≈ p(given i, true j).
/// 4. Prune by noise rate: from each given class i, the n·Σ_{j≠i} Q[i][j] examples whose best other
///    class j beats i by the largest margin p_j − p_i are flagged, with that j as the suggested label.
///
/// An example whose most probable class is its given label is never flagged: the model agrees
/// with the label, whatever the counts say.
///
/// Noise estimates: per class, the share of examples labeled i whose true label is another
/// (1 − Q[i][i] / Σ_j Q[i][j]); overall, 1 − Σ_i Q[i][i].
public enum ConfidentLearning {
    public struct Flag: Sendable, Hashable {
        /// The example's index.
        public var index: Int
        /// The label the pruning step thinks is true.
        public var suggested: Int
        /// The given label's predicted probability (lower is more suspicious).
        public var selfConfidence: Double
        /// p(suggested) − p(given).
        public var margin: Double
    }

    public struct Result: Sendable {
        public var thresholds: [Double]
        /// Counts: C[given][true].
        public var confidentJoint: [[Int]]
        /// Estimated p(given, true).
        public var joint: [[Double]]
        /// Per given class: the estimated share of its examples that are mislabeled.
        public var noisePerClass: [Double]
        public var noise: Double
        /// Flagged examples, most suspicious (largest margin) first.
        public var flags: [Flag]
    }

    /// Runs the method on `labels` (class indices, n of them) and `probabilities` (n × `classes`,
    /// row-major, each row summing to 1; out-of-sample for each example).
    public static func find(labels: [Int], probabilities: [Float], classes k: Int) -> Result {
        let n = labels.count
        func p(_ x: Int, _ j: Int) -> Double { Double(probabilities[x * k + j]) }
        var counts = [Int](repeating: 0, count: k)
        for label in labels { counts[label] += 1 }

        // 1. Thresholds.
        var sums = [Double](repeating: 0, count: k)
        for x in 0..<n { sums[labels[x]] += p(x, labels[x]) }
        let thresholds = (0..<k).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : 1 }

        // 2. The confident joint.
        var c = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for x in 0..<n {
            var best = -1
            var bestP = -1.0
            for j in 0..<k where p(x, j) >= thresholds[j] && p(x, j) > bestP {
                best = j
                bestP = p(x, j)
            }
            if best >= 0 { c[labels[x]][best] += 1 }
        }

        // 3. Calibrate rows to the given counts, then normalize.
        var q = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for i in 0..<k {
            let row = c[i].reduce(0, +)
            for j in 0..<k {
                q[i][j] = row > 0 ? Double(c[i][j]) / Double(row) * Double(counts[i]) : (i == j ? Double(counts[i]) : 0)
            }
        }
        let total = q.joined().reduce(0, +)
        if total > 0 { q = q.map { $0.map { $0 / total } } }

        func argmax(_ x: Int) -> Int { (0..<k).map { p(x, $0) }.argmax() ?? 0 }
        // 4. Prune by noise rate: from each given class i, the n·Σ_{j≠i} Q[i][j] examples whose best
        //    other class beats i by the largest margin (counted per class, not per cell, so that
        //    rounding many small cells does not lose examples).
        var byGiven = [[Int]](repeating: [], count: k)
        for x in 0..<n { byGiven[labels[x]].append(x) }
        var flagged: [Flag] = []
        for i in 0..<k {
            let take = Int((Double(n) * (0..<k).reduce(0.0) { $1 == i ? $0 : $0 + q[i][$1] }).rounded())
            guard take > 0 else { continue }
            let candidates = byGiven[i].map { x -> Flag in
                let other = (0..<k).filter { $0 != i }.max { p(x, $0) < p(x, $1) || (p(x, $0) == p(x, $1) && $0 > $1) }!
                return Flag(index: x, suggested: other, selfConfidence: p(x, i), margin: p(x, other) - p(x, i))
            }
            flagged += candidates.sorted { ($0.margin, $1.index) > ($1.margin, $0.index) }.prefix(take).filter { argmax($0.index) != i }
        }
        let noisePerClass = (0..<k).map { i -> Double in
            let row = q[i].reduce(0, +)
            return row > 0 ? 1 - q[i][i] / row : 0
        }
        let noise = 1 - (0..<k).reduce(0.0) { $0 + q[$1][$1] }
        let flags = flagged.sorted { ($0.margin, $1.index) > ($1.margin, $0.index) }
        return Result(thresholds: thresholds, confidentJoint: c, joint: q, noisePerClass: noisePerClass, noise: max(0, noise), flags: flags)
    }
}
