import CairnRepository
import CairnCatalog

/// Which key does what in the labeling UI: the action keys and each class's key.
///
/// Class keys come from the class list (`cairn classes`, defaulting to 1–9, 0, then letters) unless
/// `.cairn/config.toml` remaps them; action keys default to space (skip), u (undo), z (zoom),
/// ? (help), q (quit) and, in multi-label mode, enter (commit: saves the ticked classes), and can
/// be remapped there too. The arrow keys (→ skip, ← back) and
/// Ctrl-C (quit) always work.
///
/// ```toml
/// [keys.classes]
/// cat = "c"
/// dog = "d"
///
/// [keys.actions]
/// undo = "backspace"
/// ```
public struct KeyMap: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case skip, back, undo, zoom, help, quit, commit
        /// Accept the model's first, second or third suggestion (with `--suggest`).
        case suggest1, suggest2, suggest3
        /// In the suspects queue: accept the suggested fix, or keep the given label (each a verdict).
        case accept, keep
        /// Box labeling: place a corner, select the next box, cycle what the movement keys move
        /// (crosshair, box, edges), delete the selected box, toggle its crowd or occluded flag,
        /// give it the next class, zoom in and out.
        case corner, nextBox, adjust, delete, crowd, occluded, nextClass, zoomIn, zoomOut
    }

    /// What the keys are for: plain labeling, multi-label ticking, labeling with suggestions shown,
    /// or reviewing suspects. Actions of other modes have no key (so their keys stay free for classes).
    public enum Mode: Sendable {
        case single, multi, suggestions, suspects, boxes

        var actions: Set<Action> {
            let common: Set<Action> = [.skip, .back, .undo, .zoom, .help, .quit]
            switch self {
            case .single: return common
            case .multi: return common.union([.commit])
            case .suggestions: return common.union([.suggest1, .suggest2, .suggest3])
            case .suspects: return common.union([.accept, .keep])
            case .boxes: return [.skip, .back, .undo, .help, .quit, .commit, .corner, .nextBox, .adjust, .delete, .crowd, .occluded, .nextClass,
                                 .zoomIn, .zoomOut, .accept]
            }
        }

        /// The default key of each action in this mode. Box labeling needs space for corners and
        /// the arrows for the crosshair: there > skips and < goes back.
        var defaultKeys: [Action: Key] {
            guard self == .boxes else { return KeyMap.defaultActions }
            return KeyMap.defaultActions.merging([
                .skip: .character(">"), .back: .character("<"), .corner: .character(" "), .nextBox: .character("\t"),
                .adjust: .character("m"), .delete: .character("x"), .crowd: .character("c"), .occluded: .character("o"),
                .nextClass: .character("n"), .zoomIn: .character("+"), .zoomOut: .character("-"), .accept: .character("a"),
            ]) { _, box in box }
        }
    }

    /// Box labeling's movement keys (not remappable): hjkl and the arrows move one step, HJKL ten.
    public static let movements: [Key: (dx: Int, dy: Int)] = [
        .character("h"): (-1, 0), .character("l"): (1, 0), .character("k"): (0, -1), .character("j"): (0, 1),
        .left: (-1, 0), .right: (1, 0), .up: (0, -1), .down: (0, 1),
        .character("H"): (-10, 0), .character("L"): (10, 0), .character("K"): (0, -10), .character("J"): (0, 10),
    ]

    /// The mode the keys were made for.
    public let mode: Mode

    /// Action by key.
    public private(set) var actions: [Key: Action]
    /// Class name by key.
    public private(set) var classes: [Key: String]

    public static let defaultActions: [Action: Key] = [
        .skip: .character(" "), .undo: .character("u"), .zoom: .character("z"), .help: .character("?"), .quit: .character("q"),
        .commit: .enter, .suggest1: .enter, .suggest2: .character(","), .suggest3: .character("."), .accept: .enter, .keep: .backspace,
    ]

    /// The keys for `classList`, with `classKeys` (class name → key) and `actionKeys` (action name →
    /// key) from the config overriding the defaults. Outside `multi` mode commit has no key unless
    /// the config gives it one, so enter stays free for a class.
    /// - Throws: `LabelingError` naming an unknown class or action, a key that is not one
    ///   character (or `space`, `enter`, `backspace`, `tab`), or a key given two meanings.
    public init(classList: [LabelClass], classKeys: [String: String] = [:], actionKeys: [String: String] = [:], multi: Bool = false,
                mode: Mode? = nil) throws {
        let mode = mode ?? (multi ? .multi : .single)
        self.mode = mode
        var byAction = mode.defaultKeys
        for (name, text) in actionKeys {
            guard let action = Action(rawValue: name) else {
                throw LabelingError.unknownAction(name)
            }
            byAction[action] = try Self.key(text, for: name)
        }
        let active = mode.actions
        byAction = byAction.filter { active.contains($0.key) }
        var actions: [Key: Action] = [:]
        for (action, key) in byAction.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            if let other = actions[key] { throw LabelingError.keyConflict(key: Self.name(key), first: other.rawValue, second: action.rawValue) }
            if mode == .boxes, Self.movements[key] != nil {
                throw LabelingError.keyConflict(key: Self.name(key), first: "moving the crosshair", second: action.rawValue)
            }
            actions[key] = action
        }
        let known = Set(classList.map(\.name))
        for name in classKeys.keys where !known.contains(name) {
            throw LabelingError.unknownKeyedClass(name, classes: classList.map(\.name))
        }
        var classes: [Key: String] = [:]
        for labelClass in classList {
            let key: Key
            if let text = classKeys[labelClass.name] {
                key = try Self.key(text, for: labelClass.name)
            } else if let hotkey = labelClass.hotkey {
                key = .character(hotkey)
                // Box labeling keeps the movement and editing letters: a class whose own key is one of
                // them has no key there (n cycles classes; [keys.classes] can give it one).
                if mode == .boxes, actions[key] != nil || Self.movements[key] != nil { continue }
            } else {
                continue
            }
            if let action = actions[key] {
                throw LabelingError.keyConflict(key: Self.name(key), first: action.rawValue, second: "class \(labelClass.name)")
            }
            if mode == .boxes, Self.movements[key] != nil {
                throw LabelingError.keyConflict(key: Self.name(key), first: "moving the crosshair", second: "class \(labelClass.name)")
            }
            if let other = classes[key] {
                throw LabelingError.keyConflict(key: Self.name(key), first: "class \(other)", second: "class \(labelClass.name)")
            }
            classes[key] = labelClass.name
        }
        self.actions = actions
        self.classes = classes
    }

    /// What `key` does: an action, or nil (then maybe a class, see `classes`).
    public func action(for key: Key) -> Action? {
        if mode == .boxes {
            if key == .interrupt { return .quit }
            if Self.movements[key] != nil { return nil }
            return actions[key] ?? (key == .backspace ? .delete : nil)
        }
        switch key {
        case .interrupt: return .quit
        case .right: return .skip
        case .left: return .back
        default: return actions[key]
        }
    }

    /// The key a class is labeled with, for display.
    public func key(forClass name: String) -> Key? { classes.first { $0.value == name }?.key }

    /// The key an action is on, for display.
    public func key(for action: Action) -> Key? { actions.first { $0.value == action }?.key }

    /// A key as written in the config or shown on screen.
    public static func name(_ key: Key) -> String {
        switch key {
        case .character(" "): "space"
        case .character("\t"): "tab"
        case .character(let c): c
        case .enter: "enter"
        case .backspace: "backspace"
        case .left: "←"
        case .right: "→"
        case .up: "↑"
        case .down: "↓"
        case .escape: "esc"
        case .backtab: "shift-tab"
        case .interrupt: "ctrl-c"
        }
    }

    private static func key(_ text: String, for name: String) throws -> Key {
        switch text.lowercased() {
        case "space": return .character(" ")
        case "tab": return .character("\t")
        case "enter": return .enter
        case "backspace": return .backspace
        default:
            guard text.count == 1, let scalar = text.unicodeScalars.first, scalar.value >= 0x20, scalar.value != 0x7f else {
                throw LabelingError.badKey(for: name, text: text)
            }
            return .character(text)
        }
    }
}

extension Key {
    /// A stable text for sorting and messages.
    var rawValue: String { KeyMap.name(self) }
}

extension Repository {
    /// The keys `cairn label` uses for `classes`: each class's own key unless `[keys.classes]` in
    /// `.cairn/config.toml` remaps it, and the actions' keys with `[keys.actions]` applied.
    /// - Throws: `RepositoryError.badConfig` naming the config file and the problem.
    public func labelingKeys(for classes: [LabelClass], multi: Bool = false, mode: KeyMap.Mode? = nil) throws -> KeyMap {
        do {
            return try KeyMap(classList: classes, classKeys: config.keys.classes ?? [:], actionKeys: config.keys.actions ?? [:], multi: multi,
                              mode: mode)
        } catch let error as LabelingError {
            throw RepositoryError.badConfig(path: configPath, reason: error.description)
        }
    }
}
