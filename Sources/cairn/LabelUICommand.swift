import ArgumentParser
import CairnCatalog
import CairnLabeling
import Foundation

extension LabelQueue: ExpressibleByArgument {}
extension ImageRenderer.Mode: ExpressibleByArgument {}

struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Label images in the terminal: one key per class, undo, several annotators at once.",
        discussion: """
            Shows each image as large as the window allows, with its path, id, size, your current label and the
            classes with their keys (`cairn classes` sets them). Keys: a class key labels and moves on; space or → skips;
            ← goes back; u undoes the last label (any number of times); z zooms; ? shows help; q or Ctrl-C quits.
            Every label is committed before the next image is drawn. Each process leases its item, so annotators
            working at once get different items; --overlap N asks for N independent labels per item (annotators do
            not see each other's labels). In --queue review or disagreements a reviewer sees every annotator's label
            and a class key records the verdict, which wins when snapshots resolve labels.
            Examples: cairn label   cairn label --annotator ada --overlap 2   cairn label --annotator grace --queue disagreements
            """)
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "Who is labeling (default: $USER).") var annotator: String = ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    @Option(help: "unlabeled (items needing labels), all, review (labeled, no verdict) or disagreements (annotators differ); the last two record verdicts and need the reviewer role.") var queue: LabelQueue = .unlabeled
    @Option(help: "Independent labels wanted per item.") var overlap = 1
    @Option(help: "auto, kitty, sixel, iterm or symbols.") var render: ImageRenderer.Mode = .auto

    func run() throws {
        guard Terminal.isInteractive else {
            throw ValidationError("cairn label needs an interactive terminal (stdin and stdout are not one); use `cairn annotate` in scripts")
        }
        let repo = try repository.open()
        let session = try LabelSession(catalog: repo.catalog, annotator: annotator, queue: queue, overlap: overlap)
        guard session.current != nil else {
            return say("nothing to label in the \(queue.rawValue) queue for \(annotator)")
        }
        guard !session.classes.isEmpty else {
            session.close()
            throw ValidationError("there are no classes to label with; add some: cairn classes add cat dog")
        }
        let ui = LabelUI(session: session, store: repo.store, renderer: ImageRenderer(render))
        try ui.run()
        say("labeled \(session.labeled) item\(session.labeled == 1 ? "" : "s") as \(annotator); every label is saved")
    }
}
