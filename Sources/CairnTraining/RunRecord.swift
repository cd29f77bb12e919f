import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import Foundation

/// Everything `cairn train` was asked to do.
public struct RunParameters: Sendable, Hashable, Codable {
    public var model: ModelKind = .mlp
    /// Hidden layer sizes (MLP; dense layers after the convolutions for CNN).
    public var hidden: [Int] = [256]
    public var epochs = 30
    public var batch = 128
    public var learningRate: Float = 3e-4
    public var optimizer: OptimizerKind = .adam
    public var seed: UInt64 = 0
    public var width = 28
    public var height = 28
    public var channels = 1
    /// Train on at most this many training items.
    public var limit: Int?
    /// Train on one batch only, to check the model can fit it.
    public var overfitBatch = false
    /// OpenBLAS threads (results are bit-identical only for the same count).
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    public init() {}

    /// The defaults for `model`: MLP 256 hidden units for 30 epochs; CNN a 64-unit dense layer
    /// after its convolutions, 20 epochs; softmax 30 epochs. With `overfitBatch`, 200 steps.
    public init(model: ModelKind, overfitBatch: Bool = false) {
        self.model = model
        hidden = model == .cnn ? [64] : model == .mlp ? [256] : []
        epochs = overfitBatch ? 200 : model == .cnn ? 20 : 30
        self.overfitBatch = overfitBatch
    }

    /// The one vocabulary of a built-in run's parameters: the name a sweep spec, `runs compare` and
    /// report pages use (with the other names a sweep spec may give it), and the `cairn train`
    /// option that sets it, in the order they are shown.
    public static let vocabulary: [(name: String, option: String, aliases: [String])] = [
        ("model", "--model", []), ("hidden", "--hidden", []), ("epochs", "--epochs", []), ("batch", "--batch", ["batch_size"]),
        ("optimizer", "--optimizer", []), ("lr", "--lr", ["learning_rate"]), ("seed", "--seed", []), ("size", "--size", []),
        ("channels", "--channels", []), ("limit", "--limit", []), ("threads", "--threads", []),
    ]

    /// Each parameter by its name in `vocabulary`, as `cairn train` takes its value.
    public var named: [(name: String, value: String)] {
        [("model", model.rawValue), ("hidden", hidden.map(String.init).joined(separator: ",")), ("epochs", "\(epochs)"), ("batch", "\(batch)"),
         ("optimizer", optimizer.rawValue), ("lr", "\(learningRate)"), ("seed", "\(seed)"), ("size", "\(width)x\(height)"),
         ("channels", "\(channels)"), ("limit", limit.map(String.init) ?? "none"), ("threads", "\(threads)")]
    }

    /// `WxH` (`28x28`), each side 1 to 1024: the one reading of every `--size`.
    public static func size(_ text: String) throws(TrainingError) -> (width: Int, height: Int) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let width = parts[0], let height = parts[1], (1...1024).contains(width), (1...1024).contains(height) else {
            throw .badParameter("--size takes WxH from 1x1 to 1024x1024, like 28x28 (got '\(Printable.escaped(text))')")
        }
        return (width, height)
    }

    /// Refuses values that cannot make a sensible run.
    public func validate() throws(TrainingError) {
        guard (1...100_000).contains(epochs) else { throw .badParameter("--epochs must be 1 to 100000 (got \(epochs))") }
        guard (1...65_536).contains(batch) else { throw .badParameter("--batch must be 1 to 65536 (got \(batch))") }
        guard learningRate.isFinite, learningRate > 0, learningRate <= 100 else {
            throw .badParameter("--lr must be a positive number up to 100 (got \(learningRate))")
        }
        guard (1...1024).contains(width), (1...1024).contains(height) else {
            throw .badParameter("--size must be between 1x1 and 1024x1024 (got \(width)x\(height))")
        }
        guard width * height * channels <= 4 * 1024 * 1024 else { throw .badParameter("--size \(width)x\(height) is too large to train on") }
        guard channels == 1 || channels == 3 else { throw .badParameter("--channels must be 1 or 3 (got \(channels))") }
        if model == .cnn, width < 4 || height < 4 { throw .badParameter("the cnn needs images of at least 4x4 (got \(width)x\(height))") }
        guard hidden.allSatisfy({ (1...65_536).contains($0) }), hidden.count <= 8 else {
            throw .badParameter("--hidden takes up to 8 sizes of 1 to 65536 (got \(hidden.map(String.init).joined(separator: ",")))")
        }
        if let limit, limit < 1 { throw .badParameter("--limit must be at least 1 (got \(limit))") }
        guard (1...256).contains(threads) else { throw .badParameter("--threads must be 1 to 256 (got \(threads))") }
    }
}

/// Where a run ran.
public struct RunEnvironment: Sendable, Hashable, Codable {
    public var cairnVersion: String
    /// The git commit cairn was built from, when the build recorded it.
    public var sourceCommit: String?
    public var os: String
    public var cpu: String
    public var cores: Int
    public var blas: String
    public var blasThreads: Int
    public var host: String

    /// This machine, now.
    public static func current(cairnVersion: String, sourceCommit: String?) -> RunEnvironment {
        func firstLine(_ path: String, prefix: String) -> String? {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .map { $0.dropFirst(prefix.count).trimmingCharacters(in: CharacterSet(charactersIn: " :\t\"=")) }
        }
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machine = withUnsafeBytes(of: uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let os = (firstLine("/etc/os-release", prefix: "PRETTY_NAME") ?? ProcessInfo.processInfo.operatingSystemVersionString)
            + " (Linux \(kernel), \(machine))"
        return RunEnvironment(
            cairnVersion: cairnVersion, sourceCommit: sourceCommit, os: os,
            cpu: firstLine("/proc/cpuinfo", prefix: "model name") ?? machine,
            cores: ProcessInfo.processInfo.activeProcessorCount, blas: BLAS.configuration, blasThreads: BLAS.threads,
            host: ProcessInfo.processInfo.hostName)
    }
}

/// Items per split that a run used, and what it left out.
public struct DataCounts: Sendable, Hashable, Codable {
    public var train = 0
    public var val = 0
    public var test = 0
    /// Items nobody labeled, left out (before conflicts were counted apart: unlabeled or in conflict).
    public var unlabeled = 0
    /// Items whose annotators disagree with no verdict, left out (absent when none).
    public var conflicts: Int?
    /// Items whose images do not decode, left out (absent when none; named in `loading`).
    public var undecodable: Int?
    /// Training items left out by --limit or --overfit-batch.
    public var limitedOut = 0
    /// Items whose images a partial pull left on a remote: left out (absent in older records).
    public var notFetched: Int?
    /// Items labeled with a set of classes other than one, left out (absent when none).
    public var multiLabel: Int?
    /// Items whose bytes were purged (`cairn purge`), left out (absent when none).
    public var purged: Int?
}

/// A model evaluated on a (possibly different) snapshot by `cairn eval`.
public struct EvaluationRecord: Sendable, Hashable, Codable {
    public var dataRef: String
    public var snapshotID: String
    public var split: String
    public var at: Date
    public var evaluation: Evaluation
    /// Items whose class the model does not know, left out.
    public var unknownClass: Int
    public var unlabeled: Int
    /// Items labeled with a set of classes other than one, left out (absent when none).
    public var multiLabel: Int?
}

/// The full record of a run — of the built-in trainer (`parameters` and the training fields) or of
/// another program (`program`) — stored as JSON in the catalog's `runs` table.
public struct RunRecord: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// The ref as typed.
    public var dataRef: String
    /// The snapshot the ref resolved to, recorded before any data was read.
    public var snapshotID: String
    /// What the built-in trainer was asked (nil for a run of another program).
    public var parameters: RunParameters?
    /// What `cairn run` ran and collected (nil for a built-in run).
    public var program: ProgramRun?
    public var environment: RunEnvironment
    public var status: RunStatus
    public var startedAt: Date
    public var endedAt: Date?
    /// Why the run failed or was interrupted.
    public var error: String?
    public var pid: Int32
    public var classes: [String] = []
    public var counts = DataCounts()
    public var normalization: Normalization?
    public var loading: LoadReport?
    public var epochs: [EpochMetrics] = []
    public var trainAccuracy: Double?
    public var val: Evaluation?
    public var test: Evaluation?
    public var baseline: Baseline?
    public var diagnosis: FitDiagnosis?
    /// With --overfit-batch: whether the loss reached near zero, in words.
    public var overfitCheck: String?
    public var overfitPassed: Bool?
    public var checkpoint: String?
    /// PNG plots, relative to the repository root.
    public var plots: [String] = []
    public var evaluations: [EvaluationRecord] = []
    /// The sweep this run is a trial of (absent for runs outside sweeps).
    public var sweep: SweepTag?
    /// Box predictions from the predictions file (`importPredictions`), kept as a blob the run holds.
    public var boxPredictions: StoredBoxPredictions?
    /// `cairn eval --boxes` results, oldest first (absent until the first).
    public var boxEvaluations: [BoxEvaluationRecord]?

    var row: Run {
        get throws {
            Run(id: id, name: name, dataRef: dataRef, snapshotID: BlobID(hex: snapshotID)!, model: model,
                status: status, startedAt: startedAt, endedAt: endedAt, checkpointID: checkpoint.flatMap { BlobID(hex: $0) },
                artifactIDs: ((program?.artifacts ?? []).map(\.blob) + [program?.embeddings?.vectors, program?.embeddings?.keys, boxPredictions?.blob].compactMap { $0 })
                    .compactMap { BlobID(hex: $0) },
                record: String(decoding: try Self.encoder.encode(self), as: UTF8.self))
        }
    }

    /// The record stored in `row`.
    public init(_ row: Run) throws {
        self = try decodeRecord(RunRecord.self, row.record, kind: "run", id: row.id)
        // The columns are authoritative for what gc and listing read.
        status = row.status
        checkpoint = row.checkpointID?.hex
    }

    /// What trained: the built-in model's kind, or the program's name.
    public var model: String {
        if let program { return "run:" + ProgramRun.name(of: program.command) }
        return parameters?.model.rawValue ?? "?"
    }

    init(id: String, name: String, dataRef: String, snapshotID: String, parameters: RunParameters?, environment: RunEnvironment) {
        self.id = id
        self.name = name
        self.dataRef = dataRef
        self.snapshotID = snapshotID
        self.parameters = parameters
        self.environment = environment
        self.status = .running
        self.startedAt = Date()
        self.pid = getpid()
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// A run still marked running whose process is gone (killed): it will never finish.
    public var isOrphaned: Bool {
        status == .running && environment.host == ProcessInfo.processInfo.hostName && kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// A record the catalog keeps as JSON, decoded. - Throws: `TrainingError.damagedRecord`.
func decodeRecord<T: Decodable>(_ type: T.Type, _ json: String, kind: String, id: String) throws(TrainingError) -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(json.utf8))
    } catch {
        throw .damagedRecord(kind: kind, id: id)
    }
}
