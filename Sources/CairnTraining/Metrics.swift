import Foundation

/// Precision, recall and F1 of one class.
public struct ClassMetrics: Sendable, Hashable, Codable {
    public var name: String
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Items of this class in the evaluated set.
    public var support: Int
}

/// How a model did on one set of examples.
public struct Evaluation: Sendable, Hashable, Codable {
    public var count: Int
    public var loss: Double
    public var accuracy: Double
    public var macroF1: Double
    public var perClass: [ClassMetrics]
    /// confusion[true class][predicted class].
    public var confusion: [[Int]]

    /// Metrics from true labels, predicted labels and the mean loss.
    ///
    /// - Complexity: O(n + k²) for n examples and k classes.
    public init(classes: [String], truth: [Int32], predicted: [Int32], loss: Double) {
        let k = classes.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (t, p) in zip(truth, predicted) { confusion[Int(t)][Int(p)] += 1 }
        self.count = truth.count
        self.loss = loss
        self.confusion = confusion
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        accuracy = truth.isEmpty ? 0 : Double(correct) / Double(truth.count)
        perClass = (0..<k).map { c in
            let tp = Double(confusion[c][c])
            let predictedAs = Double((0..<k).reduce(0) { $0 + confusion[$1][c] })
            let support = confusion[c].reduce(0, +)
            let precision = predictedAs > 0 ? tp / predictedAs : 0
            let recall = support > 0 ? tp / Double(support) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassMetrics(name: classes[c], precision: precision, recall: recall, f1: f1, support: support)
        }
        // Macro-F1 over the classes present in the set (a class with no items says nothing here).
        let present = perClass.filter { $0.support > 0 }
        macroF1 = present.isEmpty ? 0 : present.reduce(0) { $0 + $1.f1 } / Double(present.count)
    }
}

/// Per-epoch figures.
public struct EpochMetrics: Sendable, Hashable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var seconds: Double
}

/// The majority-class baseline: always predict the most frequent class of the training split.
public struct Baseline: Sendable, Hashable, Codable {
    public var className: String
    /// Its accuracy on the test split (or the evaluated set).
    public var accuracy: Double
}

/// Under- or over-fitting, said plainly from train, val and test accuracy.
public struct FitDiagnosis: Sendable, Hashable, Codable {
    public enum Verdict: String, Sendable, Hashable, Codable {
        case underfitting, overfitting, balanced
        /// No held-out items (no val or test), so the gap cannot be measured.
        case notMeasured
        /// An `--overfit-batch` check: fitting the batch is the point, not a diagnosis.
        case overfitCheck
    }
    public var verdict: Verdict
    public var explanation: String

    /// Under-fitting when the model barely beats the baseline on its own training data or stays
    /// below 90% there; over-fitting when validation trails training by more than 5 points; "not
    /// measured" when there is nothing held out; and no verdict at all for an `--overfit-batch` run,
    /// whose job is to fit its one batch (its result is `RunRecord.overfitCheck`).
    public init(train: Double, val: Double?, test: Double?, baseline: Double, overfitBatch: Bool = false) {
        let heldOut = val ?? test
        let pct = { (x: Double) in String(format: "%.1f%%", x * 100) }
        if overfitBatch {
            verdict = .overfitCheck
            explanation = "not diagnosed: an --overfit-batch run fits one batch on purpose (see the overfit check)"
        } else if train < 0.9 || train - baseline < 0.1 {
            verdict = .underfitting
            explanation = "under-fitting (high bias): training accuracy is only \(pct(train)) against a \(pct(baseline)) baseline; "
                + "train longer, raise the learning rate or use a larger model"
        } else if let heldOut, train - heldOut > 0.05 {
            verdict = .overfitting
            explanation = "over-fitting (high variance): training accuracy \(pct(train)) but held-out \(pct(heldOut)) "
                + "(gap \(pct(train - heldOut))); more data, fewer epochs or a smaller model"
        } else if let heldOut {
            verdict = .balanced
            explanation = "balanced: training \(pct(train)), held-out \(pct(heldOut)) (gap \(pct(train - heldOut)))"
        } else {
            verdict = .notMeasured
            explanation = "not measured: training \(pct(train)), but the snapshot has no val or test items to compare with"
        }
    }
}
