import CairnSupport

/// What keeps a labeling session from starting, with what to do about it.
public enum LabelingError: CairnError, Equatable {
    /// The terminal is smaller than the labeling screen needs.
    case terminalTooSmall(columns: Int, rows: Int, neededColumns: Int = 40, neededRows: Int = 12)
    /// `[keys.actions]` names something that is not an action.
    case unknownAction(String)
    /// `[keys.classes]` names something that is not a class.
    case unknownKeyedClass(String, classes: [String])
    /// A key in the config that is not one character (or space, tab, enter, backspace).
    case badKey(for: String, text: String)
    /// One key given two meanings (two actions, two classes, or an action and a class).
    case keyConflict(key: String, first: String, second: String)
    /// An overlap below 1.
    case invalidOverlap(Int)
    /// A queue filter that names no class.
    case unknownClass(String, classes: [String])
    /// A plan given to a queue that is served by item id, or none to one that needs it.
    case planMismatch(String)
    /// A run whose suggestions cannot be shown for this repository's classes.
    case classesDiffer(run: String, missing: [String], extra: [String])
    /// No run to suggest with or to order a queue by.
    case noModel(String)

    public var description: String {
        switch self {
        case .terminalTooSmall(let columns, let rows, let neededColumns, let neededRows):
            "the terminal is \(columns)x\(rows); cairn label needs at least \(neededColumns)x\(neededRows)"
        case .unknownAction(let name):
            "[keys.actions] has '\(name)'; the actions are \(KeyMap.Action.allCases.map(\.rawValue).joined(separator: ", "))"
        case .unknownKeyedClass(let name, let classes):
            "[keys.classes] has '\(name)', which is not a class (classes: \(classes.joined(separator: ", ")))"
        case .badKey(let name, let text): "the key for \(name) is '\(text)': use one character, or space, tab, enter or backspace"
        case .keyConflict(let key, let first, let second): "the key \(key) is set for both \(first) and \(second)"
        case .invalidOverlap(let overlap): "--overlap must be at least 1 (got \(overlap))"
        case .unknownClass(let name, let classes): "there is no class '\(name)' (classes: \(classes.joined(separator: ", ")))"
        case .planMismatch(let queue): "the \(queue) queue is served in a model's order: give it a run (--run or --suggest)"
        case .classesDiffer(let run, let missing, let extra):
            "run \(run) was trained on other classes: "
                + [missing.isEmpty ? nil : "it lacks \(missing.joined(separator: ", "))", extra.isEmpty ? nil : "it has \(extra.joined(separator: ", ")) that this repository does not"]
                .compactMap { $0 }.joined(separator: "; ")
        case .noModel(let why): why
        }
    }
}
