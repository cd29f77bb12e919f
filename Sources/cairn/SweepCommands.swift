import ArgumentParser
import CairnCatalog
import CairnModels
import CairnReports
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import CairnWorkflows
import Foundation

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
            let spec = try SweepSpecFile.read(spec)
            let argumentsOf = try trialArguments(spec)
            let sweep = try training.createSweep(ref: data, spec: spec, command: command.isEmpty ? nil : command, jobs: jobs, seed: seed)
            let quiet = output.json
            let runner = try SweepRunner(training: training, sweep: sweep, argumentsOf: argumentsOf, stopGrace: stopGrace) { event in
                if !quiet { warn(Self.line(event, metric: spec.metric.name)) }
            }
            if !output.json {
                warn("sweep \(sweep.id): \(sweep.trials.count) trials of \(command.isEmpty ? "cairn train" : Printable.escaped(command.joined(separator: " "))) "
                     + "on \(sweep.snapshotID.prefix(12)) (\(Printable.escaped(data))), \(jobs) at a time; metric \(spec.metric.name) (\(spec.metric.goal.rawValue))")
            }
            let final = try runner.run()
            let summary = try training.summary(of: final.id)
            let plot = try? SweepPlots.write(summary, training: training)
            if output.json {
                try printJSON(SweepOutput(sweep: final.id, status: final.status.rawValue, best: summary.best, plot: plot, runs: summary.trials))
            } else {
                Show.print(summary, plot: plot)
            }
            if final.status == .interrupted { throw ExitCode(130) }
        }

        /// What the sweep prints as `event` happens.
        static func line(_ event: SweepRunner.Event, metric: String) -> String {
            switch event {
            case .stopping:
                return "\nstopping the sweep: running trials are kept as interrupted, no more start"
            case .trialEnded(let outcome):
                let value = outcome.run?.metric(metric).map { String(format: "%@ %.4f", metric, $0) } ?? "no \(metric)"
                let status = outcome.run?.status.rawValue ?? "failed to start (exit status \(outcome.termination.status); see \(outcome.log))"
                let parameters = outcome.trial.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.argument)" }.joined(separator: ", ")
                return Printable.escaped("trial \(outcome.trial.number)/\(outcome.total) \(status): \(value) (\(parameters))"
                                         + (outcome.run.map { " run \($0.id)" } ?? ""))
            }
        }

        /// `SweepRunner.trialArguments`, with built-in trials' arguments parsed as `cairn train` parses them.
        func trialArguments(_ spec: SweepSpec) throws -> @Sendable ([String: JSONValue]) throws -> [String] {
            try SweepRunner.trialArguments(spec, command: command) { arguments in
                do {
                    try TrainCommand.parse(["--data", "x"] + arguments).parameters().validate()
                } catch {
                    throw ValidationError(TrainCommand.message(for: error))
                }
            }
        }
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
            let yaml = try SweepSpecFile.yaml(refined, header: "refined from sweep \(summary.sweep.id): top \(kept.count) of \(finished) finished trials by "
                                              + "\(refined.metric.name) (ties at the cut kept)")
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
        let written = try ReportPages.write(targets, to: directory, training: try training(repository))
        if output.json { return try printJSON(["pages": written]) }
        for path in written { say("wrote \(path)") }
    }
}
