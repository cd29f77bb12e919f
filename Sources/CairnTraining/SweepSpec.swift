import CairnModels
import CairnSupport
import Foundation

/// A hyper-parameter sweep in the shape people know from W&B sweeps:
///
/// ```yaml
/// method: random            # or grid
/// metric: {name: val_accuracy, goal: maximize}
/// run_cap: 16
/// parameters:
///   lr: {min: 0.0001, max: 0.1, distribution: log_uniform_values}
///   hidden: {values: [64, 128, 256]}
///   epochs: {value: 10}
/// early_terminate: {type: median, min_epochs: 3}
/// ```
///
/// Every key is checked: an unknown one, an unknown distribution, `min > max`, an empty `values`
/// list or a grid over a continuous range is an error that names it.
public struct SweepSpec: Sendable, Hashable, Codable {
    public enum Method: String, Sendable, Hashable, Codable { case random, grid }
    public enum Goal: String, Sendable, Hashable, Codable { case minimize, maximize }
    public enum Distribution: String, Sendable, Hashable, Codable, CaseIterable {
        case uniform, logUniformValues = "log_uniform_values", intUniform = "int_uniform"
    }

    public struct Metric: Sendable, Hashable, Codable {
        public var name: String
        public var goal: Goal
    }

    /// One parameter: a constant, a list to choose from, or a range.
    public enum Parameter: Sendable, Hashable, Codable {
        case value(JSONValue)
        case values([JSONValue])
        case range(min: Double, max: Double, distribution: Distribution)
    }

    /// The median stopping rule: from `minEpochs` on, a trial whose metric at an epoch is worse than
    /// the median of earlier trials' at that epoch stops as pruned.
    public struct EarlyTerminate: Sendable, Hashable, Codable {
        public var type = "median"
        public var minEpochs: Int
    }

    public var method: Method
    public var metric: Metric
    public var runCap: Int?
    /// By name; trials assign them in name order.
    public var parameters: [String: Parameter]
    public var earlyTerminate: EarlyTerminate?

    /// Most trials a sweep runs (a grid larger than this needs `run_cap`).
    public static let maxTrials = 10_000

    /// 2^53: every integer up to it is exact as a Double, so int_uniform bounds stay within it.
    public static let largestExactInteger: Double = 9_007_199_254_740_992

    // MARK: Reading

    /// The spec in `value` (a YAML or JSON document already parsed), checked.
    public static func parse(_ value: JSONValue) throws(TrainingError) -> SweepSpec {
        let top = try object(value, "the document")
        try known(top, ["method", "metric", "run_cap", "parameters", "early_terminate", "name", "description"], in: "the top level")
        guard case .string(let methodName)? = top["method"] else { throw .badSweepSpec("method is required: random or grid") }
        guard let method = Method(rawValue: methodName) else { throw .badSweepSpec("method '\(methodName)' is not random or grid") }
        guard let metricValue = top["metric"] else { throw .badSweepSpec("metric is required: {name: val_accuracy, goal: maximize}") }
        let metricObject = try object(metricValue, "metric")
        try known(metricObject, ["name", "goal"], in: "metric")
        guard case .string(let metricName)? = metricObject["name"], !metricName.isEmpty else { throw .badSweepSpec("metric.name is required") }
        let goalName: String
        switch metricObject["goal"] {
        case nil: goalName = "minimize"
        case .string(let g)?: goalName = g
        default: throw .badSweepSpec("metric.goal must be minimize or maximize")
        }
        guard let goal = Goal(rawValue: goalName) else { throw .badSweepSpec("metric.goal '\(goalName)' is not minimize or maximize") }
        var spec = SweepSpec(method: method, metric: Metric(name: metricName, goal: goal), runCap: nil, parameters: [:], earlyTerminate: nil)
        if let cap = top["run_cap"] {
            guard let n = cap.number, n == n.rounded(), n >= 1, n <= Double(maxTrials) else {
                throw .badSweepSpec("run_cap must be a whole number from 1 to \(maxTrials)")
            }
            spec.runCap = Int(n)
        }
        guard let parametersValue = top["parameters"] else { throw .badSweepSpec("parameters is required") }
        let parameters = try object(parametersValue, "parameters")
        if parameters.isEmpty { throw .badSweepSpec("parameters is empty") }
        for (name, body) in parameters {
            guard !name.isEmpty, !name.contains("="), !name.unicodeScalars.contains(where: Printable.isControl), !name.hasPrefix("-") else {
                throw .badSweepSpec("parameter name '\(Printable.escaped(name))' cannot be passed on")
            }
            spec.parameters[name] = try parameter(name, body)
        }
        if let early = top["early_terminate"] {
            let e = try object(early, "early_terminate")
            try known(e, ["type", "min_epochs"], in: "early_terminate")
            guard case .string("median")? = e["type"] else { throw .badSweepSpec("early_terminate.type must be median") }
            var minEpochs = 1
            if let m = e["min_epochs"] {
                guard let n = m.number, n == n.rounded(), n >= 1, n <= 100_000 else {
                    throw .badSweepSpec("early_terminate.min_epochs must be a whole number of at least 1")
                }
                minEpochs = Int(n)
            }
            spec.earlyTerminate = EarlyTerminate(minEpochs: minEpochs)
        }
        if method == .random && spec.runCap == nil { throw .badSweepSpec("a random sweep needs run_cap (how many trials)") }
        if method == .grid { _ = try spec.grid() }
        return spec
    }

    private static func parameter(_ name: String, _ body: JSONValue) throws(TrainingError) -> Parameter {
        let p = try object(body, "parameters.\(name)")
        try known(p, ["value", "values", "min", "max", "distribution"], in: "parameters.\(name)")
        let forms = [p["value"] != nil, p["values"] != nil, p["min"] != nil || p["max"] != nil].filter { $0 }.count
        guard forms == 1 else { throw .badSweepSpec("parameters.\(name) needs exactly one of value, values, or min and max") }
        if let value = p["value"] {
            if p["distribution"] != nil { throw .badSweepSpec("parameters.\(name): distribution goes with min and max") }
            return .value(value)
        }
        if let values = p["values"] {
            guard case .array(let list) = values else { throw .badSweepSpec("parameters.\(name).values must be a list") }
            if list.isEmpty { throw .badSweepSpec("parameters.\(name).values is empty") }
            if p["distribution"] != nil { throw .badSweepSpec("parameters.\(name): distribution goes with min and max") }
            return .values(list)
        }
        guard let low = p["min"]?.number, let high = p["max"]?.number, low.isFinite, high.isFinite else {
            throw .badSweepSpec("parameters.\(name) needs both min and max, as numbers")
        }
        if low > high { throw .badSweepSpec("parameters.\(name): min \(low) is greater than max \(high)") }
        guard (high - low).isFinite else { throw .badSweepSpec("parameters.\(name): the range from min to max is too wide to draw from") }
        let distribution: Distribution
        switch p["distribution"] {
        case nil: distribution = low == low.rounded() && high == high.rounded() ? .intUniform : .uniform
        case .string(let d)?:
            guard let known = Distribution(rawValue: d) else {
                throw .badSweepSpec("parameters.\(name): unknown distribution '\(d)' (known: "
                                     + Distribution.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            distribution = known
        default: throw .badSweepSpec("parameters.\(name).distribution must be a name")
        }
        if distribution == .logUniformValues && low <= 0 { throw .badSweepSpec("parameters.\(name): log_uniform_values needs min > 0") }
        if distribution == .intUniform && (low != low.rounded() || high != high.rounded()) {
            throw .badSweepSpec("parameters.\(name): int_uniform needs whole min and max")
        }
        // Past 2^53 a Double skips integers, so draws would collapse onto a few values and print as 1e+17.
        if distribution == .intUniform && max(abs(low), abs(high)) > Self.largestExactInteger {
            throw .badSweepSpec("parameters.\(name): int_uniform bounds must lie within ±\(Int64(Self.largestExactInteger)) (2^53)")
        }
        return .range(min: low, max: high, distribution: distribution)
    }

    private static func object(_ value: JSONValue, _ what: String) throws(TrainingError) -> [String: JSONValue] {
        guard case .object(let o) = value else { throw .badSweepSpec("\(what) must be a mapping") }
        return o
    }

    private static func known(_ object: [String: JSONValue], _ keys: Set<String>, in what: String) throws(TrainingError) {
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw .badSweepSpec("unknown key '\(Printable.escaped(unknown))' in \(what) (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    // MARK: Trials

    /// The parameter assignments of every trial: for a grid, every combination (names in order,
    /// the last varying fastest) up to `run_cap`; for random, `run_cap` draws from `seed`.
    public func trials(seed: UInt64) throws(TrainingError) -> [[String: JSONValue]] {
        switch method {
        case .grid:
            let all = try grid()
            return Array(all.prefix(runCap ?? all.count))
        case .random:
            var random = SplitMix64(seed: seed)
            return (0..<(runCap ?? 1)).map { _ in
                var assignment: [String: JSONValue] = [:]
                for name in parameters.keys.sorted() { assignment[name] = draw(parameters[name]!, &random) }
                return assignment
            }
        }
    }

    /// The first `run_cap` combinations of a grid (all of them without a cap), made one by one as a
    /// mixed-radix count, so a huge grid with a small cap costs only the cap.
    /// - Throws: for a continuous range, or over `maxTrials` combinations without a cap.
    func grid() throws(TrainingError) -> [[String: JSONValue]] {
        var axes: [(String, [JSONValue])] = []
        for name in parameters.keys.sorted() {
            switch parameters[name]! {
            case .value(let v): axes.append((name, [v]))
            case .values(let list): axes.append((name, list))
            case .range(let low, let high, .intUniform) where high - low < 1_000:
                axes.append((name, stride(from: low, through: high, by: 1).map { .number($0) }))
            case .range:
                throw .badSweepSpec("a grid needs values (or an int_uniform range of under 1000) for parameters.\(name)")
            }
        }
        var combinations = 1
        for (_, values) in axes {
            let (product, overflow) = combinations.multipliedReportingOverflow(by: values.count)
            combinations = overflow ? .max : product
        }
        if runCap == nil && combinations > Self.maxTrials { throw .badSweepSpec("the grid has over \(Self.maxTrials) combinations; set run_cap") }
        return (0..<min(combinations, runCap ?? combinations)).map { index in
            var rest = index
            var assignment: [String: JSONValue] = [:]
            for (name, values) in axes.reversed() {  // the last name varies fastest
                assignment[name] = values[rest % values.count]
                rest /= values.count
            }
            return assignment
        }
    }

    private func draw(_ parameter: Parameter, _ random: inout SplitMix64) -> JSONValue {
        let u = Double(random.next() >> 11) / Double(1 << 53)
        switch parameter {
        case .value(let v): return v
        case .values(let list): return list[min(list.count - 1, Int(u * Double(list.count)))]
        case .range(let low, let high, let distribution):
            // Rounding (exp of log) may step just outside the range: clamp, so min == max draws exactly min.
            let x: Double
            switch distribution {
            case .uniform: x = low + u * (high - low)
            case .logUniformValues: x = exp(log(low) + u * (log(high) - log(low)))
            case .intUniform: x = (low + (u * (high - low + 1)).rounded(.down))
            }
            return .number(min(high, max(low, x)))
        }
    }

    // MARK: Refining

    /// A narrower spec from the best trials (`top`, each trial's assignment): each range shrunk to
    /// the span of the top trials' values (in log space for log-distributed parameters, which only
    /// matters for the margin a single value gets), each list of values cut to those among the top.
    /// Method, metric, run cap and early stopping stay.
    public func refined(top: [[String: JSONValue]]) -> SweepSpec {
        var out = self
        for (name, parameter) in parameters {
            let seen = top.compactMap { $0[name] }
            guard !seen.isEmpty else { continue }
            switch parameter {
            case .value: continue
            case .values(let list):
                out.parameters[name] = .values(list.filter(seen.contains))
            case .range(let low, let high, let distribution):
                let numbers = seen.compactMap(\.number)
                guard var a = numbers.min(), var b = numbers.max() else { continue }
                if a == b {
                    // One value: keep a tenth of the old range around it, in the distribution's own space.
                    if distribution == .logUniformValues {
                        let margin = (log(high) - log(low)) / 20
                        (a, b) = (max(low, exp(log(a) - margin)), min(high, exp(log(b) + margin)))
                    } else {
                        let margin = (high - low) / 20
                        (a, b) = (max(low, a - margin), min(high, b + margin))
                    }
                }
                if distribution == .intUniform { (a, b) = (a.rounded(.down), b.rounded(.up)) }
                // The refined range never leaves the old one (a top trial's value may come from elsewhere).
                (a, b) = (min(high, max(low, a)), min(high, max(low, b)))
                out.parameters[name] = .range(min: a, max: b, distribution: distribution)
            }
        }
        return out
    }

    /// The spec as a document in the W&B shape (what `sweep refine` writes as YAML).
    public var document: JSONValue {
        var top: [String: JSONValue] = [
            "method": .string(method.rawValue),
            "metric": .object(["name": .string(metric.name), "goal": .string(metric.goal.rawValue)]),
        ]
        if let runCap { top["run_cap"] = .number(Double(runCap)) }
        var params: [String: JSONValue] = [:]
        for (name, parameter) in parameters {
            switch parameter {
            case .value(let v): params[name] = .object(["value": v])
            case .values(let list): params[name] = .object(["values": .array(list)])
            case .range(let low, let high, let distribution):
                params[name] = .object(["min": .number(low), "max": .number(high), "distribution": .string(distribution.rawValue)])
            }
        }
        top["parameters"] = .object(params)
        if let earlyTerminate {
            top["early_terminate"] = .object(["type": .string(earlyTerminate.type), "min_epochs": .number(Double(earlyTerminate.minEpochs))])
        }
        return .object(top)
    }
}

extension JSONValue {
    /// The value as a command-line argument: numbers without a needless `.0`, lists joined by commas.
    public var argument: String {
        switch self {
        case .number(let n): return n == n.rounded() && abs(n) <= SweepSpec.largestExactInteger ? String(Int64(n)) : "\(n)"
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .null: return ""
        case .array(let list): return list.map(\.argument).joined(separator: ",")
        case .object: return (try? JSONEncoder.sorted.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }
}
