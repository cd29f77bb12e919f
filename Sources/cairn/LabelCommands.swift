import ArgumentParser
import CairnCatalog
import CairnLabeling
import CairnRepository
import Foundation

struct ClassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classes",
        abstract: "List, add, rename, remove and merge label classes, and set their keys.",
        subcommands: [List.self, Add.self, Rename.self, Key.self, Remove.self, Merge.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List classes in order, with the key `cairn label` uses for each (remaps in .cairn/config.toml included).")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        struct Entry: Encodable {
            var id: Int64, name: String, ordinal: Int
            /// The key the class has in the catalog.
            var hotkey: String?
            /// The key `cairn label` uses: the catalog's, or a `[keys.classes]` remap.
            var key: String?
        }

        func run() throws {
            let repo = try repository.open()
            let classes = try repo.classes()
            let keys = try repo.labelingKeys(for: classes)
            let entries = classes.map {
                Entry(id: $0.id, name: $0.name, ordinal: $0.ordinal, hotkey: $0.hotkey, key: keys.key(forClass: $0.name).map(KeyMap.name))
            }
            if output.json { return try printJSON(entries) }
            if classes.isEmpty { return say("no classes yet; add one with `cairn classes add NAME`") }
            say(table(entries.map { entry in
                [entry.key.map { "[\($0)]" } ?? "[ ]", entry.name + (entry.key != entry.hotkey ? "  (remapped in config.toml)" : "")]
            }))
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key", abstract: "Set the key that labels a class in `cairn label`.",
            discussion: "Example: cairn classes key cat c")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "The class.") var name: String
        @Argument(help: "One character (not q, u, z, ? or space, which the labeling UI keeps).") var key: String

        func run() throws {
            try repository.open().setClassKey(name, to: key)
            say("class \(name) is labeled with \(key)")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a class at the end of the order.",
            discussion: "Example: cairn classes add cat --hotkey c")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Class names.") var names: [String]
        @Option(help: "The key that applies this class in `cairn label` (default: next free of 1-9, 0, a-z).")
        var hotkey: String?

        func validate() throws {
            if hotkey != nil && names.count != 1 { throw ValidationError("--hotkey needs exactly one class name") }
        }

        func run() throws {
            let added = try repository.open().addClasses(names, hotkey: hotkey)
            for c in added { say("added class \(c.name)" + (c.hotkey.map { " (hotkey \($0))" } ?? "")) }
        }
    }

    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename a class; its labels follow.", discussion: "Example: cairn classes rename kitten cat")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Current name.") var old: String
        @Argument(help: "New name.") var new: String

        func run() throws {
            try repository.open().renameClass(old, to: new)
            say("renamed class \(old) to \(new)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a class: out of the class list, the keys and later snapshots; its history stays.",
            discussion: """
                Refused while items carry the class, unless --relabel-to D (each gets a verdict with D in its place) or \
                --unlabel (a verdict without it; a one-class label becomes "no class applies"). Verdicts need the reviewer \
                or admin role. Items in conflict over the class are settled only where replacing it makes the labels agree. \
                A removal travels with push and pull, and a removed name cannot be added again.
                Examples:
                  cairn classes remove blurry --unlabel --reviewer grace
                  cairn classes remove kitty --relabel-to cat
                """)
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The class.") var name: String
        @Option(name: .customLong("relabel-to"), help: "Give items that carry it this class instead.") var relabelTo: String?
        @Flag(help: "Take it off the items that carry it.") var unlabel = false
        @Option(help: "Who records the verdicts (default: $USER, else your Unix account).") var reviewer: String?

        func validate() throws {
            if relabelTo != nil, unlabel { throw ValidationError("give --relabel-to or --unlabel, not both") }
        }

        func run() throws {
            let repo = try repository.open()
            let who = try repo.person(reviewer, option: "--reviewer")
            let done = try repo.removeClass(name, into: relabelTo, unlabel: unlabel, reviewer: who)
            if output.json { return try printJSON(done) }
            say("removed class \(name)" + (done.relabeled > 0 ? "; \(done.relabeled) item(s) given a verdict \(relabelTo.map { "of \($0)" } ?? "without it") by \(who)" : ""))
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge class A into B: A's labels become B (recorded as verdicts), and A is removed.",
            discussion: "Example: cairn classes merge kitten cat --reviewer grace")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The class that goes.") var from: String
        @Argument(help: "The class its labels become.") var into: String
        @Option(help: "Who records the verdicts (default: $USER, else your Unix account).") var reviewer: String?

        func run() throws {
            let repo = try repository.open()
            let who = try repo.person(reviewer, option: "--reviewer")
            let done = try repo.removeClass(from, into: into, unlabel: false, reviewer: who)
            if output.json { return try printJSON(done) }
            say("merged class \(from) into \(into): \(done.relabeled) item(s) given a verdict of \(into) by \(who)")
        }
    }
}

struct AnnotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotate",
        abstract: "Label items from a script: each label is appended to the item's history.",
        discussion: """
            ITEM is a blob id, an unambiguous prefix of one, or an imported path. The labels are \
            committed in one transaction before the command reports success.
            Examples:
              cairn annotate 3f2a9c digits/7/0042.png --class 7
              cairn annotate 3f2a9c --class cat --class dog     (multi-label: both apply)
              cairn annotate 3f2a9c --none                      (multi-label: no class applies)
              cairn annotate 3f2a9c --skip --annotator ada
              printf 'digits/7/0042.png 7\\n' | cairn annotate --stdin --annotator bot
            """)

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "Items to label.")
    var items: [String] = []

    @Flag(help: "Read `ITEM CLASS` lines from stdin (CLASS `-` = skip, `a,b` = a multi-label set); each is committed on its own and acknowledged with `ok ITEM CLASS` on stdout.")
    var stdin = false

    @Option(help: "The class to set (it must exist: see `cairn classes`); repeat it for a multi-label set.")
    var `class`: [String] = []

    @Flag(help: "Record that no class applies (a multi-label answer, unlike --skip).")
    var none = false

    @Flag(help: "Record that the annotator skipped these items instead.")
    var skip = false

    @Option(help: "Who is labeling (default: $USER, else your Unix account).")
    var annotator: String?

    func validate() throws {
        if stdin {
            guard items.isEmpty, self.class.isEmpty, !skip, !none else { throw ValidationError("--stdin takes items and classes from stdin only") }
            return
        }
        guard [!self.class.isEmpty, skip, none].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --class C (repeatable), --none or --skip")
        }
        guard !items.isEmpty else { throw ValidationError("give at least one item") }
    }

    /// One label per line, one transaction per label: what a labeling front does per keystroke. A
    /// line that cannot be applied (malformed, an unknown item or class) is reported with its
    /// number and the stream goes on; the exit status is then 2.
    private func runStream(_ repo: Repository, annotator: String) throws {
        let who = try repo.annotator(ensuring: annotator)
        var number = 0, failed = 0
        while let line = readLine() {
            number += 1
            let parts = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 2 else {
                warn("line \(number): skipped, want `ITEM CLASS`: \(line)")
                failed += 1
                continue
            }
            do {
                try repo.annotate(parts[0], label: parts[1] == "-" ? nil : Label(commaSeparated: parts[1]), annotator: who)
            } catch let error as CatalogError {
                warn("line \(number): skipped: \(error)")
                failed += 1
                continue
            }
            say("ok \(parts[0]) \(parts[1])")
        }
        if failed > 0 {
            warn("\(failed) of \(number) lines were not applied")
            throw ExitCode(2)
        }
    }

    func run() throws {
        let repo = try repository.open()
        if stdin { return try runStream(repo, annotator: try repo.person(self.annotator, option: "--annotator")) }
        let annotator = try repo.person(self.annotator, option: "--annotator")
        let count = try repo.annotate(items, label: skip ? nil : Label(self.class), annotator: annotator)
        say("\(skip ? "skipped" : "labeled") \(count) item(s)" + (skip ? "" : " as \(Label(self.class))") + " for \(annotator)")
    }
}
