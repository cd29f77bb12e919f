import CairnModels
import Foundation

/// Runs side by side: what they trained on, the parameters that differ, and their metrics.
public struct RunComparison: Sendable, Encodable {
    /// One metric across the runs (nil where a run has none).
    public struct Metric: Sendable, Encodable {
        public var name: String
        public var values: [Double?]
        /// True for a rate shown as a percentage (accuracy); false for a loss or an F1 score.
        public var isRate: Bool
    }

    public var runs: [String]
    public var snapshots: [String]
    /// Parameter name → each run's value, for the parameters that are not equal in all runs.
    public var differingParameters: [String: [String]]
    public var metrics: [Metric]

    /// The comparison of `records`, in their order (the first is what deltas are against).
    public init(_ records: [RunRecord]) throws {
        // Built-in runs' parameters by the names sweeps and reports use (`RunParameters.vocabulary`).
        let parameterSets = records.map { r -> [String: String] in
            if let program = r.program { return program.parameters.merging(["command": program.command.joined(separator: " ")]) { $1 } }
            guard let parameters = r.parameters else { return [:] }
            return Dictionary(parameters.named.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        var differing: [String: [String]] = [:]
        for key in Set(parameterSets.flatMap(\.keys)).sorted() {
            let values = parameterSets.map { $0[key] ?? "-" }
            if Set(values).count > 1 { differing[key] = values }
        }
        // One vocabulary for both kinds of run (`RunRecord.metric`): a program's val_accuracy is on
        // the same row as a built-in run's.
        let measures: [(String, Bool, (RunRecord) -> Double?)] = [
            ("test accuracy", true, { $0.metric("test_accuracy") }), ("val accuracy", true, { $0.metric("val_accuracy") }),
            ("train accuracy", true, { $0.metric("train_accuracy") }), ("test macro-F1", false, { $0.test?.macroF1 }),
            ("final train loss", false, { $0.metric("train_loss") }), ("final val loss", false, { $0.metric("val_loss") }),
        ]
        runs = records.map(\.id)
        snapshots = records.map(\.snapshotID)
        differingParameters = differing
        // The built-in figures, then every other figure a program reported (its summary's numbers,
        // each metric's last value); a figure no run has is left out.
        let shared = Set(RunRecord.builtInMetrics)
        let programFigures = records.map { ($0.program?.figures ?? [:]).filter { !shared.contains($0.key) } }
        metrics = measures.map { name, isRate, value in Metric(name: name, values: records.map(value), isRate: isRate) }
            + Set(programFigures.flatMap(\.keys)).sorted().map { key in Metric(name: key, values: programFigures.map { $0[key] }, isRate: false) }
        metrics.removeAll { $0.values.allSatisfy { $0 == nil } }
    }

    private enum CodingKeys: String, CodingKey { case runs, snapshots, differingParameters, metrics }

    /// Metrics encode as name → values.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(runs, forKey: .runs)
        try c.encode(snapshots, forKey: .snapshots)
        try c.encode(differingParameters, forKey: .differingParameters)
        try c.encode(Dictionary(uniqueKeysWithValues: metrics.map { ($0.name, $0.values) }), forKey: .metrics)
    }
}

extension Training {
    /// The runs `refs` name, compared (the first is the base of the deltas).
    /// - Throws: `TrainingError.badParameter` for fewer than two.
    public func compare(_ refs: [String]) throws -> (records: [RunRecord], comparison: RunComparison) {
        guard refs.count >= 2 else { throw TrainingError.badParameter("give at least two runs to compare") }
        let records = try refs.map { try run($0) }
        return (records, try RunComparison(records))
    }
}
