import ArgumentParser
import CairnCatalog
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Dispatch
import Foundation
import Synchronization
import Yams

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Hyper-parameter sweeps, coarse to fine: run one, rank its trials, write a narrower spec from the best.",
        subcommands: [Start.self, Show.self, Refine.self, List.self],
        defaultSubcommand: Start.self)

    /// `cairn sweep --data REF --spec FILE.yaml [-- COMMAND...]`.
    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "start",
            abstract: "Run a sweep: every trial a normal run pinned to the one snapshot REF names.",
            discussion: """
                The spec has the shape of a W&B sweep: method (random or grid), metric {name, goal: minimize|maximize}, \
                run_cap, parameters (each value, values, or min/max with distribution uniform, log_uniform_values or \
                int_uniform) and early_terminate {type: median, min_epochs} for built-in trials. REF is resolved once, \
                before any trial. Without a command, each trial is `cairn train` with the parameters as its options (lr, \
                epochs, batch, hidden, model, optimizer, seed, size, channels, limit) and the metric one of val_accuracy, \
                val_loss, test_accuracy, test_loss, train_accuracy, train_loss. With `-- COMMAND`, each trial is \
                `cairn run` of it: the parameters come in CAIRN_PARAMS and as --key=value arguments, and the metric is \
                the program's summary field or last logged value of that name. --jobs N runs N trials at once, the cores \
                split between them. Ctrl-C stops the running trials (kept as interrupted) and starts no more; a trial \
                still running --stop-grace seconds later gets SIGTERM, and SIGKILL after as long again. A trial whose \
                sweep was killed stops by itself.
                Examples:
                  cairn sweep --data v1 --spec sweep.yaml --jobs 2
                  cairn sweep --data v1 --spec sweep.yaml -- python train.py
                  cairn sweep show 3f2a9c01d2e4
                  cairn sweep refine 3f2a9c01d2e4 --top 0.25 -o fine.yaml
                """)

        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "The snapshot every trial trains on (tag, id, HEAD).", completion: .custom(Completions.refs)) var data: String
        @Option(help: "The sweep spec (YAML).", completion: .file()) var spec: String
        @Option(parsing: .unconditional, help: "Trials run at once (the cores are split between them).") var jobs = 1
        @Option(parsing: .unconditional, help: "Seed for a random sweep's draws.") var seed: UInt64 = 0
        @Option(name: .customLong("stop-grace"), parsing: .unconditional,
                help: "Seconds a stopped trial gets before SIGTERM (and as long again before SIGKILL).") var stopGrace = 10.0
        @Argument(parsing: .postTerminator, help: "A program to run for each trial (after --); default: the built-in trainer.")
        var command: [String] = []

        func validate() throws {
            guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be 1 to 64") }
        }

        func run() throws {
            let training = try training(repository)
            let spec = try readSpec(spec)
            let argumentsOf = try trialArguments(spec)
            let sweep = try training.createSweep(ref: data, spec: spec, command: command.isEmpty ? nil : command, jobs: jobs, seed: seed)
            for trial in sweep.trials { _ = try argumentsOf(trial.parameters) }  // every trial's parameters checked before any runs
            if !output.json {
                warn("sweep \(sweep.id): \(sweep.trials.count) trials of \(command.isEmpty ? "cairn train" : Printable.escaped(command.joined(separator: " "))) "
                     + "on \(sweep.snapshotID.prefix(12)) (\(Printable.escaped(data))), \(jobs) at a time; metric \(spec.metric.name) (\(spec.metric.goal.rawValue))")
            }
            let final = try SweepRunner(training: training, root: training.versioning.repository.root, sweep: sweep, argumentsOf: argumentsOf,
                                        quiet: output.json, stopGrace: stopGrace).run()
            let summary = try training.summary(of: final.id)
            let plot = try? SweepPlots.write(summary, training: training)
            if output.json {
                try printJSON(SweepOutput(sweep: final.id, status: final.status.rawValue, best: summary.best, plot: plot, runs: summary.trials))
            } else {
                Show.print(summary, plot: plot)
            }
            if final.status == .interrupted { throw ExitCode(130) }
        }

        /// The arguments after `--data` for one trial's `cairn train`, or the `-p` and program arguments
        /// for `cairn run`; checked as the trial will read them.
        func trialArguments(_ spec: SweepSpec) throws -> @Sendable ([String: JSONValue]) throws -> [String] {
            if !command.isEmpty {
                if spec.earlyTerminate != nil {
                    throw TrainingError.badSweepSpec("early_terminate applies to built-in trials (a program's epochs are its own); remove it or drop the command")
                }
                let command = self.command
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
            for name in spec.parameters.keys.sorted() where Self.trainOptions[name] == nil {
                throw TrainingError.badSweepSpec("the trainer does not take parameter '\(Printable.escaped(name))' (it takes: "
                                     + Self.trainOptions.keys.sorted().joined(separator: ", ") + ")")
            }
            return { parameters in
                let arguments = parameters.sorted { $0.key < $1.key }.flatMap { [Self.trainOptions[$0.key]!, $0.value.argument] }
                do {
                    let parsed = try TrainCommand.parse(["--data", "x"] + arguments)
                    try parsed.parameters().validate()
                } catch {
                    throw TrainingError.badSweepSpec("a trial's parameters (\(Printable.escaped(arguments.joined(separator: " ")))) are refused: "
                                         + TrainCommand.message(for: error))
                }
                return arguments
            }
        }

        /// Sweep parameter names and the `cairn train` options they set.
        static let trainOptions = [
            "lr": "--lr", "learning_rate": "--lr", "epochs": "--epochs", "batch": "--batch", "batch_size": "--batch",
            "hidden": "--hidden", "model": "--model", "optimizer": "--optimizer", "seed": "--seed", "size": "--size",
            "channels": "--channels", "limit": "--limit",
        ]
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A sweep's trials ranked by its metric, best first, and the parallel-coordinates plot.",
            discussion: "Example: cairn sweep show 3f2a9c01d2e4 --json")

        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The sweep id (or 4+ leading digits of it).") var sweep: String

        func run() throws {
            let training = try training(repository)
            let summary = try training.summary(of: sweep)
            let plot = try? SweepPlots.write(summary, training: training)
            if output.json {
                return try printJSON(SweepOutput(sweep: summary.sweep.id, status: summary.sweep.shownStatus, best: summary.best, plot: plot,
                                                 runs: summary.trials))
            }
            Show.print(summary, plot: plot)
        }

        static func print(_ summary: SweepSummary, plot: String?) {
            let sweep = summary.sweep
            let names = sweep.spec.parameters.keys.sorted()
            say("sweep \(sweep.id) on \(sweep.snapshotID.prefix(12)) (\(sweep.dataRef)): \(sweep.shownStatus), "
                + "metric \(sweep.spec.metric.name) (\(sweep.spec.metric.goal.rawValue))")
            let rows = summary.trials.map { t in
                [String(t.trial), t.run ?? "-", t.status, t.metric.map { String(format: "%.4f", $0) } ?? "-"]
                    + names.map { t.parameters[$0].map { Printable.escaped($0.argument) } ?? "" }
            }
            say(table([["trial", "run", "status", sweep.spec.metric.name] + names] + rows, indent: "  "))
            if let best = summary.best, let trial = summary.trials.first(where: { $0.run == best }) {
                say("best: trial \(trial.trial), run \(best) — "
                    + names.map { "\($0)=\(Printable.escaped(trial.parameters[$0]?.argument ?? ""))" }.joined(separator: " "))
            }
            if let plot { say("parallel coordinates: \(plot)") }
        }
    }

    struct Refine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a narrower spec from a sweep's best trials (the coarse-to-fine step).",
            discussion: """
                Ranges shrink to the span of the top FRACTION of finished trials (in log space for log_uniform_values), \
                value lists to the values among them; method, metric, run_cap and early_terminate stay.
                Example: cairn sweep refine 3f2a9c01d2e4 --top 0.25 -o fine.yaml
                """)

        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "The sweep id.") var sweep: String
        @Option(parsing: .unconditional, help: "The fraction of finished trials to keep, in (0, 1].") var top: Double
        @Option(name: .customShort("o"), help: "Where to write the new spec.", completion: .file()) var outputFile: String

        func validate() throws {
            guard top > 0, top <= 1 else { throw ValidationError("--top must be in (0, 1] (got \(top))") }
        }

        func run() throws {
            let summary = try training(repository).summary(of: sweep)
            let (kept, finished) = summary.topTrials(fraction: top)
            guard finished > 0 else { throw ValidationError("sweep \(summary.sweep.id) has no finished trial with \(summary.sweep.spec.metric.name) yet") }
            let refined = summary.sweep.spec.refined(top: kept.map(\.parameters))
            let yaml = "# refined from sweep \(summary.sweep.id): top \(kept.count) of \(finished) finished trials by "
                + "\(refined.metric.name) (ties at the cut kept)\n" + (try Yams.serialize(node: yamlNode(refined.document), sortKeys: true))
            try FileOps.writeFile(Data(yaml.utf8), to: outputFile)
            say("wrote \(outputFile) from the top \(kept.count) of \(finished) finished trials (ties at the cut kept)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every sweep, oldest first.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let sweeps = try training(repository).sweeps()
            if output.json { return try printJSON(sweeps) }
            if sweeps.isEmpty { return say("no sweeps yet; start one with `cairn sweep --data REF --spec FILE.yaml`") }
            say(table([["sweep", "snapshot", "trials", "status", "metric", "started"]] + sweeps.map {
                [$0.id, String($0.snapshotID.prefix(12)), String($0.trials.count), $0.shownStatus,
                 "\($0.spec.metric.name) (\($0.spec.metric.goal.rawValue))", isoTime($0.createdAt)]
            }))
        }
    }
}

/// What `sweep --json` and `sweep show --json` print.
struct SweepOutput: Encodable {
    var sweep: String
    var status: String
    var best: String?
    var plot: String?
    var runs: [RankedTrial]
}

/// Reads and checks a spec file (YAML, or JSON, which is YAML).
func readSpec(_ path: String) throws -> SweepSpec {
    let text: String
    do {
        text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        let reason = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
        throw TrainingError.badSweepSpec("cannot read \(path): \(reason)")
    }
    guard text.utf8.count <= 1 << 20 else { throw TrainingError.badSweepSpec("\(path) is over 1 MiB") }
    // The parser stays alive while the tree is read: it holds the anchors, which nodes reference
    // weakly, so an anchored node is seen (and refused) before any alias could repeat it.
    let parser: Parser
    let node: Node?
    do {
        parser = try Parser(yaml: text)
        node = try parser.singleRoot()
    } catch {
        // The parser's message then quotes the offending line, which may be the whole file: its first two lines, shortened.
        let message = "\(error)".split(separator: "\n").prefix(2).map { String($0.prefix(200)) }.joined(separator: ": ")
        throw TrainingError.badSweepSpec("\(path) is not valid YAML: \(message)")
    }
    guard let node else { throw TrainingError.badSweepSpec("\(path) is empty") }
    return try withExtendedLifetime(parser) { try SweepSpec.parse(try jsonValue(node, depth: 0)) }
}

/// A YAML node as a JSON value: plain scalars resolve to null, bool, number or string as YAML 1.2's
/// core schema says; quoted ones stay strings.
/// Anchors are refused where they are defined, before any alias repeats them: Yams resolves an alias
/// to the anchored node itself, so a few hundred bytes of nested aliases would expand to gigabytes here.
private func jsonValue(_ node: Node, depth: Int) throws -> JSONValue {
    guard depth < 32 else { throw TrainingError.badSweepSpec("nested too deeply") }
    if node.anchor != nil { throw TrainingError.badSweepSpec("anchors and aliases (&name, *name) are not allowed") }
    switch node {
    case .scalar(let scalar):
        if scalar.style == .plain {
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(Double(i)) }
            if let f = node.float, f.isFinite { return .number(f) }
        }
        return .string(scalar.string)
    case .sequence(let sequence):
        return .array(try sequence.map { try jsonValue($0, depth: depth + 1) })
    case .mapping(let mapping):
        var out: [String: JSONValue] = [:]
        for (key, value) in mapping {
            guard case .scalar(let k) = key else { throw TrainingError.badSweepSpec("a key is not a plain name") }
            if out[k.string] != nil { throw TrainingError.badSweepSpec("key '\(Printable.escaped(k.string))' appears twice") }
            out[k.string] = try jsonValue(value, depth: depth + 1)
        }
        return .object(out)
    case .alias:
        throw TrainingError.badSweepSpec("aliases are not allowed")
    }
}

/// A JSON value as a YAML node (for `sweep refine`).
private func yamlNode(_ value: JSONValue) -> Node {
    switch value {
    case .null: return Node("null", Tag(.null))
    case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
    case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? Node(String(Int64(n)), Tag(.int)) : Node("\(n)", Tag(.float))
    case .string(let s): return Node(s, Tag(.str), .doubleQuoted)
    case .array(let list): return Node(list.map(yamlNode), Tag(.seq), .flow)
    case .object(let object): return Node(object.sorted { $0.key < $1.key }.map { (Node($0.key), yamlNode($0.value)) })
    }
}

/// Runs a sweep's trials as child `cairn train`/`cairn run` processes, `jobs` at a time, each in a
/// process group of its own: Ctrl-C (or SIGTERM) here is passed to the running trials once, which
/// stop and are kept as interrupted, and no further trial starts.
struct SweepRunner: Sendable {
    let training: Training
    let root: String
    let sweep: SweepRecord
    let argumentsOf: @Sendable ([String: JSONValue]) throws -> [String]
    let quiet: Bool
    /// How long a stopped trial gets before SIGTERM, and then before SIGKILL.
    var stopGrace = 10.0

    private static let stop = Atomic<Bool>(false)

    func run() throws -> SweepRecord {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let jobs = min(sweep.jobs, sweep.trials.count)
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / jobs)
        let logs = training.versioning.repository.cairnDirectory + "/sweeps/" + sweep.id
        try FileOps.makeDirectories(logs)
        let state = Mutex<(next: Int, running: [Int: ChildProcess], failure: (any Error)?)>((0, [:], nil))
        let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let first = !Self.stop.exchange(true, ordering: .relaxed)
                if first { warn("\nstopping the sweep: running trials are kept as interrupted, no more start") }
                state.withLock { for child in $0.running.values { child.sendToGroup(SIGINT) } }
                guard first else { return }
                // A trial that ignores SIGINT is not waited for forever: SIGTERM, then SIGKILL.
                for (delay, escalation) in [(stopGrace, SIGTERM), (2 * stopGrace, SIGKILL)] {
                    DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
                        state.withLock { for child in $0.running.values { child.sendToGroup(escalation) } }
                    }
                }
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let total = sweep.trials.count
        let prefix = "sweep-\(sweep.id.prefix(6))"
        let snapshot = sweep.snapshotID
        let isProgram = sweep.command != nil
        DispatchQueue.concurrentPerform(iterations: jobs) { _ in
            while true {
                let claimed: (index: Int, trial: SweepRecord.Trial)? = state.withLock { s in
                    guard !Self.stop.load(ordering: .relaxed), s.failure == nil, s.next < total else { return nil }
                    defer { s.next += 1 }
                    return (s.next, sweep.trials[s.next])
                }
                guard let (index, trial) = claimed else { return }
                let tag = SweepTag(id: sweep.id, trial: trial.number)
                do {
                    let specific = try argumentsOf(trial.parameters)
                    let name = "\(prefix)-\(trial.number)"
                    let argv = [executable, "-C", root] + (isProgram
                        ? ["run", "--data", snapshot, "--name", name] + specific
                        : ["train", "--data", snapshot, "--name", name, "--threads", String(threads), "--json"] + specific)
                    var environment = ProcessInfo.processInfo.environment
                    environment[SweepTag.environmentVariable] = tag.argument
                    for key in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"] { environment[key] = String(threads) }
                    let child = try ChildProcess(argv, environment: environment, ownProcessGroup: true)
                    state.withLock { $0.running[index] = child }
                    if Self.stop.load(ordering: .relaxed) { child.sendToGroup(SIGINT) }  // a stop that came while it started
                    let log = try POSIXFile(path: "\(logs)/trial-\(trial.number).log", flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
                    let ended = child.stream { _, bytes in try? log.writeAll(Data(bytes)) }
                    let run = try training.trialRuns(of: sweep.id)[trial.number]
                    state.withLock { _ = $0.running.removeValue(forKey: index) }
                    let line: String = {
                        let metric = run?.metric(sweep.spec.metric.name).map { String(format: "%@ %.4f", sweep.spec.metric.name, $0) } ?? "no \(sweep.spec.metric.name)"
                        let status = run?.status.rawValue ?? "failed to start (exit status \(ended.status); see \(logs)/trial-\(trial.number).log)"
                        return "trial \(trial.number)/\(total) \(status): \(metric) (\(trial.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.argument)" }.joined(separator: ", ")))"
                            + (run.map { " run \($0.id)" } ?? "")
                    }()
                    if !quiet { warn(Printable.escaped(line)) }
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

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write self-contained HTML reports of runs, sweeps, comparisons or snapshots.",
        discussion: """
            One page per argument, each a single HTML file that needs no network (styles and script inline, plots as \
            SVG, thumbnails as data: URIs): a RUN (id or name) gets its data (snapshot, tags, counts per class and \
            split, what changed since the parent snapshot, label health when computed), parameters, loss and accuracy \
            curves, confusion matrix, per-class precision/recall/F1 worst first and the most confused class pairs with \
            thumbnails of the misclassified test images and who labeled them; a SWEEP id its parallel-coordinates plot \
            and trial table; a snapshot REF its data. Two or more runs also get compare.html: only the parameters that \
            differ, metric deltas, curves overlaid and the data difference between their snapshots. What cannot be \
            shown (a missing checkpoint or image) is named on the page, which still renders.
            Examples:
              cairn report mlp-1a2b3c -o report/
              cairn report 1a2b 9f8e -o compare/
              cairn report 3f2a9c01d2e4 -o sweep/
              cairn report v2 -o data/
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Runs (id or name), sweep ids or snapshot refs.", completion: .custom(Completions.runs)) var targets: [String]
    @Option(name: .customShort("o"), help: "The directory to write the pages into (made if needed).", completion: .directory) var directory: String

    func validate() throws {
        if targets.isEmpty { throw ValidationError("name a run, sweep or snapshot to report on") }
    }

    func run() throws {
        let training = try training(repository)
        try FileOps.makeDirectories(directory)
        var written: [String] = []
        var runFacts: [RunFacts] = []
        func write(_ html: String, _ name: String) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            try FileOps.writeFile(Data(html.utf8), to: path)
            written.append(path)
        }
        for target in targets {
            if let summary = try? training.summary(of: target) {
                try write(ReportHTML.sweepPage(summary), "sweep-\(summary.sweep.id).html")
            } else if let run = try? training.run(target) {
                let facts = try training.runFacts(run)
                runFacts.append(facts)
                try write(ReportHTML.runPage(facts), "run-\(run.id).html")
            } else {
                let snapshot: SnapshotRecord
                do {
                    snapshot = try training.versioning.resolve(target)
                } catch {
                    throw ValidationError("'\(Printable.escaped(target))' is no run, sweep or snapshot here (`cairn runs`, `cairn sweep list`, `cairn log`)")
                }
                try write(ReportHTML.dataPage(try training.dataFacts(snapshot.id)), "snapshot-\(snapshot.id.hex.prefix(12)).html")
            }
        }
        if runFacts.count > 1 {
            let base = runFacts[0].record.snapshotID
            var diffs: [String: SnapshotDiff] = [:]
            for facts in runFacts.dropFirst() where facts.record.snapshotID != base && diffs[facts.record.snapshotID] == nil {
                diffs[facts.record.snapshotID] = try? training.versioning.diff(base, facts.record.snapshotID)
            }
            try write(ReportHTML.comparisonPage(runFacts, diffs: diffs), "compare.html")
        }
        if output.json { return try printJSON(["pages": written]) }
        for path in written { say("wrote \(path)") }
    }
}
