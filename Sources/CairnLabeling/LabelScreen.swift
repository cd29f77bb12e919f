import CairnCatalog
import CairnSupport
import Foundation

/// The labeling screen laid out for one terminal size: where the image goes and every piece of
/// text at its row and column, with its style. `LabelUI` fills in a `Content`, writes the
/// layout's text and the image's lines; tests check the layout without a terminal.
///
/// ```
/// row 1          cairn label  annotator ada  queue unlabeled            classes
/// rows 2…r-3     the image (columns 1…c-panel-1)                         1  cat
///                                                                        2  dog
/// row r-2        path  blob  WxH format  split  your label: …
/// row r-1        done 12 / 300  240/h  left 72 min
/// row r          keys: … (or the last message)
/// ```
struct LabelScreen: Equatable {
    /// What the screen shows, gathered by the UI.
    struct Content {
        struct ClassLine { var name: String; var key: String?; var isMine: Bool; var isTicked: Bool }
        var annotator: String
        var queue: LabelQueue
        var overlap: Int
        var multi: Bool
        var zoomed: Bool
        var help: Bool
        var classes: [ClassLine]
        /// Path, short blob id, size, format and split of the item.
        var facts: String
        /// Every annotator's label (review queues), else nil and `ownLabel` is shown.
        var labels: [(annotator: String, label: Label?)]?
        var ownLabel: Label?
        /// A model's suggestions, with the keys that take them (`--suggest`).
        struct SuggestionLine { var key: String; var name: String; var probability: Double }
        var suggestions: [SuggestionLine] = []
        /// The run suggesting, and where a plan-served queue's order came from.
        var suggestedBy: String? = nil
        var note: QueuePlan.Note? = nil
        var planSource: String? = nil
        var done: Int
        var total: Int
        var perHour: Double
        var eta: String
        var message: String
        /// The key names of the actions, for the key line and the help screen.
        var keyNames: [KeyMap.Action: String]
    }

    enum Style: Equatable { case plain, bold, inverse, dim, progress, warning }

    struct Text: Equatable {
        var row: Int, column: Int
        var text: String
        var style: Style = .plain
    }

    /// Where the image goes: its top row, and the cells it may fill (columns from 1).
    struct ImageArea: Equatable { var top: Int, rows: Int, columns: Int }

    var image: ImageArea?
    var texts: [Text]

    /// The screen for `content` on a `columns`x`rows` terminal (at least 40x12).
    init(_ content: Content, columns: Int, rows: Int) {
        func key(_ action: KeyMap.Action) -> String { content.keyNames[action] ?? "-" }
        if content.help {
            image = nil
            texts = Self.help(content, key: key).prefix(rows - 1).enumerated().map { Text(row: $0.offset + 1, column: 2, text: $0.element) }
            return
        }
        if content.zoomed {
            image = ImageArea(top: 1, rows: rows, columns: columns - 1)
            texts = []
            return
        }
        let panel = min(28, columns / 3)
        let imageRows = rows - 4
        image = ImageArea(top: 2, rows: imageRows - 1, columns: columns - panel - 1)
        var texts = [Text(row: 1, column: 1, text: "cairn label", style: .bold),
                     Text(row: 1, column: 12, text: "  annotator \(Printable.escaped(content.annotator))  queue \(content.queue.rawValue)"
                        + (content.overlap > 1 ? "  overlap \(content.overlap) (blind)" : "") + (content.multi ? "  multi-label" : "")
                        + (content.suggestedBy.map { "  suggestions: run \($0)" } ?? "")
                        + (content.planSource.map { "  order: \(Printable.escaped($0))" } ?? ""))]
        texts.append(Text(row: 2, column: columns - panel + 1, text: "classes", style: .bold))
        for (i, c) in content.classes.enumerated() where 3 + i <= imageRows {
            let name = Printable.escaped(c.name)
            let box = content.multi ? (c.isTicked ? "[x] " : "[ ] ") : ""
            let keyText = "\(c.key ?? " ")  " + box
            texts.append(Text(row: 3 + i, column: columns - panel + 1, text: keyText))
            texts.append(Text(row: 3 + i, column: columns - panel + 1 + keyText.count, text: c.isMine ? " \(name) " : name,
                              style: c.isMine ? .inverse : .plain))
        }
        // The model's suggestions under the classes, while there is room above the status lines.
        var row = 3 + content.classes.count + 1
        if !content.suggestions.isEmpty, row + content.suggestions.count <= imageRows {
            texts.append(Text(row: row, column: columns - panel + 1, text: "suggested", style: .bold))
            for line in content.suggestions {
                row += 1
                texts.append(Text(row: row, column: columns - panel + 1,
                                  text: "\(line.key)  \(Printable.escaped(line.name))  " + String(format: "%.1f%%", line.probability * 100)))
            }
        }
        var facts = content.facts
        if let note = content.note {
            if let given = note.given, let suggested = note.suggested {
                facts += "  given \(Printable.escaped(given)) -> suggested \(Printable.escaped(suggested))"
                    + (note.score.map { String(format: " (score %.3f)", $0) } ?? "")
            } else if note.explore {
                facts += "  (explore: a random item)"
            } else if let margin = note.margin {
                facts += String(format: "  margin %.3f", margin)
            }
        }
        if let labels = content.labels {
            // Reviewers see every annotator's label; annotators see only their own (blind labeling).
            facts += "  labels: " + labels.map { "\(Printable.escaped($0.annotator))=\(Printable.escaped($0.label?.description ?? "skip"))" }
                .joined(separator: " ")
        } else {
            facts += "  your label: " + Printable.escaped(content.ownLabel?.description ?? "none")
        }
        texts.append(Text(row: rows - 2, column: 1, text: String(facts.prefix(columns))))
        let progress = "done \(content.done) / \(content.total)"
        texts.append(Text(row: rows - 1, column: 1, text: progress, style: .progress))
        texts.append(Text(row: rows - 1, column: 1 + progress.count, text: String(format: "  %.0f/h  left %@", content.perHour, content.eta)))
        if content.message.isEmpty {
            var first = content.multi ? "keys: class keys tick · \(key(.commit)) saves" : "keys: class key labels"
            if !content.suggestions.isEmpty { first += " · \(key(.suggest1)) \(key(.suggest2)) \(key(.suggest3)) take a suggestion" }
            if let given = content.note?.given, let suggested = content.note?.suggested {
                first = "keys: \(key(.accept)) accepts \(Printable.escaped(suggested)) · \(key(.keep)) keeps \(Printable.escaped(given)) · class key sets another"
            }
            let keysLine = first
                + " · \(key(.skip)) skip · ← back · \(key(.undo)) undo · \(key(.zoom)) zoom · \(key(.help)) help · \(key(.quit)) quit"
            texts.append(Text(row: rows, column: 1, text: keysLine, style: .dim))
        } else {
            texts.append(Text(row: rows, column: 1, text: Printable.escaped(content.message), style: .warning))
        }
        self.texts = texts
    }

    /// The help screen's lines.
    private static func help(_ content: Content, key: (KeyMap.Action) -> String) -> [String] {
        let verb = content.multi ? "tick or untick" : "label"
        return ["Keys", ""] + content.classes.compactMap { c in c.key.map { "  \($0)  \(verb) \(Printable.escaped(c.name))" } }
            + (content.multi ? ["  \(key(.commit))  save the ticked classes and move on (none ticked: no class applies)"] : [])
            + (content.suggestedBy != nil ? ["  \(key(.suggest1)) \(key(.suggest2)) \(key(.suggest3))  label with the model's first, second or third suggestion"] : [])
            + (content.note?.given != nil ? ["  \(key(.accept))  accept the suggested fix   \(key(.keep))  keep the given label (each a verdict)"] : []) + [
                "  \(key(.skip)) or →  skip", "  \(key(.back) == "-" ? "" : key(.back) + " or ")←  back to the previous item",
                "  \(key(.undo))  undo the last label (any number of times)",
                "  \(key(.zoom))  zoom: the image alone", "  \(key(.help))  this help",
                "  \(key(.quit)) or ctrl-c  quit (every label is already saved)", "",
                "any key closes this help (keys remap in .cairn/config.toml, [keys.classes] and [keys.actions])",
            ]
    }

    /// The escape sequences that draw this screen with `imageLines` in the image area; `color`
    /// false draws every style plain (NO_COLOR).
    func rendered(imageLines: [String], color: Bool) -> String {
        func at(_ row: Int, _ column: Int) -> String { "\u{1B}[\(row);\(column)H" }
        func styled(_ text: String, _ style: Style) -> String {
            let code: String
            switch style {
            case .plain: return text
            case .bold: code = "1"
            case .inverse: code = "7"
            case .dim: code = "2"
            case .progress: code = "36"
            case .warning: code = "33"
            }
            return color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
        }
        var out = "\u{1B}[0m\u{1B}[2J"
        if let image {
            for (i, line) in imageLines.prefix(image.rows).enumerated() where !line.isEmpty { out += at(image.top + i, 1) + line + "\u{1B}[0m" }
        }
        for text in texts { out += at(text.row, text.column) + styled(text.text, text.style) }
        return out
    }
}
