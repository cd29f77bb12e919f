import CairnCatalog
@testable import CairnLabeling
import Foundation
import Testing

@Suite struct LabelScreenTests {
    private func content(classes: [String] = ["cat", "dog"], mine: Label? = nil, queue: LabelQueue = .unlabeled, multi: Bool = false,
                         ticked: Set<String> = [], labels: [(annotator: String, label: Label?)]? = nil, help: Bool = false,
                         zoomed: Bool = false, message: String = "", annotator: String = "ada") -> LabelScreen.Content {
        let keys: [KeyMap.Action: String] = [.skip: "space", .back: "-", .undo: "u", .zoom: "z", .help: "?", .quit: "q", .commit: "enter"]
        return LabelScreen.Content(
            annotator: annotator, queue: queue, overlap: 1, multi: multi, zoomed: zoomed, help: help,
            classes: classes.enumerated().map { .init(name: $0.element, key: String($0.offset + 1), isMine: mine?.contains($0.element) == true,
                                                     isTicked: ticked.contains($0.element)) },
            facts: "digits/3/a.png  0123456789ab  8x8 png  train", labels: labels, ownLabel: mine, done: 3, total: 10, perHour: 120,
            eta: "4 min", message: message, keyNames: keys)
    }

    private func text(_ screen: LabelScreen, row: Int) -> String {
        screen.texts.filter { $0.row == row }.sorted { $0.column < $1.column }.map(\.text).joined()
    }

    @Test func theImageTakesWhatThePanelAndStatusLinesLeave() {
        let screen = LabelScreen(content(mine: "cat"), columns: 120, rows: 40)
        #expect(screen.image == .init(top: 2, rows: 35, columns: 91))
        #expect(text(screen, row: 1) == "cairn label  annotator ada  queue unlabeled")
        #expect(screen.texts.contains(.init(row: 2, column: 93, text: "classes", style: .bold)))
        #expect(text(screen, row: 3) == "1   cat " && text(screen, row: 4) == "2  dog")
        #expect(screen.texts.contains { $0.row == 3 && $0.style == .inverse })
        #expect(text(screen, row: 38).hasSuffix("your label: cat"))
        #expect(text(screen, row: 39) == "done 3 / 10  120/h  left 4 min")
        #expect(text(screen, row: 40).hasPrefix("keys: class key labels · space skip"))
    }

    @Test func classesThatDoNotFitAreLeftOffNotDrawnOverTheStatusLines() {
        let screen = LabelScreen(content(classes: (0..<20).map { "c\($0)" }), columns: 40, rows: 12)
        let classRows = screen.texts.filter { $0.column > 20 && $0.row > 2 }.map(\.row)
        #expect(Set(classRows) == Set(3...8))
        #expect(screen.image == .init(top: 2, rows: 7, columns: 26))
    }

    @Test func textFromTheDataIsEscaped() {
        let screen = LabelScreen(content(classes: ["cat\u{1B}]0;owned\u{07}"], message: "bad \u{1B}[31m", annotator: "eve\u{1B}[2J"),
                                 columns: 80, rows: 24)
        #expect(!screen.texts.contains { $0.text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 } })
        #expect(text(screen, row: 24) == "bad \\e[31m")
    }

    @Test func reviewersSeeEveryLabelAnnotatorsOnlyTheirOwn() {
        let review = LabelScreen(content(queue: .review, labels: [("ada", "cat"), ("bo", nil)]), columns: 120, rows: 40)
        #expect(text(review, row: 38).hasSuffix("labels: ada=cat bo=skip"))
        let blind = LabelScreen(content(), columns: 120, rows: 40)
        #expect(text(blind, row: 38).hasSuffix("your label: none"))
    }

    @Test func multiLabelShowsTickBoxesAndTheSaveKey() {
        let screen = LabelScreen(content(multi: true, ticked: ["dog"]), columns: 120, rows: 40)
        #expect(text(screen, row: 3) == "1  [ ] cat" && text(screen, row: 4) == "2  [x] dog")
        #expect(text(screen, row: 40).hasPrefix("keys: class keys tick · enter saves"))
    }

    @Test func helpAndZoomReplaceTheScreen() {
        let help = LabelScreen(content(help: true), columns: 80, rows: 24)
        #expect(help.image == nil)
        #expect(help.texts.map(\.text).contains("  1  label cat"))
        #expect(help.texts.map(\.text).contains("  q or ctrl-c  quit (every label is already saved)"))
        let zoomed = LabelScreen(content(zoomed: true), columns: 80, rows: 24)
        #expect(zoomed.image == .init(top: 1, rows: 24, columns: 79) && zoomed.texts.isEmpty)
    }

    @Test func noColorDrawsNoStyles() {
        let screen = LabelScreen(content(mine: "cat"), columns: 80, rows: 24)
        let plain = screen.rendered(imageLines: ["x"], color: false)
        #expect(!plain.contains("\u{1B}[7m") && !plain.contains("\u{1B}[36m"))
        #expect(screen.rendered(imageLines: ["x"], color: true).contains("\u{1B}[7m cat \u{1B}[0m"))
        #expect(plain.contains("\u{1B}[2;1Hx"))
    }
}
