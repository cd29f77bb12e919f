import Foundation

/// What one annotator (or reviewer) said about an item: the set of classes that apply.
///
/// Single-label work gives sets of one class; multi-label work (`cairn label --multi`) any
/// number, none included ("no class applies", which is an answer, unlike a skip). A set of one
/// is the same label however it was made, so single- and multi-label annotators agree on it.
///
/// ```swift
/// let cat: Label = "cat"
/// let both = Label(["dog", "cat"])   // classes ["cat", "dog"]
/// both.contains("cat")               // true
/// ```
public struct Label: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// A one-class label (nearly every label) holds its name without an array, which keeps the
    /// snapshot scan of a million items free of an allocation per label. A set of one is always
    /// `.one`, so equal labels have equal storage.
    private enum Storage: Sendable, Hashable {
        case one(String)
        case set([String])
    }

    private let storage: Storage

    /// Class names in UTF-8 order, each once.
    public var classes: [String] {
        switch storage {
        case .one(let name): [name]
        case .set(let names): names
        }
    }

    /// The set of `names` (order and repeats do not matter).
    public init(_ names: some Sequence<String>) {
        let sorted = Set(names).sorted(by: utf8Precedes)
        storage = sorted.count == 1 ? .one(sorted[0]) : .set(sorted)
    }

    /// The label of one class.
    public init(stringLiteral name: String) { storage = .one(name) }

    /// A label as CSV files write it (`commaSeparated`), surrounding spaces ignored.
    public init(commaSeparated text: String) {
        self.init(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// The label as CSV files write it: a class name, or a set's names joined by commas (which
    /// class names cannot contain); the empty set is the empty string.
    public var commaSeparated: String { classes.joined(separator: ",") }

    /// The label of one class.
    public static func one(_ name: String) -> Label { Label(stringLiteral: name) }

    /// The class, when the label is exactly one.
    public var single: String? {
        if case .one(let name) = storage { return name }
        return nil
    }

    /// True unless the label is exactly one class (what single-label training needs).
    public var isMulti: Bool { single == nil }

    public func contains(_ name: String) -> Bool {
        switch storage {
        case .one(let one): one == name
        case .set(let names): names.contains(name)
        }
    }

    /// The class for one, `a+b` for a set, `(none)` for the empty set.
    public var description: String {
        switch storage {
        case .one(let name): name
        case .set(let names): names.isEmpty ? "(none)" : names.joined(separator: "+")
        }
    }

    /// Labels order by their class lists (UTF-8), so lists of labels have one canonical order.
    public static func < (a: Label, b: Label) -> Bool {
        let (x, y) = (a.classes, b.classes)
        for (p, q) in zip(x, y) where p != q { return utf8Precedes(p, q) }
        return x.count < y.count
    }
}

/// A one-class label is written as its name and any other as a list of names, so JSON written
/// before multi-label labels existed reads the same.
extension Label: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let name = try? container.decode(String.self) {
            self.init(stringLiteral: name)
        } else {
            self.init(try container.decode([String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let single { try container.encode(single) } else { try container.encode(classes) }
    }
}
