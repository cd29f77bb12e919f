import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List training runs; show or compare them.",
        discussion: "Examples: cairn runs   cairn runs show mlp-1a2b3c   cairn runs compare 1a2b 9f8e",
        subcommands: [List.self, Show.self, Compare.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every run, oldest first.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let runs = try training(repository).runs()
            if output.json { return try printJSON(runs) }
            guard !runs.isEmpty else { return say("no runs yet; start one with: cairn train --data v1") }
            var rows = [["ID", "NAME", "STATUS", "DATA", "SNAPSHOT", "MODEL", "VAL ACC", "TEST ACC", "SWEEP", "STARTED"]]
            for r in runs {
                // A sweep's trials name their snapshot by its full id: shown short, as in SNAPSHOT.
                let data = r.dataRef == r.snapshotID ? String(r.dataRef.prefix(12)) : r.dataRef
                rows.append([r.id, r.name, r.isOrphaned ? "died" : r.status.rawValue, data, String(r.snapshotID.prefix(12)),
                             r.model, percent(r.metric("val_accuracy")), percent(r.metric("test_accuracy")), r.sweep.map { "\($0.id) #\($0.trial)" } ?? "-",
                             isoTime(r.startedAt)])
            }
            say(table(rows))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "One run in full: data, parameters, environment, metrics, plots.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "A run id (or 4+ leading characters) or name.", completion: .custom(Completions.runs)) var runID: String

        func run() throws {
            let training = try training(repository)
            let record = training.withPlots(try training.run(runID))
            if output.json { return try printJSON(record) }
            Self.printSummary(record)
        }

        static func printSummary(_ r: RunRecord) {
            say("run \(r.id)  \(Printable.escaped(r.name))  \(r.isOrphaned ? "died (its process is gone; it never finished)" : r.status.rawValue)")
            if let error = r.error { say("  \(error)") }
            if let sweep = r.sweep { say("sweep        \(sweep.id), trial \(sweep.trial) (`cairn sweep show \(sweep.id)`)") }
            say("data         \(r.dataRef) = snapshot \(r.snapshotID)")
            if let program = r.program { return printProgram(r, program) }
            guard let p = r.parameters else { return }
            let hidden = p.hidden.isEmpty || p.model == .softmax ? "" : " hidden \(p.hidden.map(String.init).joined(separator: ","))"
            say("model        \(p.model.rawValue)\(hidden), \(p.epochs) epochs, batch \(p.batch), \(p.optimizer.rawValue) lr \(p.learningRate), "
                + "seed \(p.seed), \(p.width)x\(p.height)x\(p.channels), \(p.threads) threads"
                + (p.limit.map { ", limit \($0)" } ?? "") + (p.overfitBatch ? ", overfit-batch" : ""))
            say("items        \(r.counts.train) train, \(r.counts.val) val, \(r.counts.test) test; \(r.counts.unlabeled) unlabeled left out"
                + (r.counts.conflicts.map { ", \($0) in conflict" } ?? "") + (r.counts.undecodable.map { ", \($0) undecodable" } ?? ""))
            let e = r.environment
            say("environment  cairn \(e.cairnVersion)\(e.sourceCommit.map { " (\($0))" } ?? ""), \(e.os), \(e.cpu) x\(e.cores), \(e.blas), \(e.blasThreads) BLAS threads")
            let seconds = r.endedAt.map { String(format: " (%.1f s)", $0.timeIntervalSince(r.startedAt)) } ?? ""
            say("time         \(isoTime(r.startedAt)) to \(r.endedAt.map(isoTime) ?? "-")\(seconds)")
            if let load = r.loading {
                say(String(format: "loading      %d decoded, %d from cache, %.2f s", load.decoded, load.cached, load.seconds))
            }
            if let check = r.overfitCheck { say("overfit      \(check)") }
            if let last = r.epochs.last {
                say(String(format: "last epoch   %d: train loss %.4f", last.epoch, last.trainLoss)
                    + (last.valLoss.map { String(format: ", val loss %.4f", $0) } ?? ""))
            }
            if let train = r.trainAccuracy {
                var line = "accuracy     train \(percent(train)), val \(percent(r.val?.accuracy)), test \(percent(r.test?.accuracy))"
                if let b = r.baseline { line += "; majority baseline ('\(b.className)') \(percent(b.accuracy))" }
                say(line)
            }
            if let d = r.diagnosis { say("fit          \(d.explanation)") }
            if let test = r.test ?? r.val {
                say(String(format: "%@ macro-F1 %.3f", r.test != nil ? "test" : "val", test.macroF1))
                var rows = [["  CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"]]
                for c in test.perClass {
                    rows.append(["  " + c.name, String(format: "%.3f", c.precision), String(format: "%.3f", c.recall),
                                 String(format: "%.3f", c.f1), "\(c.support)"])
                }
                say(table(rows))
                if !test.confusion.isEmpty && test.perClass.count <= 20 {
                    say("confusion (rows true, columns predicted):")
                    var matrix = [[""] + test.perClass.map(\.name)]
                    for (i, row) in test.confusion.enumerated() { matrix.append([test.perClass[i].name] + row.map(String.init)) }
                    say(table(matrix, indent: "  "))
                } else if let pairs = test.confusedPairs, !pairs.isEmpty {
                    say("most frequent mistakes (\(test.perClass.count) classes; --json has the rest):")
                    say(table([["  TRUE", "PREDICTED", "ITEMS"]] + pairs.prefix(10).map { ["  " + $0.actual, $0.predicted, "\($0.count)"] }))
                }
            }
            if let checkpoint = r.checkpoint { say("checkpoint   \(checkpoint)") }
            for plot in r.plots { say("plot         \(plot)") }
            for ev in r.evaluations {
                say("eval         \(ev.dataRef) = \(ev.snapshotID.prefix(12)) (\(ev.split)): accuracy \(percent(ev.evaluation.accuracy)), "
                    + String(format: "macro-F1 %.3f, %d items", ev.evaluation.macroF1, ev.evaluation.count))
            }
            printBoxes(r)
        }
    }

    /// A run of another program: what ran, where, how it ended, and what it left.
    static func printProgram(_ r: RunRecord, _ p: ProgramRun) {
        say("command      \(p.command.map { Printable.escaped($0) }.joined(separator: " "))")
        if !p.parameters.isEmpty { say("parameters   " + p.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        say("directory    \(Printable.escaped(p.workingDirectory))" + (p.git.map { ", git \($0.commit.prefix(12))\($0.dirty ? " (dirty)" : "")" } ?? ""))
        say("data         \(p.layout.rawValue)" + (p.data.map { " at \(Printable.escaped($0))" } ?? "") + (p.reusedData ? " (reused)" : ""))
        let e = r.environment
        say("environment  cairn \(e.cairnVersion), \(e.os), \(e.host)")
        say("time         \(isoTime(r.startedAt)) to \(r.endedAt.map(isoTime) ?? "-")" + (p.seconds.map { String(format: " (%.1f s)", $0) } ?? ""))
        say("exit         \(p.exitStatus.map(String.init) ?? "-")" + (p.signal.map { " (signal \($0))" } ?? ""))
        if !p.metrics.isEmpty {
            var last: [String: Double] = [:]
            for point in p.metrics { last.merge(point.values) { $1 } }
            say("metrics      \(p.metrics.count) lines; last: " + last.sorted { $0.key < $1.key }.map { "\($0.key) \(formatNumber($0.value))" }
                .joined(separator: ", "))
        }
        for problem in p.metricProblems { say("             \(problem)") }
        if let summary = p.summary {
            say("summary      " + summary.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.text)" }.joined(separator: ", "))
        }
        for artifact in p.artifacts { say("artifact     \(Printable.escaped(artifact.path))  \(formatBytes(artifact.bytes))  \(artifact.blob.prefix(12))") }
        for problem in p.artifactProblems { say("             \(problem)") }
        if let predictions = p.predictions { say("predictions  \(predictions) (`cairn predictions \(r.id)`)") }
        for problem in p.predictionProblems { say("             \(problem)") }
        if let e = p.embeddings { say("embeddings   \(e.rows) items × \(e.dimensions) (`cairn check --data REF --run \(r.id)`, `suspects --run`, `queue uncertain --run`)") }
        for problem in p.embeddingProblems ?? [] { say("             \(problem)") }
        for log in p.logs { say("log          \(log)") }
        for plot in r.plots { say("plot         \(plot)") }
        printBoxes(r)
    }

    /// A run's box predictions and `eval --boxes` results.
    static func printBoxes(_ r: RunRecord) {
        if let b = r.boxPredictions { say("boxes        \(b.boxes) predicted on \(b.items) images (`cairn eval --boxes \(r.id) --data REF`)") }
        for ev in r.boxEvaluations ?? [] {
            let s = ev.evaluation.stats
            say("eval boxes   \(ev.dataRef) = \(ev.snapshotID.prefix(12)) (\(ev.split)): "
                + String(format: "AP %.3f, AP50 %.3f, AP75 %.3f, AR100 %.3f, %d images", s[0], s[1], s[2], s[8], ev.evaluation.images))
        }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compare",
            abstract: "Runs side by side: their data snapshots, the parameters that differ, and metric deltas against the first.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Two or more run ids or names.", completion: .custom(Completions.runs)) var runs: [String]

        func validate() throws {
            guard runs.count >= 2 else { throw ValidationError("give at least two runs to compare") }
        }

        func run() throws {
            let (records, comparison) = try training(repository).compare(runs)
            if output.json { return try printJSON(comparison) }
            var rows = [[""] + records.map { "\($0.id) \($0.name)" }]
            rows.append(["data"] + records.map(\.dataRef))
            rows.append(["snapshot"] + records.map { String($0.snapshotID.prefix(16)) + (($0.snapshotID == records[0].snapshotID) ? "" : " (differs)") })
            rows.append(["status"] + records.map(\.status.rawValue))
            rows.append(["model"] + records.map(\.model))
            for (key, values) in comparison.differingParameters.sorted(by: { $0.key < $1.key }) { rows.append([key] + values) }
            if comparison.differingParameters.isEmpty { rows.append(["parameters", "all equal"]) }
            for metric in comparison.metrics {
                let (base, isRate) = (metric.values[0], metric.isRate)
                rows.append([metric.name] + metric.values.enumerated().map { i, value in
                    guard let v = value else { return "-" }
                    let text = isRate ? String(format: "%.2f%%", v * 100) : String(format: "%.4f", v)
                    guard i > 0, let base else { return text }
                    return text + (isRate ? String(format: " (%+.2f)", (v - base) * 100) : String(format: " (%+.4f)", v - base))
                })
            }
            say(table(rows))
        }
    }
}

/// A number as a run's metrics show it: integers plainly, others with four significant digits.
func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4g", value)
}

extension JSONValue {
    /// The value as `runs show` prints it.
    var text: String {
        switch self {
        case .number(let n): formatNumber(n)
        case .string(let s): Printable.escaped(s)
        case .bool(let b): String(b)
        case .null: "null"
        case .array(let a): "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ") + "}"
        }
    }
}
