import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// Labeling simulated with the snapshot's labels as the oracle, to measure what the uncertainty
/// queue buys on a dataset (what `cairn-bench active` reports; Docs/BENCHMARKS.md).
public struct LabelingCurve: Sendable, Codable {
    /// Labels given so far, and the test accuracy of a model trained on them, per round.
    public var budgets: [Int] = []
    public var accuracy: [Double] = []
    /// Per round after the first: the share of the items picked whose true class was among the
    /// model's three most probable (what the suggestions panel would have offered).
    public var top3: [Double] = []

    /// The first budget at which the accuracy reached `target`, if it did.
    public func budget(reaching target: Double) -> Int? { zip(budgets, accuracy).first { $0.1 >= target }?.0 }
}

extension Training {
    public enum Order: String, Sendable { case uncertain, random }

    /// Simulates labeling snapshot `ref`'s train split in `order`: `initial` random labels, then
    /// rounds picked by the order, a `model` retrained each round and scored on the test split,
    /// until `budget` labels. A round adds `batch` labels, or `growth` times those given so far
    /// when that is more (0.1: rounds of 10% — what a long run needs to stay affordable).
    public func simulateLabeling(data ref: String, order: Order, seed: UInt64, model: ModelKind = .softmax, initial: Int = 10,
                                 batch: Int = 10, growth: Double = 0, budget: Int = 500, explore: Double = 0.1) throws -> LabelingCurve {
        let snapshot = try versioning.resolve(ref)
        let data = try SnapshotExamples.read(snapshot.id, versioning: versioning)
        let size = data.commonSize.map { (min(32, $0.width), min(32, $0.height)) } ?? (28, 28)
        let preprocessing = Preprocessing(width: size.0, height: size.1, channels: 1)
        let loaded = try loader().load(data.examples, preprocessing)
        let labels = data.examples.map(\.label)
        let k = data.classes.count
        let pool = data.examples.indices.filter { data.examples[$0].split == .train && !loaded.undecodableRows.contains($0) }
        let test = data.examples.indices.filter { data.examples[$0].split == .test && !loaded.undecodableRows.contains($0) }
        var random = SeededRandom(seed: seed)
        var shuffled = pool
        random.shuffle(&shuffled)
        var labeled = Array(shuffled.prefix(initial))
        var unlabeled = Set(shuffled.dropFirst(initial))
        var curve = LabelingCurve()
        var settings = Learner.Settings.forModel(model)
        var round = 0
        while true {
            settings.seed = seed &+ UInt64(round)
            let learner = Learner(loaded.table, rows: labeled, labels: labels, classes: k, preprocessing: preprocessing, settings: settings)
            let p = learner.probabilities(loaded.table, rows: test)
            let correct = test.indices.filter { i in
                return p[i * k..<(i + 1) * k].argmax()! == Int(labels[test[i]])
            }.count
            curve.budgets.append(labeled.count)
            curve.accuracy.append(Double(correct) / Double(max(1, test.count)))
            guard labeled.count < budget, !unlabeled.isEmpty else { break }
            let candidates = unlabeled.sorted()
            let batch = min(budget - labeled.count, max(batch, Int(Double(labeled.count) * growth)))
            let picked: [Int]
            if order == .random {
                var rest = candidates
                random.shuffle(&rest)
                picked = Array(rest.prefix(batch))
            } else {
                let q = learner.probabilities(loaded.table, rows: candidates)
                let margins = Dictionary(uniqueKeysWithValues: candidates.enumerated().map {
                    (Int64($0.element), Self.margin(Array(q[$0.offset * k..<($0.offset + 1) * k])))
                })
                let plan = Self.plan(candidates.map(Int64.init), margins: margins, explore: explore, seed: seed &+ UInt64(round) &* 31,
                                     source: "simulation")
                picked = plan.items.prefix(batch).map { Int($0) }
            }
            // How often the right class was in the top 3 of what the suggestions would have shown.
            let shown = learner.probabilities(loaded.table, rows: picked)
            let hits = picked.indices.filter { i in
                let row = Array(shown[i * k..<(i + 1) * k])
                return row.indices.sorted { row[$0] > row[$1] }.prefix(3).contains(Int(labels[picked[i]]))
            }.count
            curve.top3.append(Double(hits) / Double(max(1, picked.count)))
            labeled += picked
            for i in picked { unlabeled.remove(i) }
            round += 1
        }
        return curve
    }
}
