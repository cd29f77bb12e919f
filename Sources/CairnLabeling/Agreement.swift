import CairnCatalog
import Foundation

/// How much annotators agree, from each annotator's latest label per item (skips left out).
///
/// Cohen's κ for every pair of annotators over the items both labeled; Fleiss' κ over every item
/// labeled by two or more (the variable-raters form: each item's agreement is the share of
/// agreeing rater pairs), overall and per class; and which classes annotators confuse.
/// Multi-label labels agree when they are the same set; per class, each label either carries
/// the class or not, so a class's κ measures how reliably annotators tell it is there.
public struct AgreementReport: Sendable, Hashable, Codable {
    /// Cohen's κ of two annotators.
    public struct Pair: Sendable, Hashable, Codable {
        public var a: String
        public var b: String
        /// Items both labeled.
        public var items: Int
        /// Fraction of those where they gave the same class.
        public var observed: Double
        /// nil when chance agreement is total (both always gave one and the same class).
        public var kappa: Double?
    }

    /// Fleiss' κ for one class (how reliably annotators tell it from the rest).
    public struct ClassAgreement: Sendable, Hashable, Codable {
        public var className: String
        /// Labels carrying this class among the items counted.
        public var labels: Int
        public var kappa: Double?
    }

    /// Two labels given to one item by two annotators (classes, or `a+b` for sets), and how often.
    public struct Confusion: Sendable, Hashable, Codable {
        public var classA: String
        public var classB: String
        public var count: Int
    }

    public var annotators: [String]
    public var pairs: [Pair]
    /// Items labeled by two or more annotators: what Fleiss' κ is based on.
    public var items: Int
    public var fleissKappa: Double?
    public var perClass: [ClassAgreement]
    /// Disagreements between classes, most frequent first (pairs counted once per annotator pair).
    public var confusions: [Confusion]
    /// Rater pairs that agreed, over all items: the diagonal of the confusion matrix.
    public var agreements: Int

    /// Computes the report from `labels`: for each item, annotator → label.
    ///
    /// - Complexity: O(Σ raters² per item + annotators² · items).
    public init(labels: [[String: Label]]) {
        annotators = Array(Set(labels.flatMap(\.keys))).sorted()
        // Pairs.
        var pairs: [Pair] = []
        for (i, a) in annotators.enumerated() {
            for b in annotators[(i + 1)...] {
                var items = 0, same = 0
                var marginalA: [Label: Int] = [:], marginalB: [Label: Int] = [:]
                for item in labels {
                    guard let x = item[a], let y = item[b] else { continue }
                    items += 1
                    if x == y { same += 1 }
                    marginalA[x, default: 0] += 1
                    marginalB[y, default: 0] += 1
                }
                guard items > 0 else { continue }
                let n = Double(items)
                let observed = Double(same) / n
                let chance = marginalA.reduce(0.0) { $0 + Double($1.value) / n * Double(marginalB[$1.key] ?? 0) / n }
                pairs.append(Pair(a: a, b: b, items: items, observed: observed,
                                  kappa: chance < 1 ? (observed - chance) / (1 - chance) : nil))
            }
        }
        self.pairs = pairs
        // Fleiss, over items with at least two raters.
        let rated = labels.filter { $0.count >= 2 }
        items = rated.count
        var totals: [Label: Int] = [:]
        var classTotals: [String: Int] = [:]
        var sumAgreement = 0.0
        var pairCount = 0.0  // Σ n_i (n_i − 1)
        var confusion: [Label: [Label: Int]] = [:]
        var agreements = 0
        for item in rated {
            var counts: [Label: Int] = [:]
            for label in item.values { counts[label, default: 0] += 1 }
            let n = Double(item.count)
            sumAgreement += counts.values.reduce(0.0) { $0 + Double($1 * ($1 - 1)) } / (n * (n - 1))
            pairCount += n * (n - 1)
            for (label, count) in counts {
                totals[label, default: 0] += count
                for name in label.classes { classTotals[name, default: 0] += count }
            }
            let values = item.sorted { $0.key < $1.key }.map(\.value)
            for i in values.indices {
                for j in values.indices where j > i {
                    if values[i] == values[j] {
                        agreements += 1
                    } else {
                        let (x, y) = values[i] < values[j] ? (values[i], values[j]) : (values[j], values[i])
                        confusion[x, default: [:]][y, default: 0] += 1
                    }
                }
            }
        }
        self.agreements = agreements
        let allLabels = Double(totals.values.reduce(0, +))
        if items > 0 {
            let meanAgreement = sumAgreement / Double(items)
            let chance = totals.values.reduce(0.0) { $0 + pow(Double($1) / allLabels, 2) }
            fleissKappa = chance < 1 ? (meanAgreement - chance) / (1 - chance) : nil
        }
        // Per class: 1 − Σ n_ic (n_i − n_ic) / (Σ n_i (n_i − 1) · p_c (1 − p_c)).
        perClass = classTotals.keys.sorted().map { name in
            let p = Double(classTotals[name]!) / allLabels
            var disagreement = 0.0
            for item in rated {
                let n = item.count, nc = item.values.filter { $0.contains(name) }.count
                disagreement += Double(nc * (n - nc))
            }
            let denominator = pairCount * p * (1 - p)
            return ClassAgreement(className: name, labels: classTotals[name]!, kappa: denominator > 0 ? 1 - disagreement / denominator : nil)
        }
        confusions = confusion.flatMap { a, row in row.map { Confusion(classA: a.description, classB: $0.key.description, count: $0.value) } }
            .sorted { ($0.count, $1.classA, $1.classB) > ($1.count, $0.classA, $0.classB) }
    }
}

extension AgreementReport {
    /// Agreement among every annotator's latest non-skip labels in `catalog`. The `import`
    /// annotator (labels taken from folders or files) is left out unless `includeImport`.
    public init(catalog: any Catalog, includeImport: Bool = false) throws {
        var labels: [[String: Label]] = []
        try catalog.read { tx in
            try tx.forEachItemRecord(ids: nil) { _, record in
                var out: [String: Label] = [:]
                for case let (annotator, label?) in record.annotations.map({ ($0.annotator, $0.label) })
                where includeImport || annotator != Annotator.importName {
                    out[annotator] = label
                }
                labels.append(out)
            }
        }
        self.init(labels: labels)
    }
}
