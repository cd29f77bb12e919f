import ArgumentParser
import CairnCatalog
import CairnRepository
import Foundation

struct ClassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classes",
        abstract: "List, add and rename label classes.",
        subcommands: [List.self, Add.self, Rename.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List classes in order, with hotkeys.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let classes = try repository.open().catalog.read { try $0.classes() }
            if output.json { return try printJSON(classes) }
            if classes.isEmpty { return say("no classes yet; add one with `cairn classes add NAME`") }
            say(table(classes.map { [$0.hotkey.map { "[\($0)]" } ?? "[ ]", $0.name] }))
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
            let added = try repository.open().catalog.write { tx in try names.map { try tx.addClass($0, hotkey: hotkey) } }
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
            try repository.open().catalog.write { try $0.renameClass(old, to: new) }
            say("renamed class \(old) to \(new)")
        }
    }
}

struct AnnotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotate",
        abstract: "Label items from a script: each label is appended to the item's history.",
        discussion: """
            ITEM is a blob id, an unambiguous prefix of one, or an imported path. The labels are
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

    @Option(help: "Who is labeling (default: $USER).")
    var annotator: String = ProcessInfo.processInfo.environment["USER"] ?? "unknown"

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

    /// One label per line, one transaction per label: what a labeling front does per keystroke.
    private func runStream(_ repo: Repository) throws {
        let who = try repo.catalog.write { try $0.ensureAnnotator(annotator) }
        while let line = readLine() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard parts.count == 2 else {
                warn("skipped malformed line (want `ITEM CLASS`): \(line)")
                continue
            }
            try repo.catalog.write { tx in
                let item = try tx.item(matching: parts[0])
                let classIDs = parts[1] == "-" ? nil : try tx.existingClassIDs(Label(commaSeparated: parts[1]).classes)
                try tx.appendAnnotation(itemID: item.id, annotatorID: who.id, classIDs: classIDs)
            }
            say("ok \(parts[0]) \(parts[1])")
        }
    }

    func run() throws {
        let repo = try repository.open()
        if stdin { return try runStream(repo) }
        let count = try repo.catalog.write { tx -> Int in
            let who = try tx.ensureAnnotator(annotator)
            let classIDs = skip ? nil : try tx.existingClassIDs(self.class)
            let resolved = try items.map { try tx.item(matching: $0) }
            for item in resolved { try tx.appendAnnotation(itemID: item.id, annotatorID: who.id, classIDs: classIDs) }
            return resolved.count
        }
        say("\(skip ? "skipped" : "labeled") \(count) item(s)" + (skip ? "" : " as \(Label(self.class))") + " for \(annotator)")
    }
}
