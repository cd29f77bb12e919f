import ArgumentParser
import CairnCatalog
import CairnLabeling
import CairnRepository
import CairnStore
import CairnTraining
import CairnVersioning
import CairnWorkflows
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
            --suggest [RUN] shows a model's three most probable classes beside the image (RUN: a run id or name; \
            default the latest finished run with these classes), from its stored predictions or its checkpoint; \
            enter takes the first, ',' the second, '.' the third (remappable: suggest1..3), class keys still work, \
            and each label records the suggestions shown and whether one was taken. --blind shows none. \
            --queue uncertain serves unlabeled items the model is least sure of first (smallest margin between its \
            two most probable classes), with a share --explore of random items mixed in (marked); \
            --retrain-every N snapshots, trains the same model and reorders the queue in the background after \
            every N labels. --queue suspects brings `cairn suspects` flags to a reviewer: enter accepts the \
            suggested fix, backspace keeps the given label (each a verdict).
            --boxes labels objects with boxes instead: hjkl or the arrows move a crosshair (HJKL ten times as far), \
            space places a box's first corner and then its second, a class key gives the selected box (and the \
            next) its class, tab and shift-tab select boxes, m cycles what hjkl move (crosshair, box, right/bottom \
            edges, left/top edges), x deletes, c and o toggle crowd and occluded, u undoes, + and - zoom (the view \
            follows the crosshair), enter saves the item's set (none drawn: no objects) and shows the next, > skips, \
            < goes back. The box queues read box sets: unlabeled (no set from you), mine, all, review and \
            disagreements (a reviewer's set is the verdict). --suggest [RUN] draws a run's box predictions \
            (score 0.5 or more) dashed and a takes them one by one; --queue suspects --run RUN serves the \
            images `cairn suspects --boxes` flags, a taking the model's fix; --queue uncertain --run RUN serves \
            images by the detector's certainty of its least sure box, least sure first.
            Examples:
              cairn label
              cairn label --annotator ada --overlap 2
              cairn label --annotator grace --queue disagreements
              cairn label --suggest --queue uncertain --retrain-every 50
              cairn label --annotator grace --queue suspects
              cairn label --boxes
              cairn label --boxes --annotator grace --queue disagreements
              cairn label --boxes --suggest detector-1
              cairn label --boxes --annotator grace --queue suspects --run detector-1
                      cairn label --queue mine --class cat   cairn label --split val   cairn label --multi
            """)
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "Who is labeling (default: $USER, else your Unix account).") var annotator: String?
    @Option(help: "unlabeled (items needing labels), mine (items you labeled), all, review (labeled, no verdict), disagreements (annotators differ), uncertain (least sure first, by a model) or suspects (flagged by `cairn suspects`); review, disagreements and suspects record verdicts and need the reviewer role.") var queue: LabelQueue = .unlabeled
    @Option(name: .customLong("class"), help: "Only items someone currently labels as this class.") var className: String?
    @Option(help: "Only items of this split (train, val, test).") var split: Split?
    @Option(parsing: .unconditional, help: "Independent labels wanted per item.") var overlap = 1
    @Flag(help: "Multi-label mode: class keys tick classes, enter saves the ticked set.") var multi = false
    @Flag(help: "Draw boxes around objects instead of labeling whole images.") var boxes = false
    @Option(help: "How images are drawn; auto picks kitty, iTerm2 or sixel graphics when the terminal has them, else symbols.")
    var render: ImageRenderer.Mode = .auto
    @Option(help: "Show a model's suggestions: a run id or name (`--suggest` alone: the latest finished run with these classes).",
            completion: .custom(Completions.runs))
    var suggest: String?
    @Flag(help: "Show no suggestions.") var blind = false
    @Option(name: .customLong("run"), help: "The run whose model orders --queue uncertain (default: the --suggest run, else the latest).",
            completion: .custom(Completions.runs))
    var orderRun: String?
    @Option(parsing: .unconditional, help: "--queue uncertain: the share of random items mixed in.") var explore = 0.1
    @Option(parsing: .unconditional, help: "--queue uncertain: retrain and reorder in the background after every N labels.")
    var retrainEvery: Int?

    func validate() throws {
        if suggest != nil && multi { throw ValidationError("--suggest works in single-label mode, not with --multi") }
        if !(0...1).contains(explore) { throw ValidationError("--explore is a share between 0 and 1 (got \(explore))") }
        if retrainEvery != nil && queue != .uncertain { throw ValidationError("--retrain-every goes with --queue uncertain") }
        if let n = retrainEvery, n < 1 { throw ValidationError("--retrain-every must be at least 1") }
        if boxes {
            if multi || retrainEvery != nil {
                throw ValidationError("--multi and --retrain-every are for class labels, not --boxes")
            }
            if suggest != nil && queue == .suspects { throw ValidationError("the box suspects queue suggests its own fixes: leave out --suggest") }
            if queue == .suspects && orderRun == nil { throw ValidationError("--boxes --queue suspects needs --run RUN: the run whose box predictions flag the labels") }
            if !queue.needsPlan && orderRun != nil { throw ValidationError("--run goes with --boxes --queue suspects or uncertain") }
            if className != nil { throw ValidationError("--class narrows by class labels; with --boxes use --split, or no filter") }
        }
    }

    func run() throws {
        guard Terminal.isInteractive else {
            throw ValidationError("cairn label needs an interactive terminal (stdin and stdout are not one); use `cairn annotate` in scripts")
        }
        let repo = try repository.open()
        let annotator = try repo.person(self.annotator, option: "--annotator")
        if boxes { return try labelBoxes(repo, annotator: annotator) }
        let loop = try Cairn.labelingLoop(repo, suggest: !blind && suggest != nil, model: orderRun ?? (blind ? nil : suggest), queue: queue, explore: explore)
        let session = try LabelSession(catalog: repo.catalog, annotator: annotator, queue: queue,
                                       filter: QueueFilter(split: split, className: className), overlap: overlap, plan: loop.plan)
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
            keys = try repo.labelingKeys(for: session.classes, multi: multi,
                                         mode: multi ? .multi : queue == .suspects ? .suspects : loop.suggestions != nil ? .suggestions : .single)
        } catch {
            session.close()
            throw error
        }
        let attributes = render == .auto && ImageRenderer.needsTerminalQuery() ? Terminal.primaryAttributes() ?? [] : []
        let retrainer = try retrainEvery.map { try Retrainer(repo, run: loop.run!, every: $0, explore: explore, annotator: annotator, cairnVersion: Cairn.version) }
        let ui = LabelUI(session: session, store: repo.store, renderer: ImageRenderer(render, terminalAttributes: attributes), keys: keys,
                         multi: multi, suggestions: loop.suggestions, background: retrainer)
        try ui.run()
        say("labeled \(session.labeled) item\(session.labeled == 1 ? "" : "s") as \(annotator); every label is saved")
    }
}

extension LabelCommand {
    /// `--boxes`: the box labeling UI on the box queues.
    func labelBoxes(_ repo: Repository, annotator: String) throws {
        var plan: QueuePlan?
        var suggestions: BoxSuggestions?
        let training = Training(versioning: Versioning(repository: repo), cairnVersion: Cairn.version)
        if queue == .suspects {
            (plan, suggestions) = try training.boxSuspectsPlan(run: orderRun!)
        } else if queue == .uncertain {
            // The run that orders the queue: --run, else the --suggest run, else the latest with box predictions.
            plan = try training.boxUncertaintyPlan(run: orderRun ?? (suggest == Cairn.latest ? nil : suggest), explore: explore)
        }
        if queue != .suspects, let suggest, !blind {
            let found = try training.boxProposals(run: suggest == Cairn.latest ? nil : suggest)
            suggestions = found
            say("suggestions: run \(found.run)'s boxes scoring 0.5 or more, dashed; a takes the next")
        }
        let session = try LabelSession(catalog: repo.catalog, annotator: annotator, queue: queue, filter: QueueFilter(split: split),
                                       overlap: overlap, plan: plan, kind: .boxes)
        guard session.current != nil else {
            return say("no images to draw boxes on in the \(queue.rawValue) queue for \(annotator)" + (split == nil ? "" : " in \(split!.rawValue)"))
        }
        let keys: KeyMap
        do {
            guard !session.classes.isEmpty else {
                throw ValidationError("there are no classes to give boxes; add some: cairn classes add cat dog")
            }
            keys = try repo.labelingKeys(for: session.classes, mode: .boxes)
        } catch {
            session.close()
            throw error
        }
        let attributes = render == .auto && ImageRenderer.needsTerminalQuery() ? Terminal.primaryAttributes() ?? [] : []
        let ui = BoxUI(session: session, store: repo.store, renderer: ImageRenderer(render, terminalAttributes: attributes), keys: keys,
                       suggestions: suggestions)
        try ui.run()
        say("saved boxes on \(session.labeled) image\(session.labeled == 1 ? "" : "s") as \(annotator); every saved set is in the catalog")
    }
}

extension Cairn {
    /// The labeling loop's model for `label` and `queue`, with a progress bar while the uncertain
    /// queue is predicted; `model` nil or "@latest" (`--suggest` given alone) is the latest run.
    static func labelingLoop(_ repo: Repository, suggest: Bool, model: String?, queue: LabelQueue, explore: Double) throws -> LabelingLoop {
        let bar = queue == .uncertain ? ProgressBar("predicting") : nil
        defer { bar?.finish() }
        return try LabelingLoop(repo, suggest: suggest, model: model == latest ? nil : model, queue: queue, explore: explore,
                                cairnVersion: version) { bar?.update(done: $0, total: $1) }
    }
}
