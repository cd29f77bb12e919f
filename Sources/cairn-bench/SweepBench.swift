import ArgumentParser
import Foundation
import Glibc

/// A sweep of 16 MLP trials with `--jobs 2` beside the same 16 trials run one after another with
/// one BLAS thread each (the parallelism a sweep should not lose), and the time to write a run's
/// report and to render it in headless Chromium.
struct SweepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Time a 16-trial MLP grid with --jobs 2 against the same trials sequentially (1 thread each), then `cairn report`.")

    @Argument(help: "A directory of images in class folders (sample-data/digits).") var dataset: String
    @Option(help: "Epochs per trial.") var epochs = 20
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let (base, repo) = try scratchRepository("sweep", dataset: dataset, work: work, then: [["tag", "v1"]])
        defer { try? FileManager.default.removeItem(atPath: base) }
        let lrs = ["0.0003", "0.001", "0.003", "0.01"], hidden = ["32", "64", "128", "256"]
        let spec = base + "/spec.yaml"
        try Data("""
            method: grid
            metric: {name: val_accuracy, goal: maximize}
            parameters:
              lr: {values: [\(lrs.joined(separator: ", "))]}
              hidden: {values: [\(hidden.joined(separator: ", "))]}
              epochs: {value: \(epochs)}

            """.utf8).write(to: URL(fileURLWithPath: spec))
        // Warm the tensor cache once, so neither side pays for decoding.
        _ = try timed(cairnBinary, ["-C", repo, "train", "--data", "v1", "--epochs", "1", "--threads", "1"])
        var sequential = 0.0
        for h in hidden {
            for lr in lrs {
                let name = h == hidden[0] && lr == lrs[0] ? ["--name", "report-me"] : []
                let r = try timed(cairnBinary, ["-C", repo, "train", "--data", "v1", "--epochs", "\(epochs)", "--lr", lr, "--hidden", h, "--threads", "1"] + name)
                guard r.status == 0 else { throw ValidationError("a sequential trial failed") }
                sequential += r.seconds
            }
        }
        let sweep = try timed(cairnBinary, ["-C", repo, "sweep", "--data", "v1", "--spec", spec, "--jobs", "2"])
        guard sweep.status == 0 else { throw ValidationError("the sweep failed") }
        let serial = try timed(cairnBinary, ["-C", repo, "sweep", "--data", "v1", "--spec", spec, "--jobs", "1"])
        emit(["bench": "sweep_sequential_trains", "trials": "16", "epochs": "\(epochs)", "threads_each": "1", "seconds": format(sequential, 2)])
        // No lost parallelism: on 2 cores, 2 trials at a time should take half the sequential time; the target is 1.2x that.
        emit(["bench": "sweep_jobs2", "trials": "16", "epochs": "\(epochs)", "seconds": format(sweep.seconds, 2),
              "vs_sequential": format(sweep.seconds / sequential, 2), "vs_ideal_half": format(sweep.seconds / (sequential / 2), 2),
              "maxrss_mb": format(sweep.maxRSSMB)])
        emit(["bench": "sweep_jobs1", "trials": "16", "epochs": "\(epochs)", "seconds": format(serial.seconds, 2),
              "jobs2_speedup": format(serial.seconds / sweep.seconds, 2)])
        let report = try timed(cairnBinary, ["-C", repo, "report", "report-me", "-o", base + "/report"])
        emit(["bench": "report_run", "seconds": format(report.seconds, 3), "maxrss_mb": format(report.maxRSSMB), "rc": "\(report.status)"])
        let page = (try FileManager.default.contentsOfDirectory(atPath: base + "/report")).first { $0.hasSuffix(".html") } ?? ""
        let chromium = try timed("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://\(base)/report/\(page)"])
        emit(["bench": "report_render_chromium", "seconds": format(chromium.seconds, 3), "rc": "\(chromium.status)"])
    }
}
