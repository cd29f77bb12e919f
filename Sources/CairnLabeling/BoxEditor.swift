import CairnCatalog

/// Box labeling on one image, without a terminal: the boxes drawn so far, the selected one, the
/// crosshair, a first corner waiting for its second, what the movement keys act on, the class the
/// next box gets, and the undo history. `BoxUI` feeds it keys and draws it; tests drive it directly.
///
/// Coordinates are pixels of the stored image. The crosshair sits on pixel boundaries (0…width,
/// 0…height) and moves by `step` pixels (the UI sets one screen pixel's worth, at least 1), so
/// boxes drawn by keys have whole-pixel corners.
///
/// ```swift
/// var editor = BoxEditor(width: 640, height: 480, boxes: [], className: "cat")
/// editor.moveCursor(dx: 10, dy: 20); editor.corner()
/// editor.moveCursor(dx: 50, dy: 30); editor.corner()   // a cat box at (10, 20), 50x30
/// ```
public struct BoxEditor: Sendable {
    /// What the movement keys act on.
    public enum Mode: String, Sendable, CaseIterable {
        /// The crosshair.
        case cursor
        /// The selected box, as a whole.
        case move
        /// The selected box's right and bottom edges.
        case resizeEnd = "resize right/bottom"
        /// The selected box's left and top edges.
        case resizeStart = "resize left/top"
    }

    public let width: Int
    public let height: Int
    /// The boxes in the order they were drawn (the saved set is canonical, `BoxSet`).
    public private(set) var boxes: [Box]
    public private(set) var selected: Int?
    public private(set) var cursor: (x: Int, y: Int)
    /// The first corner of a box being drawn.
    public private(set) var anchor: (x: Int, y: Int)?
    public private(set) var mode = Mode.cursor
    /// The class of the next box drawn.
    public var className: String
    /// Pixels a movement key moves by (a shifted key: ten times as far).
    public var step = 1
    /// True when the boxes differ from the ones loaded (what Enter would save).
    public var isChanged: Bool { boxes.count != loaded.count || BoxSet(boxes) != loaded }

    private let loaded: BoxSet
    private var undoStack: [(boxes: [Box], selected: Int?)] = []
    /// The edit the last undo entry belongs to: consecutive moves of one box are one undo step.
    private var lastEdit: (mode: Mode, box: Int)?

    /// An editor on a `width` x `height` image showing `boxes` (an annotator's saved set), the
    /// crosshair in the middle.
    public init(width: Int, height: Int, boxes: [Box], className: String) {
        (self.width, self.height, self.boxes, self.className) = (max(1, width), max(1, height), boxes, className)
        loaded = BoxSet(boxes)
        cursor = (self.width / 2, self.height / 2)
    }

    /// The box being drawn, from the first corner to the crosshair (nil without a first corner).
    public var pending: Box? {
        guard let anchor else { return nil }
        return Box(className: className, x: Double(min(anchor.x, cursor.x)), y: Double(min(anchor.y, cursor.y)),
                   width: Double(abs(cursor.x - anchor.x)), height: Double(abs(cursor.y - anchor.y)))
    }

    /// Moves what the mode says by `dx`, `dy` steps: the crosshair, the selected box, or two of its edges.
    public mutating func moveCursor(dx: Int, dy: Int) {
        let (mx, my) = (dx * step, dy * step)
        guard mode != .cursor, let index = selected else {
            cursor = (clamp(cursor.x + mx, 0, width), clamp(cursor.y + my, 0, height))
            return
        }
        var box = boxes[index]
        switch mode {
        case .cursor: return
        case .move:
            // Only the axis moved changes: an imported box keeps its fractional coordinates on the other.
            if mx != 0 { box.x = min(max(0, (box.x + Double(mx)).rounded()), Double(width) - box.width) }
            if my != 0 { box.y = min(max(0, (box.y + Double(my)).rounded()), Double(height) - box.height) }
        case .resizeEnd:
            if mx != 0 { box.width = min(max(box.x.rounded(.down) + 1, (box.x + box.width).rounded() + Double(mx)), Double(width)) - box.x }
            if my != 0 { box.height = min(max(box.y.rounded(.down) + 1, (box.y + box.height).rounded() + Double(my)), Double(height)) - box.y }
        case .resizeStart:
            let (right, bottom) = (box.x + box.width, box.y + box.height)
            if mx != 0 { box.x = min(max(0, box.x.rounded() + Double(mx)), right.rounded(.up) - 1) }
            if my != 0 { box.y = min(max(0, box.y.rounded() + Double(my)), bottom.rounded(.up) - 1) }
            (box.width, box.height) = (right - box.x, bottom - box.y)
        }
        guard box != boxes[index], box.width > 0, box.height > 0 else { return }
        edit(mode, box: index) { $0[index] = box }
        // The crosshair follows the part that moves, so the view pans with it.
        let (fx, fy) = mode == .resizeEnd ? (1.0, 1.0) : mode == .resizeStart ? (0.0, 0.0) : (0.5, 0.5)
        cursor = (Int((box.x + box.width * fx).rounded(.down)), Int((box.y + box.height * fy).rounded(.down)))
    }

    /// Places a corner at the crosshair: the first starts a box, the second finishes it (with the
    /// current class) and selects it. Returns what went wrong, if anything.
    @discardableResult
    public mutating func corner() -> String? {
        guard let box = pending else {
            anchor = cursor
            mode = .cursor
            return nil
        }
        guard box.width > 0, box.height > 0 else { return "a box needs a width and a height: move the crosshair away from the first corner" }
        anchor = nil
        edit(nil) { $0.append(box) }
        selected = boxes.count - 1
        return nil
    }

    /// Gives the selected box `name` (when one is selected), and makes it the class of the next box.
    public mutating func setClass(_ name: String) {
        className = name
        guard let index = selected, boxes[index].className != name else { return }
        edit(nil) { $0[index].className = name }
    }

    /// Toggles the selected box's crowd or occluded flag.
    public mutating func toggle(crowd: Bool) {
        guard let index = selected else { return }
        edit(nil) { crowd ? $0[index].crowd.toggle() : $0[index].occluded.toggle() }
    }

    /// Selects the next box (`forward`) or the previous one: among the boxes under the crosshair
    /// when there are any (smallest first), else among all in drawing order, moving the crosshair
    /// to the box's centre so the view follows.
    public mutating func cycle(forward: Bool = true) {
        guard !boxes.isEmpty else { return }
        anchor = nil
        let under = boxes.indices.filter { contains(boxes[$0], cursor) }
            .sorted { (boxes[$0].area, $0) < (boxes[$1].area, $1) }
        let order = under.isEmpty ? Array(boxes.indices) : under
        let at = selected.flatMap { order.firstIndex(of: $0) }
        let next = at.map { (forward ? $0 + 1 : $0 - 1 + order.count) % order.count } ?? (forward ? 0 : order.count - 1)
        selected = order[next]
        if under.isEmpty {
            let box = boxes[order[next]]
            cursor = (Int((box.x + box.width / 2).rounded(.down)), Int((box.y + box.height / 2).rounded(.down)))
        }
    }

    /// Cycles what the movement keys act on (the crosshair when no box is selected).
    public mutating func nextMode() {
        guard selected != nil else {
            mode = .cursor
            return
        }
        let all = Mode.allCases
        mode = all[(all.firstIndex(of: mode)! + 1) % all.count]
        lastEdit = nil
    }

    /// Replaces `remove` (when given and present) with `add` (when given) as one edit, selecting
    /// what was added: how a suggested fix is taken.
    public mutating func apply(remove: Box?, add: Box?) {
        let index = remove.flatMap { r in boxes.firstIndex(of: r) }
        guard index != nil || add != nil else { return }
        edit(nil) { boxes in
            if let index { boxes.remove(at: index) }
            if let add { boxes.append(add) }
        }
        selected = add == nil ? nil : boxes.count - 1
        mode = .cursor
        if let add { cursor = (Int((add.x + add.width / 2).rounded(.down)), Int((add.y + add.height / 2).rounded(.down))) }
    }

    /// Deletes the selected box.
    public mutating func deleteSelected() {
        guard let index = selected else { return }
        edit(nil) { $0.remove(at: index) }
        selected = nil
        mode = .cursor
    }

    /// Drops the first corner, the selection and the mode, in that order of preference: one thing per Escape.
    public mutating func escape() {
        if anchor != nil {
            anchor = nil
        } else if mode != .cursor {
            mode = .cursor
        } else {
            selected = nil
        }
    }

    /// Takes back the last edit; false when there is none.
    @discardableResult
    public mutating func undo() -> Bool {
        anchor = nil
        guard let last = undoStack.popLast() else { return false }
        (boxes, selected) = last
        if selected == nil { mode = .cursor }
        lastEdit = nil
        return true
    }

    /// The boxes as the set to save, checked against the image.
    public var set: BoxSet { BoxSet(boxes) }

    private mutating func edit(_ kind: Mode?, box: Int = -1, _ change: (inout [Box]) -> Void) {
        if kind == nil || lastEdit?.mode != kind || lastEdit?.box != box {
            undoStack.append((boxes, selected))
            if undoStack.count > 10_000 { undoStack.removeFirst(undoStack.count - 10_000) }
        }
        lastEdit = kind.map { ($0, box) }
        change(&boxes)
    }

    private func contains(_ box: Box, _ point: (x: Int, y: Int)) -> Bool {
        Double(point.x) >= box.x && Double(point.x) <= box.x + box.width && Double(point.y) >= box.y && Double(point.y) <= box.y + box.height
    }

    private func clamp(_ value: Int, _ low: Int, _ high: Int) -> Int { min(max(value, low), max(low, high)) }
}
