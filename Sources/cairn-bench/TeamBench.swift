import ArgumentParser
import CairnCatalog
import CairnLabeling
import CairnRepository
import CairnStore
import Foundation

/// Many annotators labeling one queue at once, as `cairn label` does on each keystroke: the label
/// saved and the next item leased in one durable transaction. With `--catalog postgresql://…` the
/// annotators are spread over `--machines` working directories (each its own repository, store and
/// connections on the one catalog; leases are held per process); with `--catalog sqlite` they share one repository on
/// one machine. Afterwards every item must carry exactly one label: none lost, none given twice.
/// With `--image-store s3://BUCKET/PREFIX` every machine's repository keeps its images in that
/// bucket (`[store] shared`): the items are real blobs imported on machine 0 (uploaded as they are
/// stored), and each annotator reads an item's image before labeling it, as the labeling UI does,
/// so the other machines fetch them from the bucket.
struct TeamBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team",
        abstract: "N annotator processes labeling one queue: labels lost, doubled, and save+lease latency percentiles.",
        discussion: """
            Example: createdb team && cairn-bench team --catalog postgresql://127.0.0.1/team --items 10000 --processes 16 --machines 4
                     cairn-bench team --catalog sqlite --items 10000 --processes 16
                     cairn-bench team --catalog postgresql://127.0.0.1/team --image-store s3://team/images --endpoint http://127.0.0.1:5000
            """)

    @Option(help: "sqlite, or a postgresql:// URL of an empty database.") var catalog: String = "sqlite"
    @Option(help: "Items in the queue.") var items: Int = 10_000
    @Option(help: "Annotator processes.") var processes: Int = 16
    @Option(help: "Simulated machines (working directories) the processes are spread over; PostgreSQL only.") var machines: Int = 4
    @Option(help: "Where to make the scratch repositories.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Milliseconds each annotator looks at an item before the next key (0: keys back to back).") var thinkMs: Int = 0
    @Option(help: "A remote URL (an empty bucket prefix) every machine keeps its images in; PostgreSQL only.") var imageStore: String?
    @Option(help: "The image store's S3-compatible server (path-style addressing).") var endpoint: String?

    func run() throws {
        let backend = try RepositoryConfig.CatalogBackend(argument: catalog)
        let root = work + "/team-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let machineCount = backend == .sqlite ? 1 : machines
        let directories = (0..<machineCount).map { root + "/machine\($0)" }
        var config = RepositoryConfig(catalog: backend)
        if let imageStore {
            guard backend != .sqlite else { throw ValidationError("--image-store is for a team catalog (postgresql://)") }
            config.remotes["team"] = RepositoryConfig.RemoteSettings(url: imageStore, endpoint: endpoint, pathStyle: endpoint == nil ? nil : true)
            config.sharedStore = "team"
        }
        var repositories: [Repository] = []
        for directory in directories { repositories.append(try Repository.initialize(at: directory, config: config)) }
        // Images of about 1 KB (a small PNG's size), each different; stored, and uploaded when there is an image store.
        let blobs = (0..<items).map { n in
            HashedBlob(Data((0..<1024).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ (n &* 2_654_435_761) >> ($0 % 24)) } + Array("\(n)".utf8)))
        }
        let uploadStart = Date()
        if imageStore != nil {
            for blob in blobs { try repositories[0].store.put(blob) }
            try repositories[0].store.flush()
        }
        let uploadSeconds = Date().timeIntervalSince(uploadStart)
        try repositories[0].catalog.write { tx in
            _ = try tx.addClass("a")
            _ = try tx.insertItems(blobs.enumerated().map { n, blob in
                NewItem(blobID: blob.id, path: "items/\(n).png", format: "png", width: 8, height: 8, byteSize: Int64(blob.data.count), split: .train)
            }, addedAt: Date())
        }
        let start = Date()
        var workers: [(Process, String)] = []
        for n in 0..<processes {
            let out = root + "/worker\(n).txt"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            process.arguments = ["team-worker", "--repo", directories[n % machineCount],
                                 "--annotator", "annotator\(n)", "--out", out, "--think-ms", String(thinkMs)]
                + (imageStore == nil ? [] : ["--read-images"])
            try process.run()
            workers.append((process, out))
        }
        var latencies: [Double] = [], reads: [Double] = []
        var failed = 0
        for (process, out) in workers {
            process.waitUntilExit()
            if process.terminationStatus != 0 { failed += 1 }
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ").compactMap { Double($0) }
                if let save = fields.first { latencies.append(save) }
                if fields.count > 1 { reads.append(fields[1]) }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let labels = try repositories[0].catalog.read { tx in
            try tx.allItems().map { try tx.labels(.annotations, itemID: $0.id).count }
        }
        latencies.sort()
        reads.sort()
        func percentile(_ p: Double, of values: [Double]? = nil) -> String {
            let values = values ?? latencies
            return values.isEmpty ? "-" : format(values[min(values.count - 1, Int(Double(values.count) * p))] * 1000, 2)
        }
        // Every image must have reached every machine that labeled it intact (the store verifies each read).
        if imageStore != nil {
            emit(["bench": "team-images", "items": items, "upload_seconds": format(uploadSeconds, 2),
                  "read_p50_ms": percentile(0.5, of: reads), "read_p99_ms": percentile(0.99, of: reads), "reads": reads.count])
        }
        emit(["bench": "team", "catalog": backend == .sqlite ? "sqlite" : "postgresql", "items": items, "processes": processes,
              "machines": machineCount, "think_ms": thinkMs, "seconds": format(seconds, 2), "labels_per_s": format(Double(latencies.count) / seconds),
              "lost": labels.filter { $0 == 0 }.count, "labeled_twice": labels.filter { $0 > 1 }.count,
              "save_p50_ms": percentile(0.5), "save_p99_ms": percentile(0.99), "save_max_ms": percentile(1), "failed_processes": failed])
    }
}

/// One annotator of `team`: a `LabelSession` (what `cairn label` runs) labeling until its queue is
/// empty; writes each save's seconds (label saved + next item leased, one transaction) to --out.
struct TeamWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "team-worker", abstract: "One annotator process of `cairn-bench team`.",
                                                    shouldDisplay: false)

    @Option var repo: String
    @Option var annotator: String
    @Option var out: String
    @Option var thinkMs: Int = 0
    @Flag var readImages = false

    func run() throws {
        let repository = try Repository(root: repo)
        // The labeling UI's own session: each key saves the label and leases the next item in one
        // write transaction, exactly as `cairn label` does (leases are held by this process).
        let session = try LabelSession(catalog: repository.catalog, annotator: annotator)
        guard let labelClass = session.classes.first else { throw ValidationError("the bench's catalog has no class") }
        var times: [String] = []
        while let item = session.current {
            // The image, shown before the key: from this machine's cache, or fetched from the image store.
            var read = ""
            if readImages {
                let started = DispatchTime.now().uptimeNanoseconds
                _ = try repository.store.get(item.blobID)
                read = " " + String(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
            if thinkMs > 0 { usleep(useconds_t(thinkMs * 1000)) }
            let started = DispatchTime.now().uptimeNanoseconds
            try session.label(labelClass)
            times.append(String(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9) + read)
        }
        session.close()
        try times.joined(separator: "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }
}
