import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnLabeling
import CairnRepository
import CairnStore
import Foundation

/// Keystroke-to-next-image latency of the labeling UI's work: the label committed (one durable
/// transaction), the next item leased, its blob read and verified, decoded, and rendered for a
/// 120x40 terminal in symbols mode. Terminal output is left out (tmux/terminal speed, not ours).
struct LabelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Latency percentiles from a label keystroke to the next image rendered (120x40, symbols).",
        discussion: "Example: cairn-bench label /tmp/peers/data/large --labels 500")

    @Argument(help: "A folder of images (e.g. 2,000 512x512 JPEGs).") var dataset: String
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Labels to time.") var labels = 500

    func run() throws {
        let repoPath = work + "/label-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repoPath) }
        let repository = try Repository.initialize(at: repoPath)
        _ = try Importer(repository: repository, options: ImportOptions()).run(paths: [dataset])
        let classes = try repository.catalog.write { tx in try ["a", "b", "c"].map { try tx.ensureClass($0) } }
        let session = try LabelSession(catalog: repository.catalog, annotator: "bench")
        let renderer = ImageRenderer(.symbols, environment: ["COLORTERM": "truecolor"])
        var samples: [Double] = []
        var parts = [0.0, 0.0, 0.0]  // commit + lease, read + decode, render
        var drawn = 0
        func ms(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        for i in 0..<labels {
            guard session.current != nil else { break }
            let start = DispatchTime.now().uptimeNanoseconds
            try session.label(classes[i % 3])
            parts[0] += ms(start)
            guard let item = session.current else { break }
            let decodeStart = DispatchTime.now().uptimeNanoseconds
            let image = try ImageCodec.decode(try repository.store.get(item.blobID))
            parts[1] += ms(decodeStart)
            let renderStart = DispatchTime.now().uptimeNanoseconds
            drawn += renderer.render(image, columns: 92, rows: 35).count
            parts[2] += ms(renderStart)
            samples.append(ms(start))
        }
        samples.sort()
        func pct(_ p: Double) -> String { format(samples[min(samples.count - 1, Int(Double(samples.count) * p))], 2) }
        emit(["bench": "label_latency", "labels": samples.count, "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
              "max_ms": format(samples.last ?? 0, 2), "mean_commit_ms": format(parts[0] / Double(samples.count), 2),
              "mean_decode_ms": format(parts[1] / Double(samples.count), 2), "mean_render_ms": format(parts[2] / Double(samples.count), 2),
              "rows_drawn": drawn])
    }
}
