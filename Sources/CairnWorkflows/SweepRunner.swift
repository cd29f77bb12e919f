import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import Dispatch
import Foundation
import Synchronization

/// Runs a sweep's trials as child `cairn train`/`cairn run` processes, `jobs` at a time, each in a
/// process group of its own: Ctrl-C (or SIGTERM) here is passed to the running trials once, which
/// stop and are kept as interrupted, and no further trial starts; a trial still running
/// `stopGrace` seconds later gets SIGTERM, and SIGKILL after as long again. Each trial learns which
/// it is from `CAIRN_SWEEP_TRIAL` in its environment. What happens is told to `events`; the
/// caller decides what to print.
public struct SweepRunner: Sendable {
    public enum Event: Sendable {
        /// The first Ctrl-C or SIGTERM: the running trials are told to stop, no more start.
        case stopping
        /// A trial ended (or never started).
        case trialEnded(TrialOutcome)
    }

    /// How one trial went.
    public struct TrialOutcome: Sendable {
        public var trial: SweepRecord.Trial
        /// Trials in the sweep.
        public var total: Int
        /// The run the trial recorded; nil when it never got that far.
        public var run: RunRecord?
        public var termination: Termination
        /// The trial's output (stdout and stderr).
        public var log: String
    }

    public let training: Training
    public let sweep: SweepRecord
    /// A trial's arguments after `--data` and `--name`: `cairn train` options, or `cairn run`'s
    /// `-p` values and program; checked for every trial before the first starts.
    public let argumentsOf: @Sendable ([String: JSONValue]) throws -> [String]
    /// How long a stopped trial gets before SIGTERM, and then before SIGKILL.
    public var stopGrace: Double
    public let events: @Sendable (Event) -> Void

    /// The cairn to run trials with: this one.
    private var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public init(training: Training, sweep: SweepRecord, argumentsOf: @escaping @Sendable ([String: JSONValue]) throws -> [String],
                stopGrace: Double = 10, events: @escaping @Sendable (Event) -> Void = { _ in }) throws {
        (self.training, self.sweep, self.argumentsOf, self.stopGrace, self.events) = (training, sweep, argumentsOf, stopGrace, events)
        for trial in sweep.trials { _ = try argumentsOf(trial.parameters) }
    }

    private static let stop = Atomic<Bool>(false)

    /// Runs every trial (until a stop), records how the sweep ended and returns its record.
    /// - Throws: the first error that kept a trial from starting (the sweep is recorded as failed).
    public func run() throws -> SweepRecord {
        let repository = training.versioning.repository
        let jobs = min(sweep.jobs, sweep.trials.count)
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / jobs)
        let logs = repository.cairnDirectory + "/sweeps/" + sweep.id
        try FileOps.makeDirectories(logs)
        let state = Mutex<(next: Int, running: [Int: ChildProcess], failure: (any Error)?)>((0, [:], nil))
        let (stopGrace, events) = (self.stopGrace, self.events)
        let signals = SignalHandlers([SIGINT, SIGTERM]) { _ in
            let first = !Self.stop.exchange(true, ordering: .relaxed)
            if first { events(.stopping) }
            state.withLock { for child in $0.running.values { child.sendToGroup(SIGINT) } }
            guard first else { return }
            // A trial that ignores SIGINT is not waited for forever: SIGTERM, then SIGKILL.
            for (delay, escalation) in [(stopGrace, SIGTERM), (2 * stopGrace, SIGKILL)] {
                DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                    state.withLock { for child in $0.running.values { child.sendToGroup(escalation) } }
                }
            }
        }
        defer { signals.cancel() }
        let total = sweep.trials.count
        let prefix = "sweep-\(sweep.id.prefix(6))"
        let (snapshot, root, executable) = (sweep.snapshotID, repository.root, self.executable)
        let isProgram = sweep.command != nil
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while true {
                let claimed: (index: Int, trial: SweepRecord.Trial)? = state.withLock { s in
                    guard !Self.stop.load(ordering: .relaxed), s.failure == nil, s.next < total else { return nil }
                    defer { s.next += 1 }
                    return (s.next, sweep.trials[s.next])
                }
                guard let (index, trial) = claimed else { return }
                do {
                    let specific = try argumentsOf(trial.parameters)
                    let name = "\(prefix)-\(trial.number)"
                    let argv = [executable, "-C", root] + (isProgram
                        ? ["run", "--data", snapshot, "--name", name] + specific
                        : ["train", "--data", snapshot, "--name", name, "--threads", String(threads), "--json"] + specific)
                    var environment = ProcessInfo.processInfo.environment
                    environment[SweepTag.environmentVariable] = SweepTag(id: sweep.id, trial: trial.number).argument
                    for key in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] { environment[key] = String(threads) }
                    let child = try ChildProcess(argv, environment: environment, ownProcessGroup: true)
                    state.withLock { $0.running[index] = child }
                    if Self.stop.load(ordering: .relaxed) { child.sendToGroup(SIGINT) }  // a stop that came while it started
                    let logPath = "\(logs)/trial-\(trial.number).log"
                    let log = try POSIXFile(path: logPath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
                    let ended = child.stream { _, bytes in try? log.writeAll(Data(bytes)) }
                    let run = try training.trialRuns(of: sweep.id)[trial.number]
                    state.withLock { _ = $0.running.removeValue(forKey: index) }
                    events(.trialEnded(TrialOutcome(trial: trial, total: total, run: run, termination: ended, log: logPath)))
                } catch {
                    state.withLock { s in
                        s.running[index] = nil
                        if s.failure == nil { s.failure = error }
                    }
                }
            }
        }
        var record = sweep
        let failure = state.withLock { $0.failure }
        let interrupted = Self.stop.load(ordering: .relaxed)
        record.status = failure != nil ? .failed : interrupted ? .interrupted : .finished
        record.endedAt = Date()
        try training.save(record)
        if let failure { throw failure }
        return record
    }
}

extension SweepRunner {
    /// How one trial is started, from its parameters: the arguments after `--data` of a built-in
    /// trial's `cairn train`, or, with a `command`, the `-p` parameters and the program's arguments
    /// of `cairn run` (each parameter also passed to the program as `--name=value`). The spec is
    /// checked against what its trials can report first.
    /// - Parameter parseTrain: parses a built-in trial's arguments as `cairn train` will, throwing what it refuses.
    /// - Throws: `TrainingError.badSweepSpec` for a metric or parameter the trials do not have, or
    ///   `early_terminate` where no metric comes every epoch; the returned function throws it for
    ///   parameters `parseTrain` refuses.
    public static func trialArguments(_ spec: SweepSpec, command: [String], parseTrain: @escaping @Sendable ([String]) throws -> Void) throws
        -> @Sendable ([String: JSONValue]) throws -> [String] {
        if !command.isEmpty {
            if spec.earlyTerminate != nil {
                throw TrainingError.badSweepSpec("early_terminate applies to built-in trials (a program's epochs are its own); remove it or drop the command")
            }
            return { parameters in
                let sorted = parameters.sorted { $0.key < $1.key }
                return sorted.flatMap { ["-p", "\($0.key)=\($0.value.argument)"] } + ["--"] + command + sorted.map { "--\($0.key)=\($0.value.argument)" }
            }
        }
        guard RunRecord.builtInMetrics.contains(spec.metric.name) else {
            throw TrainingError.badSweepSpec("metric '\(Printable.escaped(spec.metric.name))' is not one a built-in run has ("
                                             + RunRecord.builtInMetrics.joined(separator: ", ") + ")")
        }
        if spec.earlyTerminate != nil, !RunRecord.epochMetrics.contains(spec.metric.name) {
            throw TrainingError.badSweepSpec("early_terminate compares a metric every epoch has (\(RunRecord.epochMetrics.joined(separator: ", "))), "
                                             + "not \(spec.metric.name)")
        }
        for name in spec.parameters.keys.sorted() where trainOptions[name] == nil {
            throw TrainingError.badSweepSpec("the trainer does not take parameter '\(Printable.escaped(name))' (it takes: "
                                             + trainOptions.keys.sorted().joined(separator: ", ") + ")")
        }
        return { parameters in
            let arguments = parameters.sorted { $0.key < $1.key }.flatMap { [trainOptions[$0.key]!, $0.value.argument] }
            do {
                try parseTrain(arguments)
            } catch {
                throw TrainingError.badSweepSpec("a trial's parameters (\(Printable.escaped(arguments.joined(separator: " ")))) are refused: \(error)")
            }
            return arguments
        }
    }

    /// Sweep parameter names (`RunParameters.vocabulary`, less threads: the sweep splits the cores
    /// itself) and the `cairn train` options they set.
    static let trainOptions = Dictionary(uniqueKeysWithValues: RunParameters.vocabulary.filter { $0.name != "threads" }
        .flatMap { entry in ([entry.name] + entry.aliases).map { ($0, entry.option) } })
}
