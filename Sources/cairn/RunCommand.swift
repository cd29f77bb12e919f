import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

extension MaterializeLayout: ExpressibleByArgument {}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run your own training program against a snapshot, as a run pinned to it.",
        discussion: """
            The run is recorded with the snapshot id REF resolves to before anything starts. The snapshot is \
            materialized once per layout in your private cache (.cairn/cache/UID/materialized/, read-only) and \
            reused by later runs while intact (an edited, added or deleted file there gets it rebuilt). The \
            program gets CAIRN_RUN_ID, CAIRN_SNAPSHOT, CAIRN_DATA, CAIRN_CLASSES, CAIRN_MANIFEST, CAIRN_RUN_DIR \
            and CAIRN_PARAMS (and CAIRN_SHARDS_TRAIN/VAL/TEST with --materialize webdataset); what it appends to $CAIRN_RUN_DIR/metrics.jsonl, writes to summary.json, predictions.jsonl and under artifacts/ \
            is kept with the run (Docs/TRAINING.md, "Training with your own code"). Its output is shown and kept \
            in the run directory. Ctrl-C reaches the program and the run is kept as interrupted; cairn exits with \
            the program's status (127 when the command does not exist).
            Examples:
              cairn run --data v1 -- python train.py --epochs 10
              cairn run --data v1 -p lr=0.01 -p depth=18 --name resnet-a -- python train.py
              cairn run --data v2 --materialize webdataset -- python train_wds.py
            """)

    @OptionGroup var repository: RepositoryOptions
    @Option(help: "The snapshot to run against (tag, id, HEAD).", completion: .custom(Completions.refs)) var data: String
    @Option(help: "A name for the run (default: the program's name and the run id).") var name: String?
    @Option(name: .customShort("p"), help: "A parameter KEY=VALUE for the program (in CAIRN_PARAMS); repeatable.") var parameters: [String] = []
    @Option(help: "How the data is laid out: imagefolder, webdataset, yolo, coco or none.") var materialize: MaterializeLayout = .imagefolder
    @Argument(parsing: .postTerminator, help: "The program and its arguments, after --.") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the program to run after --, e.g. cairn run --data v1 -- python train.py") }
        for p in parameters where !p.contains("=") || p.hasPrefix("=") {
            throw ValidationError("-p takes KEY=VALUE (got '\(p)')")
        }
    }

    func run() throws {
        var values: [String: String] = [:]
        for p in parameters {
            let (key, value) = p.split(separator: "=", maxSplits: 1).map(String.init).pair
            values[key] = value
        }
        var options = ProgramOptions(dataRef: data, name: name, parameters: values, layout: materialize, command: command)
        options.sweep = try SweepTag.fromEnvironment()
        if options.sweep != nil { OrphanWatch.start() }  // a sweep's trial stops when its sweep dies
        let bar = ProgressBar("materializing")
        let (record, ended) = try training(repository).runProgram(options) { event in
            switch event {
            case .recorded(let record):
                warn("run \(record.id) (\(Printable.escaped(record.name))) on \(record.snapshotID.prefix(12)) (\(Printable.escaped(data)))")
            case .materializing(let done, let total):
                bar.update(done: done, total: total)
            case .starting(let materialization, _):
                bar.finish()
                warn("data: \(materialization.directory ?? materialization.manifest) (\(materialization.layout.rawValue)"
                     + (materialization.reused ? ", reused)" : String(format: ", made in %.1f s)", materialization.seconds)))
            case .output(let stream, let bytes):
                (stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError).write(Data(bytes))
            }
        }
        report(record)
        if ended.status != 0 { throw ExitCode(ended.status) }
    }

    private func report(_ record: RunRecord) {
        guard let program = record.program else { return }
        for problem in program.metricProblems + program.artifactProblems + program.predictionProblems
                                 + (program.embeddingProblems ?? []) { warn("cairn: warning: \(problem)") }
        var parts = ["run \(record.id) \(record.status.rawValue)", "exit \(program.exitStatus ?? -1)",
                     String(format: "%.1f s", program.seconds ?? 0)]
        if !program.metrics.isEmpty { parts.append("\(program.metrics.count) metric lines") }
        if !program.artifacts.isEmpty { parts.append("\(program.artifacts.count) artifacts") }
        if let predictions = program.predictions { parts.append("\(predictions) predictions") }
        if let embeddings = program.embeddings { parts.append("\(embeddings.rows) embeddings of \(embeddings.dimensions)") }
        warn(parts.joined(separator: ", ") + "; `cairn runs show \(record.id)` for more")
    }
}

extension Array where Element == String {
    /// The first two elements (the second empty when missing).
    fileprivate var pair: (String, String) { (first ?? "", count > 1 ? self[1] : "") }
}

struct PredictionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predictions", abstract: "List or import a run's stored predictions (class probabilities per item).",
        discussion: """
            Predictions are a model's class probabilities for items, kept per run; they are never labels. \
            `cairn predict RUN --data REF` stores the built-in model's; a `cairn run` program's \
            $CAIRN_RUN_DIR/predictions.jsonl is stored when it ends.
            Examples:
              cairn predictions mlp-1a2b3c
              cairn predictions import resnet-a preds.jsonl
            """,
        subcommands: [Show.self, Import.self], defaultSubcommand: Show.self)

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "A run's predictions: item, most probable class, confidence.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "A run id or name.", completion: .custom(Completions.runs)) var runID: String

        func run() throws {
            let (record, listings) = try training(repository).predictions(run: runID)
            if output.json {
                struct Out: Encodable { var run: String; var classes: [String]; var predictions: [PredictionListing] }
                return try printJSON(Out(run: record.id, classes: record.classes, predictions: listings))
            }
            if listings.isEmpty { return say("run \(record.id) has no predictions; `cairn predict \(record.id) --data REF` makes some") }
            say(table([["BLOB", "PREDICTED", "CONFIDENCE", "PATH"]] + listings.map {
                [String($0.blobID.prefix(12)), $0.predicted, String(format: "%.1f%%", $0.confidence * 100), $0.path]
            }))
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import", abstract: "Store a predictions file as a run's predictions (replacing its earlier ones).",
            discussion: """
                One JSON object a line: {"blob_id": ID, "probs": [p0, p1, …]} (or "path": the imported path or a \
                file named by the blob id), probabilities in the order of the run's classes. Every line is checked \
                first; any problem stores nothing.
                Example: cairn predictions import resnet-a preds.jsonl
                """)
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "A run id or name.", completion: .custom(Completions.runs)) var runID: String
        @Argument(help: "The predictions file.", completion: .file()) var file: String

        func run() throws {
            let count = try training(repository).importPredictions(run: runID, file: file)
            say("stored \(count) predictions for run \(runID)")
        }
    }
}
