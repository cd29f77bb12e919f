import ArgumentParser
import CairnCatalog
import CairnModels
import CairnQuality
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation
import Glibc

/// Active learning simulated on a labeled tree (its labels as the oracle): the uncertainty queue
/// against random order, median of several seeds; and how often the suggestions' top 3 hold the
/// right class on the uncertainty queue after 100 labels.
struct ActiveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "active",
        abstract: "Simulate labeling in the uncertainty queue's order and at random; labels needed to reach a test accuracy.")

    @Argument(help: "A labeled tree in class folders (e.g. sample-data/digits).") var dataset: String
    @Option(help: "Seeds (the median is reported).") var seeds = 10
    @Option(help: "Test accuracy to reach.") var target = 0.95
    @Option(help: "Labels to simulate.") var budget = 500
    @Option(help: "The uncertainty queue's share of random items (cairn label's default).") var explore = 0.1
    @Option(help: "The model retrained each round: softmax or mlp.") var model = "softmax"
    @Option(help: "Each round adds this share of the labels given so far when that is more than 10 (0: always 10).") var growth = 0.0
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        guard let model = ModelKind(rawValue: model), model != .cnn else { throw ValidationError("--model is softmax or mlp") }
        let (base, repo) = try scratchRepository("active", dataset: dataset, work: work, message: "oracle")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let training = Training(versioning: Versioning(repository: try Repository(root: repo)), cairnVersion: "bench")
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        var reached: [Training.Order: [Double]] = [:]
        var curves: [Training.Order: [LabelingCurve]] = [:]
        let started = Date()
        for order in [Training.Order.uncertain, .random] {
            for seed in 0..<seeds {
                let curve = try training.simulateLabeling(data: "HEAD", order: order, seed: UInt64(seed + 1), model: model,
                                                          growth: growth, budget: budget, explore: explore)
                curves[order, default: []].append(curve)
                reached[order, default: []].append(Double(curve.budget(reaching: target) ?? Int.max / 2))
            }
        }
        // The median accuracy at each budget, and the worst gap of uncertain below random from 100 labels on.
        let budgets = curves[.uncertain]![0].budgets
        var worstGap = 0.0
        var at: [String] = []
        for (i, b) in budgets.enumerated() {
            let u = median(curves[.uncertain]!.map { $0.accuracy[i] }), r = median(curves[.random]!.map { $0.accuracy[i] })
            if b >= 100 { worstGap = max(worstGap, r - u) }
            if [50, 100, 200, 300, 460].contains(b) || (growth > 0 && i % 4 == 0) { at.append("\(b):\(format(u * 100, 1))/\(format(r * 100, 1))") }
        }
        let top3 = curves[.uncertain]!.flatMap { c in zip(c.budgets.dropLast(), c.top3).filter { $0.0 >= 100 }.map(\.1) }
        func show(_ x: Double) -> String { x >= Double(Int.max / 4) ? "never" : String(Int(x)) }
        emit(["bench": "active", "model": model.rawValue, "seeds": seeds, "explore": explore, "target": target, "uncertain_labels": show(median(reached[.uncertain]!)),
              "random_labels": show(median(reached[.random]!)), "worst_gap_pts": format(worstGap * 100, 2),
              "top3_after_100": format(top3.reduce(0, +) / Double(max(1, top3.count)), 3),
              "accuracy_uncertain_random": at.joined(separator: ","), "seconds": format(Date().timeIntervalSince(started), 1)])
    }
}

/// The background job of `cairn label --retrain-every` on its own: a repository of a labeled tree
/// with most labels held back; each round labels `--step` more, then snapshots, trains softmax on
/// one thread (as the UI's retrainer does) and re-ranks every unlabeled item (`--model mlp`: the MLP).
struct RetrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Seconds for one background retrain and re-rank (snapshot, the model on one thread, predictions, new order).",
        discussion: "Example: python3 ../shared/peers/gen_datasets.py small 5000 /tmp/small5k; cairn-bench retrain /tmp/small5k")

    @Argument(help: "A labeled tree in class folders (e.g. 5,000 28x28 PNGs).") var dataset: String
    @Option(help: "Labels given before the first round.") var labeled = 500
    @Option(help: "Labels given between rounds.") var step = 10
    @Option(help: "Rounds (the median and the slowest are reported).") var rounds = 5
    @Option(help: "The model retrained: softmax or mlp.") var model = "softmax"
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let repo = work + "/retrain-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repo) }
        for args in [["init", repo], ["-C", repo, "import", dataset]] {
            guard try timed(cairnBinary, args).status == 0 else { throw ValidationError("cairn \(args.joined(separator: " ")) failed") }
        }
        let repository = try Repository(root: repo)
        let truth = Dictionary(labeledTree(dataset).map { (((dataset as NSString).lastPathComponent as NSString).appendingPathComponent($0.path), $0.label) }) { a, _ in a }
        var items = try repository.catalog.read { try $0.allItems(split: nil) }.filter { truth[$0.path] != nil }
        var random = SplitMix64(seed: 1)
        items.shuffle(using: &random)
        func label(_ batch: ArraySlice<Item>) throws {
            try repository.catalog.write { tx in
                for item in batch { try tx.annotate(itemID: item.id, label: Label([truth[item.path]!]), annotator: "bench") }
            }
        }
        try label(items.prefix(labeled))
        var given = labeled
        guard let kind = ModelKind(rawValue: model), kind != .cnn else { throw ValidationError("--model is softmax or mlp") }
        var parameters = RunParameters(model: kind)
        parameters.threads = 1
        let training = Training(versioning: Versioning(repository: repository), cairnVersion: "bench")
        var seconds: [Double] = []
        var ranked = 0
        for round in 1...rounds {
            try label(items.dropFirst(given).prefix(step))
            given += step
            let started = Date()
            let (_, plan) = try training.retrain(name: "retrain-\(round)", parameters: parameters, message: "retrain \(round)",
                                                 author: "bench", explore: 0.1, seed: UInt64(round))
            seconds.append(Date().timeIntervalSince(started))
            ranked = plan.items.count
        }
        let sorted = seconds.sorted()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        emit(["bench": "retrain", "model": kind.rawValue, "items": items.count, "labeled": given, "reranked": ranked, "rounds": rounds,
              "median_s": format(sorted[sorted.count / 2], 2), "max_s": format(sorted.last ?? 0, 2), "maxrss_mb": format(Double(usage.ru_maxrss) / 1024, 1)])
    }
}
