import CairnCatalog
import CairnImaging
import CairnLabeling
import Testing

/// Box labeling without a terminal: the editor's edits and undo, the canvas's view, frames and
/// terminal text, and the key map's box mode.
@Suite struct BoxEditorTests {
    private func box(_ name: String, _ x: Double, _ y: Double, _ w: Double, _ h: Double) -> Box {
        Box(className: name, x: x, y: y, width: w, height: h)
    }

    @Test func twoCornersDrawABoxWithTheCurrentClass() {
        var editor = BoxEditor(width: 100, height: 80, boxes: [], className: "cat")
        #expect(editor.cursor == (50, 40) && !editor.isChanged)
        editor.moveCursor(dx: -4, dy: -3)
        editor.corner()
        #expect(editor.pending == box("cat", 46, 37, 0, 0))
        // A second corner on the first is refused with a reason; the first stays.
        #expect(editor.corner() != nil && editor.boxes.isEmpty && editor.anchor != nil)
        editor.step = 5
        editor.moveCursor(dx: -2, dy: 1)  // left of and below the first corner: any two opposite corners do
        #expect(editor.corner() == nil)
        #expect(editor.boxes == [box("cat", 36, 37, 10, 5)] && editor.selected == 0 && editor.anchor == nil && editor.isChanged)
        // The crosshair stops at the image's edge.
        editor.moveCursor(dx: 1000, dy: -1000)
        #expect(editor.cursor == (100, 0))
    }

    @Test func classKeysRelabelTheSelectedBoxAndTheNextOne() {
        var editor = BoxEditor(width: 100, height: 80, boxes: [box("cat", 1, 1, 5, 5)], className: "cat")
        editor.setClass("dog")  // nothing selected: only the next box's class
        #expect(editor.boxes[0].className == "cat" && editor.className == "dog")
        editor.cycle()
        editor.setClass("bird")
        #expect(editor.boxes[0].className == "bird")
        editor.toggle(crowd: true)
        editor.toggle(crowd: false)
        #expect(editor.boxes[0].crowd && editor.boxes[0].occluded)
        #expect(editor.undo() && editor.undo() && editor.undo())
        #expect(editor.boxes == [box("cat", 1, 1, 5, 5)] && !editor.isChanged)
        let undone = editor.undo()
        #expect(!undone)
    }

    @Test func moveAndResizeStayInsideTheImageAndUndoAsOneStep() {
        var editor = BoxEditor(width: 100, height: 80, boxes: [box("cat", 10.5, 20, 30, 10)], className: "cat")
        editor.cycle()
        editor.nextMode()
        #expect(editor.mode == .move)
        editor.moveCursor(dx: 0, dy: 3)
        // Only the axis moved changes: the imported fractional x stays.
        #expect(editor.boxes[0] == box("cat", 10.5, 23, 30, 10))
        editor.moveCursor(dx: 1000, dy: 1000)
        #expect(editor.boxes[0] == box("cat", 70, 70, 30, 10))
        editor.nextMode()  // right and bottom edges
        editor.moveCursor(dx: -25, dy: 0)
        #expect(editor.boxes[0] == box("cat", 70, 70, 5, 10))
        editor.moveCursor(dx: -100, dy: 0)  // never narrower than a pixel
        #expect(editor.boxes[0] == box("cat", 70, 70, 1, 10))
        editor.nextMode()  // left and top edges
        editor.moveCursor(dx: -20, dy: -5)
        #expect(editor.boxes[0] == box("cat", 50, 65, 21, 15))
        #expect(editor.cursor == (50, 65), "the crosshair follows the moving corner")
        // Three kinds of edit: three undo steps back to the start, however many keys each took.
        #expect(editor.undo() && editor.boxes[0] == box("cat", 70, 70, 1, 10))
        #expect(editor.undo() && editor.boxes[0] == box("cat", 70, 70, 30, 10))
        #expect(editor.undo() && editor.boxes[0] == box("cat", 10.5, 20, 30, 10))
        #expect(!editor.isChanged)
    }

    @Test func tabPrefersBoxesUnderTheCrosshairSmallestFirst() {
        let boxes = [box("a", 0, 0, 100, 80), box("b", 40, 30, 20, 20), box("c", 45, 35, 5, 5), box("d", 0, 0, 5, 5)]
        var editor = BoxEditor(width: 100, height: 80, boxes: boxes, className: "a")
        editor.moveCursor(dx: -3, dy: -3)  // (47, 37): inside a, b and c
        editor.cycle()
        #expect(editor.selected == 2)
        editor.cycle()
        #expect(editor.selected == 1)
        editor.cycle()
        #expect(editor.selected == 0)
        editor.cycle(forward: false)
        #expect(editor.selected == 1)
        // Nothing under the crosshair: all boxes in order, the crosshair jumping to each.
        var far = BoxEditor(width: 100, height: 80, boxes: [box("a", 0, 0, 10, 10), box("b", 80, 60, 10, 10)], className: "a")
        far.cycle()
        #expect(far.selected == 0 && far.cursor == (5, 5))
        far.moveCursor(dx: 50, dy: 10)
        far.cycle()
        #expect(far.selected == 1 && far.cursor == (85, 65), "nothing is under (55, 15): the next box in order")
    }

    @Test func deleteEscapeAndTheSavedSet() {
        var editor = BoxEditor(width: 100, height: 80, boxes: [box("b", 5, 5, 5, 5), box("a", 1, 1, 2, 2)], className: "a")
        #expect(editor.set == BoxSet([box("a", 1, 1, 2, 2), box("b", 5, 5, 5, 5)]))
        editor.cycle()
        editor.nextMode()
        editor.deleteSelected()
        #expect(editor.boxes == [box("a", 1, 1, 2, 2)] && editor.selected == nil && editor.mode == .cursor)
        editor.nextMode()
        #expect(editor.mode == .cursor, "no selection: the keys move the crosshair")
        editor.corner()
        editor.cycle()
        #expect(editor.anchor == nil, "selecting drops a first corner")
        editor.nextMode()
        editor.escape()
        #expect(editor.mode == .cursor && editor.selected == 0)
        editor.escape()
        #expect(editor.selected == nil)
        #expect(editor.undo() && editor.boxes.count == 2)
    }

    // MARK: canvas

    /// A 40x20 image, black, with a grey square at (10…19, 4…13).
    private func image() -> ImagePyramid {
        var pixels = [UInt8](repeating: 0, count: 40 * 20 * 3)
        for y in 4..<14 { for x in 10..<20 { for c in 0..<3 { pixels[(y * 40 + x) * 3 + c] = 128 } } }
        return ImagePyramid(PixelBuffer(width: 40, height: 20, channels: 3, pixels: pixels))
    }

    @Test func framesDrawBoxesOverTheImageAndWriteOnlyWhatChanged() {
        let canvas = BoxCanvas(image: image(), renderer: ImageRenderer(.symbols, environment: ["COLORTERM": "truecolor"]), classes: ["cat", "dog"])
        #expect(canvas.layout(columns: 40, rows: 10) && canvas.scale == 1 && canvas.step == 1)
        var editor = BoxEditor(width: 40, height: 20, boxes: [box("dog", 10, 4, 10, 10)], className: "cat")
        editor.moveCursor(dx: 15, dy: 5)  // (35, 15), away from the box
        let pixels = canvas.compose(editor)
        let dog = BoxCanvas.palette[1]
        #expect(pixels[4 * 40 + 10] == dog && pixels[13 * 40 + 19] == dog && pixels[8 * 40 + 10] == dog)
        #expect(pixels[8 * 40 + 15] == 0x808080, "inside the box the image shows")
        #expect(pixels[0] == 0 && pixels[2 * 40 + 35] == 0xFFFFFF, "the crosshair inverts every other pixel")
        let full = canvas.write(pixels, editor: editor, top: 2, full: true)
        #expect(full.contains("▀") && full.contains("38;2;255;255;255"))
        #expect(full.contains("dog"), "the class name is written above the box")
        // Nothing changed: nothing but the reset is written. A crosshair step: a few cells.
        #expect(canvas.write(pixels, editor: editor, top: 2, full: false) == "\u{1B}[0m")
        editor.moveCursor(dx: -1, dy: 0)
        let step = canvas.write(canvas.compose(editor), editor: editor, top: 2, full: false)
        let placed = step.components(separatedBy: "H").count - 1
        let cells = step.filter { $0 == "▀" }.count
        #expect(placed > 0 && placed <= 12 && cells <= 24 && !step.contains("dog"), "\(placed) runs, \(cells) cells: \(step.debugDescription)")
    }

    @Test func zoomMagnifiesAroundTheCrosshairAndTheViewFollowsIt() {
        let canvas = BoxCanvas(image: image(), renderer: ImageRenderer(.symbols), classes: ["cat"])
        canvas.layout(columns: 40, rows: 10)
        #expect(!canvas.zoom(by: -1, center: (20, 10)), "the whole image is already in view")
        #expect(canvas.zoom(by: 1, center: (0, 0)) && canvas.zoom == 2 && canvas.scale == 2)
        #expect(canvas.origin == (0, 0) && canvas.gridWidth == 40 && canvas.gridHeight == 20)
        #expect(!canvas.follow((10, 5)) && canvas.follow((30, 18)))
        #expect(canvas.origin == (20, 10), "panned as far as the image goes")
        // The view is sampled from the magnified image: the grey square's corner at (10, 4) is now two pixels wide.
        for _ in 0..<3 { canvas.zoom(by: 1, center: (10, 4)) }
        #expect(canvas.zoom == 8, "in as far as 8 screen pixels per image pixel")
        #expect(!canvas.zoom(by: 1, center: (10, 4)))
    }

    @Test func thePyramidHalvesByMeans() {
        let pyramid = ImagePyramid(PixelBuffer(width: 600, height: 300, channels: 1, pixels: (0..<180_000).map { UInt8(($0 % 600) / 3 % 256) }))
        #expect(pyramid.levels.map(\.width) == [600, 300, 150] && pyramid.levels[1].height == 150)
        #expect(pyramid.levels[0].channels == 3)
        // Columns 0 and 1 are 0, columns 2 and 3 are 0 and 1: means 0 and 1 (rounded half up).
        #expect(pyramid.levels[1][0, 0, 0] == 0 && pyramid.levels[1][1, 0, 0] == 1)
    }

    // MARK: keys

    @Test func boxModeKeysMoveTheCrosshairAndKeepTheirLetters() throws {
        let classes = (0..<18).map { LabelClass(id: Int64($0), name: "c\($0)", hotkey: LabelClass.defaultKeys[$0], ordinal: $0) }
        let keys = try KeyMap(classList: classes, mode: .boxes)
        #expect(keys.action(for: .left) == nil && keys.action(for: .character(" ")) == .corner && keys.action(for: .character(">")) == .skip)
        #expect(keys.action(for: .backspace) == .delete && keys.action(for: .enter) == .commit && keys.action(for: .interrupt) == .quit)
        #expect(keys.action(for: .character("\t")) == .nextBox && keys.action(for: .character("+")) == .zoomIn)
        #expect(keys.classes[.character("1")] == "c0" && keys.classes[.character("b")] == "c11")
        // Default class keys the box keys need (a: accept a fix, c: crowd, h: left) are left without a key there.
        #expect(keys.key(forClass: "c10") == nil && classes[10].hotkey == "a")
        #expect(keys.key(forClass: "c12") == nil && classes[12].hotkey == "c")
        let keyed = Set(keys.classes.values)
        #expect(!classes.contains { keyed.contains($0.name) && ["h", "j", "k", "l"].contains($0.hotkey) })
        // A key chosen in the config that the crosshair needs is refused, naming both uses.
        #expect(throws: LabelingError.keyConflict(key: "j", first: "moving the crosshair", second: "class c0")) {
            try KeyMap(classList: classes, classKeys: ["c0": "j"], mode: .boxes)
        }
        // Outside box mode nothing changes: ← goes back, space skips.
        let plain = try KeyMap(classList: Array(classes.prefix(3)))
        #expect(plain.action(for: .left) == .back && plain.action(for: .character(" ")) == .skip)
        #expect(Terminal.split([27, 91, 90, 104]) == [.backtab, .character("h")])
    }
}
