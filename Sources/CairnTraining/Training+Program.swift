import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import CairnVersioning
import Dispatch
import Foundation
import Glibc
import Synchronization

/// What `cairn run` is asked to run.
public struct ProgramOptions: Sendable {
    public var dataRef: String
    public var name: String?
    /// `-p KEY=VALUE`, handed over as `CAIRN_PARAMS`.
    public var parameters: [String: String]
    public var layout: MaterializeLayout
    /// argv of the program, which runs in the current directory.
    public var command: [String]
    /// The environment the program starts from (the `CAIRN_*` variables are added to it).
    public var environment: [String: String]
    /// The sweep this run is a trial of (`cairn sweep`).
    public var sweep: SweepTag?

    public init(dataRef: String, name: String? = nil, parameters: [String: String] = [:], layout: MaterializeLayout = .imagefolder,
                command: [String], environment: [String: String] = ProcessInfo.processInfo.environment) {
        (self.dataRef, self.name, self.parameters, self.layout) = (dataRef, name, parameters, layout)
        (self.command, self.environment) = (command, environment)
    }
}

/// What `runProgram` reports while it works.
public enum ProgramEvent {
    /// The run is recorded (before anything is materialized or started).
    case recorded(RunRecord)
    case materializing(done: Int, total: Int)
    /// The data is ready and the program is starting with this environment's `CAIRN_*` part.
    case starting(Materialization, environment: [String: String])
    case output(ChildProcess.Stream, UnsafeRawBufferPointer)
}

extension Training {
    /// Runs another program against the snapshot `options.dataRef` names, as a run.
    ///
    /// The run is recorded with the snapshot id before anything else happens; the snapshot is
    /// materialized once (or an earlier materialization reused); the program starts with the
    /// `CAIRN_*` environment (Docs/TRAINING.md, "Training with your own code"), its output streamed
    /// to `events` and kept in the run directory. When it ends, its metrics, summary, artifacts and
    /// predictions are collected, and the run is `finished` (exit 0), `interrupted` (Ctrl-C, or a
    /// SIGTERM or SIGHUP passed on to it) or `failed`. While it runs, this process ignores SIGINT
    /// (the terminal sends Ctrl-C to the program too, which runs in this process group) and passes
    /// SIGTERM and SIGHUP on.
    ///
    /// - Returns: the record and how the program ended.
    /// - Throws: before the program starts: a bad ref or parameter (nothing recorded), a failed
    ///   materialization, or `ChildProcessError` for a program that cannot start (the run is then
    ///   recorded as failed, with the reason).
    public func runProgram(_ options: ProgramOptions, events: @escaping @Sendable (ProgramEvent) -> Void = { _ in }) throws
        -> (RunRecord, Termination) {
        guard !options.command.isEmpty else { throw TrainingError.badParameter("give the program to run after --") }
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        let snapshot = try versioning.resolve(options.dataRef)
        var record = try startRecord(options, snapshot: snapshot.id)
        events(.recorded(record))
        let directory = runDirectory(record.id)
        let started = Date()
        let child: ChildProcess
        let materialization: Materialization
        do {
            try FileOps.makeDirectories(directory + "/artifacts")
            materialization = try versioning.materialize(snapshot.id, layout: options.layout) { events(.materializing(done: $0, total: $1)) }
            record.program?.data = materialization.directory
            record.program?.reusedData = materialization.reused
            record.classes = try String(contentsOfFile: materialization.classes, encoding: .utf8).split(separator: "\n").map(String.init)
            let contract = environment(for: record, materialization, directory: directory)
            events(.starting(materialization, environment: contract))
            // A sweep's word to this trial is not passed on: the program's own `cairn train` is no trial.
            let inherited = options.environment.filter { $0.key != SweepTag.environmentVariable }
            child = try ChildProcess(options.command, environment: inherited.merging(contract) { $1 })
        } catch {
            try? finish(&record, status: .failed, error: "\(error)")
            throw error
        }
        try save(record)
        let (ended, forwarded) = Self.supervise(child) { stream, bytes in
            Self.keep(bytes, in: directory + (stream == .stdout ? "/stdout.log" : "/stderr.log"))
            events(.output(stream, bytes))
        }
        record.program?.seconds = Date().timeIntervalSince(started)
        record.program?.exitStatus = ended.status
        if case .signaled(let signal) = ended { record.program?.signal = signal }
        collect(into: &record, directory: directory)
        let interrupted = forwarded || [130, 143, 129].contains(ended.status)
        switch (ended, interrupted) {
        case (.exited(0), _): try finish(&record, status: .finished, error: nil)
        case (_, true): try finish(&record, status: .interrupted, error: "interrupted (exit status \(ended.status))")
        default: try finish(&record, status: .failed, error: "the program exited with status \(ended.status)")
        }
        return (record, ended)
    }

    /// The run's record, inserted with its snapshot before anything else.
    private func startRecord(_ options: ProgramOptions, snapshot: BlobID) throws -> RunRecord {
        for key in options.parameters.keys where key.isEmpty || key.contains("=") || key.unicodeScalars.contains(where: Printable.isControl) {
            throw TrainingError.badParameter("-p takes KEY=VALUE with a plain key (got '\(Printable.escaped(key))')")
        }
        let id = newRunID(snapshot)
        let here = FileManager.default.currentDirectoryPath
        let program = ProgramRun(command: options.command, parameters: options.parameters, workingDirectory: here,
                                 git: GitState.of(here), layout: options.layout)
        let commandName = ProgramRun.name(of: options.command)
        var record = RunRecord(id: id, name: options.name ?? "\(commandName)-\(id.prefix(6))", dataRef: options.dataRef,
                               snapshotID: snapshot.hex, parameters: nil,
                               environment: .current(cairnVersion: cairnVersion, sourceCommit: sourceCommit))
        record.program = program
        record.sweep = options.sweep
        let row = try record.row
        try catalog.write { try $0.insertRun(row) }
        return record
    }

    /// The `CAIRN_*` variables: the contract a program reads its data and writes its results by.
    private func environment(for record: RunRecord, _ data: Materialization, directory: String) -> [String: String] {
        let parameters = (try? JSONEncoder.sorted.encode(record.program?.parameters ?? [:])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var out = ["CAIRN_RUN_ID": record.id, "CAIRN_SNAPSHOT": record.snapshotID, "CAIRN_CLASSES": data.classes,
                   "CAIRN_MANIFEST": data.manifest, "CAIRN_RUN_DIR": directory, "CAIRN_PARAMS": parameters,
                   "CAIRN_REPO": repository.root, "CAIRN_LAYOUT": data.layout.rawValue]
        if let directory = data.directory { out["CAIRN_DATA"] = directory }
        for (split, pattern) in data.shards { out["CAIRN_SHARDS_" + split.uppercased()] = pattern }
        return out
    }

    /// Streams the program's output until it ends, ignoring SIGINT here meanwhile and passing
    /// SIGTERM and SIGHUP on; returns how it ended and whether a signal was passed on.
    private static func supervise(_ child: ChildProcess, _ output: (ChildProcess.Stream, UnsafeRawBufferPointer) -> Void)
        -> (Termination, forwarded: Bool) {
        let forwarded = Atomic<Bool>(false)
        // SIGINT reaches the program from the terminal itself (same process group): nothing to pass on.
        let signals = SignalHandlers([SIGINT, SIGTERM, SIGHUP]) { number in
            guard number != SIGINT else { return }
            forwarded.store(true, ordering: .relaxed)
            child.send(number)
        }
        let ended = child.stream(output)
        signals.cancel()
        return (ended, forwarded.load(ordering: .relaxed))
    }

    /// Appends `bytes` to the log at `path` (a log that cannot be written costs the log, not the run).
    private static func keep(_ bytes: UnsafeRawBufferPointer, in path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, FileModes.file)
        guard fd >= 0 else { return }
        _ = write(fd, bytes.baseAddress, bytes.count)
        close(fd)
    }

    /// Reads what the program left in its run directory into the record: metrics, summary,
    /// artifacts (stored as blobs) and predictions (stored in the catalog).
    private func collect(into record: inout RunRecord, directory: String) {
        let root = repository.root
        record.program?.logs = ["stdout.log", "stderr.log"].map { directory + "/" + $0 }.filter(FileManager.default.fileExists)
            .map { $0.hasPrefix(root + "/") ? String($0.dropFirst(root.count + 1)) : $0 }
        if let text = try? String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8) {
            let (points, problems) = ProgramRun.readMetrics(text)
            record.program?.metrics = points
            record.program?.metricProblems = problems
        }
        if let size = try? FileManager.default.attributesOfItem(atPath: directory + "/summary.json")[.size] as? Int, size > 1 << 20 {
            record.program?.metricProblems.append("summary.json is \(size) bytes, over the 1 MiB a run record keeps; left out")
        } else if let data = FileManager.default.contents(atPath: directory + "/summary.json") {
            do {
                record.program?.summary = try JSONDecoder().decode([String: JSONValue].self, from: data)
            } catch {
                record.program?.metricProblems.append("summary.json: not a JSON object")
            }
        }
        let (artifacts, refused) = storeArtifacts(directory + "/artifacts")
        record.program?.artifacts = artifacts
        record.program?.artifactProblems = refused
        if FileManager.default.fileExists(atPath: directory + "/predictions.jsonl") {
            do {
                let stored = try importPredictions(into: &record, file: directory + "/predictions.jsonl")
                record.program?.predictions = stored
            } catch {
                record.program?.predictionProblems = ["\(error)"]
            }
        }
        if FileManager.default.fileExists(atPath: directory + "/embeddings.npy") {
            do {
                record.program?.embeddings = try storeEmbeddings(directory)
            } catch {
                record.program?.embeddingProblems = ["\(error)"]
            }
        }
        if let drawn = try? Plots.write(record, to: directory, relativeTo: root) { record.plots = drawn }
    }

    /// Stores every regular file under `artifacts` as a blob. A symbolic link is followed only when
    /// it stays inside the run directory; anything else (a link out, a device, a FIFO) is refused.
    private func storeArtifacts(_ artifacts: String) -> ([Artifact], [String]) {
        var stored: [Artifact] = [], refused: [String] = []
        let runDirectory = (artifacts as NSString).deletingLastPathComponent
        guard let walker = FileManager.default.enumerator(atPath: artifacts) else { return ([], []) }
        while let relative = walker.nextObject() as? String {
            let path = artifacts + "/" + relative
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            var source = path
            if (st.st_mode & S_IFMT) == S_IFLNK {
                guard let resolved = realpath(path, nil).map({ p -> String in defer { free(p) }; return String(cString: p) }),
                      resolved.hasPrefix(runDirectory + "/"), stat(resolved, &st) == 0 else {
                    refused.append("\(relative): a link out of the run directory is not kept")
                    continue
                }
                source = resolved
            }
            if (st.st_mode & S_IFMT) == S_IFDIR { continue }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                refused.append("\(relative): not a regular file")
                continue
            }
            do {
                let (id, _) = try repository.store.putFile(atPath: source)
                stored.append(Artifact(path: relative, blob: id.hex, bytes: Int64(st.st_size)))
            } catch {
                refused.append("\(relative): \(error)")
            }
        }
        do {
            try repository.store.flush()
        } catch {
            return ([], refused + ["artifacts could not be stored: \(error)"])
        }
        return (stored.sorted { $0.path < $1.path }, refused)
    }

    /// Ends the run with `status`, saving the record.
    private func finish(_ record: inout RunRecord, status: RunStatus, error: String?) throws {
        record.status = status
        record.error = error
        record.endedAt = Date()
        try save(record)
    }

    /// A new run id: 12 hex digits from the snapshot, the time, this process and chance.
    func newRunID(_ snapshot: BlobID) -> String {
        var source = Array(snapshot.hex.utf8)
        source += Array("\(Date().timeIntervalSince1970) \(getpid()) \(UInt64.random(in: 0...UInt64.max))".utf8)
        return String(BlobID(hashing: source).hex.prefix(12))
    }
}

extension GitState {
    /// The commit and dirty flag of the git repository `directory` is in, if it is in one and git is installed.
    static func of(_ directory: String) -> GitState? {
        func git(_ arguments: [String]) -> String? {
            guard let child = try? ChildProcess(["git", "-C", directory] + arguments, environment: ProcessInfo.processInfo.environment)
            else { return nil }
            var out = Data()
            let ended = child.stream { stream, bytes in if stream == .stdout { out.append(contentsOf: bytes) } }
            return ended == .exited(0) ? String(decoding: out, as: UTF8.self) : nil
        }
        guard let commit = git(["rev-parse", "HEAD"])?.trimmingCharacters(in: .whitespacesAndNewlines), commit.count >= 40,
              let status = git(["status", "--porcelain", "--untracked-files=no"]) else { return nil }
        return GitState(commit: commit, dirty: !status.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }
}
