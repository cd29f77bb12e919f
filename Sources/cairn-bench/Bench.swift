import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnPostgres
import CairnRemote
import CairnRepository
import CairnStore
import Foundation
import Glibc

/// Benchmarks as programs: each prints one `key=value` line per measurement, for Docs/BENCHMARKS.md.
/// Run the release build: `swift build -c release && .build/release/cairn-bench SUBCOMMAND …`.
@main
struct Bench: ParsableCommand {
    /// Commands that record a person need one; where `$USER` is unset (a CI container) they are `bench`.
    static func main() {
        if getenv("USER") == nil { setenv("USER", "bench", 1) }
        CatalogServers.register(scheme: "postgresql") { url, scope in try PostgresCatalog(url: url, scope: scope) }
        SharedImageStore.register()
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "cairn-bench",
        abstract: "Measure Cairn against the machine's limits; prints one key=value line per figure.",
        subcommands: [ImportBench.self, SweepBench.self, ServeBench.self, LimitsBench.self, StoreBench.self, SnapshotBench.self, TrainBench.self, LabelBench.self,
                      LabelThroughputBench.self, RemoteBench.self, RunBench.self, SuspectsBench.self, LeakageBench.self, LeakageRealBench.self, ActiveBench.self,
                      RetrainBench.self, TeamBench.self, TeamWorker.self, BoxBench.self, BoxLabelBench.self, BoxSuspectsBench.self])
}

/// Where the `cairn` binary next to this one is.
let cairnBinary: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("cairn").path
}()

/// Runs a child process, returning wall seconds, its peak RSS in MB and its exit status.
/// Its standard output goes to `stdout` (a file path), else nowhere.
func timed(_ executable: String, _ arguments: [String], stdout: String = "/dev/null") throws -> (seconds: Double, maxRSSMB: Double, status: Int32) {
    var pid: pid_t = 0
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let start = Date()
    guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else {
        throw ValidationError("cannot start \(executable)")
    }
    var status: Int32 = 0
    var usage = rusage()
    wait4(pid, &status, 0, &usage)
    return (Date().timeIntervalSince(start), Double(usage.ru_maxrss) / 1024, (status >> 8) & 0xFF)
}

/// Runs a child process that must succeed; returns its wall seconds and standard output, which
/// passes through the file `output`.
func runChecked(_ executable: String, _ arguments: [String], output: String) throws -> (seconds: Double, stdout: String) {
    let result = try timed(executable, arguments, stdout: output)
    guard result.status == 0 else {
        throw ValidationError("\(executable) \(arguments.joined(separator: " ")) failed (exit \(result.status))")
    }
    return (result.seconds, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

/// A scratch directory `WORK/NAME-PID` with a repository `repo` in it: `dataset` imported with its
/// folders as labels and snapshotted, then each of `then` run as `cairn -C repo ARGS`. The caller
/// removes `base` when done.
func scratchRepository(_ name: String, dataset: String, work: String, message: String = "bench",
                       then: [[String]] = []) throws -> (base: String, repo: String) {
    let base = work + "/\(name)-\(getpid())"
    let repo = base + "/repo"
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    for args in [["init", repo], ["-C", repo, "import", "--labels-from-dirs", dataset], ["-C", repo, "snapshot", "-m", message]]
        + then.map({ ["-C", repo] + $0 }) {
        guard try timed(cairnBinary, args).status == 0 else { throw ValidationError("cairn \(args.joined(separator: " ")) failed") }
    }
    return (base, repo)
}

func emit(_ fields: KeyValuePairs<String, Any>) {
    FileHandle.standardOutput.write(Data((fields.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n").utf8))
}

func format(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

/// Every regular file under `directory`, sorted.
func files(under directory: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: directory)
    var out: [String] = []
    while let relative = enumerator?.nextObject() as? String {
        var isDir: ObjCBool = false
        let path = directory + "/" + relative
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue { out.append(path) }
    }
    return out.sorted()
}

struct ImportBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Time `cairn import` of DIR into a fresh repository, then a re-import of the unchanged tree.")

    @Argument(help: "A directory of images (e.g. 100,000 28x28 PNGs).") var dataset: String
    @Flag(help: "Pass --no-verify (header probe only).") var noVerify = false
    @Option(help: "Where to make the scratch repository (same file system as the data is fairest).")
    var work: String = "/tmp/cairn-bench"
    @Option(help: "A postgresql:// URL of an empty database: import into a team repository on it (`init --catalog`).")
    var catalog: String?

    func run() throws {
        let count = files(under: dataset).count
        let repo = work + "/repo-\(getpid())"
        try? FileManager.default.removeItem(atPath: repo)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: repo) }
        let made = try timed(cairnBinary, ["init", repo] + (catalog.map { ["--catalog", $0] } ?? []))
        guard made.status == 0 else { throw ValidationError("cairn init failed (is the --catalog database reachable and empty?)") }
        var args = ["-C", repo, "import", "--labels-from-dirs", dataset]
        if noVerify { args.append("--no-verify") }
        let name = (dataset as NSString).lastPathComponent
        let first = try timed(cairnBinary, args)
        emit(["bench": "import", "dataset": name, "catalog": catalog == nil ? "sqlite" : "postgresql", "verify": noVerify ? 0 : 1, "files": count,
              "seconds": format(first.seconds, 3), "files_per_s": format(Double(count) / first.seconds),
              "maxrss_mb": format(first.maxRSSMB), "rc": first.status])
        let again = try timed(cairnBinary, args)
        emit(["bench": "reimport", "dataset": name, "catalog": catalog == nil ? "sqlite" : "postgresql", "verify": noVerify ? 0 : 1, "files": count,
              "seconds": format(again.seconds, 3), "files_per_s": format(Double(count) / again.seconds),
              "maxrss_mb": format(again.maxRSSMB), "rc": again.status])
    }
}

struct LimitsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "The machine's limits on DIR's bytes (TurboJPEG/libpng decode and SHA-256 on all cores), "
            + "then `cairn import` with and without --no-verify, with the ratios.")

    @Argument(help: "A directory of images (e.g. 2,000 512x512 JPEGs).") var dataset: String
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        let paths = files(under: dataset)
        let blobs = try paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        let bytes = blobs.reduce(0) { $0 + $1.count }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        func parallel(_ body: @escaping @Sendable (Data) -> Void) -> Double {
            let start = Date()
            let shared = blobs
            DispatchQueue.concurrentPerform(iterations: cores) { worker in
                for i in stride(from: worker, to: shared.count, by: cores) { body(shared[i]) }
            }
            return Date().timeIntervalSince(start)
        }
        let decodeSeconds = parallel { _ = try? ImageCodec.decode($0) }
        let hashSeconds = parallel { _ = BlobID(hashing: $0) }
        let hashFilesSeconds: Double = {
            let start = Date()
            DispatchQueue.concurrentPerform(iterations: cores) { worker in
                for i in stride(from: worker, to: paths.count, by: cores) {
                    if let data = FileManager.default.contents(atPath: paths[i]) { _ = BlobID(hashing: data) }
                }
            }
            return Date().timeIntervalSince(start)
        }()
        // The floor for storing these bytes durably at all: one file, one fsync, no hashing.
        let copySeconds: Double = try {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let target = work + "/copy-\(getpid()).bin"
            defer { try? FileManager.default.removeItem(atPath: target) }
            let start = Date()
            let file = try POSIXFile(path: target, flags: O_WRONLY | O_CREAT | O_TRUNC)
            for path in paths { try file.writeAll(try Data(contentsOf: URL(fileURLWithPath: path))) }
            try file.sync()
            return Date().timeIntervalSince(start)
        }()
        let name = (dataset as NSString).lastPathComponent
        emit(["bench": "sha256_files", "dataset": name, "files": paths.count, "seconds": format(hashFilesSeconds, 3),
              "mb_per_s": format(Double(bytes) / 1e6 / hashFilesSeconds)])
        emit(["bench": "copy_fsync", "dataset": name, "files": paths.count, "seconds": format(copySeconds, 3),
              "mb_per_s": format(Double(bytes) / 1e6 / copySeconds)])
        emit(["bench": "decode_only", "dataset": name, "files": paths.count, "mb": format(Double(bytes) / 1e6),
              "seconds": format(decodeSeconds, 3), "files_per_s": format(Double(paths.count) / decodeSeconds)])
        emit(["bench": "sha256_only", "dataset": name, "files": paths.count, "mb": format(Double(bytes) / 1e6),
              "seconds": format(hashSeconds, 3), "files_per_s": format(Double(paths.count) / hashSeconds),
              "mb_per_s": format(Double(bytes) / 1e6 / hashSeconds)])
        for verify in [true, false] {
            let repo = work + "/limits-\(getpid())"
            try? FileManager.default.removeItem(atPath: repo)
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            _ = try timed(cairnBinary, ["init", repo])
            let run = try timed(cairnBinary, ["-C", repo, "import", dataset] + (verify ? [] : ["--no-verify"]))
            try? FileManager.default.removeItem(atPath: repo)
            let limit = verify ? decodeSeconds : hashSeconds
            emit(["bench": verify ? "import_verify" : "import_no_verify", "dataset": name, "files": paths.count,
                  "seconds": format(run.seconds, 3), "files_per_s": format(Double(paths.count) / run.seconds),
                  "mb_per_s": format(Double(bytes) / 1e6 / run.seconds), "maxrss_mb": format(run.maxRSSMB),
                  "ratio_to_limit": format(limit / run.seconds, 2),
                  "ratio_to_copy_fsync": format(copySeconds / run.seconds, 2), "rc": run.status])
        }
    }
}

struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Cost per object of packed versus loose storage by object size (to choose the loose threshold).")

    @Option(help: "Total bytes written per measurement.") var bytesPerRun: Int = 256 << 20
    @Option(help: "Where to make the scratch stores.") var work: String = "/tmp/cairn-bench"

    func run() throws {
        for size in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20] {
            let count = max(16, min(20_000, bytesPerRun / size))
            let blobs = (0..<count).map { n -> HashedBlob in
                var data = Data(count: size)
                data.withUnsafeMutableBytes { raw in
                    let words = raw.bindMemory(to: UInt64.self)
                    for i in words.indices { words[i] = UInt64(n) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) }
                }
                return HashedBlob(data)
            }
            for loose in [false, true] {
                let root = work + "/store-\(getpid())"
                try? FileManager.default.removeItem(atPath: root)
                try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                try FileBlobStore.create(at: root)
                let store = try FileBlobStore(root: root, looseThreshold: loose ? 0 : Int.max)
                let start = Date()
                for blob in blobs { try store.put(blob) }
                try store.flush()
                let seconds = Date().timeIntervalSince(start)
                try? FileManager.default.removeItem(atPath: root)
                emit(["bench": "store_put", "layout": loose ? "loose" : "packed", "object_kb": size >> 10,
                      "objects": count, "seconds": format(seconds, 3),
                      "us_per_object": format(seconds / Double(count) * 1e6), "mb_per_s": format(Double(count * size) / 1e6 / seconds)])
            }
        }
    }
}

struct SnapshotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Synthetic catalog of N items: first snapshot, a snapshot after changing K labels, status and diff, "
            + "each timed as a `cairn` child process (wall time, peak RSS), plus the bytes the second snapshot wrote.")

    @Option(help: "Items in the synthetic catalog.") var items: Int = 1_000_000
    @Option(help: "Labels changed between the two snapshots.") var changes: Int = 1000
    @Flag(help: "Keep the scratch repository (to profile it).") var keep = false
    @Option(help: "Where to make the scratch repository.") var work: String = "/tmp/cairn-bench"
    @Option(help: "A postgresql:// URL of an empty database: the catalog there (a team repository) instead of SQLite.")
    var catalog: String?

    func packBytes(_ repo: String) throws -> Int64 {
        try FileManager.default.contentsOfDirectory(atPath: repo + "/.cairn/packs").reduce(Int64(0)) { sum, name in
            sum + Int64((try FileManager.default.attributesOfItem(atPath: repo + "/.cairn/packs/" + name)[.size] as? Int) ?? 0)
        }
    }

    func run() throws {
        let repo = work + "/snapshot-\(getpid())"
        try? FileManager.default.removeItem(atPath: repo)
        defer { if !keep { try? FileManager.default.removeItem(atPath: repo) } }
        let backend = try catalog.map(RepositoryConfig.CatalogBackend.init(argument:)) ?? .sqlite
        let repository = try Repository.initialize(at: repo, config: RepositoryConfig(catalog: backend))
        let start = Date()
        let classes = (0..<10).map { "class\($0)" }
        try repository.catalog.write { tx in
            let importer = try tx.ensureAnnotator(Annotator.importName)
            let classIDs = try classes.map { try tx.ensureClass($0).id }
            // In batches, as import writes them.
            for first in stride(from: 0, to: items, by: 10_000) {
                let range = first..<min(first + 10_000, items)
                let inserted = try tx.insertItems(range.map { i in
                    let id = BlobID(hashing: Data("synthetic item \(i)".utf8))
                    return NewItem(blobID: id, path: "\(classes[i % 10])/\(String(format: "%07d", i)).png", format: "png",
                                   width: 28, height: 28, byteSize: 700, split: SplitPolicy.standard.split(for: id))
                }, addedAt: Date())
                try tx.appendAnnotations(zip(range, inserted).map { i, entry in
                    NewAnnotation(itemID: entry.item.id, personID: importer.id, classIDs: [classIDs[i % 10]], at: Date())
                })
            }
        }
        let kind = catalog == nil ? "sqlite" : "postgresql"
        emit(["bench": "snapshot_setup", "catalog": kind, "items": items, "seconds": format(Date().timeIntervalSince(start), 1)])
        let first = try timed(cairnBinary, ["-C", repo, "snapshot", "-m", "first"])
        let treeBytes = try packBytes(repo)
        emit(["bench": "snapshot_first", "catalog": kind, "items": items, "seconds": format(first.seconds, 3),
              "maxrss_mb": format(first.maxRSSMB), "tree_mb": format(Double(treeBytes) / 1e6, 1), "rc": first.status])
        // `changes` verdicts on random items, giving them class `name`.
        func relabel(as name: String) throws {
            try repository.catalog.write { tx in
                let reviewer = try tx.ensureAnnotator("bench", role: .reviewer)
                let target = try tx.ensureClass(name).id
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<changes {
                    try tx.appendVerdict(itemID: Int64.random(in: 1...Int64(items), using: &rng), reviewer: reviewer, classIDs: [target])
                }
            }
        }
        try relabel(as: "changed")
        let second = try timed(cairnBinary, ["-C", repo, "snapshot", "-m", "second"])
        let written = try packBytes(repo) - treeBytes
        emit(["bench": "snapshot_incremental", "catalog": kind, "items": items, "changes": changes, "seconds": format(second.seconds, 3),
              "maxrss_mb": format(second.maxRSSMB), "written_kb": format(Double(written) / 1e3, 1),
              "written_pct_of_tree": format(Double(written) / Double(treeBytes) * 100, 2), "rc": second.status])
        let status = try timed(cairnBinary, ["-C", repo, "status"])
        emit(["bench": "status", "catalog": kind, "items": items, "seconds": format(status.seconds, 3),
              "maxrss_mb": format(status.maxRSSMB), "rc": status.status])
        let diff = try timed(cairnBinary, ["-C", repo, "diff", "HEAD~1", "HEAD", "--stat"])
        emit(["bench": "diff", "catalog": kind, "items": items, "changes": changes, "seconds": format(diff.seconds, 3),
              "maxrss_mb": format(diff.maxRSSMB), "rc": diff.status])
        // Status while `changes` labels wait for the next snapshot (it counts from HEAD and those).
        try relabel(as: "pending")
        let pending = try timed(cairnBinary, ["-C", repo, "status"])
        emit(["bench": "status_pending", "catalog": kind, "items": items, "changes": changes, "seconds": format(pending.seconds, 3),
              "maxrss_mb": format(pending.maxRSSMB), "rc": pending.status])
    }
}
