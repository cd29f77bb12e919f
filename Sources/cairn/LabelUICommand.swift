import ArgumentParser
import CairnCatalog
import CairnLabeling
import CairnRepository
import Foundation

extension LabelQueue: ExpressibleByArgument {}
extension ImageRenderer.Mode: ExpressibleByArgument {}

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Label images in the terminal: one key per class, undo, several annotators at once.",
        discussion: """
            Shows each image as large as the window allows, with its path, id, size, your current label and the \
            classes with their keys (`cairn classes` sets them). Keys: a class key labels and moves on; space or → skips; \
            ← goes back; u undoes the last label (any number of times); z zooms; ? shows help; q or Ctrl-C quits. \
            With --multi an item takes any number of classes: class keys tick and untick them and enter saves the \
            ticked set (none ticked records that no class applies); training takes only items with one class. \
            Keys remap per repository in .cairn/config.toml: [keys.classes] cat = "c", [keys.actions] undo = "backspace". \
            --class and --split narrow any queue (e.g. --queue review --class cat: every item someone calls a cat). \
            Every label is committed before the next image is drawn. Each process leases its item, so annotators \
            working at once get different items; --overlap N asks for N independent labels per item (annotators do \
            not see each other's labels). In --queue review or disagreements a reviewer sees every annotator's label \
            and a class key records the verdict, which wins when snapshots resolve labels.
            Examples:
              cairn label
              cairn label --annotator ada --overlap 2
              cairn label --annotator grace --queue disagreements
                      cairn label --queue mine --class cat   cairn label --split val   cairn label --multi
            """)
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "Who is labeling (default: $USER).") var annotator: String?
    @Option(help: "unlabeled (items needing labels), mine (items you labeled), all, review (labeled, no verdict) or disagreements (annotators differ); the last two record verdicts and need the reviewer role.") var queue: LabelQueue = .unlabeled
    @Option(name: .customLong("class"), help: "Only items someone currently labels as this class.") var className: String?
    @Option(help: "Only items of this split (train, val, test).") var split: Split?
    @Option(parsing: .unconditional, help: "Independent labels wanted per item.") var overlap = 1
    @Flag(help: "Multi-label mode: class keys tick classes, enter saves the ticked set.") var multi = false
    @Option(help: "How images are drawn; auto picks kitty, iTerm2 or sixel graphics when the terminal has them, else symbols.")
    var render: ImageRenderer.Mode = .auto

    func run() throws {
        guard Terminal.isInteractive else {
            throw ValidationError("cairn label needs an interactive terminal (stdin and stdout are not one); use `cairn annotate` in scripts")
        }
        let repo = try repository.open()
        let annotator = try person(self.annotator, option: "--annotator")
        let session = try LabelSession(catalog: repo.catalog, annotator: annotator, queue: queue,
                                       filter: QueueFilter(split: split, className: className), overlap: overlap)
        guard session.current != nil else {
            return say("nothing to label in the \(queue.rawValue) queue for \(annotator)"
                       + (split == nil && className == nil ? "" : " with these filters"))
        }
        guard !session.classes.isEmpty else {
            session.close()
            throw ValidationError("there are no classes to label with; add some: cairn classes add cat dog")
        }
        let keys: KeyMap
        do {
            keys = try repo.labelingKeys(for: session.classes, multi: multi)
        } catch {
            session.close()
            throw error
        }
        let attributes = render == .auto && ImageRenderer.needsTerminalQuery() ? Terminal.primaryAttributes() ?? [] : []
        let ui = LabelUI(session: session, store: repo.store, renderer: ImageRenderer(render, terminalAttributes: attributes), keys: keys,
                         multi: multi)
        try ui.run()
        say("labeled \(session.labeled) item\(session.labeled == 1 ? "" : "s") as \(annotator); every label is saved")
    }
}
