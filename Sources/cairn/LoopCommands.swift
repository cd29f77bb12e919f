import ArgumentParser
import CairnCatalog
import CairnLabeling
import CairnModels
import CairnQuality
import CairnRepository
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

struct SuspectsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suspects",
        abstract: "Find probably mislabeled items by confident learning, and estimate label noise per class.",
        discussion: """
            Out-of-fold class probabilities come from --folds models of the built-in trainer (stratified, seeded), \
            or from a run's stored predictions (--run; they should be out-of-sample). Per-class thresholds, the \
            confident joint and pruning by noise rate (Northcutt et al., JAIR 2021) flag the items whose labels are \
            most likely wrong, with the label a model thinks is right. The result is kept with the snapshot: \
            `cairn label --queue suspects` brings the flags to a reviewer, `cairn check` and `cairn log` show the noise.
            Examples:
              cairn suspects --data v1
              cairn suspects --data HEAD --model softmax --folds 10 --json
              cairn suspects --data v1 --run resnet-a
              cairn suspects --boxes --data v3 --run detector-1
            --boxes checks box labels against a run's box predictions instead (Docs/LABELS.md, "Box suspects"): \
            missing boxes, wrong classes, badly located and spurious boxes, ranked; \
            `cairn label --boxes --queue suspects --run RUN` brings the flagged images to a reviewer.
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The snapshot.", completion: .custom(Completions.refs)) var data: String
    @Option(help: "The model the folds train: mlp (one hidden layer of 128) or softmax (faster, weaker on real images).") var model: ModelKind = .mlp
    @Option(parsing: .unconditional, help: "Folds of cross-validation (at least 2).") var folds = 5
    @Option(name: .customLong("run"), help: "Use this run's stored predictions instead of training folds.", completion: .custom(Completions.runs))
    var fromRun: String?
    @Option(help: "Image size the folds train at, WxH (default: the most common size among the items, fit to 32x32).") var size: String?
    @Option(parsing: .unconditional, help: "Seed of the fold assignment and the models.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Suspects to list (--json lists them all).") var limit = 30
    @Flag(help: "Check box labels against the --run's box predictions.") var boxes = false

    func validate() throws {
        if model == .cnn { throw ValidationError("--model is mlp or softmax (a CNN per fold costs too much here)") }
        if folds < 2 { throw ValidationError("--folds must be at least 2 (got \(folds))") }
        do {
            _ = try size.map(RunParameters.size)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        if boxes { return try boxSuspects() }
        let parsed = try size.map(RunParameters.size)
        let bar = ProgressBar("suspects")
        let report = try training(repository).suspects(
            data: data, options: SuspectOptions(model: model, folds: folds, run: fromRun, width: parsed?.width, height: parsed?.height, seed: seed)
        ) { _, done, total in bar.update(done: done, total: total) }
        bar.finish()
        if output.json { return try printJSON(report) }
        say(String(format: "estimated label noise %.1f%% of %d labeled items (%@, %.1f s)", report.estimatedNoise * 100, report.items,
                   report.source, report.seconds))
        say(table([["  CLASS", "ITEMS", "NOISE"]] + report.perClass.sorted { $0.key < $1.key }.map {
            ["  " + Printable.escaped($0.key), String($0.value.items), String(format: "%.1f%%", $0.value.estimatedNoise * 100)]
        }))
        if let few = report.tooFewToCheck, !few.isEmpty {
            say("not checked (fewer labeled items than --folds \(folds)): "
                + few.sorted { $0.key < $1.key }.map { "\(Printable.escaped($0.key)) (\($0.value))" }.joined(separator: ", "))
        }
        if report.suspects.isEmpty { return say("no suspects") }
        say("\(report.suspects.count) suspects, most suspicious first (P(LABEL): the given label's out-of-sample probability; "
            + "`cairn label --queue suspects` reviews them):")
        say(table([["  BLOB", "LABEL", "SUGGESTED", "P(LABEL)", "PATH"]] + report.suspects.prefix(limit).map {
            ["  " + String($0.blobID.prefix(12)), Printable.escaped($0.label), Printable.escaped($0.suggested), String(format: "%.3f", $0.score),
             Printable.escaped($0.path)]
        }))
        if report.suspects.count > limit { say("  … and \(report.suspects.count - limit) more (--limit N, or --json)") }
    }
}

extension SuspectsCommand {
    /// `--boxes`: the flags, most suspicious first, with the model's per-class thresholds.
    func boxSuspects() throws {
        guard let fromRun else { throw ValidationError("--boxes needs --run RUN: the run whose box predictions the labels are checked against") }
        let report = try training(repository).boxSuspects(run: fromRun, data: data)
        if output.json { return try printJSON(report) }
        say("\(report.flags.count) flags on \(report.flaggedImages) of \(report.images) images (snapshot \(report.snapshot.prefix(12)), run \(report.run))")
        say("confident from: " + report.thresholds.sorted { $0.key < $1.key }.map { "\(Printable.escaped($0.key)) \(String(format: "%.2f", $0.value))" }
            .joined(separator: ", "))
        if report.flags.isEmpty { return }
        say(table([["  SUSPICION", "KIND", "LABEL", "MODEL", "PATH"]] + report.flags.prefix(limit).map {
            ["  " + String(format: "%.3f", $0.suspicion), $0.kind.rawValue, Printable.escaped($0.label?.description ?? "-"),
             Printable.escaped($0.prediction.map(BoxSuspects.describe) ?? "-"), Printable.escaped($0.path)]
        }))
        if report.flags.count > limit { say("  … and \(report.flags.count - limit) more (--limit N, or --json)") }
        say("`cairn label --boxes --queue suspects --run \(report.run)` reviews them")
    }
}

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Print the next items of a labeling queue, in the order `cairn label` would serve them.",
        discussion: """
            Nothing is leased or recorded. Each item comes with its path, blob id and current (resolved) label, and \
            where they apply the model's margin, whether it was mixed in at random (explore), its three most \
            probable classes (with --run, or for the uncertain queue), and a suspect's given and suggested labels.
            Examples:
              cairn queue uncertain -n 20
              cairn queue uncertain --run mlp-1a2b3c --explore 0 --json
              cairn queue suspects --annotator grace
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "unlabeled, mine, all, review, disagreements, uncertain or suspects.") var queue: LabelQueue
    @Option(name: .customLong("run"), help: "The run whose model orders the uncertain queue and suggests (default: the latest finished run with these classes).",
            completion: .custom(Completions.runs))
    var model: String?
    @Option(help: "Whose queue (default: $USER; an unknown name sees the queue a new annotator would).") var annotator: String?
    @Option(name: .shortAndLong, parsing: .unconditional, help: "How many items.") var n = 10
    @Option(parsing: .unconditional, help: "The uncertain queue's share of random items.") var explore = 0.1
    @Option(parsing: .unconditional, help: "Independent labels wanted per item.") var overlap = 1

    /// One entry as a table row.
    static func row(_ e: Entry) -> [String] {
        var suggestions = (e.suggestions ?? []).map { "\(Printable.escaped($0.className)) " + String(format: "%.0f%%", $0.probability * 100) }
            .joined(separator: " ")
        if let given = e.given { suggestions = Printable.escaped(given) + " -> " + Printable.escaped(e.suggested ?? "?") }
        var margin = e.margin.map { String(format: "%.3f", $0) } ?? "-"
        if e.explore == true { margin += " (explore)" }
        let label = e.label.map { Printable.escaped($0.description) } ?? "-"
        return [String(e.blobID.prefix(12)), label, margin, suggestions.isEmpty ? "-" : suggestions, Printable.escaped(e.path)]
    }

    struct Entry: Encodable {
        var path: String
        var blobID: String
        var label: Label?
        var conflict: [Label]?
        var margin: Double?
        var explore: Bool?
        var suggestions: [SuggestionShown.Candidate]?
        var given: String?
        var suggested: String?
        var score: Double?

        private enum CodingKeys: String, CodingKey { case path, blobID, label, conflict, margin, explore, suggestions, given, suggested, score }

        /// `label` is always there (null when unlabeled); the rest only where they apply.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(blobID, forKey: .blobID)
            try c.encode(label, forKey: .label)
            try c.encodeIfPresent(conflict, forKey: .conflict)
            try c.encodeIfPresent(margin, forKey: .margin)
            try c.encodeIfPresent(explore, forKey: .explore)
            try c.encodeIfPresent(suggestions, forKey: .suggestions)
            try c.encodeIfPresent(given, forKey: .given)
            try c.encodeIfPresent(suggested, forKey: .suggested)
            try c.encodeIfPresent(score, forKey: .score)
        }
    }

    func run() throws {
        let repo = try repository.open()
        let name = try repo.person(annotator, option: "--annotator")
        let loop = try Cairn.labelingLoop(repo, suggest: model != nil || queue == .uncertain, model: model, queue: queue, explore: explore)
        let next = try QueuePreview.next(n, catalog: repo.catalog, queue: queue, annotator: name, overlap: overlap, plan: loop.plan)
        let entries = next.map { item, record -> Entry in
            let resolved = record?.resolved ?? .unlabeled
            var conflict: [Label]? = nil
            if case .conflict(let labels) = resolved { conflict = labels }
            let note = loop.plan?.notes[item.id]
            return Entry(path: item.path, blobID: item.blobID.hex, label: resolved.label, conflict: conflict, margin: note?.margin,
                         explore: queue == .uncertain ? (note?.explore ?? false) : nil, suggestions: loop.suggestions?.top(for: item),
                         given: note?.given, suggested: note?.suggested, score: note?.score)
        }
        if output.json { return try printJSON(entries) }
        if entries.isEmpty { return say("the \(queue.rawValue) queue is empty") }
        say(table([["BLOB", "LABEL", "MARGIN", "SUGGESTIONS", "PATH"]] + entries.map(Self.row)))
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Dataset health of a snapshot: near-duplicates across splits (leakage), class imbalance, label health.",
        discussion: """
            Near-duplicates: images in different splits that are the same picture give or take brightness and \
            contrast, a shift of a pixel or two, a crop of up to 10% resized back, noise or JPEG re-encoding, at any \
            image size (normalized thumbnails at the images' own size up to 64x64, best correlation over shifts and \
            crops, distance = 1 - correlation, at most --threshold and at most twice what a one-pixel shift does \
            to the flatter image); with --flips, mirror images too. Found copies \
            are grouped: one group per picture, however many copies. Imbalance: labeled items per class, the largest over the smallest, \
            classes under --min-count. Labels: labeled, unlabeled, conflicts, and the estimated noise of this \
            snapshot's `cairn suspects`. The report is kept with the snapshot; `cairn log` and `cairn diff` show its figures.
            With --run, near-duplicates are by the embeddings a `cairn run` program wrote (embeddings.npy): pairs \
            across splits whose cosine distance is at most --threshold (default 0.02) — the same scene or object as \
            that model sees it, beyond what pixels show; items the run wrote no embedding for are counted, not compared.
            Examples:
              cairn check --data v1
              cairn check --data HEAD --json
              cairn check --data HEAD --flips --threshold 0.01
              cairn check --data HEAD --run 1a2b3c4d5e6f
            """)

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The snapshot.", completion: .custom(Completions.refs)) var data: String
    @Option(parsing: .unconditional, help: "Largest distance (1 - correlation) at which two images are the same (default 0.006; 0.01 for images under 16 pixels; 0.016 for photos, most over 32 pixels; 0.02 cosine distance with --run).") var threshold: Double?
    @Flag(help: "Count mirror images (left-right flips) as the same picture.") var flips = false
    @Option(name: .customLong("run"), parsing: .unconditional, help: "Compare by this `cairn run` run's embeddings instead of thumbnails.",
            completion: .custom(Completions.runs)) var embeddingsRun: String?
    @Option(parsing: .unconditional, help: "Fewest labeled items a class should have.") var minCount = 10
    @Option(parsing: .unconditional, help: "Groups of near-duplicates to list (--json lists the largest 10,000).") var limit = 20

    func validate() throws {
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold is between 0 and 1 (got \(threshold))") }
    }

    func run() throws {
        let bar = ProgressBar("thumbnails")
        let report = try training(repository).check(data: data, threshold: threshold, flips: flips, run: embeddingsRun, minimumCount: minCount) {
            bar.update(done: $0, total: $1)
        }
        bar.finish()
        if output.json { return try printJSON(report) }
        say("snapshot \(report.snapshot.prefix(12)): \(report.items) items (\(String(format: "%.1f s", report.seconds)))"
            + (report.source.map { ", compared by \($0)" } ?? "")
            + (report.uncovered.map { $0 > 0 ? "; \($0) items without one not compared" : "" } ?? ""))
        say("leaks        \(report.leakCount) group\(report.leakCount == 1 ? "" : "s") of near-duplicates across splits"
            + (report.leakedItems.map { " (\($0) images)" } ?? ""))
        for group in (report.groups ?? []).prefix(limit) {
            let splits = group.splits.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            say("  \(group.size) images (\(splits)): " + group.members.prefix(3).map { "\($0.split) \(Printable.escaped($0.path))" }.joined(separator: "  ~  ")
                + (group.size > 3 ? "  ~  …" : ""))
        }
        let shown = min(limit, report.groups?.count ?? 0)
        if report.leakCount > shown { say("  … and \(report.leakCount - shown) more (--limit N, or --json for the largest \(CheckReport.keptLeaks))") }
        let i = report.imbalance
        say("imbalance    " + (i.ratio.map { String(format: "largest class / smallest %.1f", $0) } ?? "fewer than two classes in use")
            + (i.under.isEmpty ? "" : "; under \(i.minimum) items: " + i.under.map { Printable.escaped($0) }.joined(separator: ", ")))
        let l = report.labels
        say("labels       \(l.labeled) labeled, \(l.unlabeled) unlabeled, \(l.conflicts) in conflict"
            + (l.estimatedNoise.map { String(format: "; estimated noise %.1f%%", $0 * 100) + " (\(l.suspects ?? 0) suspects)" }
               ?? "; no noise estimate (`cairn suspects --data \(data)`)"))
    }
}
