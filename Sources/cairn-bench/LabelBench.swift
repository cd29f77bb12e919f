import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnLabeling
import CairnQuality
import CairnRepository
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// Keystroke-to-next-image latency of the labeling UI's work, as `LabelUI` does it: the label
/// committed (one durable transaction that also leases the next item), then the next item's frame —
/// rendered ahead on the `Frames` background thread while the annotator looked at the current
/// one, or made now when it is not ready — for the 92x35-cell image area of a 120x40 terminal in
/// symbols mode. After each frame the next item is predicted and prefetched, and the annotator
/// "looks" for --think-ms. Terminal output is left out (tmux/terminal speed, not ours).
struct LabelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Latency percentiles from a label keystroke to the next image rendered (120x40, symbols).",
        discussion: """
            Example: cairn-bench label /tmp/peers/data/large --labels 500 --think-ms 150
            --think-ms 0 fires keys back to back (each frame is then awaited from the background thread);
            --no-prefetch measures the old path (everything after the keystroke);
            --multi saves a set of two classes per item, as enter does in `cairn label --multi`;
            --suggest first labels 60 items, trains a softmax model on them and shows its suggestions
            (computed from the checkpoint on the render-ahead thread, as `cairn label --suggest` does
            for items without stored predictions), each label recording the suggestion shown.
            """)

    @Argument(help: "A folder of images (e.g. 2,000 512x512 JPEGs).") var dataset: String
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Labels to time.") var labels = 500
    @Option(help: "Milliseconds the annotator looks at each image before the key.") var thinkMs = 150
    @Flag(help: "Render after the keystroke instead of ahead.") var noPrefetch = false
    @Flag(help: "Save two-class sets (multi-label mode) instead of one class.") var multi = false
    @Flag(help: "Show a model's suggestions (trained on 60 labels first) and record them with each label.") var suggest = false

    func run() throws {
        let repoPath = work + "/label-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repoPath) }
        let repository = try Repository.initialize(at: repoPath)
        _ = try Importer(repository: repository, options: ImportOptions()).run(paths: [dataset])
        let classes = try repository.catalog.write { tx in try ["a", "b", "c"].map { try tx.ensureClass($0) } }
        let suggestions = suggest ? try trainSuggestions(repository, classes: classes) : nil
        let session = try LabelSession(catalog: repository.catalog, annotator: "bench")
        let renderer = ImageRenderer(.symbols, environment: ["COLORTERM": "truecolor"])
        let frames = Frames(store: repository.store, renderer: renderer)
        let suggesting = Worker("cairn.suggest", qos: .userInitiated)
        func key(_ item: Item) -> Frames.Key { Frames.Key(item.blobID, columns: 92, rows: 35) }
        var samples: [Double] = []
        var commit = 0.0, frame = 0.0
        var ready = 0, drawn = 0
        func ms(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        if let first = session.current { drawn += try frames.frame(key(first)).count }
        for i in 0..<labels {
            guard session.current != nil else { break }
            if !noPrefetch, let next = try session.peekNext() {
                frames.prefetch(key(next))
                if let suggestions { suggesting.submit { suggestions.prepare(next) } }
            }
            usleep(UInt32(thinkMs * 1000))
            let start = DispatchTime.now().uptimeNanoseconds
            let shown = session.current.flatMap { suggestions?.shown(for: $0, accepted: i % 2 == 0) }
            try session.label(multi ? [classes[i % 3], classes[(i + 1) % 3]] : [classes[i % 3]], suggestion: shown)
            commit += ms(start)
            guard let item = session.current else { break }
            if frames.isReady(key(item)) { ready += 1 }
            let frameStart = DispatchTime.now().uptimeNanoseconds
            drawn += try frames.frame(key(item)).count
            drawn += suggestions?.top(for: item).count ?? 0
            frame += ms(frameStart)
            samples.append(ms(start))
        }
        samples.sort()
        func pct(_ p: Double) -> String { format(samples[min(samples.count - 1, Int(Double(samples.count) * p))], 2) }
        emit(["bench": "label_latency", "labels": samples.count, "think_ms": thinkMs, "prefetch": !noPrefetch, "multi": multi, "suggest": suggest,
              "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": format(samples.last ?? 0, 2),
              "mean_commit_ms": format(commit / Double(samples.count), 2), "mean_frame_ms": format(frame / Double(samples.count), 2),
              "frames_ready": ready, "rows_drawn": drawn])
    }
}

/// Labels 60 items of `repository` round-robin, snapshots, trains a small softmax model on them
/// and returns its suggestions, computed from the checkpoint (no stored predictions).
private func trainSuggestions(_ repository: Repository, classes: [LabelClass]) throws -> Suggestions {
    try repository.catalog.write { tx in
        for (i, item) in try tx.allItems(split: nil).prefix(60).enumerated() {
            try tx.annotate(itemID: item.id, label: Label([classes[i % classes.count].name]), annotator: "bench")
        }
    }
    let versioning = Versioning(repository: repository)
    let snapshot = try versioning.snapshot(message: "suggestions", author: "bench").snapshot
    var parameters = RunParameters(model: .softmax)
    parameters.epochs = 5
    let training = Training(versioning: versioning, cairnVersion: "bench")
    let record = try training.train(ref: snapshot.id.hex, name: "suggest", parameters: parameters)
    return Suggestions(run: record.id, classes: record.classes, catalog: repository.catalog, compute: try training.modelFunction(record))
}

/// Sustained scripted labeling through a real terminal: `cairn label` in a tmux pane receives
/// label keys as fast as tmux delivers them; the clock stops when the screen shows them all done,
/// and the catalog must hold every one (each is a durable commit before the screen moves on).
struct LabelThroughputBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label-tmux",
        abstract: "Labels per second through `cairn label` in tmux (120x40, symbols), every label durable.",
        discussion: "Needs tmux. Example: cairn-bench label-tmux /tmp/peers/data/large --labels 1000")

    @Argument(help: "A folder of images (e.g. 2,000 512x512 JPEGs).") var dataset: String
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Labels to send.") var labels = 1000
    @Option(help: "Keys per tmux send-keys call.") var chunk = 50

    func run() throws {
        let repo = work + "/label-tmux-\(getpid())"
        let out = work + "/label-tmux-\(getpid()).out"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: repo)
            try? FileManager.default.removeItem(atPath: out)
        }
        func tmux(_ args: [String]) throws -> String { try runChecked("/usr/bin/env", ["tmux"] + args, output: out).stdout }
        func cairn(_ args: [String]) throws -> String { try runChecked(cairnBinary, args, output: out).stdout }
        _ = try cairn(["init", repo])
        _ = try cairn(["-C", repo, "import", dataset])
        _ = try cairn(["-C", repo, "classes", "add", "cat", "dog", "bird"])  // keys 1, 2, 3
        let session = "cairn-bench-\(getpid())"
        _ = try tmux(["new-session", "-d", "-s", session, "-x", "120", "-y", "40", "exec \(cairnBinary) -C \(repo) label --annotator bench"])
        defer { _ = try? tmux(["kill-session", "-t", session]) }
        func waitFor(_ text: String, seconds: Double) throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try tmux(["capture-pane", "-p", "-t", session]).contains(text) { return true }
                usleep(5_000)
            }
            return false
        }
        guard try waitFor("done 0 /", seconds: 20) else { throw ValidationError("cairn label did not start") }
        let start = Date()
        var sent = 0
        while sent < labels {
            let n = min(chunk, labels - sent)
            _ = try tmux(["send-keys", "-t", session] + (0..<n).map { String(1 + ($0 + sent) % 3) })
            sent += n
        }
        guard try waitFor("done \(labels) /", seconds: 120) else { throw ValidationError("the screen never showed \(labels) done") }
        let seconds = Date().timeIntervalSince(start)
        let status = try JSONSerialization.jsonObject(with: Data(try cairn(["-C", repo, "status", "--json"]).utf8)) as? [String: Any]
        let kept = status?["annotations"] as? Int ?? -1
        emit(["bench": "label_tmux", "labels": labels, "kept": kept, "seconds": format(seconds, 2),
              "labels_per_s": format(Double(labels) / seconds, 1)])
        if kept != labels { throw ValidationError("the catalog holds \(kept) labels, not \(labels)") }
    }
}
