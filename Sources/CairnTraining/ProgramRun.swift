import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnVersioning
import Foundation

/// A JSON value as a program wrote it (`summary.json`), kept exactly.
public enum JSONValue: Sendable, Hashable, Codable {
    case number(Double), string(String), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null
        } else if let b = try? c.decode(Bool.self) { self = .bool(b)
        } else if let n = try? c.decode(Double.self) { self = .number(n)
        } else if let s = try? c.decode(String.self) { self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) { self = .array(a)
        } else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The number, when this is one.
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
}

/// One line of `metrics.jsonl`: where in training (a step, an epoch, or both) and the numbers.
public struct MetricPoint: Sendable, Hashable, Codable {
    public var step: Int?
    public var epoch: Int?
    public var values: [String: Double]
}

/// A file the program left under `$CAIRN_RUN_DIR/artifacts/`, kept as a blob.
public struct Artifact: Sendable, Hashable, Codable {
    /// Relative to `artifacts/`.
    public var path: String
    public var blob: String
    public var bytes: Int64
}

/// The git state of the directory a program ran in.
public struct GitState: Sendable, Hashable, Codable {
    public var commit: String
    /// True when tracked files differed from the commit.
    public var dirty: Bool
}

/// What `cairn run` recorded about a program it ran against a snapshot.
public struct ProgramRun: Sendable, Hashable, Codable {
    /// argv, as given after `--`.
    public var command: [String]
    /// The `-p KEY=VALUE` values (`CAIRN_PARAMS`).
    public var parameters: [String: String]
    public var workingDirectory: String
    public var git: GitState?
    public var layout: MaterializeLayout
    /// `CAIRN_DATA`.
    public var data: String?
    /// Whether the materialization of an earlier run was reused.
    public var reusedData = false
    /// The program's exit status (128 + signal when a signal ended it); nil while it runs.
    public var exitStatus: Int32?
    /// The signal that ended it, if one did.
    public var signal: Int32?
    public var seconds: Double?
    public var metrics: [MetricPoint] = []
    /// Lines of `metrics.jsonl` that could not be read, with their line numbers.
    public var metricProblems: [String] = []
    public var summary: [String: JSONValue]?
    public var artifacts: [Artifact] = []
    /// Artifacts refused (a link out of the run directory, say), with why.
    public var artifactProblems: [String] = []
    /// Predictions stored from `predictions.jsonl`, or why none were.
    public var predictions: Int?
    public var predictionProblems: [String] = []
    /// Per-item embeddings stored from `embeddings.npy` (with `embeddings.keys.txt`), or why none were.
    public var embeddings: StoredEmbeddings?
    public var embeddingProblems: [String]?
    /// stdout and stderr as kept, relative to the repository root.
    public var logs: [String] = []

    /// What to call the program: the script or module an interpreter or launcher was given
    /// (`python3 train.py` is `train.py`, `python -m trainer` is `trainer`), else the command's name.
    public static func name(of command: [String]) -> String {
        guard let first = command.first else { return "?" }
        let base = (first as NSString).lastPathComponent
        let launchers = ["python", "python3", "sh", "bash", "zsh", "node", "ruby", "perl", "Rscript", "julia", "torchrun", "accelerate",
                         "deepspeed"]
        guard launchers.contains(where: { base == $0 || (base.hasPrefix("python3.") && $0 == "python3") }) else { return base }
        var arguments = command.dropFirst().makeIterator()
        while let argument = arguments.next() {
            if argument == "-m", let module = arguments.next() { return module }
            if argument == "-c" { return base }
            if !argument.hasPrefix("-") { return (argument as NSString).lastPathComponent }
        }
        return base
    }

    /// The figures `runs compare` sets side by side: the summary's numbers, and each metric's last value.
    public var figures: [String: Double] {
        var out: [String: Double] = [:]
        for point in metrics { for (key, value) in point.values { out["last " + key] = value } }
        for (key, value) in summary ?? [:] { if let n = value.number { out[key] = n } }
        return out
    }

    /// Reads `metrics.jsonl`: one JSON object a line, with an optional integer `step` and `epoch`
    /// and any numeric fields (others are ignored). A line that is not such an object is reported
    /// with its number; the rest are kept.
    static func readMetrics(_ text: String) -> (points: [MetricPoint], problems: [String]) {
        var points: [MetricPoint] = [], problems = ProblemList()
        var values = 0
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(trimmed.utf8)) else {
                problems.add("metrics.jsonl line \(i + 1): not a JSON object")
                continue
            }
            var point = MetricPoint(step: nil, epoch: nil, values: [:])
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                guard let number = value.number, number.isFinite else {
                    problems.add("metrics.jsonl line \(i + 1): '\(Printable.escaped(String(key.prefix(60))))' is not a finite number; left out")
                    continue
                }
                switch key {
                case "step": point.step = Int(exactly: number.rounded()) ?? nil
                case "epoch": point.epoch = Int(exactly: number.rounded()) ?? nil
                default:
                    guard point.values.count < Self.maxMetricsPerLine, key.utf8.count <= 200 else {
                        problems.add("metrics.jsonl line \(i + 1): more than \(Self.maxMetricsPerLine) metrics or a name over 200 bytes; the rest left out")
                        continue
                    }
                    point.values[key] = number
                }
            }
            if points.count >= Self.maxMetricLines || values + point.values.count > Self.maxMetricValues {
                problems.add("metrics.jsonl is larger than a run record keeps (\(Self.maxMetricLines) lines, \(Self.maxMetricValues) values); "
                             + "the first \(points.count) lines are kept")
                break
            }
            values += point.values.count
            points.append(point)
        }
        return (points, problems.lines)
    }

    /// Most lines, values and metrics per line a run record keeps from metrics.jsonl.
    static let maxMetricLines = 100_000, maxMetricValues = 400_000, maxMetricsPerLine = 64
}

/// Problems found reading a program's files: the first few said in full, the rest counted, so a
/// million bad lines give a short list, not a million warnings.
struct ProblemList {
    private(set) var shown: [String] = []
    private var more = 0
    static let limit = 20

    mutating func add(_ problem: String) {
        if shown.count < Self.limit { shown.append(problem) } else { more += 1 }
    }

    var lines: [String] { shown + (more > 0 ? ["… and \(more) more problems like these"] : []) }

    /// How many problems were added.
    var count: Int { shown.count + more }
}

extension RunRecord {
    /// Whether this is a run of another program (`cairn run`) rather than of the built-in trainer.
    public var isProgram: Bool { program != nil }
}
