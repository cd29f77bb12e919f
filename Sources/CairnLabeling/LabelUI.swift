import CairnCatalog
import CairnImaging
import CairnStore
import CairnSupport
import Foundation
import Synchronization

/// The full-screen labeling UI: the image as large as the window allows, the item's facts, the
/// classes with their keys, and progress. One key per label; each label is committed before the
/// next image is drawn. In multi-label mode class keys tick and untick classes and the commit key
/// (enter) saves the ticked set, none ticked meaning no class applies.
public final class LabelUI {
    let session: LabelSession
    let store: any BlobStore
    let renderer: ImageRenderer
    let keys: KeyMap
    let terminal = Terminal()
    let color: Bool
    /// Multi-label mode: class keys toggle, the commit key saves.
    let multi: Bool
    /// The classes ticked on the current item (multi-label mode), until saved or skipped.
    private var ticked: (item: Int64, classes: Set<String>)?
    private var zoomed = false
    private var helpShown = false
    /// The last key's note, until the next key.
    private var message = ""
    /// The last background result ("retrained …", "retraining failed: …"), shown whenever no key
    /// has a note, until the next result: a notice must not vanish at the keystroke after it.
    private var backgroundMessage = ""
    private let frames: Frames
    /// The queue's length as last counted, off the keystroke path (counting scans the queue).
    private let counted = Counted()
    /// Prepares the next item's suggestions while the annotator looks at this one.
    private let suggesting = Worker("cairn.suggest", qos: .userInitiated)
    private var shownRemaining: Int?
    /// A model's suggestions beside the image (`--suggest`), if any; a retrain replaces them.
    private(set) var suggestions: Suggestions?
    /// Work the UI does not wait for (a background retrain), polled between keys.
    let background: BackgroundWork?

    public init(session: LabelSession, store: any BlobStore, renderer: ImageRenderer, keys: KeyMap, multi: Bool = false,
                suggestions: Suggestions? = nil, background: BackgroundWork? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.session = session
        self.multi = multi
        self.suggestions = suggestions
        self.background = background
        self.keys = keys
        self.store = store
        self.renderer = renderer
        frames = Frames(store: store, renderer: renderer)
        color = environment["NO_COLOR"].map(\.isEmpty) ?? true
    }

    /// Runs until `q`, Ctrl-C or an empty queue; the terminal is restored on every path.
    public func run() throws {
        terminal.enter()
        defer {
            terminal.leave()
            session.close()
        }
        guard terminal.columns >= 40, terminal.rows >= 12 else {
            throw LabelingError.terminalTooSmall(columns: terminal.columns, rows: terminal.rows)
        }
        try draw()
        var idle = 0.0
        while session.current != nil {
            let keys = terminal.readKeys(timeout: 0.25)
            var redraw = !keys.isEmpty
            if keys.isEmpty {
                idle += 0.25
                redraw = terminal.updateSize() || (shownRemaining != nil && remainingNow() != shownRemaining)
                if idle >= 30 { try session.renew(); idle = 0 }
            } else {
                idle = 0
            }
            for key in keys where session.current != nil {
                let before = session.labeled
                if try !handle(key) { return }
                if session.labeled > before { background?.labeled(count: session.labeled) }
            }
            if let background, let result = background.poll() {
                backgroundMessage = result.message
                if let plan = result.plan { session.replacePlan(plan) }
                if let newer = result.suggestions { suggestions = newer }
                redraw = true
            }
            if redraw, session.current != nil { try draw() }
        }
    }

    /// Applies one key; false when it asks to quit.
    private func handle(_ key: Key) throws -> Bool {
        message = ""
        let action = keys.action(for: key)
        // Ticks last until the item is saved or left: skip, back, undo and quit drop them.
        if let action, action != .zoom, action != .help, action != .commit { ticked = nil }
        if helpShown {
            helpShown = false
            if action != .quit { return true }
        }
        switch action {
        case .quit?: return false
        case .skip?: try session.skip()
        case .back?: try session.back()
        case .undo?:
            if try !session.undo() { message = session.queue.isReview ? "a verdict is replaced, not undone: review the item again" : "nothing to undo" }
        case .help?: helpShown = true
        case .zoom?: zoomed.toggle()
        case .commit?:
            if multi {
                let chosen = try tickedClasses()
                ticked = nil
                try session.label(session.classes.filter { chosen.contains($0.name) })
            } else {
                message = "\(keyName(.commit)) saves ticked classes with --multi; here a class key labels"
            }
        case .suggest1?, .suggest2?, .suggest3?:
            let rank = action == .suggest1 ? 0 : action == .suggest2 ? 1 : 2
            guard let item = session.current, let suggestions, case let top = suggestions.top(for: item), rank < top.count,
                  let labelClass = session.classes.first(where: { $0.name == top[rank].className }) else {
                message = "no suggestion \(rank + 1) for this item"
                return true
            }
            try session.label(labelClass, suggestion: suggestions.shown(for: item, accepted: true))
        case .corner?, .nextBox?, .adjust?, .delete?, .crowd?, .occluded?, .nextClass?, .zoomIn?, .zoomOut?:
            break  // box labeling's keys (`BoxUI`): not bound in this mode
        case .accept?: try session.decide(accept: true)
        case .keep?: try session.decide(accept: false)
        case nil:
            if let name = keys.classes[key], let labelClass = session.classes.first(where: { $0.name == name }) {
                if multi, let item = session.current {
                    var chosen = try tickedClasses()
                    if chosen.remove(name) == nil { chosen.insert(name) }
                    ticked = (item.id, chosen)
                } else {
                    try session.label(labelClass, suggestion: session.current.flatMap { suggestions?.shown(for: $0, accepted: false) })
                }
            } else if key != .up && key != .down && key != .escape {
                message = "'\(KeyMap.name(key))' is not a key here; \(keyName(.help)) shows the keys"
            }
        }
        return true
    }

    /// The classes ticked on the current item; on arrival, the annotator's own label of it
    /// (`own` when the caller has just read it, else read now).
    private func tickedClasses(own: Label?? = nil) throws -> Set<String> {
        guard let item = session.current else { return [] }
        if let ticked, ticked.item == item.id { return ticked.classes }
        let start = Set(try (own ?? session.currentLabel())?.classes ?? [])
        ticked = (item.id, start)
        return start
    }

    private func keyName(_ action: KeyMap.Action) -> String { keys.key(for: action).map(KeyMap.name) ?? "-" }

    private func style(_ code: String, _ text: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    private func draw() throws {
        terminal.updateSize()
        guard let item = session.current else { return }
        let screen = LabelScreen(try content(of: item), columns: terminal.columns, rows: terminal.rows)
        var lines: [String] = []
        if let area = screen.image {
            do {
                lines = try frames.frame(Frames.Key(item.blobID, columns: area.columns, rows: area.rows))
            } catch {
                // An image imported with --no-verify may not decode, a blob may be damaged: say so and
                // keep the session going, the annotator decides what to do with the item.
                lines = unshowable(item, error)
            }
        }
        terminal.write(screen.rendered(imageLines: lines, color: color))
        if let area = screen.image { prepareNext(columns: area.columns, rows: area.rows) }
    }

    /// What the screen shows for `item` now.
    private func content(of item: Item) throws -> LabelScreen.Content {
        let mine = helpShown || zoomed ? nil : try session.currentLabel()
        let chosen = multi && !helpShown && !zoomed ? try tickedClasses(own: .some(mine)) : []
        var remaining = 0, perHour = 0.0
        var eta = "-"
        if !helpShown && !zoomed {
            remaining = try remainingNow() ?? session.remaining()
            shownRemaining = remaining
            let elapsed = max(1, Date().timeIntervalSince(session.started))
            perHour = Double(session.labeled) / elapsed * 3600
            if perHour > 0 { eta = String(format: "%.0f min", Double(remaining) / perHour * 60) }
        }
        return LabelScreen.Content(
            annotator: session.annotator.name, queue: session.queue, overlap: session.view.overlap, multi: multi, zoomed: zoomed,
            help: helpShown,
            classes: session.classes.map {
                .init(name: $0.name, key: keys.key(forClass: $0.name).map(KeyMap.name), isMine: mine?.contains($0.name) == true,
                      isTicked: chosen.contains($0.name))
            },
            facts: "\(Printable.escaped(item.path))  \(item.blobID.hex.prefix(12))  \(item.width)x\(item.height) \(item.format)  \(item.split)",
            labels: session.queue.isReview && !helpShown && !zoomed ? try session.currentLabels() : nil, ownLabel: mine,
            suggestions: helpShown || zoomed ? [] : (suggestions?.top(for: item) ?? []).enumerated().map { i, c in
                .init(key: keyName(i == 0 ? .suggest1 : i == 1 ? .suggest2 : .suggest3), name: c.className, probability: c.probability)
            },
            suggestedBy: suggestions?.run, note: session.currentNote, planSource: session.plan?.source,
            done: session.labeled,
            // Labels take items out of the unlabeled and review queues, not out of `all` or `mine`,
            // whose count is already the whole queue: either way the total stays fixed.
            total: session.queue.labelsLeaveIt ? session.labeled + remaining + session.undoneToLabel : remaining,
            perHour: perHour, eta: eta, message: message.isEmpty ? backgroundMessage : message,
            keyNames: Dictionary(uniqueKeysWithValues: KeyMap.Action.allCases.map { ($0, keyName($0)) }))
    }

    /// What stands in for an image that cannot be shown: why, which item, and what the keys do.
    private func unshowable(_ item: Item, _ error: any Error) -> [String] {
        let why = error is ImagingError ? "this image cannot be decoded: \(error)" : "this image cannot be read: \(error)"
        return ["", "  " + style("33", Printable.escaped(why)), "  \(Printable.escaped(item.path))  \(item.blobID.hex)", "",
                "  \(keyName(.skip)) skips it; a class key still labels it; "
                    + "`cairn annotate \(item.blobID.hex.prefix(12)) --none` records that no class applies",
                "  `cairn ls --undecodable` lists every such item"]
    }

    /// The queue's length from the latest background count. A label takes its item out of the
    /// unlabeled and review queues, so labels made since that count started are counted off.
    private func remainingNow() -> Int? {
        counted.value(labeled: session.queue.labelsLeaveIt ? session.queueExits : nil)
    }

    /// While the annotator looks: render the item a label or skip will most likely show next, and
    /// recount the queue.
    private func prepareNext(columns: Int, rows: Int) {
        if let next = try? session.peekNext() {
            frames.prefetch(Frames.Key(next.blobID, columns: columns, rows: rows))
            if let suggestions { suggesting.submit { suggestions.prepare(next) } }
        }
        counted.refresh(session.remainingCounter(), labeled: session.queueExits)
    }
}

/// A queue count made in the background, with the session's label count when it started.
final class Counted: Sendable {
    /// The latest count with the label count it was made at.
    private let latest = Mutex<(count: Int, labeled: Int)?>(nil)
    private let worker = Worker("cairn.count")

    /// The latest count; given the session's label count now, less the labels made since it started.
    func value(labeled: Int?) -> Int? {
        latest.withLock { latest in
            guard let latest else { return nil }
            return max(0, latest.count - (labeled.map { $0 - latest.labeled } ?? 0))
        }
    }

    /// Starts a recount unless one is running.
    func refresh(_ count: @escaping @Sendable () throws -> Int, labeled: Int) {
        worker.submitIfIdle { [self] in
            if let result = try? count() { latest.withLock { $0 = (result, labeled) } }
        }
    }
}
