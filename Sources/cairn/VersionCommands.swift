import ArgumentParser
import CairnCatalog
import CairnQuality
import CairnRemote
import CairnRepository
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// ISO 8601 text for a date, as every command prints times.
func isoTime(_ date: Date) -> String { date.formatted(.iso8601) }

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Freeze the current images, labels and splits into an immutable snapshot.",
        discussion: """
            The snapshot id is the SHA-256 of its content (items, labels, splits, classes, provenance), so the \
            same content always has the same id. With nothing changed since the last snapshot, nothing new is made.
            Example:
              cairn snapshot -m "first labeled version" && cairn tag v1
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .shortAndLong, help: "What this snapshot is.") var message: String
    @Option(help: "Author (default: $CAIRN_AUTHOR, else $USER).") var author: String?

    func validate() throws {
        guard !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("give the snapshot a message: -m \"what changed\"")
        }
    }

    func run() throws {
        let repo = try repository.open()
        let result = try Versioning(repository: repo).snapshot(message: message, author: try repo.person(author, option: "--author"))
        if output.json { return try printJSON(result) }
        let s = result.snapshot
        if result.created {
            say("snapshot \(s.id) (\(s.itemCount) items, \(s.counts.classes.count) classes, \(s.counts.unlabeled) unlabeled, "
                + "\(s.counts.conflicts) with conflicting labels)")
            if s.counts.boxes != nil || s.counts.boxConflicts != nil {
                say("boxes: " + boxCounts(s.counts.boxes ?? [:], unresolved: s.counts.boxConflicts))
            }
        } else {
            say("nothing changed since snapshot \(s.id.hex.prefix(12)); no new snapshot")
        }
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Name a snapshot (default HEAD), or delete a tag with -d.",
        discussion: """
            Tags are immutable: moving one needs --force, and its old target stays in the tag history (and is kept by gc).
            Examples:
              cairn tag v1
              cairn tag v1-fixed HEAD~1
              cairn tag -d v1
            """)

    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "Tag name (no '/', '..' or whitespace).") var name: String
    @Argument(help: "A tag, snapshot id (or unambiguous prefix), HEAD or HEAD~N.", completion: .custom(Completions.refs)) var ref: String = "HEAD"
    @Flag(name: .shortAndLong, help: "Delete the tag.") var delete = false
    @Flag(name: .shortAndLong, help: "Move an existing tag.") var force = false
    @Option(help: "Who is tagging, kept in the tag history (default: $CAIRN_AUTHOR, else $USER).") var author: String?

    func run() throws {
        let repo = try repository.open()
        let author = try repo.person(author, option: "--author")
        if delete {
            try Versioning(repository: repo).deleteTag(name, author: author)
            return say("deleted tag \(name)")
        }
        let target = try Versioning(repository: repo).tag(name, ref: ref, author: author, force: force)
        say("tagged \(target.id.hex.prefix(12)) as \(name)")
    }
}

struct TagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tags", abstract: "List tags; --history shows every create, move and delete.",
        discussion: "Example: cairn tags --json")

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Show the tag history instead.") var history = false

    func run() throws {
        let versioning = Versioning(repository: try repository.open())
        if history {
            let events = try versioning.tagHistory()
            if output.json { return try printJSON(events) }
            return say(table(events.map { [isoTime($0.at), $0.action.rawValue, $0.name, String($0.snapshotID.hex.prefix(12)), $0.author] }))
        }
        let tags = try versioning.tags()
        if output.json { return try printJSON(tags) }
        if tags.isEmpty { return say("no tags yet; make one with `cairn tag NAME`") }
        say(table(tags.map { [$0.name, String($0.snapshotID.hex.prefix(12)), isoTime($0.createdAt), $0.author] }))
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Snapshot history from a ref (default HEAD) back, with counts.",
        discussion: "Example: cairn log -n 5")

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Where to start.", completion: .custom(Completions.refs)) var ref: String = "HEAD"
    @Option(name: [.customShort("n", allowingJoined: true), .long], help: "Show at most this many.") var limit: Int = .max

    func run() throws {
        let versioning = Versioning(repository: try repository.open())
        let log = try versioning.log(from: ref, limit: limit)
        if output.json { return try printJSON(log) }
        let training = Training(versioning: versioning, cairnVersion: Cairn.version)
        for s in log {
            say("snapshot \(s.id)" + (s.tags.isEmpty ? "" : "  (tag: \(s.tags.joined(separator: ", ")))"))
            say("  \(isoTime(s.createdAt))  \(s.author)  \(s.message)")
            let classes = s.counts.classes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            say("  \(s.itemCount) items; \(Split.allCases.map { "\($0) \(s.counts.splits[$0.rawValue] ?? 0)" }.joined(separator: ", ")); "
                + "unlabeled \(s.counts.unlabeled), conflicts \(s.counts.conflicts)")
            if !classes.isEmpty { say("  classes: \(classes)") }
            if s.counts.boxes != nil || s.counts.boxConflicts != nil { say("  boxes: " + boxCounts(s.counts.boxes ?? [:], unresolved: s.counts.boxConflicts)) }
            if let health = try training.health(of: s.id) { say("  health: \(health.summary)") }
            say("")
        }
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "What changed between two snapshots: items, labels, splits, class counts.",
        discussion: "Examples: cairn diff v1 v2   cairn diff HEAD~1 HEAD --stat")

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The older snapshot.", completion: .custom(Completions.refs)) var from: String
    @Argument(help: "The newer snapshot.", completion: .custom(Completions.refs)) var to: String
    @Flag(help: "Only the counts.") var stat = false

    func run() throws {
        let versioning = Versioning(repository: try repository.open())
        let diff = try versioning.diff(from, to)
        if output.json { return try printJSON(diff) }
        if !stat {
            for item in diff.added { say("+ \(item.blobID.hex.prefix(12))  \(item.label?.description ?? "-")  \(item.path)") }
            for item in diff.removed { say("- \(item.blobID.hex.prefix(12))  \(item.label?.description ?? "-")  \(item.path)") }
            for c in diff.labelsChanged {
                let why = (c.details ?? []).isEmpty ? "" : " (\(c.details!.joined(separator: "; ")))"
                say("~ \(c.blobID.hex.prefix(12))  label \(c.old ?? "-") -> \(c.new ?? "-")\(why)  \(c.path)")
            }
            for c in diff.splitsChanged { say("~ \(c.blobID.hex.prefix(12))  split \(c.old ?? "-") -> \(c.new ?? "-")  \(c.path)") }
            for c in diff.otherwiseChanged {
                say("~ \(c.blobID.hex.prefix(12))  \((c.details ?? []).joined(separator: "; "))  \(c.path)")
            }
            for c in diff.boxesChanged {
                var parts: [String] = []
                if c.oldState != c.newState { parts.append("boxes \(c.oldState ?? "resolved") -> \(c.newState ?? "resolved")") }
                parts += c.changes.added.map { "+\($0.description)" } + c.changes.removed.map { "-\($0.description)" }
                parts += c.changes.moved.map { "moved \($0.old.description) -> \($0.new.description)" }
                parts += c.changes.relabeled.map { "relabeled \($0.old.description) -> \($0.new.description)" }
                say("~ \(c.blobID.hex.prefix(12))  \(parts.joined(separator: "; "))  \(c.path)")
            }
        }
        let deltas = diff.classDeltas.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value > 0 ? "+" : "")\($0.value)" }
        say("\(diff.added.count) added, \(diff.removed.count) removed, \(diff.labelsChanged.count) labels changed, "
            + "\(diff.splitsChanged.count) splits changed, \(diff.otherwiseChanged.count) otherwise changed"
            + (deltas.isEmpty ? "" : "; classes: " + deltas.joined(separator: ", "))
            + (diff.classesChanged ? "; the class list changed" : "")
            + (diff.boxesChanged.isEmpty && diff.boxDeltas.isEmpty ? "" : "; \(diff.boxesChanged.count) items' boxes changed"
               + (diff.boxDeltas.isEmpty ? "" : " (" + diff.boxDeltas.sorted { utf8Precedes($0.key, $1.key) }
                    .map { "\($0.key) \($0.value > 0 ? "+" : "")\($0.value)" }.joined(separator: ", ") + ")")))
        let training = Training(versioning: versioning, cairnVersion: Cairn.version)
        let a = try training.health(of: try versioning.resolve(from).id), b = try training.health(of: try versioning.resolve(to).id)
        if let change = SnapshotHealth.change(a, b) { say(change) }
    }
}

extension CheckoutLayout: ExpressibleByArgument {}
extension LinkMode: ExpressibleByArgument {}
extension ExportFormat: ExpressibleByArgument {}

struct CheckoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout", abstract: "Write a snapshot's images out as files, with a manifest.",
        discussion: """
            ImageFolder layout: DIR/<split>/<class>/<blob-id>.<ext> for items labeled with one class, with a folder for \
            every class in every split (so PyTorch's ImageFolder gives a class the same index in each) and DIR/classes.txt \
            listing the classes in that index order; unlabeled, conflicting and multi-label items go outside the splits, \
            under DIR/_unlabeled/<split>/, DIR/_conflict/<split>/ and DIR/_multi/<split>/<a+b>/. Flat layout: \
            DIR/<blob-id>.<ext>. yolo and coco (a snapshot with boxes) lay the boxes out as `export --format yolo|coco` \
            does: ultralytics' images/, labels/ and data.yaml, or images/ with COCO detection files. Every byte is verified against its blob id, a linked file's too. --link hardlink makes \
            files read-only so editing them cannot corrupt the store; small objects are stored in packs, which cannot be \
            linked one object at a time: those are written out, and the count is reported.
            Examples:
              cairn checkout v1 out/
              cairn checkout v1 out/ --split train --link hardlink
              cairn checkout v3 detector-data/ --layout yolo
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The snapshot.", completion: .custom(Completions.refs)) var ref: String
    @Argument(help: "Target directory (created; must be empty unless --force).") var directory: String
    @Option(help: "How files are arranged.") var layout: CheckoutLayout = .imagefolder
    @Option(help: "How files are made; reflink copies where the file system cannot clone, hardlink and symlink copy packed objects.") var link: LinkMode = .reflink
    @Option(help: "Only this split.") var split: Split?
    @Flag(help: "Write into a non-empty directory.") var force = false
    @Option(parsing: .unconditional, help: "Parallel writers (1 is fastest on ext4, which serialises creation within a directory).") var jobs: Int = 1

    func run() throws {
        let bar = ProgressBar("checkout")
        let report = try Versioning(repository: try repository.open()).checkout(
            ref, to: directory, options: CheckoutOptions(layout: layout, link: link, split: split, force: force, jobs: jobs)
        ) { done, total in bar.update(done: done, total: total) }
        bar.finish()
        if output.json { return try printJSON(report) }
        say("checked out \(report.files) files (\(formatBytes(report.bytes)), \(report.linked) linked) from \(report.snapshot.hex.prefix(12)) into \(directory)"
            + (report.classes != nil ? "; classes.txt lists the classes in index order" : ""))
        if report.purged > 0 {
            warn("\(report.purged) item(s) of that snapshot were left out: their bytes were purged (`cairn show ITEM` says who purged them and why)")
        }
        if report.notLinked > 0 {
            warn("\(report.notLinked) of \(report.files) files were written out, not linked: their objects are packed "
                 + "(objects up to 1 MiB share pack files, which cannot be linked one object at a time)")
        }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export a snapshot's labels and images for use elsewhere.",
        discussion: """
            csv: labels.csv + images/; jsonl: items.jsonl (full fidelity, re-importable with `cairn import --jsonl`) \
            + images/; coco: annotations/instances_<split>.json + images/; yolo (a snapshot with boxes): images/<split>/, \
            labels/<split>/*.txt and data.yaml as ultralytics reads them; labelstudio (a snapshot with boxes): \
            tasks.json as Label Studio exports rectangle labels + images/; voc and cvat (a snapshot with boxes): Pascal VOC's \
            Annotations/ and ImageSets/Main/, or CVAT for images 1.1's annotations.xml, + images/; imagefolder: as `checkout`; webdataset: \
            shards <split>-NNNNNN.tar of --shard-size samples (KEY.png|jpg, KEY.cls, KEY.json; KEY = blob id; \
            items labeled with one class, and items whose boxes resolve, with their boxes in KEY.json), classes.txt, _info.json (timm) and manifest.json (each shard's SHA-256), \
            byte-identical for the same snapshot. A webdataset export may go straight to s3://BUCKET/PREFIX \
            (credentials as for remotes; --endpoint, --region and --path-style as for `remote add`). Image files \
            are named by blob id.
            Examples:
              cairn export v1 --format jsonl out/
              cairn export v1 --format webdataset shards/ --shard-size 10000
              cairn export v1 --format webdataset s3://datasets/digits-v1
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The snapshot.", completion: .custom(Completions.refs)) var ref: String
    @Option(help: "The format.") var format: ExportFormat
    @Argument(help: "Target directory (or, for webdataset, s3://BUCKET/PREFIX).") var directory: String
    @Flag(help: "Write into a non-empty directory.") var force = false
    @Option(parsing: .unconditional, help: "webdataset: samples per shard.") var shardSize = WebDataset.defaultShardSize
    @Option(help: "S3: http(s)://HOST[:PORT] of an S3-compatible server.") var endpoint: String?
    @Option(help: "S3: the region (default: $AWS_REGION, else us-east-1).") var region: String?
    @Flag(help: "S3: the bucket in the path, not the host name.") var pathStyle = false

    func validate() throws {
        if directory.hasPrefix("s3://") && format != .webdataset { throw ValidationError("only --format webdataset exports to S3") }
        if shardSize < 1 { throw ValidationError("--shard-size must be at least 1") }
    }

    func run() async throws {
        let versioning = Versioning(repository: try repository.open())
        if directory.hasPrefix("s3://") {
            let bars = TransferOptions.progressBars()
            let manifest = try await S3Export.webDataset(versioning, ref: ref, to: directory, endpoint: endpoint, region: region,
                                                         pathStyle: pathStyle, shardSize: shardSize, progress: bars)
            if output.json { return try printJSON(manifest) }
            return say("exported \(manifest.shards.reduce(0) { $0 + $1.samples }) samples of \(manifest.snapshot.hex.prefix(12)) "
                       + "in \(manifest.shards.count) shards to \(directory)")
        }
        let bar = ProgressBar("exporting")
        let report = try versioning.export(ref, format: format, to: directory, force: force, shardSize: shardSize)
        bar.finish()
        if output.json { return try printJSON(report) }
        say("exported \(report.items) items of \(report.snapshot.hex.prefix(12)) as \(format.rawValue) to \(directory)")
        if let boxes = report.boxes {
            say("\(boxes) boxes; left out: \(report.withoutBoxes ?? 0) items nobody drew boxes on, "
                + "\(report.unresolvedBoxes ?? 0) with differing box sets unreviewed")
        }
        if let crowd = report.crowdLeftOut, let occluded = report.occludedDropped, crowd + occluded > 0 {
            let name = [ExportFormat.yolo: "YOLO", .labelstudio: "Label Studio", .voc: "Pascal VOC", .cvat: "CVAT"][format] ?? format.rawValue
            warn("\(name) has no crowd\(format == .voc || format == .cvat ? "" : " or occluded") flag: \(crowd) crowd boxes left out"
                 + (occluded > 0 ? ", \(occluded) occluded flags dropped" : ""))
        }
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Set the working labels (and with --items the item set) back to a snapshot's.",
        discussion: """
            Each label change is recorded as a reviewer verdict by you, so history is kept. With --items, items added since \
            are removed from the working state and items removed since come back (each a recorded removal or return).
            Examples:
              cairn restore v1
              cairn restore v1 --items
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The snapshot.", completion: .custom(Completions.refs)) var ref: String
    @Option(help: "Who restores: each change is a verdict by them (default: $CAIRN_AUTHOR, else $USER).") var author: String?
    @Flag(help: "Also restore the item set: remove what was added since, bring back what was removed.") var items = false

    func run() throws {
        let repo = try repository.open()
        let report = try Versioning(repository: repo).restore(ref, author: try repo.person(author, option: "--author"), items: items)
        if output.json { return try printJSON(report) }
        say("restored \(report.restored) label(s)" + (report.boxesRestored > 0 ? " and \(report.boxesRestored) item(s)' boxes" : "")
            + " from \(report.snapshot.hex.prefix(12))"
            + (items ? "; removed \(report.removed) item(s) added since, brought back \(report.broughtBack)" : "")
            + (report.purged > 0 ? "; \(report.purged) purged item(s) stay out" : ""))
        if !report.leftAsIs.isEmpty {
            warn("\(report.leftAsIs.count) item(s) were left as they are: unlabeled (or without resolved boxes) in that snapshot but "
                 + "labeled now (a verdict cannot unlabel), or labeled there with a class removed since")
        }
        if report.missing > 0 { warn("\(report.missing) item(s) of that snapshot are not in this repository's catalog") }
    }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Delete objects no snapshot, tag or item needs.",
        discussion: """
            Never deletes anything reachable from a snapshot, a tag (or tag history) or the working state, nor \
            anything written in the last hour (an import may be about to use it). Waits for running imports.
            Example:
              cairn gc --dry-run
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Report what would be deleted, delete nothing.") var dryRun = false
    @Option(parsing: .unconditional, help: "Grace period in seconds for new objects.") var grace: Double = 3600

    func run() throws {
        let report = try Versioning(repository: try repository.open()).gc(dryRun: dryRun, gracePeriod: grace)
        if output.json { return try printJSON(report) }
        say("\(dryRun ? "would free" : "freed") \(formatBytes(report.freedBytes)): \(report.deletedObjects) unreachable objects "
            + "(\(report.packsDeleted) packs deleted, \(report.packsRewritten) rewritten), \(report.abandonedFiles) abandoned files, "
            + "\(report.duplicatesRemoved) extra copies; "
            + "\(report.reachable) reachable, \(report.keptRecent) unreachable kept as recent")
    }
}
