import ArgumentParser
import CairnCatalog
import CairnRepository
import CairnStore
import CairnVersioning
import CairnRemote
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Summarise the repository: items by class, split and format; unlabeled items.",
        discussion: """
            --team shows everyone's progress instead: each person's labels and verdicts (in all and in the last \
            --hours), when they last labeled, and the items each machine holds for them now (live on a team catalog).
            Examples:
              cairn status --json
              cairn status --team --watch 5
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Everyone's progress: labels, verdicts, last activity and held items per person.") var team = false
    @Option(help: "With --team: the window for recent work, in hours.") var hours = 1.0
    @Option(help: "With --team: redraw every SECONDS seconds until interrupted.") var watch: Double?

    func validate() throws {
        guard hours > 0, hours.isFinite else { throw ValidationError("--hours must be a positive number") }
        if let watch { guard watch >= 0.1, watch.isFinite else { throw ValidationError("--watch must be at least 0.1 seconds") } }
        if !team && watch != nil { throw ValidationError("--watch is for --team") }
    }

    /// What `status --team --json` prints.
    struct TeamStatus: Codable {
        var at: Date
        var hours: Double
        var items: Int
        var annotations: Int
        var people: [PersonActivity]
    }

    func run() throws {
        if team { return try showTeam(try repository.open()) }
        let summary = try Versioning(repository: try repository.open()).summary()
        if output.json { return try printJSON(summary) }
        say("repository \(summary.root)")
        say("\(summary.items) items (\(formatBytes(summary.bytes))) in \(summary.classOrder.count) classes; "
            + "\(summary.labeled) labeled, \(summary.unlabeled) unlabeled, \(summary.conflicts) with conflicting labels")
        say("splits:  " + Split.allCases.map { "\($0) \(summary.splits[$0.rawValue] ?? 0)" }.joined(separator: "  "))
        say("formats: " + summary.formats.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "  "))
        if !summary.classOrder.isEmpty {
            say("classes:")
            say(table(summary.classOrder.map { [$0, String(summary.classes[$0] ?? 0)] }, indent: "  "))
        }
        if summary.boxes != nil || summary.boxConflicts != nil {
            say("boxes:   " + boxCounts(summary.boxes ?? [:], unresolved: summary.boxConflicts))
        }
    }

    private func showTeam(_ repo: Repository) throws {
        let redraw = watch != nil && !output.json && isatty(STDOUT_FILENO) != 0
        while true {
            let now = Date()
            let status = try repo.catalog.read { tx in
                TeamStatus(at: now, hours: hours, items: try tx.itemCount(), annotations: try tx.annotationCount(),
                           people: try tx.teamActivity(since: now.addingTimeInterval(-hours * 3600), now: now))
            }
            if output.json {
                try printJSON(status)
            } else {
                if redraw { emit(Data("\u{1b}[H\u{1b}[2J".utf8), to: STDOUT_FILENO) }
                say(teamText(status))
            }
            guard let watch else { return }
            Thread.sleep(forTimeInterval: watch)
        }
    }

    private func teamText(_ status: TeamStatus) -> String {
        let window = hours == 1 ? "1h" : "\(hours.formatted(.number.precision(.fractionLength(0...1))))h"
        let active = status.people.filter { $0.recentAnnotations + $0.recentVerdicts > 0 || !$0.leases.isEmpty }.count
        var lines = ["\(status.items) items, \(status.annotations) annotations; \(active) of \(status.people.count) people active in the last \(window)"]
        guard !status.people.isEmpty else { return lines[0] + "\nnobody has labeled yet" }
        let rows = [["person", "role", "labels", window, "verdicts", window, "holding", "last active"]] + status.people.map { p in
            [p.name, p.role?.rawValue ?? "", String(p.annotations), String(p.recentAnnotations), String(p.verdicts), String(p.recentVerdicts),
             p.leases.sorted { $0.key < $1.key }.map { "\($0.value) on \($0.key)" }.joined(separator: ", "),
             p.lastActive.map { Self.ago($0, now: status.at) } ?? "never"]
        }
        lines.append(table(rows))
        return lines.joined(separator: "\n")
    }

    /// "just now", "42s ago", "5m ago", "3h ago", "2d ago".
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        switch seconds {
        case ..<5: return "just now"
        case ..<60: return "\(seconds)s ago"
        case ..<3600: return "\(seconds / 60)m ago"
        case ..<86400: return "\(seconds / 3600)h ago"
        default: return "\(seconds / 86400)d ago"
        }
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List items: short blob id, split, resolved label and path.",
        discussion: """
            Without REF, the working state; with REF, the items of that snapshot as it recorded them (same filters). \
            --path takes a shell pattern on the imported path, where * also matches /.
            Examples:
              cairn ls --class 3
              cairn ls --unlabeled --json
              cairn ls --conflicting
              cairn ls v1 --split test --class cat
              cairn ls --path 'digits/3/*'
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "A snapshot (tag, id, HEAD~N) to list instead of the working state.")
    var ref: String?

    @Option(name: .customLong("path"), help: "Only items whose path matches this shell pattern (quote it).")
    var pathPattern: String?

    @Option(help: "Only items whose resolved label carries this class (alone or in a multi-label set).")
    var `class`: String?

    @Option(help: "Only items in this split (train, val, test).")
    var split: Split?

    @Flag(help: "Only items nobody has labeled (conflicts are listed by --conflicting).")
    var unlabeled = false

    @Flag(help: "Only items whose annotators disagree, with no verdict.")
    var conflicting = false

    @Flag(help: "Only items whose images do not decode (imported with --no-verify); decodes every image to find them.")
    var undecodable = false

    struct ListedItem: Encodable {
        var blobID: String
        var path: String
        var split: String
        var label: Label?
        var conflict: [Label]?
        var format: String
        var width: Int
        var height: Int
        /// Nil for a snapshot's item whose blob this repository does not hold.
        var bytes: Int64?
        /// Why the image does not decode (with --undecodable).
        var problem: String?

        init(_ listing: ItemListing) {
            let item = listing.item
            (blobID, path, split, label) = (item.blobID.hex, item.path, item.split.rawValue, listing.resolved.label)
            if case .conflict(let labels) = listing.resolved { conflict = labels }
            (format, width, height, bytes, problem) = (item.format, item.width, item.height, item.byteSize, listing.problem)
        }

        init(_ record: ItemRecord, bytes: Int64?) {
            (blobID, path, split, label) = (record.blobID.hex, record.path, record.split.rawValue, record.label)
            conflict = record.conflict.isEmpty ? nil : record.conflict
            (format, width, height, self.bytes) = (record.format, record.width, record.height, bytes)
        }
    }

    func validate() throws {
        if ref != nil, undecodable { throw ValidationError("--undecodable lists the working state; leave out REF") }
    }

    func run() throws {
        let repo = try repository.open()
        let rows = try ref.map { try snapshotRows($0, repo) } ?? workingRows(repo)
        if output.json { return try printJSON(rows) }
        for row in rows {
            let label = row.label?.description ?? (row.conflict.map { "conflict(" + $0.map(\.description).joined(separator: "|") + ")" } ?? "-")
            say("\(row.blobID.prefix(12))  \(row.split.padding(toLength: 5, withPad: " ", startingAt: 0))  \(label)  \(row.path)"
                + (row.problem.map { "  (\($0))" } ?? ""))
        }
    }

    /// The items of snapshot `ref`, filtered by the same rule as the working state.
    private func snapshotRows(_ ref: String, _ repo: Repository) throws -> [ListedItem] {
        let filter = ItemFilter(className: self.class, split: split, unlabeled: unlabeled, conflicting: conflicting, pathPattern: pathPattern)
        return try Versioning(repository: repo).items(of: ref, matching: filter).map { ListedItem($0.record, bytes: $0.bytes) }
    }

    private func workingRows(_ repo: Repository) throws -> [ListedItem] {
        var only: [BlobID: String]? = nil
        if undecodable {
            let bar = ProgressBar("decoding")
            only = Dictionary(uniqueKeysWithValues: try repo.undecodableImages { bar.update(done: $0, total: $1) }.map { ($0.item.blobID, $0.reason) })
            bar.finish()
        }
        let filter = ItemFilter(className: self.class, split: split, unlabeled: unlabeled, conflicting: conflicting, only: only,
                                pathPattern: pathPattern)
        return try repo.items(where: filter).map(ListedItem.init)
    }
}

extension Split: ExpressibleByArgument {}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one item's metadata and label history.",
        discussion: "ITEM is a blob id, an unambiguous prefix of one (4+ hex digits), or an imported path.\nExample: cairn show 3f2a9c")

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "Blob id, id prefix or imported path.")
    var item: String

    func run() throws {
        let details = try repository.open().details(of: item)
        if output.json { return try printJSON(details) }
        let item = details.item
        say("blob    \(item.blobID)")
        say("path    \(item.path)")
        say("image   \(item.format) \(item.width)x\(item.height), \(formatBytes(item.byteSize))")
        say("split   \(item.split)")
        say("label   \(details.label?.description ?? (details.conflict.map { "unresolved: " + $0.map(\.description).joined(separator: " vs ") } ?? "unlabeled"))")
        say("added   \(ISO8601DateFormatter().string(from: item.addedAt))")
        if let purge = details.purge {
            say("purged  \(purge.summary) (the bytes are gone; snapshots still name the item)")
        } else if details.removed {
            say("removed from the working state (`cairn rm`); snapshots that hold it keep it")
        }
        let formatter = ISO8601DateFormatter()
        if details.history.isEmpty {
            say("history (none)")
        } else {
            say("history")
            say(table(details.history.map { [formatter.string(from: $0.createdAt), $0.annotator, $0.label?.description ?? "(skip)",
                                              Self.provenance($0.suggestion)] },
                      indent: "  "))
        }
        if !details.verdicts.isEmpty {
            say("verdicts")
            say(table(details.verdicts.map { [formatter.string(from: $0.createdAt), $0.annotator, $0.label?.description ?? ""] }, indent: "  "))
        }
        guard let boxes = details.boxes else { return }
        if let resolved = boxes.resolved {
            say("boxes   \(resolved.count)" + (boxes.verdict.map { " (verdict by \($0.person))" } ?? ""))
            for box in resolved.boxes { say("  \(box.description)") }
        } else {
            say("boxes   unresolved: " + boxes.annotations.map { "\($0.person) drew \($0.boxes.count)" }.joined(separator: ", ")
                + "; a reviewer decides (`cairn boxes set ITEM --review`)")
        }
        for (title, rows) in [("box history", details.boxHistory), ("box verdicts", details.boxVerdicts)] where !rows.isEmpty {
            say(title)
            say(table(rows.map { [formatter.string(from: $0.createdAt), $0.person, "\($0.boxes.count) box(es)", Self.classCounts($0.boxes),
                                  Self.provenance($0.suggestion, saved: $0.boxes)] },
                      indent: "  "))
        }
    }

    /// "cat 2, dog 1": a box set's classes with their counts, in the set's order.
    static func classCounts(_ set: BoxSet) -> String {
        let counts = set.classCounts
        return counts.keys.sorted(by: utf8Precedes).map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")
    }

    /// "took a suggestion (1 48%, 7 37%, 0 16%; run b0df723397d1)", "suggested …" when a class key
    /// was used instead, or nothing.
    static func provenance(_ shown: SuggestionShown?) -> String {
        guard let shown else { return "" }
        let candidates = shown.candidates.map { $0.className + String(format: " %.0f%%", $0.probability * 100) }
        return (shown.accepted ? "took a suggestion (" : "suggested (") + candidates.joined(separator: ", ") + "; run \(shown.run))"
    }
}

extension ShowCommand {
    /// "took 2 of 3 suggestions, 1 as proposed (run b0df723397d1)", "3 suggested, none taken (run …)",
    /// or nothing.
    static func provenance(_ shown: BoxSuggestionShown?, saved: BoxSet) -> String {
        guard let shown else { return "" }
        let run = " (run \(shown.run))"
        guard !shown.taken.isEmpty else { return "\(shown.fixes.count) suggested, none taken" + run }
        return "took \(shown.taken.count) of \(shown.fixes.count) suggestion\(shown.fixes.count == 1 ? "" : "s"), \(shown.keptAsProposed(in: saved)) as proposed" + run
    }
}

struct CatBlobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat-blob",
        abstract: "Write a blob's exact bytes to stdout (verified against its id).",
        discussion: "Example: cairn cat-blob 3f2a…e1 | sha256sum   # prints the same id")

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "A full blob id, or an item reference (id prefix or imported path).")
    var id: String

    func run() throws {
        let repo = try repository.open()
        let blob = try repo.blobID(of: id)
        let out = FileHandle.standardOutput
        try repo.store.read(blob) { chunk in out.write(Data(chunk)) }
    }
}

struct FsckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Re-hash every object, check every catalog reference and snapshot tree, list orphans.",
        discussion: """
            Exits 2 when anything is corrupt or missing. --repair fetches good copies of the damaged and missing \
            objects from a remote (--from NAME; default origin, or the only remote), verifies each against its id, \
            puts it back (a damaged pack is rewritten, a damaged loose file replaced atomically), and checks again.
            Examples:
              cairn fsck --json
              cairn fsck --repair
              cairn fsck --repair --from backup
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Put back damaged and missing objects from a remote.") var repair = false
    @Option(help: "The remote to repair from (default: origin, or the only remote).", completion: .custom(Completions.remotes)) var from: String?

    func validate() throws {
        if from != nil && !repair { throw ValidationError("--from goes with --repair") }
    }

    func run() async throws {
        let repo = try repository.open()
        let versioning = Versioning(repository: repo)
        func check() throws -> FsckReport {
            let bar = ProgressBar("checking")
            defer { bar.finish() }
            return try versioning.fsck { done, total in bar.update(done: done, total: total) }
        }
        var report = try check()
        var repaired: Remote.RepairReport?
        if repair {
            repaired = try await Remote(repository: repo, name: from).repair(report, check: check)
            report = repaired!.fsck
        }
        if output.json {
            if let repaired { try printJSON(repaired) } else { try printJSON(report) }
        } else {
            if let repaired, !repaired.repaired.isEmpty {
                say("repaired \(repaired.repaired.count) objects from \(repaired.remote)")
            }
            for problem in report.problems { say("error: \(problem)") }
            for id in report.missing { say("error: missing object \(id)") }
            for problem in report.catalogProblems { say("error: catalog: \(problem)") }
            if let repaired, !repaired.unrepaired.isEmpty {
                say("\(repaired.remote) has no good copy of \(repaired.unrepaired.count) of them")
            }
            if !report.notFetched.isEmpty {
                say("\(report.notFetched.count) images are on a remote but not here (left by a partial pull; `cairn pull` fetches them)")
            }
            if !report.notCached.isEmpty, let upstream = repo.store.upstream {
                say("\(report.notCached.count) objects are in the shared image store (\(upstream.location)) and not cached here "
                    + "(fetched when read; not damage)")
            }
            if !report.purged.isEmpty {
                say("\(report.purged.count) images snapshots name were purged on purpose (`cairn purge`; not damage)")
            }
            for cache in report.damagedCaches {
                say("\(cache) no longer matches the snapshot (a program changed it); the next run rebuilds it")
            }
            for cache in report.purgedInCaches {
                say("\(cache) may still hold copies derived from purged images (an interrupted purge); `cairn gc` clears it")
            }
            if !report.heldPurges.isEmpty {
                say("\(report.heldPurges.count) images were not fetched: a remote says they were purged, and that purge is held here "
                    + "(`cairn purge --held`; not damage)")
            }
            if !report.purgedStillStored.isEmpty {
                say("\(report.purgedStillStored.count) purged images are still stored (an interrupted purge); `cairn gc` erases them")
            }
            for id in report.orphans.prefix(20) { say("orphan \(id)") }
            if report.orphans.count > 20 { say("… and \(report.orphans.count - 20) more orphans") }
            say("checked \(report.objectsChecked) objects: \(report.problems.count) corrupt or damaged, "
                + "\(report.missing.count) missing, \(report.orphans.count) orphaned"
                + (report.catalogProblems.isEmpty ? "" : ", catalog damaged"))
        }
        if !report.isClean { throw ExitCode(2) }
    }
}

/// "cat 12, dog 3 (2 items unresolved)": boxes per class in UTF-8 order, and the items whose box sets wait for a reviewer.
func boxCounts(_ counts: [String: Int], unresolved: Int?) -> String {
    let total = counts.values.reduce(0, +)
    let classes = counts.keys.sorted(by: utf8Precedes).map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")
    return "\(total) (" + (classes.isEmpty ? "none" : classes) + ")" + (unresolved.map { "; \($0) item(s) with differing sets unreviewed" } ?? "")
}
