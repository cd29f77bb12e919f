import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnSupport
import CairnVersioning
import Foundation

struct SplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Move items between train, val and test, by hand or by group (each move recorded and versioned).",
        discussion: """
            An item's split is drawn from its blob id at import (80/10/10 by default, [splits] in config.toml), or from \
            its group key when [splits] group is set. `split set` moves items by hand; `split regroup --by REGEX` makes \
            items whose paths share the first capture group share a split (augmented copies of one photo stay together) \
            and saves the pattern for later imports. Every move is an event with who and when, carried by push and pull; \
            the next snapshot records the new splits (`cairn diff` lists them).
            Examples:
              cairn split set digits/3/0003.png --split test
              cairn split regroup --by '^photos/([^_]+)_' --dry-run
            """,
        subcommands: [Set.self, Regroup.self])

    static func show(_ report: SplitReport, output: OutputOptions) throws {
        if output.json { return try printJSON(report) }
        let moved = report.moved.keys.sorted().map { "\(report.moved[$0]!) to \($0)" }.joined(separator: ", ")
        let groups = report.matched.map { "\($0) item(s) in \(report.groups ?? 0) group(s); " } ?? ""
        say(groups + (report.dryRun ? "would move " : "moved ") + (moved.isEmpty ? "nothing" : moved)
            + "; \(report.unchanged) already in their split")
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move items to a split.",
            discussion: "ITEM is a blob id, a 4+ digit prefix of one, or an imported path.\nExample: cairn split set 3f2a9c digits/3/0003.png --split test")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Items: blob ids, prefixes or imported paths.") var items: [String]
        @Option(help: "train, val or test.") var split: Split
        @Option(help: "Who moves them (default: $USER, else your Unix account).") var author: String?

        func validate() throws {
            if items.isEmpty { throw ValidationError("name at least one item") }
        }

        func run() throws {
            let repo = try repository.open()
            try SplitCommand.show(try repo.moveToSplit(items, split: split, person: try repo.person(author, option: "--author")), output: output)
        }
    }

    struct Regroup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give items whose paths share a group key (the regex's first capture group) one split; save it as [splits] group.",
            discussion: """
                The key's split is drawn from SHA-256 of the key with the repository's ratios, so it is stable; items the \
                pattern does not match keep their split. A pattern that does not compile, has no capture group, or matches \
                no item is refused and nothing changes.
                Example: cairn split regroup --by '^aug/(.+)_(flip|rot[0-9]+)\\.png$'
                """)
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "A regular expression over item paths; its first capture group is the group key.") var by: String
        @Flag(help: "Report what would move; change nothing.") var dryRun = false
        @Option(help: "Who moves them (default: $USER, else your Unix account).") var author: String?

        func run() throws {
            let repo = try repository.open()
            let report = try repo.regroup(by: by, person: try repo.person(author, option: "--author"), dryRun: dryRun)
            try SplitCommand.show(report, output: output)
            if !dryRun, !output.json { say("later imports follow it: [splits] group in .cairn/config.toml") }
        }
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove items from the working state: out of every list, queue and later snapshot; older snapshots keep them.",
        discussion: """
            ITEM is a blob id, a 4+ digit prefix of one, or an imported path; --path takes a shell pattern (quote it; * also \
            matches /), --class the items whose resolved label carries the class. The removal is recorded (who, when) and \
            travels with push and pull; each item's history stays. gc frees the bytes once no snapshot holds them \
            (`cairn purge` is for bytes that must go even though snapshots name them). Re-importing an unchanged file \
            does not bring its item back; a file edited in place replaces the item it gave at the next import.
            Examples:
              cairn rm digits/3/0003.png
              cairn rm --path 'raw/blurry/*' --dry-run
              cairn rm --class junk
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Items: blob ids, prefixes or imported paths.") var items: [String] = []
    @Option(name: .customLong("path"), help: "Also every item whose path matches this shell pattern.") var pathPattern: String?
    @Option(name: .customLong("class"), help: "Also every item whose resolved label carries this class.") var className: String?
    @Flag(help: "List what would be removed; change nothing.") var dryRun = false
    @Option(help: "Who removes them (default: $USER, else your Unix account).") var author: String?

    func validate() throws {
        if items.isEmpty, pathPattern == nil, className == nil { throw ValidationError("name items, or give --path or --class") }
    }

    func run() throws {
        let repo = try repository.open()
        let filter = pathPattern != nil || className != nil ? ItemFilter(className: className, pathPattern: pathPattern) : nil
        let report = try repo.removeItems(items, filter: filter, person: try repo.person(author, option: "--author"), dryRun: dryRun)
        if output.json { return try printJSON(report) }
        for path in report.removed.prefix(20) { say((dryRun ? "would remove " : "removed ") + path) }
        if report.removed.count > 20 { say("… and \(report.removed.count - 20) more") }
        say("\(dryRun ? "would remove" : "removed") \(report.removed.count) item(s) from the working state"
            + (dryRun ? "" : "; `cairn snapshot` records it, older snapshots keep them"))
    }
}

struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete images' bytes for good, even though snapshots name them (a removal request, leaked personal data).",
        discussion: """
            ITEM is a blob id, a 4+ digit prefix of one, or an imported path (removed items too). The bytes leave the \
            store (loose files deleted, packs rewritten without them) and the caches derived from images are dropped; \
            the item leaves the working state. Each purge is recorded (who, when, why) and never undone: snapshot ids \
            do not change, and checkout, export, train, runs and pull leave purged items out and say so; fsck reports \
            them as purged, not missing; cat-blob and show name the purge. `cairn push` records the purge on the remote \
            and deletes the bytes there too; a pull or clone never fetches them, and a pull applies purges made \
            elsewhere only when a reviewer or admin known here before the pull recorded them. Any other pulled \
            purge is held, its images untouched: --held lists them, --apply-pulled applies them (all, or the blob \
            ids named), --dismiss-pulled forgets them. Re-importing the same bytes is refused. Needs a reviewer or \
            admin, and --yes (or an answer at the prompt in a terminal).
            Examples:
              cairn purge faces/0042.jpg -m "removal request #118" --yes
              cairn purge 3f2a9c 77be01 --yes --json
              cairn purge --held
              cairn purge --apply-pulled 3f2a9c --yes
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "Items: blob ids, prefixes or imported paths (with --apply-pulled/--dismiss-pulled: blob ids of held purges).")
    var items: [String] = []
    @Option(name: [.customShort("m"), .customLong("message")], help: "Why (recorded with the purge).") var message = ""
    @Flag(help: "Purge without asking (required when stdin is not a terminal).") var yes = false
    @Option(help: "Who purges (default: $USER, else your Unix account).") var author: String?
    @Flag(help: "List the purges a pull brought that are held, not applied.") var held = false
    @Flag(name: .customLong("apply-pulled"), help: "Apply held purges (all, or those named): their bytes are erased here.")
    var applyPulled = false
    @Flag(name: .customLong("dismiss-pulled"), help: "Forget held purges (all, or those named) without erasing anything.")
    var dismissPulled = false

    func validate() throws {
        if [held, applyPulled, dismissPulled].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --held, --apply-pulled and --dismiss-pulled")
        }
        if items.isEmpty && !(held || applyPulled || dismissPulled) { throw ValidationError("name the items to purge") }
        if held && !items.isEmpty { throw ValidationError("--held lists every held purge; it takes no items") }
        if message.utf8.count > 4096 { throw ValidationError("-m is limited to 4096 bytes") }
    }

    func run() throws {
        let repo = try repository.open()
        let versioning = Versioning(repository: repo)
        if held || dismissPulled {
            let list = held ? try versioning.heldPurges()
                : try versioning.dismissHeldPurges(items.isEmpty ? nil : items, author: try repo.person(author, option: "--author"))
            if output.json { return try printJSON(list) }
            for record in list { say("\(record.blob.hex.prefix(16))  \(record.summary)") }
            return say(held ? "\(list.count) held purges (pulled; nothing erased): `cairn purge --apply-pulled [ID...] --yes` applies them"
                            : "dismissed \(list.count) held purges; nothing was erased")
        }
        let who = try repo.person(author, option: "--author")
        if applyPulled {
            let count = items.isEmpty ? try versioning.heldPurges().count : items.count
            try confirm { "apply \(count) held purge(s)? Their images' bytes are deleted here for good. [y/N] " }
            let report = try versioning.applyHeldPurges(items.isEmpty ? nil : items, author: who)
            return try print(report)
        }
        try confirm {
            let named = try items.map { try repo.details(of: $0).item.path }
            return "purge \(named.count) item(s) (\(named.prefix(3).joined(separator: ", "))\(named.count > 3 ? ", …" : ""))? "
                + "Their bytes are deleted for good, here and, at the next push, on the remote. [y/N] "
        }
        try print(try versioning.purge(items, author: who, reason: message))
    }

    /// Asks `question` unless --yes; refuses without a terminal.
    private func confirm(_ question: () throws -> String) throws {
        guard !yes else { return }
        guard isatty(STDIN_FILENO) == 1 else {
            throw ValidationError("purge deletes bytes for good; give --yes to confirm (stdin is not a terminal, so there is no prompt)")
        }
        emit(Data(Printable.lines(try question()).utf8), to: STDERR_FILENO)
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
            warn("nothing purged")
            throw ExitCode(1)
        }
    }

    private func print(_ report: PurgeReport) throws {
        if output.json { return try printJSON(report) }
        for item in report.purged { say("purged \(item.path) (\(item.blob.hex.prefix(16)))") }
        for item in report.alreadyPurged { say("\(item.path) (\(item.blob.hex.prefix(16))) was purged before") }
        say("erased \(report.objectsErased) stored copies (\(formatBytes(report.bytesErased))); snapshots still name the items, "
            + "and `cairn push` erases them on the remote")
    }
}

