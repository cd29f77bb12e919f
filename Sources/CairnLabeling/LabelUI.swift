import CairnCatalog
import CairnImaging
import CairnStore
import Foundation

/// The full-screen labeling UI: the image as large as the window allows, the item's facts, the
/// classes with their keys, and progress. One key per label; each label is committed before the
/// next image is drawn.
public final class LabelUI {
    let session: LabelSession
    let store: any BlobStore
    let renderer: ImageRenderer
    let terminal = Terminal()
    let color: Bool
    private var zoomed = false
    private var helpShown = false
    private var message = ""
    private var cache: (id: BlobID, image: PixelBuffer)?

    public init(session: LabelSession, store: any BlobStore, renderer: ImageRenderer,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.session = session
        self.store = store
        self.renderer = renderer
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
            throw CatalogError.invalid("the terminal is \(terminal.columns)x\(terminal.rows); cairn label needs at least 40x12")
        }
        try draw()
        var idle = 0.0
        while session.current != nil {
            let keys = terminal.readKeys(timeout: 0.25)
            if keys.isEmpty {
                idle += 0.25
                if terminal.updateSize() { try draw() }
                if idle >= 30 { try session.renew(); idle = 0 }
                continue
            }
            idle = 0
            for key in keys where session.current != nil {
                if try !handle(key) { return }
            }
            if session.current != nil { try draw() }
        }
    }

    /// Applies one key; false when it asks to quit.
    private func handle(_ key: Key) throws -> Bool {
        message = ""
        if helpShown {
            helpShown = false
            if key != .character("q") && key != .interrupt { return true }
        }
        switch key {
        case .character("q"), .interrupt: return false
        case .character(" "), .right: try session.skip()
        case .left: try session.back()
        case .character("u"):
            if try !session.undo() { message = session.queue.isReview ? "a verdict is replaced, not undone: review the item again" : "nothing to undo" }
        case .character("?"): helpShown = true
        case .character("z"): zoomed.toggle()
        case .character(let k):
            if let labelClass = session.labelClass(forKey: k) {
                try session.label(labelClass)
            } else {
                message = "'\(k)' is not a key here; ? shows the keys"
            }
        default: break
        }
        return true
    }

    private func style(_ code: String, _ text: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    private func at(_ row: Int, _ column: Int) -> String { "\u{1B}[\(row);\(column)H" }

    private func draw() throws {
        terminal.updateSize()
        let (cols, rows) = (terminal.columns, terminal.rows)
        var out = "\u{1B}[0m\u{1B}[2J"
        guard let item = session.current else { return }
        if helpShown {
            let lines = ["Keys", ""] + session.classes.compactMap { c in c.hotkey.map { "  \($0)  label \(c.name)" } } + [
                "  space or →  skip", "  ←  back to the previous item", "  u  undo the last label (any number of times)",
                "  z  zoom: the image alone", "  ?  this help", "  q or Ctrl-C  quit (every label is already saved)", "",
                "any key closes this help",
            ]
            for (i, line) in lines.prefix(rows - 1).enumerated() { out += at(i + 1, 2) + line }
            terminal.write(out)
            return
        }
        let panel = zoomed ? 0 : min(28, cols / 3)
        let imageRows = zoomed ? rows : rows - 4
        let imageColumns = cols - panel - 1
        let image = try decoded(item)
        let lines = renderer.render(image, columns: imageColumns, rows: imageRows - (zoomed ? 0 : 1))
        for (i, line) in lines.enumerated() where !line.isEmpty {
            out += at((zoomed ? 1 : 2) + i, 1) + line + "\u{1B}[0m"
        }
        if !zoomed {
            out += at(1, 1) + style("1", "cairn label") + "  annotator \(session.annotator.name)  queue \(session.queue.rawValue)"
                + (session.overlap > 1 ? "  overlap \(session.overlap) (blind)" : "")
            let mine = try session.currentLabel()
            var row = 2
            out += at(row, cols - panel + 1) + style("1", "classes")
            for c in session.classes where row < imageRows {
                row += 1
                let mark = c.name == mine ? style("7", " \(c.name) ") : c.name
                out += at(row, cols - panel + 1) + "\(c.hotkey ?? " ")  " + mark
            }
            var facts = "\(item.path)  \(item.blobID.hex.prefix(12))  \(item.width)x\(item.height) \(item.format)  \(item.split)"
            if session.queue.isReview {
                // Reviewers see every annotator's label; annotators see only their own (blind labeling).
                facts += "  labels: " + (try session.currentLabels().map { "\($0.annotator)=\($0.className ?? "skip")" }.joined(separator: " "))
            } else {
                facts += "  your label: " + (mine ?? "none")
            }
            out += at(rows - 2, 1) + String(facts.prefix(cols))
            let remaining = try session.remaining()
            let elapsed = max(1, Date().timeIntervalSince(session.started))
            let perHour = Double(session.labeled) / elapsed * 3600
            let eta = perHour > 0 ? String(format: "%.0f min", Double(remaining) / perHour * 60) : "-"
            out += at(rows - 1, 1) + style("36", "done \(session.labeled) / \(session.labeled + remaining)")
                + String(format: "  %.0f/h  left %@", perHour, eta)
            out += at(rows, 1) + (message.isEmpty ? style("2", "keys: class key labels · space skip · ← back · u undo · z zoom · ? help · q quit")
                                                  : style("33", message))
        }
        terminal.write(out)
    }

    private func decoded(_ item: Item) throws -> PixelBuffer {
        if let cache, cache.id == item.blobID { return cache.image }
        let image = try ImageCodec.decode(try store.get(item.blobID))
        cache = (item.blobID, image)
        return image
    }
}
