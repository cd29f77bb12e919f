import ArgumentParser
import Foundation
import Glibc

/// `cairn run`'s data path against the machine: WebDataset export beside `tar cf` of the same
/// files, the first materialization beside `checkout`, and the start of a second run.
struct RunBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Time `tar cf` of DIR and `cairn export --format webdataset` of it (same disk), `cairn checkout` and the first "
            + "`cairn run` materialization, then a second `cairn run` of the same snapshot (materialization reused).")

    @Argument(help: "A directory of images in class folders (e.g. 100,000 28x28 PNGs).") var dataset: String
    @Option(help: "Where to make the scratch repository and outputs (one file system for all).") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let count = files(under: dataset).count
        let (base, repo) = try scratchRepository("run", dataset: dataset, work: work)
        defer { try? FileManager.default.removeItem(atPath: base) }
        func line(_ name: String, _ r: (seconds: Double, maxRSSMB: Double, status: Int32), _ extra: KeyValuePairs<String, Any> = [:]) {
            var fields = ["bench": name, "files": "\(count)", "seconds": format(r.seconds, 3), "files_per_s": format(Double(count) / r.seconds),
                          "maxrss_mb": format(r.maxRSSMB), "rc": "\(r.status)"]
            for (k, v) in extra { fields[k] = "\(v)" }
            FileHandle.standardOutput.write(Data((fields.sorted { $0.key == "bench" || ($1.key != "bench" && $0.key < $1.key) }
                .map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n").utf8))
        }
        // Three rounds each, alternating; the median is reported. Neither tar nor the export syncs
        // what it wrote (the materialization of `cairn run` does); tar followed by a sync is shown too.
        var tars: [Double] = [], syncedTars: [Double] = [], exports: [(seconds: Double, maxRSSMB: Double, status: Int32)] = []
        for round in 0..<3 {
            try? FileManager.default.removeItem(atPath: base + "/tree.tar")
            tars.append(try timed("/usr/bin/env", ["tar", "cf", base + "/tree.tar", "-C", dataset, "."]).seconds)
            try? FileManager.default.removeItem(atPath: base + "/tree.tar")
            syncedTars.append(try timed("/bin/sh", ["-c", "tar cf '\(base)/tree.tar' -C '\(dataset)' . && sync '\(base)/tree.tar'"]).seconds)
            try? FileManager.default.removeItem(atPath: base + "/shards-\(round)")
            exports.append(try timed(cairnBinary, ["-C", repo, "export", "HEAD", "--format", "webdataset", base + "/shards-\(round)"]))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let tar = (seconds: median(tars), maxRSSMB: 0.0, status: Int32(0))
        line("tar_cf", tar)
        line("tar_cf_sync", (median(syncedTars), 0, 0))
        let export = exports.sorted { $0.seconds < $1.seconds }[1]
        line("export_webdataset", export, ["vs_tar": format(tar.seconds / export.seconds, 2),
                                           "vs_tar_sync": format(median(syncedTars) / export.seconds, 2)])
        let checkout = try timed(cairnBinary, ["-C", repo, "checkout", "HEAD", base + "/checkout"])
        line("checkout", checkout)
        let first = try timed(cairnBinary, ["-C", repo, "run", "--data", "HEAD", "--", "true"])
        line("run_first", first, ["vs_checkout": format(checkout.seconds / first.seconds, 2)])
        let second = try timed(cairnBinary, ["-C", repo, "run", "--data", "HEAD", "--", "true"])
        line("run_second", second)
        let shards = try timed(cairnBinary, ["-C", repo, "run", "--data", "HEAD", "--materialize", "webdataset", "--", "true"])
        line("run_first_webdataset", shards)
    }
}
