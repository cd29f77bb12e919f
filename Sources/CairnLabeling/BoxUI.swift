import CairnCatalog
import CairnImaging
import CairnStore
import CairnSupport
import Foundation
import Synchronization

/// Box labeling in the terminal (`cairn label --boxes`): the image with its boxes drawn in, a
/// crosshair moved by keys, two corner keys per box, class keys, Tab through boxes, keys that
/// move a box or its edges, delete, undo, zoom with the view following the crosshair, and Enter
/// to save the item's set and serve the next. Queues and leases are the class labeling's
/// (`LabelSession` with `LabelKind.boxes`).
///
/// `handle` applies a key and `render` returns what the terminal must be sent; `run` joins them
/// to a terminal, and the benchmark times them without one.
public final class BoxUI {
    let session: LabelSession
    let store: any BlobStore
    let renderer: ImageRenderer
    let keys: KeyMap
    let color: Bool
    /// The terminal's size; `run` keeps it current.
    public var size: (columns: Int, rows: Int)
    public private(set) var editor: BoxEditor?
    public private(set) var canvas: BoxCanvas?
    /// What the image area says instead of the image, when it cannot be shown.
    private var problem: String?
    private var itemShown: Int64?
    private var needsFull = true
    private var helpShown = false
    /// The leaving key (quit, skip, back) last pressed over unsaved boxes: pressed again, it leaves.
    private var leaveAsked: KeyMap.Action?
    private var message = ""
    /// The class the next box gets, kept from item to item.
    private var className: String
    /// Who drew the sets on the item (review queues): the editor starts from the first.
    private var sets: [PersonBoxes] = []
    private let decoded = Decoded()
    /// Suggested changes by image (a model's boxes with `--suggest`, the suspects queue's fixes),
    /// first first; `accept` takes the next one not yet taken. Those not taken are drawn dashed.
    private let fixes: [BlobID: [BoxFix]]
    /// The run that made `fixes`, recorded with each saved set they were shown beside.
    private let fixesRun: String?
    /// How far `accept` went through the current image's fixes, and which of them it took.
    private var fixesTaken = 0
    private var taken: [Int] = []
    /// The queue's length, counted off the keystroke path (`LabelUI` does the same).
    private let counted = Counted()

    public init(session: LabelSession, store: any BlobStore, renderer: ImageRenderer, keys: KeyMap, size: (columns: Int, rows: Int) = (80, 24),
                suggestions: BoxSuggestions? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        (self.session, self.store, self.renderer, self.keys, self.size) = (session, store, renderer, keys, size)
        (fixes, fixesRun) = (suggestions?.fixes ?? [:], suggestions?.run)
        className = session.classes.first?.name ?? ""
        color = environment["NO_COLOR"].map(\.isEmpty) ?? true
    }

    /// Runs until `q`, Ctrl-C or an empty queue; the terminal is restored on every path.
    public func run() throws {
        let terminal = Terminal()
        terminal.enter()
        defer {
            terminal.leave()
            session.close()
        }
        guard terminal.columns >= 60, terminal.rows >= 16 else {
            throw LabelingError.terminalTooSmall(columns: terminal.columns, rows: terminal.rows, neededColumns: 60, neededRows: 16)
        }
        size = (terminal.columns, terminal.rows)
        try terminal.write(render())
        var idle = 0.0
        while session.current != nil {
            let typed = terminal.readKeys(timeout: 0.25)
            if typed.isEmpty {
                idle += 0.25
                if idle >= 30 { try session.renew(); idle = 0 }
                guard terminal.updateSize() else { continue }
                size = (terminal.columns, terminal.rows)
                needsFull = true
            } else {
                idle = 0
            }
            for key in typed where session.current != nil {
                if try !handle(key) { return }
            }
            if session.current != nil { try terminal.write(render()) }
        }
    }

    /// Applies one key; false when it asks to quit.
    public func handle(_ key: Key) throws -> Bool {
        message = ""
        try arrive()
        let action = keys.action(for: key)
        if action != leaveAsked { leaveAsked = nil }
        if helpShown {
            helpShown = false
            needsFull = true
            if action != .quit { return true }
        }
        guard var editor else { return true }
        defer { self.editor = editor }
        if let move = KeyMap.movements[key] {
            editor.moveCursor(dx: move.dx, dy: move.dy)
            follow(editor)
            return true
        }
        switch action {
        case .quit?, .skip?, .back?:
            // Unsaved boxes are never dropped on one key: the first press asks.
            if editor.isChanged && leaveAsked != action && key != .interrupt, let action {
                leaveAsked = action
                let leaving = [KeyMap.Action.quit: "quits", .skip: "skips the image", .back: "goes back"][action]!
                message = "this item's boxes are not saved: \(name(.commit)) saves them, \(name(action)) again \(leaving) without them"
                return true
            }
            leaveAsked = nil
            if action == .quit { return false }
            try action == .skip ? session.skip() : session.back()
        case .commit?:
            do {
                try session.saveBoxes(editor.set, suggestion: shown())
            } catch let error as CatalogError {
                message = "not saved: \(error)"
            }
        case .undo?: if !editor.undo() { message = "nothing to undo on this item" }
        case .help?:
            helpShown = true
            needsFull = true
        case .corner?:
            if let problem = editor.corner() { message = problem }
        case .nextBox?:
            editor.cycle()
            follow(editor)
        case .adjust?:
            editor.nextMode()
            if editor.selected == nil { message = "select a box first (\(name(.nextBox)) or draw one)" }
        case .delete?: editor.deleteSelected()
        case .crowd?, .occluded?:
            if editor.selected == nil { message = "select a box first (\(name(.nextBox)))" }
            editor.toggle(crowd: action == .crowd)
        case .nextClass?:
            let names = session.classes.map(\.name)
            let next = names.firstIndex(of: editor.className).map { names[($0 + 1) % names.count] } ?? names.first ?? ""
            editor.setClass(next)
            className = next
        case .zoomIn?, .zoomOut?:
            if canvas?.zoom(by: action == .zoomIn ? 1 : -1, center: editor.cursor) == false {
                message = action == .zoomIn ? "zoomed in as far as it goes" : "the whole image is in view"
            }
            editor.step = canvas?.step ?? 1
        case .accept?:
            guard let fix = nextFix(editor) else {
                message = fixes.isEmpty ? "no suggestions here (`--suggest RUN` or `--queue suspects --run RUN` bring them)" : "no more suggestions on this image"
                break
            }
            editor.apply(remove: fix.remove, add: fix.add)
            follow(editor)
        case .zoom?, .suggest1?, .suggest2?, .suggest3?, .keep?:
            break
        case nil:
            if key == .backtab {
                editor.cycle(forward: false)
                follow(editor)
            } else if key == .escape {
                editor.escape()
            } else if let name = keys.classes[key] {
                editor.setClass(name)
                className = name
            } else {
                message = "'\(KeyMap.name(key))' is not a key here; \(name(.help)) shows the keys"
            }
        }
        return true
    }

    /// What the terminal must be sent to show the current state: everything after an item change,
    /// a resize or the help screen, else the cells and lines that changed.
    public func render() throws -> String {
        try arrive()
        let (columns, rows) = size
        let panel = min(30, columns / 3)
        let area = (columns: columns - panel - 1, rows: rows - 5)
        var out = ""
        if needsFull {
            out += "\u{1B}[0m\u{1B}[2J"
            canvas?.invalidate()
        }
        if helpShown {
            needsFull = false
            return out + help().prefix(rows - 1).enumerated().map { "\u{1B}[\($0.offset + 1);2H" + $0.element }.joined()
        }
        if let canvas, canvas.layout(columns: area.columns, rows: area.rows) {
            editor?.step = canvas.step
            if let editor { canvas.follow(editor.cursor) }
        }
        let full = needsFull
        needsFull = false
        if let canvas, let editor {
            let pixels = canvas.compose(editor, proposals: proposals(editor))
            out += renderer.mode == .symbols || renderer.mode == .auto ? canvas.write(pixels, editor: editor, top: 2, full: full)
                : canvas.graphics(pixels, top: 2)
        } else if full, let problem {
            out += "\u{1B}[3;3H" + style("33", Printable.escaped(problem))
                + "\u{1B}[4;3H\(name(.skip)) skips it; `cairn ls --undecodable` lists every such item"
        }
        func line(_ row: Int, _ column: Int, _ text: String) {
            out += "\u{1B}[\(row);\(column)H\u{1B}[K" + text
        }
        guard let item = session.current else { return out }
        line(1, 1, style("1", "cairn label --boxes") + "  annotator \(Printable.escaped(session.annotator.name))  queue \(session.queue.rawValue)"
             + (session.view.overlap > 1 ? "  overlap \(session.view.overlap)" : ""))
        let panelText = panelLines().prefix(rows - 4)
        for (i, text) in panelText.enumerated() { line(2 + i, columns - panel + 1, rendered(text, width: panel - 1)) }
        for row in (2 + panelText.count)..<max(2 + panelText.count, rows - 2) { line(row, columns - panel + 1, "") }
        var facts = "\(Printable.escaped(item.path))  \(item.blobID.hex.prefix(12))  \(item.width)x\(item.height)  \(item.split)"
        if let editor { facts += editor.isChanged ? "  unsaved changes" : "  \(editor.boxes.count) saved box\(editor.boxes.count == 1 ? "" : "es")" }
        if let note = session.currentNote, let given = note.given {
            facts += "  suspect: \(Printable.escaped(given)) · model: \(Printable.escaped(note.suggested ?? "-"))"
                + (fixes[item.blobID].map { " · \(name(.accept)) takes the fix (\($0.count - fixesTaken) left)" } ?? "")
        } else if let note = session.currentNote, note.explore {
            facts += "  (explore: a random image)"
        } else if let note = session.currentNote, let certainty = note.margin {
            facts += String(format: "  model certainty %.2f", certainty)
        }
        if session.currentNote?.given == nil, let all = fixes[item.blobID], fixesTaken < all.count {
            facts += "  \(all.count - fixesTaken) suggested (dashed): \(name(.accept)) takes the next"
        }
        out += "\u{1B}[\(rows - 2);1H\u{1B}[2K" + String(facts.prefix(columns - 1))
        let remaining = counted.value(labeled: session.queue.labelsLeaveIt ? session.queueExits : nil)
        let total = remaining.map { session.queue.labelsLeaveIt ? session.labeled + $0 : $0 }.map(String.init) ?? "…"
        out += "\u{1B}[\(rows - 1);1H\u{1B}[2K" + style("36", "done \(session.labeled) / \(total)")
        // Every line stays within the width: a wrapped last line would scroll the screen.
        let keysLine = message.isEmpty
            ? "keys: hjkl move (HJKL x10) · \(name(.corner)) corner · class key · \(name(.nextBox)) select · \(name(.adjust)) move/resize · "
                + "\(name(.delete)) delete · \(name(.undo)) undo · \(name(.zoomIn))\(name(.zoomOut)) zoom · \(name(.commit)) save · "
                + "\(name(.skip)) skip · \(name(.help)) help"
            : Printable.escaped(message)
        out += "\u{1B}[\(rows);1H\u{1B}[2K" + style(message.isEmpty ? "2" : "33", String(keysLine.prefix(columns - 1)))
        return out + "\u{1B}[0m"
    }

    /// Sets up the editor and the canvas when the session moved to another item.
    private func arrive() throws {
        guard let item = session.current else { return }
        guard item.id != itemShown else { return }
        itemShown = item.id
        needsFull = true
        fixesTaken = 0
        taken = []
        leaveAsked = nil
        sets = try session.currentBoxSets(.annotations)
        let mine = session.queue.isReview
            ? (try session.currentBoxSets(.verdicts).last ?? sets.first)?.boxes
            : sets.first { $0.person == session.annotator.name }?.boxes
        editor = BoxEditor(width: item.width, height: item.height, boxes: mine?.boxes ?? [], className: className)
        do {
            canvas = BoxCanvas(image: try decoded.image(item.blobID, store: store), renderer: renderer, classes: session.classes.map(\.name))
            problem = nil
        } catch {
            canvas = nil
            problem = error is ImagingError ? "this image cannot be decoded: \(error)" : "this image cannot be read: \(error)"
        }
        if let next = try? session.peekNext() { decoded.prefetch(next.blobID, store: store) }
        counted.refresh(session.remainingCounter(), labeled: session.queueExits)
    }

    /// The next suggestion not yet taken, passing over a box proposal that a box of the set
    /// already covers (same class, IoU ≥ 0.5); moves past what it returns.
    private func nextFix(_ editor: BoxEditor) -> BoxFix? {
        guard let item = session.current, let all = fixes[item.blobID] else { return nil }
        while fixesTaken < all.count {
            let fix = all[fixesTaken]
            fixesTaken += 1
            if fix.remove == nil, let add = fix.add, editor.boxes.contains(where: { $0.className == add.className && $0.iou(add) >= 0.5 }) { continue }
            taken.append(fixesTaken - 1)
            return fix
        }
        return nil
    }

    /// What the model suggested on the current image and which suggestions were taken: the saved
    /// set's provenance. Nil when nothing was suggested here.
    private func shown() -> BoxSuggestionShown? {
        guard let run = fixesRun, let item = session.current, let all = fixes[item.blobID] else { return nil }
        return BoxSuggestionShown(run: run, fixes: all, taken: taken)
    }

    /// Box proposals not yet taken on the current image (drawn dashed).
    private func proposals(_ editor: BoxEditor) -> [Box] {
        guard let item = session.current, let all = fixes[item.blobID], fixesTaken < all.count else { return [] }
        return all[fixesTaken...].compactMap(\.add).filter { add in !editor.boxes.contains { $0 == add } }
    }

    /// Pans the view to keep the crosshair in it.
    private func follow(_ editor: BoxEditor) {
        canvas?.follow(editor.cursor)
    }

    /// A line of the side panel: plain text after an optional class colour swatch, in a style.
    private struct PanelLine {
        var swatch: UInt32? = nil
        var lead = ""
        var text: String
        var code: String? = nil
    }

    /// The side panel: classes with keys and colours, the boxes, the selection, mode, crosshair, zoom.
    private func panelLines() -> [PanelLine] {
        guard let editor else { return [] }
        var lines = [PanelLine(text: "classes", code: "1")]
        for labelClass in session.classes {
            let key = keys.key(forClass: labelClass.name).map(KeyMap.name) ?? " "
            lines.append(PanelLine(swatch: canvas?.colors[labelClass.name], lead: "\(key) ", text: Printable.escaped(labelClass.name),
                                   code: labelClass.name == editor.className ? "7" : nil))
        }
        lines.append(PanelLine(text: ""))
        lines.append(PanelLine(text: "\(editor.boxes.count) box\(editor.boxes.count == 1 ? "" : "es")", code: "1"))
        for (name, count) in BoxSet(editor.boxes).classCounts.sorted(by: { $0.key < $1.key }) {
            lines.append(PanelLine(swatch: canvas?.colors[name], text: "\(count) \(Printable.escaped(name))"))
        }
        if let index = editor.selected {
            let box = editor.boxes[index]
            lines.append(PanelLine(text: "selected: \(Printable.escaped(box.className))"))
            lines.append(PanelLine(text: String(format: "  %g,%g  %gx%g", box.x, box.y, box.width, box.height)))
            if box.crowd || box.occluded {
                lines.append(PanelLine(text: "  " + [box.crowd ? "crowd" : nil, box.occluded ? "occluded" : nil].compactMap { $0 }.joined(separator: " ")))
            }
        } else {
            lines.append(PanelLine(text: editor.anchor == nil ? "no box selected" : "first corner placed"))
        }
        lines.append(PanelLine(text: "keys move: \(editor.mode.rawValue)"))
        lines.append(PanelLine(text: "crosshair \(editor.cursor.x),\(editor.cursor.y)"))
        if let canvas {
            lines.append(PanelLine(text: "zoom \(canvas.zoom)x" + (canvas.zoom > 1 ? String(format: " at %.0f,%.0f", canvas.origin.x, canvas.origin.y) : "")))
        }
        if session.queue.isReview, !sets.isEmpty {
            lines.append(PanelLine(text: ""))
            lines.append(PanelLine(text: "sets drawn", code: "1"))
            for set in sets { lines.append(PanelLine(text: "\(Printable.escaped(set.person)) \(set.boxes.count)")) }
        }
        return lines
    }

    /// A panel line as terminal text at most `width` columns wide.
    private func rendered(_ line: PanelLine, width: Int) -> String {
        var out = line.lead
        if let swatch = line.swatch { out += (color ? "\u{1B}[" + (canvas?.sgr(swatch, background: false) ?? "0") + "m██\u{1B}[0m" : "██") + " " }
        let room = max(0, width - line.lead.count - (line.swatch == nil ? 0 : 3))
        let text = String(line.text.prefix(room))
        return out + (line.code.map { style($0, text) } ?? text)
    }

    private func help() -> [String] {
        ["Box labeling keys", "",
         "  h j k l or arrows   move the crosshair (H J K L: ten times as far)",
         "  \(name(.corner))               place a corner: the first starts a box, the second finishes it",
         "  class keys          give the selected box (and the next one) a class; \(name(.nextClass)) cycles classes",
         "  \(name(.nextBox)) / shift-tab     select the next / previous box (those under the crosshair first)",
         "  \(name(.adjust))                   what hjkl move: crosshair → box → right/bottom edges → left/top edges",
         "  \(name(.delete)) or backspace      delete the selected box       \(name(.crowd)) / \(name(.occluded))  toggle crowd / occluded",
         "  \(name(.undo))                   undo the last edit on this item (any number of times)",
         "  \(name(.zoomIn)) / \(name(.zoomOut))               zoom in / out; the view follows the crosshair",
         "  esc                 drop the first corner, the move mode, the selection",
         "  \(name(.commit))               save this item's boxes (none: no objects) and show the next",
         "  \(name(.accept))                   suspects queue: take the model's suggested fix (again: the next one)",
         "  \(name(.skip)) / \(name(.back))               skip the item / back to the previous one",
         "  \(name(.quit)) or ctrl-c         quit (saved items stay saved)", "",
         "any key closes this help (keys remap in .cairn/config.toml, [keys.classes] and [keys.actions])"]
    }

    private func name(_ action: KeyMap.Action) -> String { keys.key(for: action).map(KeyMap.name) ?? "-" }

    private func style(_ code: String, _ text: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

}

/// Decoded images with their pyramids: the current item's, and the next one's made ahead on a
/// background thread.
final class Decoded: Sendable {
    private let worker = Worker("cairn.boxes.decode", qos: .userInitiated)
    private let pending = Mutex<(BlobID, Pending<ImagePyramid>)?>(nil)

    func image(_ id: BlobID, store: any BlobStore) throws -> ImagePyramid {
        if let (ahead, result) = pending.withLock({ $0 }), ahead == id { return try result.value() }
        return ImagePyramid(try ImageCodec.decode(try store.get(id)))
    }

    func prefetch(_ id: BlobID, store: any BlobStore) {
        pending.withLock { $0 = (id, worker.start { ImagePyramid(try ImageCodec.decode(try store.get(id))) }) }
    }
}
