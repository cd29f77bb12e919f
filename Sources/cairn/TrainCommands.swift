import ArgumentParser
import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation
import Synchronization

/// Set by the first Ctrl-C or SIGTERM during training: the run stops after the current step.
private let stopRequested = Atomic<Bool>(false)

/// Turns SIGINT and SIGTERM into a request to stop; a second one ends the process at once.
private func installStopHandlers() -> SignalHandlers {
    SignalHandlers([SIGINT, SIGTERM]) { _ in
        if stopRequested.exchange(true, ordering: .relaxed) { Foundation.exit(130) }
        warn("\nstopping after this step (the run is kept as interrupted); press Ctrl-C again to quit at once")
    }
}

func training(_ repository: RepositoryOptions) throws -> Training {
    Training(versioning: Versioning(repository: try repository.open()), cairnVersion: Cairn.version)
}

func percent(_ value: Double?) -> String { value.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a classifier on a pinned snapshot and record the run.",
        discussion: """
            The ref is resolved to a snapshot id and recorded before any data is read. Train, val and test are the \
            snapshot's splits: val is evaluated each epoch, test once at the end. Preprocessed images are cached in \
            .cairn/cache, so a second run on the same data skips decoding. Ctrl-C stops after the current step and \
            keeps the run as interrupted, with a checkpoint. Exit status 2: --overfit-batch could not fit its batch.
            Examples:
              cairn train --data v1
              cairn train --data v1 --model cnn --epochs 20 --name cnn-baseline
              cairn train --data HEAD --overfit-batch
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The data: a tag, snapshot id or HEAD.", completion: .custom(Completions.refs)) var data: String
    @Option(help: "The model family.") var model: ModelKind = .mlp
    @Option(help: "Hidden layer sizes, comma-separated (default: mlp 256; cnn 64, after its convolutions).")
    var hidden: String?
    @Option(parsing: .unconditional, help: "Passes over the training split (default: 30; cnn 20; --overfit-batch 200 steps).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Examples per optimizer step.") var batch = 128
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Float = 3e-4
    @Option(help: "The optimizer (sgd uses momentum 0.9).") var optimizer: OptimizerKind = .adam
    @Option(parsing: .unconditional, help: "Seed for initialization and batch order.") var seed: UInt64 = 0
    @Option(help: "Input size WxH; images are resized to it.") var size = "28x28"
    @Option(parsing: .unconditional, help: "1 (gray) or 3 (RGB).") var channels = 1
    @Option(parsing: .unconditional, help: "OpenBLAS threads (default: all cores).") var threads: Int?
    @Option(parsing: .unconditional, help: "Train on at most N training items.") var limit: Int?
    @Flag(help: "Train on one batch only; the loss must fall near zero, or something is broken.") var overfitBatch = false
    @Option(help: "A name for the run (default: MODEL-ID).") var name: String?

    func parameters() throws -> RunParameters {
        var p = RunParameters(model: model, overfitBatch: overfitBatch)
        if let hidden {
            let sizes = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil }) else { throw ValidationError("--hidden takes sizes like 256 or 256,128") }
            p.hidden = sizes.map { $0! }
        }
        if let epochs { p.epochs = epochs }
        p.batch = batch
        p.learningRate = lr
        p.optimizer = optimizer
        p.seed = seed
        (p.width, p.height) = try RunParameters.size(size)
        p.channels = channels
        p.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        p.limit = limit
        return p
    }

    /// A parameter out of range is a usage error (exit 64): refused before a run is recorded.
    func validate() throws {
        do {
            try parameters().validate()
        } catch let error as TrainingError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let training = try training(repository)
        let parameters = try parameters()
        let tag = try SweepTag.fromEnvironment()
        let prune = try tag.flatMap { try training.medianStopping(for: $0) }
        let signals = installStopHandlers()
        defer { signals.cancel() }
        if tag != nil { OrphanWatch.start() }  // a sweep's trial stops when its sweep dies
        let quiet = output.json
        let bar = ProgressBar("loading")
        let record = try training.train(ref: data, name: name, parameters: parameters, sweep: tag, events: { event in
            guard !quiet else { return }
            switch event {
            case .started(let record):
                say("run \(record.id) (\(record.name)): \(record.model) on \(record.dataRef) = snapshot \(record.snapshotID)")
            case .loading(let done, let total):
                bar.update(done: done, total: total)
            case .loaded(let report, let counts):
                bar.finish()
                say("data: \(counts.train) train, \(counts.val) val, \(counts.test) test; \(counts.unlabeled) unlabeled left out"
                    + (counts.conflicts.map { "; \($0) with conflicting labels left out" } ?? "")
                    + (counts.limitedOut > 0 ? "; \(counts.limitedOut) training items left out by --limit/--overfit-batch" : "")
                    + (counts.notFetched.map { "; \($0) not fetched (partial pull) left out" } ?? "")
                    + (counts.multiLabel.map { "; \($0) multi-label items left out (training takes one class per image)" } ?? "")
                    + (counts.purged.map { "; \($0) purged items left out" } ?? "")
                    + (counts.undecodable.map { "; \($0) undecodable images left out" } ?? ""))
                for item in (report.undecodable ?? []).prefix(10) {
                    warn("left out \(item.path) (\(item.blobID.hex.prefix(12))): it does not decode: \(item.reason)")
                }
                if let more = report.undecodable?.dropFirst(10), !more.isEmpty { warn("… and \(more.count) more; `cairn ls --undecodable` lists them") }
                say(String(format: "loaded %d images (%d decoded, %d from cache) in %.2f s",
                           report.decoded + report.cached, report.decoded, report.cached, report.seconds))
            case .step:
                break
            case .epoch(let m):
                let val = m.valLoss.map { String(format: "  val loss %.4f  val acc %@", $0, percent(m.valAccuracy)) } ?? ""
                if !parameters.overfitBatch || m.epoch % 20 == 0 || m.epoch == parameters.epochs {
                    say(String(format: "epoch %3d/%d  train loss %.4f%@  %.2f s", m.epoch, parameters.epochs, m.trainLoss, val, m.seconds))
                }
            }
        }, shouldStop: { stopRequested.load(ordering: .relaxed) }, prune: { prune?($0) })
        if output.json { try printJSON(record) } else { say(""); RunsCommand.Show.printSummary(record) }
        if record.status == .interrupted { throw ExitCode(130) }
        if record.overfitPassed == false { throw ExitCode(2) }
    }
}

extension ModelKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a run's model on another snapshot (to see distribution shift); kept in the run's record.",
        discussion: """
            --boxes evaluates the run's box predictions (from its predictions file) against the snapshot's resolved \
            boxes as pycocotools' COCOeval does: the 12 numbers of COCOeval.summarize() and AP per class.
            Examples:
              cairn eval mlp-1a2b3c --data v2
              cairn eval 1a2b --data HEAD --split all
              cairn eval --boxes detector-1 --data v3 --split val
            """)
    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "A run id or name.", completion: .custom(Completions.runs)) var runID: String
    @Option(help: "The snapshot to evaluate on: a tag, snapshot id or HEAD.", completion: .custom(Completions.refs)) var data: String
    @Option(help: "train, val, test or all.") var split = "test"
    @Flag(help: "Evaluate box predictions (COCO mAP) instead of classes.") var boxes = false

    func run() throws {
        let chosen: Split?
        if split == "all" { chosen = nil } else {
            guard let s = Split(rawValue: split) else { throw ValidationError("--split must be train, val, test or all") }
            chosen = s
        }
        if boxes { return try evaluateBoxes(chosen) }
        let result = try training(repository).evaluate(run: runID, data: data, split: chosen)
        if output.json { return try printJSON(result) }
        let e = result.evaluation
        say("\(data) = snapshot \(result.snapshotID), \(result.split) split: \(e.count) items")
        say(String(format: "accuracy %@, macro-F1 %.3f, loss %.4f", percent(e.accuracy), e.macroF1, e.loss))
        if result.unknownClass > 0 { say("\(result.unknownClass) items have classes the model does not know; left out") }
        if let multi = result.multiLabel { say("\(multi) multi-label items left out (the model predicts one class per image)") }
        var rows = [["  CLASS", "PRECISION", "RECALL", "F1", "SUPPORT"]]
        for c in e.perClass where c.support > 0 {
            rows.append(["  " + c.name, String(format: "%.3f", c.precision), String(format: "%.3f", c.recall), String(format: "%.3f", c.f1), "\(c.support)"])
        }
        say(table(rows))
    }
}

extension EvalCommand {
    /// `--boxes`: COCO's 12 numbers, as pycocotools prints them, and AP per class.
    func evaluateBoxes(_ split: Split?) throws {
        let result = try training(repository).evaluateBoxes(run: runID, data: data, split: split)
        if output.json { return try printJSON(result) }
        let e = result.evaluation
        say("\(data) = snapshot \(result.snapshotID), \(result.split) split: \(e.images) images, \(e.truthBoxes) boxes, \(e.detections) detections")
        if result.withoutBoxes + result.unresolved > 0 {
            say("left out: \(result.withoutBoxes) items without boxes, \(result.unresolved) whose box sets differ unreviewed")
        }
        if result.notPredicted > 0 { say("\(result.notPredicted) images with boxes have no line in the predictions (counted as nothing found)") }
        let rows: [(String, String, String, String)] = [
            ("Precision", "(AP)", "0.50:0.95", "   all"), ("Precision", "(AP)", "0.50     ", "   all"), ("Precision", "(AP)", "0.75     ", "   all"),
            ("Precision", "(AP)", "0.50:0.95", " small"), ("Precision", "(AP)", "0.50:0.95", "medium"), ("Precision", "(AP)", "0.50:0.95", " large"),
            ("Recall   ", "(AR)", "0.50:0.95", "   all"), ("Recall   ", "(AR)", "0.50:0.95", "   all"), ("Recall   ", "(AR)", "0.50:0.95", "   all"),
            ("Recall   ", "(AR)", "0.50:0.95", " small"), ("Recall   ", "(AR)", "0.50:0.95", "medium"), ("Recall   ", "(AR)", "0.50:0.95", " large"),
        ]
        let maxDets = [100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100]
        for (i, row) in rows.enumerated() {
            let title = ("Average " + row.0.trimmingCharacters(in: .whitespaces)).padding(toLength: 18, withPad: " ", startingAt: 0)
            say(" \(title) \(row.1) @[ IoU=\(row.2) | area=\(row.3) | maxDets=\(String(format: "%3d", maxDets[i])) ] = "
                + String(format: "%.3f", e.stats[i]))
        }
        var rowsPerClass = [["  CLASS", "AP", "AP50", "AP75", "BOXES", "DETECTIONS"]]
        for c in e.perClass where c.truth > 0 || c.detections > 0 {
            func f(_ v: Double) -> String { v < 0 ? "-" : String(format: "%.3f", v) }
            rowsPerClass.append(["  " + Printable.escaped(c.name), f(c.ap), f(c.ap50), f(c.ap75), "\(c.truth)", "\(c.detections)"])
        }
        say(table(rowsPerClass))
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify image files with a run's model.",
        discussion: """
            A directory stands for every .png, .jpg and .jpeg file under it. A file that cannot be read or decoded \
            is reported on stderr and the others are still predicted; the exit status is then 2. With --data, the \
            model's class probabilities for every item of a snapshot (or of one --split) are stored as the run's \
            predictions instead (`cairn predictions RUN` lists them).
            Examples:
              cairn predict mlp-1a2b3c photo1.png photo2.jpg --top 3
              cairn predict cnn-v1 new-photos/
              cairn predict mlp-1a2b3c --data HEAD --split val
            """)
    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "A run id or name.", completion: .custom(Completions.runs)) var runID: String
    @Argument(help: "PNG or JPEG files, or directories of them.") var images: [String] = []
    @Option(parsing: .unconditional, help: "How many classes to list per image.") var top = 3
    @Option(help: "Store predictions for this snapshot's items instead of classifying files.", completion: .custom(Completions.refs))
    var data: String?
    @Option(help: "With --data: only this split (train, val, test).") var split: Split?

    func validate() throws {
        if data != nil && !images.isEmpty { throw ValidationError("give image files or --data, not both") }
        if data == nil && images.isEmpty { throw ValidationError("give at least one image, or --data REF") }
        if split != nil && data == nil { throw ValidationError("--split goes with --data") }
    }

    func run() throws {
        if let data {
            let bar = ProgressBar("loading")
            let count = try training(repository).predict(run: runID, data: data, split: split) { bar.update(done: $0, total: $1) }
            bar.finish()
            if output.json { return try printJSON(["stored": count]) }
            return say("stored \(count) predictions of run \(runID) for \(data)\(split.map { " (\($0))" } ?? ""); `cairn predictions \(runID)` lists them")
        }
        let predictions = try training(repository).predict(run: runID, images: images, top: top)
        if output.json {
            try printJSON(predictions)
        } else {
            for prediction in predictions {
                if let error = prediction.error {
                    warn("cairn: error: \(error)")
                    continue
                }
                say(prediction.path + "  " + prediction.top.map { String(format: "%@ %.1f%%", $0.className, $0.probability * 100) }
                    .joined(separator: "  "))
            }
        }
        if predictions.contains(where: { $0.error != nil }) { throw ExitCode(2) }
    }
}

struct ExportModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-model",
        abstract: "Write a run's model as an ONNX file for Triton, KServe or onnxruntime.",
        discussion: """
            The graph's input is FP32 [N, C, H, W] raw pixel values 0-255 at the run's size (C = 1 gray, 3 RGB), \
            normalized inside the graph with the run's mean and std; its output `probs` is FP32 [N, K] class \
            probabilities in the order of the metadata entry `classes` (JSON). The run and snapshot ids are in the \
            metadata too. Softmax, MLP and CNN runs (Gemm, Conv, Relu, MaxPool, Softmax; IR 8, opset 13).
            Example:
              cairn export-model mlp-1a2b3c --format onnx digits.onnx
            """)

    enum Format: String, ExpressibleByArgument { case onnx }

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "A run id or name.", completion: .custom(Completions.runs)) var runRef: String
    @Option(help: "The file format (onnx).") var format: Format = .onnx
    @Argument(help: "The file to write.", completion: .file()) var file: String

    func run() throws {
        let training = try training(repository)
        let record = try training.run(runRef)
        let model = try training.model(of: record)
        let bytes = OnnxExport.encode(model, record: record)
        try FileOps.writeFile(bytes, to: file)
        if output.json { return try printJSON(["file": file, "run": record.id, "bytes": "\(bytes.count)", "classes": "\(model.classes.count)"]) }
        say("wrote \(file): \(record.model) from run \(record.id), \(model.classes.count) classes, \(formatBytes(Int64(bytes.count)))")
    }
}
