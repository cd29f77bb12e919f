import CairnSupport
import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnStore
import CairnVersioning
import CairnRemote
import Foundation
import Synchronization

struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Add, list or remove remotes (S3-compatible, or a directory).",
        discussion: """
            A remote is a bucket and key prefix on AWS S3 or any S3-compatible server (MinIO, Ceph RGW, R2 …), \
            or a directory (file:///PATH: another disk, or a share several machines mount; it must exist). \
            Its address is kept in .cairn/config.toml; credentials never are: they come from AWS_ACCESS_KEY_ID / \
            AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, or AWS_PROFILE and ~/.aws/credentials.
            Examples:
              cairn remote add origin s3://datasets/cats
              cairn remote add local s3://bucket/ds --endpoint http://127.0.0.1:9000 --path-style
              cairn remote add nas file:///mnt/nas/datasets/cats
              cairn remote list
            """,
        subcommands: [RemoteAdd.self, RemoteList.self, RemoteRemove.self], defaultSubcommand: RemoteList.self)

    struct RemoteAdd: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a remote.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var remote: RemoteAddressOptions
        @Argument(help: "Remote name (letters, digits, '-', '_', '.').") var name: String
        @Argument(help: "s3://BUCKET[/PREFIX], or file:///PATH for a directory.") var url: String
        @Flag(help: """
            Keep the repository's images in this remote (a team repository's shared store): every image \
            stored from now on is uploaded to it before the catalog names it, and one missing here is \
            fetched from it when read. What the repository holds already is uploaded now.
            """) var imageStore = false

        func run() throws {
            let repo = try repository.open()
            let settings = try remote.settings(url: url)
            try repo.addRemote(name, settings, imageStore: imageStore)
            say("added remote \(name) → \(settings.url)\(settings.endpoint.map { " at \($0)" } ?? "")")
            guard imageStore else { return }
            // Reopened, the store publishes to the new remote: what it holds goes up first.
            let store = try Repository(root: repo.root).store
            let ids = try store.allIDs().sorted()
            if !ids.isEmpty { try store.upstream?.publish(ids, from: store) }
            say("images are now kept in \(name)\(ids.isEmpty ? "" : " (\(ids.count) objects held here checked or uploaded)")")
        }
    }

    struct RemoteList: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List remotes.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let remotes = try repository.open().config.remotes
            if output.json { return try printJSON(remotes) }
            if remotes.isEmpty { return say("no remotes; add one with `cairn remote add origin s3://BUCKET/PREFIX`") }
            say(table(remotes.keys.sorted().map { name in
                let r = remotes[name]!
                return [name, r.url, r.endpoint ?? "aws", r.region ?? "", r.pathStyle == true ? "path-style" : ""]
            }))
        }
    }

    struct RemoteRemove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Forget a remote (nothing on it is deleted).")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Remote name.", completion: .custom(Completions.remotes)) var name: String

        func run() throws {
            try repository.open().removeRemote(name)
            say("removed remote \(name)")
        }
    }
}

/// Where a remote is, as given on the command line.
struct RemoteAddressOptions: ParsableArguments {
    @Option(help: "S3-compatible server, http(s)://HOST[:PORT] (default: AWS).") var endpoint: String?
    @Option(help: "Region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1).") var region: String?
    @Flag(help: "Put the bucket in the path (most non-AWS servers) instead of the host name.") var pathStyle = false

    func settings(url: String) throws -> RepositoryConfig.RemoteSettings {
        let settings = RepositoryConfig.RemoteSettings(url: url, endpoint: endpoint, region: region, pathStyle: pathStyle ? true : nil)
        try Remote.validate(settings)
        return settings
    }
}

/// `--jobs` and the progress display shared by push, pull and clone.
struct TransferOptions: ParsableArguments {
    @Option(name: [.short, .long], parsing: .unconditional, help: "Parallel requests.") var jobs = 16

    func validate() throws {
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256") }
    }

    /// The remote named by the first argument when it is one (else the default remote), and the refs after it.
    func remote(_ repo: Repository, _ arguments: [String]) throws -> (Remote, [String]) {
        let named = arguments.first.flatMap { repo.config.remotes[$0] != nil ? $0 : nil }
        let remote = try Remote(repository: repo, name: named, parallelism: jobs)
        return (remote, named == nil ? arguments : Array(arguments.dropFirst()))
    }

    /// A progress callback drawing one bar per phase on a terminal.
    func progress() -> @Sendable (TransferProgress) -> Void { Self.progressBars() }

    /// A progress callback drawing one bar per phase on a terminal.
    static func progressBars() -> @Sendable (TransferProgress) -> Void {
        let bars = TransferBars()
        return { bars.update($0) }
    }
}

/// One bar per transfer phase: a new phase clears the last one's bar.
private final class TransferBars: Sendable {
    private let current = Mutex<(phase: String, bar: ProgressBar?)>(("", nil))

    func update(_ p: TransferProgress) {
        current.withLock { current in
            if p.phase != current.phase {
                current.bar?.finish()
                current = (p.phase, ProgressBar(p.phase))
            }
            current.bar?.update(done: p.done, total: p.total, bytes: p.bytes, force: p.done == p.total)
            if p.done == p.total { current.bar?.finish() }
        }
    }
}

/// Parses `--split` / `--class` filters.
struct PullFilterOptions: ParsableArguments {
    @Option(name: .customLong("split"), help: "Fetch only images of this split (train, val, test; repeatable).") var splits: [String] = []
    @Option(name: .customLong("class"), help: "Fetch only images labeled with this class (repeatable).") var classes: [String] = []

    func validate() throws {
        for split in splits where Split(rawValue: split) == nil {
            throw ValidationError("unknown split '\(split)' (train, val or test)")
        }
    }

    var splitSet: Set<Split> { Set(splits.compactMap(Split.init(rawValue:))) }
}

/// A byte count written as digits with an optional K, M or G suffix (powers of 1024).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init?(argument: String) {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = argument.uppercased()
        var unit = 1
        if let last = digits.last, let scale = units[last] {
            unit = scale
            digits.removeLast()
        }
        guard let value = Int(digits), value > 0, value <= Int.max / unit else { return nil }
        bytes = value * unit
    }
}

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Upload snapshots, their tags and the catalog to a remote.",
        discussion: """
            Uploads every object the refs (default: every tag) need that the remote lacks — found from the snapshot \
            trees, not by asking about each blob — then the snapshots' descriptions, the tags and the catalog \
            (classes, annotators, annotations, verdicts, runs) last, so the remote never names something it lacks. \
            Objects up to 1 MiB travel many to a pack (one request each way for thousands of small images). \
            An interrupted push resumes where it stopped. A tag that names another snapshot on the remote is \
            refused unless --force.
            Examples:
              cairn push
              cairn push origin v1
              cairn push backup HEAD --json
              cairn push --pack-size 32M
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var transfer: TransferOptions
    @Argument(help: "Remote (default: origin, or the only one), then refs: tags, snapshot ids, HEAD.", completion: .custom(Completions.remotesAndRefs)) var arguments: [String] = []
    @Flag(help: "Move tags on the remote that name other snapshots.") var force = false
    @Option(help: "Bytes of small objects per uploaded pack, e.g. 32M or 512K (default: an even share of the push, 1M to 8M).")
    var packSize: ByteSize?

    func run() async throws {
        let (remote, args) = try transfer.remote(try repository.open(), arguments)
        let report = try await remote.push(refs: args, force: force, packSize: packSize?.bytes, progress: transfer.progress())
        if output.json { return try printJSON(report) }
        if report.snapshots.isEmpty && report.objectsUploaded == 0 && report.tagsUpdated.isEmpty && !report.catalogUpdated
            && report.purgedErased == 0 {
            return say("\(report.remote) is up to date (\(report.requests) requests, \(String(format: "%.2f", report.seconds)) s)")
        }
        say("pushed to \(report.remote) (\(report.url)): \(report.snapshots.count) snapshots, \(report.objectsUploaded) objects, "
            + "\(formatBytes(report.bytesUploaded)) in \(String(format: "%.1f", report.seconds)) s"
            + (report.tagsUpdated.isEmpty ? "" : "; tags \(report.tagsUpdated.joined(separator: ", "))")
            + (report.catalogUpdated ? "; catalog updated" : "")
            + (report.purgedErased > 0 ? "; erased \(report.purgedErased) copies of purged images there (\(formatBytes(report.purgedBytes)))" : "")
            + (report.retries > 0 ? " (\(report.retries) requests retried)" : ""))
    }
}

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch snapshots, images, tags and labels from a remote.",
        discussion: """
            Fetches every snapshot tree on the remote, the images of the refs (default: every remote tag) that pass \
            --split and --class, and merges tags and the catalog (annotations are unioned; nothing here is \
            overwritten; a tag that names a different snapshot here is kept and reported). Every object is checked \
            against its id before it is stored. Images left on the remote by a filter can be pulled later.
            Examples:
              cairn pull
              cairn pull origin v1 --split train
              cairn pull --class cat --json
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var filter: PullFilterOptions
    @Argument(help: "Remote (default: origin, or the only one), then refs: remote tags or snapshot ids.", completion: .custom(Completions.remotesAndRefs)) var arguments: [String] = []

    func run() async throws {
        let (remote, args) = try transfer.remote(try repository.open(), arguments)
        let report = try await remote.pull(refs: args, splits: filter.splitSet, classes: Set(filter.classes), progress: transfer.progress())
        if output.json { return try printJSON(report) }
        printPull(report)
    }
}

func printPull(_ report: PullReport) {
    say("pulled from \(report.remote) (\(report.url)): \(report.snapshots.count) new snapshots, \(report.treeObjects) tree objects, "
        + "\(report.blobs) images and checkpoints (\(formatBytes(report.bytes))) in \(String(format: "%.1f", report.seconds)) s")
    let m = report.merged
    if m.total > 0 {
        say("merged \(m.items) items, \(m.annotations) annotations, \(m.reviews) verdicts, \(m.runs) runs, \(m.classes) classes, \(m.annotators) annotators")
    }
    if !report.tagsAdded.isEmpty { say("new tags: \(report.tagsAdded.joined(separator: ", "))") }
    if report.blobsLeftOnRemote > 0 { say("\(report.blobsLeftOnRemote) images left on the remote by --split/--class") }
    if report.purged > 0 { say("\(report.purged) purged images not fetched (`cairn show ITEM` says who purged them and why)") }
    if report.merged.purges > 0 || report.purgedErased > 0 {
        say("\(report.merged.purges) purges recorded elsewhere by reviewers known here now apply here; \(report.purgedErased) stored copies erased")
    }
    if report.merged.purgesHeld > 0 {
        warn("\(report.merged.purgesHeld) purges from the remote were recorded by people not known here as reviewers: held, "
             + "nothing erased. `cairn purge --held` lists them; `cairn purge --apply-pulled --yes` applies them")
    }
    for tag in report.tagConflicts { warn("tag \(tag) names a different snapshot here than on the remote; kept this repository's") }
    for (tag, why) in report.tagsRefused.sorted(by: { $0.key < $1.key }) { warn("refused the remote's tag '\(tag)': \(why)") }
    if report.refused.total > 0 {
        let r = report.refused
        warn("refused \(r.total) catalog rows from the remote (\(r.items) items no remote snapshot holds, \(r.labels) labels, "
             + "\(r.classes) classes, \(r.annotators) annotators, \(r.runs) runs, \(r.snapshots) snapshot descriptions)"
             + (r.examples.isEmpty ? "" : ": " + r.examples.joined(separator: "; ")))
    }
}

struct CloneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Make a new repository from a remote.",
        discussion: """
            Creates DIR (or uses it if empty), records the remote as origin and pulls from it: every snapshot \
            tree, the images of every tag (or of the refs given, and only those passing --split / --class), the \
            tags and the catalog.
            Examples:
              cairn clone s3://datasets/cats cats
              cairn clone s3://bucket/ds ds --endpoint http://127.0.0.1:9000 --path-style --split train
              cairn clone file:///mnt/nas/datasets/cats cats
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var transfer: TransferOptions
    @OptionGroup var address: RemoteAddressOptions
    @OptionGroup var filter: PullFilterOptions
    @Argument(help: "s3://BUCKET[/PREFIX], or file:///PATH for a directory.") var url: String
    @Argument(help: "Directory for the new repository.") var directory: String
    @Option(name: .customLong("ref"), help: "Fetch images of this remote tag or snapshot only (repeatable).") var refs: [String] = []

    func run() async throws {
        let (repo, report) = try await Remote.clone(
            try address.settings(url: url), into: directory, refs: refs, splits: filter.splitSet, classes: Set(filter.classes),
            parallelism: transfer.jobs, progress: transfer.progress())
        if output.json { return try printJSON(report) }
        printPull(report)
        say("cloned into \(repo.root)")
    }
}
