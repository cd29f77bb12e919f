import CairnSupport
import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnRepository
import CairnVersioning
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a repository (a .cairn directory) in DIR.",
        discussion: """
            --shared group makes a repository a team shares on one machine, as git's core.sharedRepository: \
            .cairn's directories setgid and group-writable, and every file any member's cairn creates group-writable, \
            so each member of DIR's group can label, snapshot, train and gc. Give DIR the team's group first \
            (chgrp team DIR). `cairn config shared group` converts an existing repository.
            Examples:
              cairn init my-dataset
              cairn init --shared group /srv/datasets/birds
            """)

    @Argument(help: "The dataset directory (default: the current directory).")
    var directory: String = "."

    @Option(help: "group: share the repository with the group of DIR.") var shared: SharedMode?

    @Option(help: "Where the catalog lives: sqlite (the default, in .cairn) or a postgresql:// URL a team shares.")
    var catalog: String = "sqlite"

    func run() throws {
        let backend = try RepositoryConfig.CatalogBackend(argument: catalog)
        let repo = try Repository.initialize(at: directory, config: RepositoryConfig(catalog: backend), sharedWithGroup: shared == .group)
        let kind = shared == .group ? "group-shared " : ""
        switch backend {
        case .sqlite: say("Initialized an empty \(kind)cairn repository in \(repo.cairnDirectory)")
        case .postgresql: say("Initialized a \(kind)cairn repository in \(repo.cairnDirectory) on the catalog at \(repo.catalog.location)")
        }
    }
}

enum SharedMode: String, ExpressibleByArgument, CaseIterable {
    case group
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Change a repository-wide setting: `config shared group` shares the repository with its group.",
        discussion: """
            shared group: every directory under .cairn becomes setgid and group-writable and every file group-readable \
            (group-writable where its owner may write), as `init --shared group` would have made them; from then on \
            every member's cairn creates group-writable files. Run it as the user who owns the files. The group is \
            the one .cairn has (chgrp -R team DIR first to change it).
            Example: cairn config shared group
            """)

    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "The setting: shared.") var key: ConfigKey
    @Argument(help: "Its value: group.") var value: SharedMode

    enum ConfigKey: String, ExpressibleByArgument, CaseIterable { case shared }

    func run() throws {
        let repo = try repository.open()
        try repo.shareWithGroup()
        var st = stat()
        let group = stat(repo.cairnDirectory, &st) == 0 ? getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } : nil
        say("\(repo.cairnDirectory) is shared with group \(group ?? "?")")
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add PNG and JPEG images to the repository.",
        discussion: """
            Walks each PATH recursively (hidden files skipped), validates every image by decoding it, \
            stores new ones and records them in the catalog. Re-importing an unchanged tree adds nothing \
            and reads no file twice. Rejected files are listed with their reason; the rest are imported.
            
            Examples:
              cairn import --labels-from-dirs sample-data/digits
              cairn import photos/ --labels labels.csv --json
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Files or directories to import.")
    var paths: [String] = []

    @Option(help: "Import a `cairn export --format jsonl` (items.jsonl and its images/) with full provenance.")
    var jsonl: String?

    @Flag(help: "Label each image with the name of its folder (ImageFolder layout).")
    var labelsFromDirs = false

    @Option(help: "A CSV of path,label rows; its labels win over folder names.")
    var labels: String?

    @Flag(help: "Let a file whose bytes are already an item under another path change that item's label.")
    var relabel = false

    @Option(parsing: .unconditional, help: "Parallel workers (default: all cores).")
    var jobs: Int?

    @Flag(help: "Read only image headers instead of decoding every pixel.")
    var noVerify = false

    @Flag(help: "Follow symbolic links that point outside the imported directory.")
    var followSymlinks = false

    @Option(help: "Put every new item in this split (train, val, test): bring in an existing test set as test.")
    var split: Split?

    func validate() throws {
        if split != nil, jsonl != nil { throw ValidationError("--split is for image files; a --jsonl export carries its splits") }
        guard (jobs ?? 1) >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard !paths.isEmpty || jsonl != nil else { throw ValidationError("give at least one file or directory to import") }
        guard paths.isEmpty || jsonl == nil else { throw ValidationError("give either paths or --jsonl, not both") }
    }

    func run() throws {
        let repo = try repository.open()
        if let jsonl {
            let (count, snapshot) = try Versioning(repository: repo).importExport(jsonl)
            if output.json { return try printJSON(["items": String(count), "exportedSnapshot": snapshot.hex]) }
            return say("imported \(count) item(s) with their labels from the export of snapshot \(snapshot.hex.prefix(12)); "
                + "`cairn snapshot` reproduces it")
        }
        var options = ImportOptions(labelsFromDirectories: labelsFromDirs, labelsFile: labels, relabel: relabel, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount,
                                    verify: !noVerify, followSymlinks: followSymlinks)
        options.split = split
        let bar = ProgressBar("importing")
        let report = try Importer(repository: repo, options: options).run(paths: paths) { p in
            bar.update(done: p.done, total: p.total)
        }
        bar.finish()
        if output.json {
            try printJSON(report)
        } else {
            for rejection in report.rejections { warn("rejected \(rejection.path): \(rejection.reason)") }
            for row in report.unmatchedLabelRows.prefix(20) { warn("labels file: no imported file matches \(row)") }
            if report.unmatchedLabelRows.count > 20 { warn("labels file: … and \(report.unmatchedLabelRows.count - 20) more unmatched rows") }
            for d in report.duplicateLabels {
                warn("kept the label of \(d.existingPath) (\(d.existingLabel?.description ?? "unlabeled")): \(d.path) has the same bytes "
                     + "but says \(d.label); `cairn import --relabel` applies it")
            }
            if report.replaced > 0 {
                warn("\(report.replaced) item(s) replaced: the file at their path changed, and the new bytes took their place "
                     + "(older snapshots keep the old ones)")
            }
            if let split, report.duplicates + report.unchanged > 0 {
                warn("\(report.duplicates + report.unchanged) file(s) were already items and keep their split; "
                     + "`cairn split set ITEM... --split \(split.rawValue)` moves them")
            }
            let rate = report.seconds > 0 ? Double(report.filesSeen) / report.seconds : 0
            say("""
                imported \(report.added) new image(s) (\(formatBytes(report.bytesAdded))), \(report.duplicates) already present, \
                \(report.unchanged) unchanged, \(report.rejected) rejected; \(report.labeled) label(s) recorded \
                [\(String(format: "%.2f", report.seconds)) s, \(Int(rate)) files/s]
                """)
            if split == nil && report.added > 0 {
                // Where the ratios put the new items, said every time: a folder that is one split (a test set) needs --split.
                let ratios = repo.config.splits
                let counts = ["train", "val", "test"].map { "\(report.addedPerSplit[$0] ?? 0) \($0)" }.joined(separator: ", ")
                say("new items split by the [splits] ratios (\(Int((ratios.train * 100).rounded()))/\(Int((ratios.val * 100).rounded()))/"
                    + "\(Int((ratios.test * 100).rounded()))): \(counts); a folder that is one split, such as a test set, takes --split test")
            }
        }
        if report.filesSeen == 0 {
            warn("found no files to import in \(paths.joined(separator: ", "))")
            throw ExitCode(2)
        }
        if report.rejected > 0 { throw ExitCode(2) }
    }
}
