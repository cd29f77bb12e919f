import ArgumentParser
import CairnCatalog
import CairnModels
import CairnRepository
import CairnStore
import CairnTraining
import CairnVersioning
import Foundation

/// The loader's throughput (cold and cached) and the MLP's time per epoch beside scikit-learn's.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Loader images/s (first epoch and cached) and MLP 784-256-10 seconds per epoch vs scikit-learn's MLPClassifier.",
        discussion: "Example: cairn-bench train /tmp/peers/data/small100k --epochs 3 (needs python3 with scikit-learn for the side-by-side)")

    @Argument(help: "A folder of class folders of images (e.g. 100,000 28x28 PNGs).") var dataset: String
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Epochs to time for each trainer.") var epochs = 3
    @Option(help: "Rows used for the MLP comparison.") var rows = 60_000
    @Option(help: "Threads for OpenBLAS (and for numpy's BLAS in the sklearn run).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Skip the scikit-learn side.") var noSklearn = false

    func run() throws {
        let repoPath = work + "/train-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repoPath) }
        let repository = try Repository.initialize(at: repoPath)
        _ = try Importer(repository: repository, options: ImportOptions(labelsFromDirectories: true)).run(paths: [dataset])
        let versioning = Versioning(repository: repository)
        let snapshot = try versioning.snapshot(message: "bench", author: "bench").snapshot.id
        let data = try SnapshotExamples.read(snapshot, versioning: versioning)
        let examples = data.examples
        let preprocessing = Preprocessing(width: 28, height: 28, channels: 1)
        let cache = repository.cairnDirectory + "/cache/tensors"
        let loader = Loader(store: repository.store, cacheDirectory: cache)

        // First epoch: decode + resize from the store, then normalize every row.
        try? FileManager.default.removeItem(atPath: cache)
        var start = Date()
        let coldLoad = try loader.load(examples, preprocessing)
        let (table, cold) = (coldLoad.table, coldLoad.report)
        let normalization = Normalization.fit(table, rows: Array(0..<table.count), channels: 1)
        var features: [Float] = []
        normalization.apply(table, rows: 0..<table.count, into: &features)
        let first = Date().timeIntervalSince(start)
        emit(["bench": "loader_first", "images": examples.count, "decoded": cold.decoded, "seconds": format(first, 3),
              "images_per_s": format(Double(examples.count) / first)])
        start = Date()
        let warmLoad = try loader.load(examples, preprocessing)
        let (again, warm) = (warmLoad.table, warmLoad.report)
        let loadOnly = Date().timeIntervalSince(start)
        normalization.apply(again, rows: 0..<again.count, into: &features)
        let cached = Date().timeIntervalSince(start)
        emit(["bench": "loader_cached", "images": examples.count, "from_cache": warm.cached, "seconds": format(cached, 3),
              "load_seconds": format(loadOnly, 3), "normalize_seconds": format(cached - loadOnly, 3),
              "images_per_s": format(Double(examples.count) / cached), "speedup": format(first / cached)])

        // The MLP on the first `rows` rows, and scikit-learn on the same floats.
        let n = min(rows, examples.count)
        let x = Array(features[0..<n * 784])
        let y = examples.prefix(n).map(\.label)
        let spec = ModelSpec(kind: .mlp, hidden: [256], width: 28, height: 28, channels: 1, classes: data.classes.count)
        let ours = TrainingBenchmark.timeEpochs(table: table, rows: n, labels: Array(y), normalization: normalization, spec: spec,
                                                epochs: epochs, batch: 128, threads: threads)
        let oursPerEpoch = ours.secondsPerEpoch.reduce(0, +) / Double(epochs)
        emit(["bench": "mlp_epoch", "trainer": "cairn", "rows": n, "epochs": epochs, "threads": threads,
              "seconds_per_epoch": format(oursPerEpoch, 3), "sgemm_share": format(ours.gemmShare, 3), "final_loss": format(ours.finalLoss, 4)])
        guard !noSklearn else { return }
        let xPath = work + "/mlp-x-\(getpid()).f32", yPath = work + "/mlp-y-\(getpid()).i32"
        defer { try? FileManager.default.removeItem(atPath: xPath); try? FileManager.default.removeItem(atPath: yPath) }
        try x.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: xPath)) }
        try y.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: yPath)) }
        let script = """
            import time, warnings, numpy as np
            from sklearn.neural_network import MLPClassifier
            x = np.fromfile("\(xPath)", dtype=np.float32).reshape(-1, 784)
            y = np.fromfile("\(yPath)", dtype=np.int32)
            m = MLPClassifier(hidden_layer_sizes=(256,), activation="relu", solver="adam", alpha=0.0, batch_size=128,
                              learning_rate_init=3e-4, max_iter=\(epochs), shuffle=True, random_state=0, tol=0.0,
                              n_iter_no_change=10**9, early_stopping=False)
            warnings.simplefilter("ignore")
            t = time.perf_counter(); m.fit(x, y); s = time.perf_counter() - t
            print(f"{s / \(epochs):.4f} {m.loss_:.4f}")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        var env = ProcessInfo.processInfo.environment
        for key in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] { env[key] = "\(threads)" }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let parts = output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard process.terminationStatus == 0, parts.count == 2 else {
            throw ValidationError("the scikit-learn run failed (pip install scikit-learn): \(output)")
        }
        emit(["bench": "mlp_epoch", "trainer": "sklearn", "rows": n, "epochs": epochs, "threads": threads,
              "seconds_per_epoch": format(parts[0], 3), "final_loss": format(parts[1], 4),
              "cairn_ratio": format(oursPerEpoch / parts[0], 3)])
    }
}
