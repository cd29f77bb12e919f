import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnModels
import CairnQuality
import CairnRepository
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation
import Glibc

/// The digits as (path relative to the tree, true class), in path order.
func labeledTree(_ directory: String) -> [(path: String, label: String)] {
    files(under: directory).compactMap { path in
        guard ["png", "jpg", "jpeg"].contains((path as NSString).pathExtension.lowercased()) else { return nil }
        let relative = String(path.dropFirst(directory.count + 1))
        let folder = (relative as NSString).deletingLastPathComponent
        return (relative, (folder as NSString).lastPathComponent)
    }
}

/// Label errors planted in a labeled tree and looked for with `cairn suspects`: precision, recall
/// and precision at k (k = the number planted) of the flagged set, beside the "predicted ≠ given"
/// baseline on the same out-of-fold probabilities.
struct SuspectsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suspects",
        abstract: "Plant label flips (uniform, or between look-alike classes) in a labeled tree and score `cairn suspects` on finding them.")

    @Argument(help: "A labeled tree in class folders (e.g. sample-data/digits).") var dataset: String
    @Option(help: "Share of labels flipped.") var rate = 0.1
    @Option(help: "uniform (to any other class) or pairs (0<->6, 1<->7, 2<->8, 3<->5, 4<->9; classes named by digits).") var flips = "uniform"
    @Option(help: "Seed of the flips.") var seed: UInt64 = 1
    @Option(help: "Folds.") var folds = 5
    @Option(help: "The model of the folds (default: cairn's).") var model: String?
    @Flag(inversion: .prefixedNo, help: "Score the \"predicted ≠ given\" baseline (trains the folds a second time).") var baseline = true
    @Option(help: "Image size, WxH (default: cairn's).") var size: String?
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Flag(help: "Also run cleanlab with a scikit-learn MLP on the same flips (python3 with cleanlab and scikit-learn).") var peer = false

    func run() throws {
        let tree = labeledTree(dataset)
        let classes = Array(Set(tree.map(\.label))).sorted()
        let pairs = ["0": "6", "6": "0", "1": "7", "7": "1", "2": "8", "8": "2", "3": "5", "5": "3", "4": "9", "9": "4"]
        var random = SplitMix64(seed: seed)
        var order = Array(tree.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        var given = tree.map(\.label)
        var flipped = Set<String>()
        for i in order.prefix(Int(Double(tree.count) * rate)) {
            let truth = tree[i].label
            let other: String
            if flips == "pairs" {
                guard let partner = pairs[truth] else { continue }
                other = partner
            } else {
                let choices = classes.filter { $0 != truth }
                other = choices[Int(random.next() % UInt64(choices.count))]
            }
            given[i] = other
            flipped.insert(tree[i].path)
        }
        let base = work + "/suspects-\(getpid())"
        let repo = base + "/repo"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let csv = base + "/labels.csv"
        try ("path,label\n" + tree.indices.map { "\(tree[$0].path),\(given[$0])\n" }.joined()).write(toFile: csv, atomically: true, encoding: .utf8)
        if peer {
            try flipped.sorted().map { $0 + "\n" }.joined().write(toFile: base + "/flipped.txt", atomically: true, encoding: .utf8)
            print(try realDataScript(["cleanlab", csv, base + "/flipped.txt", dataset, "--folds", String(folds)]), terminator: "")
        }
        for args in [["init", repo], ["-C", repo, "import", dataset, "--labels", csv], ["-C", repo, "snapshot", "-m", "flipped"]] {
            guard try timed(cairnBinary, args).status == 0 else { throw ValidationError("cairn \(args.joined(separator: " ")) failed") }
        }
        let out = base + "/suspects.json"
        let timing = try timed(cairnBinary, ["-C", repo, "suspects", "--data", "HEAD", "--folds", String(folds), "--json"] + (model.map { ["--model", $0] } ?? [])
                               + (size.map { ["--size", $0] } ?? []), stdout: out)
        guard timing.status == 0 else { throw ValidationError("cairn suspects failed") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let report = try decoder.decode(SuspectReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        // Item paths in the repository are `<tree name>/<relative path>`.
        let prefix = (dataset as NSString).lastPathComponent + "/"
        let found = report.suspects.map { String($0.path.dropFirst(prefix.count)) }
        let hits = found.filter(flipped.contains).count
        let atK = found.prefix(flipped.count).filter(flipped.contains).count

        func ratio(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : format(Double(a) / Double(b), 3) }
        let f1 = hits == 0 ? 0 : 2 * Double(hits) / Double(found.count + flipped.count)
        let scores: KeyValuePairs<String, Any> = ["bench": "suspects", "model": report.source.replacingOccurrences(of: " ", with: ""), "flips": flips,
                                                  "rate": rate, "items": tree.count, "planted": flipped.count, "flagged": found.count,
                                                  "precision": ratio(hits, found.count), "recall": ratio(hits, flipped.count), "f1": format(f1, 3),
                                                  "precision_at_k": ratio(atK, flipped.count), "estimated_noise": format(report.estimatedNoise, 3),
                                                  "seconds": format(timing.seconds, 2), "maxrss_mb": format(timing.maxRSSMB)]
        guard baseline else { return emit(scores) }
        // The baseline on the same kind of out-of-fold probabilities: every item whose predicted class is not its label.
        let repository = try Repository(root: repo)
        let training = Training(versioning: Versioning(repository: repository), cairnVersion: "bench")
        let data = try SnapshotExamples.read(try training.versioning.resolve("HEAD").id, versioning: training.versioning)
        let dims = try size.map(RunParameters.size)
        let probabilities = try training.outOfFold(data, options: SuspectOptions(model: ModelKind(rawValue: String(report.source.prefix { $0 != "," })) ?? .softmax, folds: folds,
                                                                                  width: dims?.width, height: dims?.height))
        let k = data.classes.count
        var baselineFlagged = 0, baselineHits = 0
        for (i, example) in data.examples.enumerated() {
            let predicted = probabilities[i * k..<(i + 1) * k].argmax()!
            guard predicted != Int(example.label) else { continue }
            baselineFlagged += 1
            if flipped.contains(String(example.path.dropFirst(prefix.count))) { baselineHits += 1 }
        }
        emit(scores)
        emit(["bench": "suspects_baseline", "flagged": baselineFlagged, "precision": ratio(baselineHits, baselineFlagged),
              "recall": ratio(baselineHits, flipped.count)])
    }
}


/// Transformed copies (brightness x0.8, a one-pixel shift, mild noise) of a share of a tree's
/// images, each planted where its hash puts it in another split than its original, then looked for
/// with `cairn check`: recall (planted pairs found) and precision (reported pairs that are planted).
struct LeakageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leakage",
        abstract: "Plant near-copies of images across splits and score `cairn check` on finding them.")

    @Argument(help: "A labeled tree in class folders (e.g. sample-data/digits).") var dataset: String
    @Option(help: "Share of images copied.") var rate = 0.05
    @Option(help: "Noise standard deviation, in gray levels.") var noise = 3.0
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Flag(help: "Also print the distances of planted and other reported pairs.") var verbose = false

    func run() throws {
        let base = work + "/leakage-\(getpid())"
        let tree = base + "/" + (dataset as NSString).lastPathComponent
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.copyItem(atPath: dataset, toPath: tree)
        let originals = labeledTree(tree)
        var random = SplitMix64(seed: seed)
        var order = Array(originals.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        var planted: [(original: String, copy: String)] = []
        for i in order.prefix(Int(Double(originals.count) * rate)) {
            let path = tree + "/" + originals[i].path
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let image = try ImageCodec.decode(bytes).converted(toChannels: 1)
            let originalSplit = SplitPolicy.standard.split(for: BlobID(hashing: bytes))
            for attempt in 0..<200 {
                let copy = transformed(image, random: &random)
                let data = try ImageCodec.encodePNG(copy)
                guard SplitPolicy.standard.split(for: BlobID(hashing: data)) != originalSplit else { continue }
                let name = originals[i].path.replacingOccurrences(of: ".png", with: "-copy\(attempt).png")
                try data.write(to: URL(fileURLWithPath: tree + "/" + name))
                planted.append((originals[i].path, name))
                break
            }
        }
        let repo = base + "/repo"
        for args in [["init", repo], ["-C", repo, "import", "--labels-from-dirs", tree], ["-C", repo, "snapshot", "-m", "planted"]] {
            guard try timed(cairnBinary, args).status == 0 else { throw ValidationError("cairn \(args.joined(separator: " ")) failed") }
        }
        let out = base + "/check.json"
        let timing = try timed(cairnBinary, ["-C", repo, "check", "--data", "HEAD", "--json"], stdout: out)
        guard timing.status == 0 else { throw ValidationError("cairn check failed") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let report = try decoder.decode(CheckReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        let prefix = (tree as NSString).lastPathComponent + "/"
        let pairs = Set(planted.map { [$0.original, $0.copy].sorted().joined(separator: "|") })
        let reported = report.leaks.map { $0.paths.map { String($0.dropFirst(prefix.count)) }.sorted().joined(separator: "|") }
        let found = reported.filter(pairs.contains).count
        if verbose {
            let planted = zip(report.leaks, reported).filter { pairs.contains($0.1) }.map(\.0.distance).sorted()
            let other = zip(report.leaks, reported).filter { !pairs.contains($0.1) }.map(\.0.distance).sorted()
            print("planted distances: min \(planted.first ?? -1) median \(planted.isEmpty ? -1 : planted[planted.count / 2]) max \(planted.last ?? -1)")
            print("other distances: min \(other.first ?? -1) p10 \(other.isEmpty ? -1 : other[other.count / 10])")
        }
        emit(["bench": "leakage", "items": originals.count + planted.count, "planted": planted.count, "reported": reported.count,
              "recall": format(Double(found) / Double(max(1, planted.count)), 3),
              "precision": format(Double(found) / Double(max(1, reported.count)), 3),
              "seconds": format(timing.seconds, 2), "maxrss_mb": format(timing.maxRSSMB)])
    }

    /// `image` darker (x0.8), shifted one pixel in a random direction (the edge repeated), with noise.
    private func transformed(_ image: PixelBuffer, random: inout SplitMix64) -> PixelBuffer {
        let (w, h) = (image.width, image.height)
        let directions = [(1, 0), (-1, 0), (0, 1), (0, -1)]
        let (dx, dy) = directions[Int(random.next() % 4)]
        var out = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let sx = min(w - 1, max(0, x - dx)), sy = min(h - 1, max(0, y - dy))
                // Box–Muller from two uniforms.
                let u1 = max(Double(random.next() >> 11) / Double(1 << 53), 1e-12), u2 = Double(random.next() >> 11) / Double(1 << 53)
                let n = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2) * noise
                out[y * w + x] = UInt8(max(0, min(255, (Double(image.pixels[sy * w + sx]) * 0.8 + n).rounded())))
            }
        }
        return PixelBuffer(width: w, height: h, channels: 1, pixels: out)
    }
}
