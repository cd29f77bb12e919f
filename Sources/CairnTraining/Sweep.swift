import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import Foundation

/// What makes a run a sweep trial: the sweep's id and the trial's number (from 1).
public struct SweepTag: Sendable, Hashable, Codable {
    public var id: String
    public var trial: Int

    public init(id: String, trial: Int) { (self.id, self.trial) = (id, trial) }

    /// The variable `cairn sweep` sets for each trial's `cairn train` or `cairn run`: the contract
    /// between a sweep and its trials (not a command-line flag a user could pass).
    public static let environmentVariable = "CAIRN_SWEEP_TRIAL"

    /// The trial this process runs, from `CAIRN_SWEEP_TRIAL` (`runProgram` leaves it out of the
    /// program's environment, so a program the trial starts is not taken for a trial too). Nil when unset.
    /// - Throws: `TrainingError.badParameter` when it is set but not `SWEEP_ID:TRIAL`.
    public static func fromEnvironment() throws(TrainingError) -> SweepTag? {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable] else { return nil }
        guard let tag = SweepTag(argument: value) else {
            throw .badParameter("\(environmentVariable) must be SWEEP_ID:TRIAL, as cairn sweep sets it (got '\(Printable.escaped(value))')")
        }
        return tag
    }

    /// "ID:N", as `CAIRN_SWEEP_TRIAL` holds it.
    public init?(argument: String) {
        let parts = argument.split(separator: ":")
        guard parts.count == 2, parts[0].count == 12, parts[0].allSatisfy(\.isHexDigit), let n = Int(parts[1]), n >= 1 else { return nil }
        (id, trial) = (String(parts[0]), n)
    }

    public var argument: String { "\(id):\(trial)" }
}

/// A sweep as recorded in the catalog's `sweeps` table: the spec, how trials run, each planned
/// trial's parameters, and how the sweep ended. The trials themselves are runs tagged with the sweep
/// (`Training.trialRuns`); which trial has which run, and which never started, is read from them.
public struct SweepRecord: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case running, finished, interrupted, failed }

    public struct Trial: Sendable, Hashable, Codable {
        public var number: Int
        public var parameters: [String: JSONValue]
    }

    public var id: String
    public var dataRef: String
    public var snapshotID: String
    public var spec: SweepSpec
    /// The program each trial runs (`cairn run`), or nil for built-in `train` runs.
    public var command: [String]?
    public var jobs: Int
    public var seed: UInt64
    public var trials: [Trial]
    public var status: Status
    public var createdAt: Date
    public var endedAt: Date?
    public var pid: Int32
    public var host: String

    /// A sweep still marked running whose process is gone (killed): it will start no more trials.
    public var isOrphaned: Bool {
        status == .running && host == ProcessInfo.processInfo.hostName && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// The status as commands show it: `died` for an orphaned sweep.
    public var shownStatus: String { isOrphaned ? "died" : status.rawValue }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    var json: String { String(decoding: (try? Self.encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self) }
}

/// A trial as `sweep show` ranks it: the run, its parameters and its value of the sweep's metric.
public struct RankedTrial: Sendable, Codable {
    public var trial: Int
    public var run: String?
    public var name: String?
    public var status: String
    public var parameters: [String: JSONValue]
    public var metric: Double?
    public var epochs: Int?
}

/// `sweep show`: the sweep and its trials, best first.
public struct SweepSummary: Sendable, Codable {
    public var sweep: SweepRecord
    public var trials: [RankedTrial]
    /// The best trial's run (nil while no trial has the metric).
    public var best: String?
}

extension SweepSummary {
    /// The best `fraction` of the finished trials that have the metric (at least one), best first,
    /// and how many finished trials there were. Trials tied with the last one kept are kept too, so
    /// which trials a cut keeps never depends on the order of ties.
    public func topTrials(fraction: Double) -> (kept: [RankedTrial], finished: Int) {
        let finished = trials.filter { $0.metric != nil && $0.status == RunStatus.finished.rawValue }
        let count = max(1, Int((Double(finished.count) * fraction).rounded(.up)))
        guard count < finished.count, let cut = finished[count - 1].metric else { return (finished, finished.count) }
        return (finished.prefix(count) + finished.dropFirst(count).prefix { $0.metric == cut }, finished.count)
    }
}

extension RunRecord {
    /// The value of metric `name` this run reached: for built-in runs `val_accuracy`, `val_loss`,
    /// `test_accuracy`, `test_loss`, `train_accuracy` or `train_loss` (last epoch); for a program's
    /// run, its summary's field, else the last value it logged under that name.
    public func metric(_ name: String) -> Double? {
        if let program {
            if let value = program.summary?[name]?.number { return value }
            return program.metrics.last { $0.values[name] != nil }?.values[name]
        }
        switch name {
        case "val_accuracy": return val?.accuracy
        case "val_loss": return val?.loss
        case "test_accuracy": return test?.accuracy
        case "test_loss": return test?.loss
        case "train_accuracy": return trainAccuracy
        case "train_loss": return epochs.last?.trainLoss
        default: return nil
        }
    }

    /// The metrics a built-in run has at every epoch (what early stopping compares).
    public static let epochMetrics = ["val_accuracy", "val_loss", "train_loss"]
    /// Every metric a built-in run has.
    public static let builtInMetrics = ["val_accuracy", "val_loss", "test_accuracy", "test_loss", "train_accuracy", "train_loss"]
}

extension EpochMetrics {
    /// Metric `name` at this epoch (`val_accuracy`, `val_loss` or `train_loss`).
    public func metric(_ name: String) -> Double? {
        switch name {
        case "val_accuracy": valAccuracy
        case "val_loss": valLoss
        case "train_loss": trainLoss
        default: nil
        }
    }
}

extension SweepSpec.Goal {
    /// Whether `a` is better than `b` under this goal.
    public func prefers(_ a: Double, over b: Double) -> Bool { self == .maximize ? a > b : a < b }
}

extension Training {
    /// Records a sweep of `spec` on the snapshot `ref` names (resolved now, once, before any trial)
    /// with its planned trials.
    /// - Throws: a bad ref, or `TrainingError.badSweepSpec` for a spec that gives no trial.
    public func createSweep(ref: String, spec: SweepSpec, command: [String]?, jobs: Int, seed: UInt64) throws -> SweepRecord {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        let snapshot = try versioning.resolve(ref)
        let trials = try spec.trials(seed: seed).enumerated().map { SweepRecord.Trial(number: $0 + 1, parameters: $1) }
        if trials.isEmpty { throw TrainingError.badSweepSpec("it gives no trial") }
        let id = newRunID(snapshot.id)
        let record = SweepRecord(id: id, dataRef: ref, snapshotID: snapshot.id.hex, spec: spec, command: command, jobs: jobs, seed: seed,
                                 trials: trials, status: .running, createdAt: Date(), pid: getpid(), host: ProcessInfo.processInfo.hostName)
        try catalog.write { try $0.insertSweep(SweepRow(id: id, dataRef: ref, snapshotID: snapshot.id, createdAt: record.createdAt, record: record.json)) }
        return record
    }

    /// Saves a sweep's record (trial runs, status).
    public func save(_ sweep: SweepRecord) throws { try catalog.write { try $0.updateSweep(id: sweep.id, record: sweep.json) } }

    /// The sweep whose id starts with `ref`.
    public func sweep(_ ref: String) throws -> SweepRecord {
        let row = try catalog.read { try $0.sweep(matching: ref) }
        return try decodeRecord(SweepRecord.self, row.record, kind: "sweep", id: row.id)
    }

    /// Every sweep, oldest first.
    public func sweeps() throws -> [SweepRecord] {
        try catalog.read { try $0.sweeps() }.map { try decodeRecord(SweepRecord.self, $0.record, kind: "sweep", id: $0.id) }
    }

    /// The runs that are trials of sweep `id`, by trial number (the latest run of a number).
    public func trialRuns(of id: String) throws -> [Int: RunRecord] {
        var out: [Int: RunRecord] = [:]
        for row in try catalog.read({ try $0.runs(inSweep: id) }) {
            let run = try RunRecord(row)
            if let tag = run.sweep, tag.id == id { out[tag.trial] = run }
        }
        return out
    }

    /// The sweep and its trials ranked by its metric (best first; trials without it last, by number).
    public func summary(of ref: String) throws -> SweepSummary {
        let sweep = try self.sweep(ref)
        let runs = try trialRuns(of: sweep.id)
        let goal = sweep.spec.metric.goal
        let starting = sweep.status == .running && !sweep.isOrphaned  // trials without a run may still start
        var ranked = sweep.trials.map { trial -> RankedTrial in
            let run = runs[trial.number]
            let status = run.map { $0.isOrphaned ? "died" : $0.status.rawValue } ?? (starting ? "pending" : "not started")
            return RankedTrial(trial: trial.number, run: run?.id, name: run?.name, status: status, parameters: trial.parameters,
                               metric: run?.metric(sweep.spec.metric.name), epochs: run.map { $0.isProgram ? nil : $0.epochs.count } ?? nil)
        }
        ranked.sort { a, b in
            switch (a.metric, b.metric) {
            case let (x?, y?) where x != y: return goal.prefers(x, over: y)
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.trial < b.trial
            }
        }
        // Pruned trials stopped early: their metric is not comparable with finished ones'; the best is a finished trial.
        let best = ranked.first { $0.metric != nil && $0.status == RunStatus.finished.rawValue }?.run
        return SweepSummary(sweep: sweep, trials: ranked, best: best)
    }

    /// The median stopping rule for trial `tag` of its sweep: after each epoch from the spec's
    /// `min_epochs`, the trial's metric is compared with the median of the same epoch's values of the
    /// sweep's trials that have ended (finished or pruned) with that epoch recorded; worse than the
    /// median of at least two of them, it is pruned. Nil when the sweep has no early stopping.
    public func medianStopping(for tag: SweepTag) throws -> ((EpochMetrics) -> String?)? {
        let sweep = try self.sweep(tag.id)
        guard let rule = sweep.spec.earlyTerminate else { return nil }
        let metric = sweep.spec.metric
        guard RunRecord.epochMetrics.contains(metric.name) else { return nil }
        return { epoch in
            guard epoch.epoch >= rule.minEpochs, let mine = epoch.metric(metric.name) else { return nil }
            let others = ((try? self.trialRuns(of: tag.id)) ?? [:]).values
                .filter { $0.sweep?.trial != tag.trial && ($0.status == .finished || $0.status == .pruned) }
                .compactMap { run in run.epochs.first { $0.epoch == epoch.epoch }?.metric(metric.name) }
                .sorted()
            guard others.count >= 2 else { return nil }
            let median = others.count % 2 == 1 ? others[others.count / 2] : (others[others.count / 2 - 1] + others[others.count / 2]) / 2
            guard metric.goal.prefers(median, over: mine) else { return nil }
            return String(format: "pruned after epoch %d: %@ %.4f is worse than the median %.4f of %d earlier trials at that epoch",
                          epoch.epoch, metric.name, mine, median, others.count)
        }
    }
}
