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
    /// confusion[true class][predicted class], for up to `denseConfusionLimit` classes; empty past
    /// that (k² cells would outgrow the record: 5,000 classes are 25 million), where
    /// `confusedPairs` and `perClass` say what matters.
    public var confusion: [[Int]]
    /// The most frequent mistakes (true class, predicted class, count), most first, at most `keptPairs`.
    public var confusedPairs: [ConfusedPair]?

    public struct ConfusedPair: Sendable, Hashable, Codable {
        public var actual: String, predicted: String
        public var count: Int
    }

    /// Most classes whose full confusion matrix a record keeps.
    public static let denseConfusionLimit = 100
    /// Most confused pairs a record keeps.
    public static let keptPairs = 200

    /// Metrics from true labels, predicted labels and the mean loss.
    ///
    /// - Complexity: O(n + k) for n examples and k classes, plus k² when k is at most `denseConfusionLimit`.
    public init(classes: [String], truth: [Int32], predicted: [Int32], loss: Double) {
        let k = classes.count
        var truePositives = [Int](repeating: 0, count: k), support = [Int](repeating: 0, count: k)
        var predictedAs = [Int](repeating: 0, count: k)
        var mistakes: [Int: Int] = [:]  // true * k + predicted, off the diagonal only
        for (t, p) in zip(truth, predicted) {
            let (t, p) = (Int(t), Int(p))
            support[t] += 1
            predictedAs[p] += 1
            if t == p { truePositives[t] += 1 } else { mistakes[t * k + p, default: 0] += 1 }
        }
        self.count = truth.count
        self.loss = loss
        if k <= Self.denseConfusionLimit {
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
            for c in 0..<k { confusion[c][c] = truePositives[c] }
            for (cell, n) in mistakes { confusion[cell / k][cell % k] = n }
            self.confusion = confusion
        } else {
            confusion = []
        }
        confusedPairs = mistakes.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(Self.keptPairs)
            .map { ConfusedPair(actual: classes[$0.key / k], predicted: classes[$0.key % k], count: $0.value) }
        accuracy = truth.isEmpty ? 0 : Double(truePositives.reduce(0, +)) / Double(truth.count)
        perClass = (0..<k).map { c in
            let tp = Double(truePositives[c])
            let precision = predictedAs[c] > 0 ? tp / Double(predictedAs[c]) : 0
            let recall = support[c] > 0 ? tp / Double(support[c]) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassMetrics(name: classes[c], precision: precision, recall: recall, f1: f1, support: support[c])
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
