import CairnSupport
import CairnStore
import Foundation

/// Which part of the data an item belongs to.
public enum Split: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case train, val, test
    public var description: String { rawValue }
}

/// One image in the catalog, identified by the blob that holds its bytes.
public struct Item: Sendable, Hashable, Codable {
    public var id: Int64
    public var blobID: BlobID
    /// Relative path where the image was first imported.
    public var path: String
    /// `png` or `jpeg`.
    public var format: String
    public var width: Int
    public var height: Int
    public var byteSize: Int64
    public var split: Split
    public var addedAt: Date

    public init(id: Int64, blobID: BlobID, path: String, format: String, width: Int, height: Int,
                byteSize: Int64, split: Split, addedAt: Date) {
        self.id = id
        self.blobID = blobID
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.byteSize = byteSize
        self.split = split
        self.addedAt = addedAt
    }
}

/// The rules for an item's path (relative to the dataset, as imported): what no path from a
/// document (a JSONL export, a remote's bundle) may be, since checkouts and exports write files under it.
public enum ItemPath {
    /// Why `path` cannot be an item's path, or nil when it can: empty, over 4096 bytes, absolute,
    /// with an empty, `.` or `..` component, or a NUL (where a C call would cut it short).
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "it is empty" }
        if path.utf8.count > 4096 { return "it is over 4096 bytes" }
        if path.unicodeScalars.contains("\u{0}") { return "it contains a NUL byte" }
        if path.hasPrefix("/") { return "it is absolute" }
        if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "it has an empty, '.' or '..' component"
        }
        return nil
    }

    /// `problem`, and also any control character: for paths read from a document, where a real
    /// file name never put them.
    public static func documentProblem(_ path: String) -> String? {
        problem(path) ?? (path.unicodeScalars.contains(where: Printable.isControl) ? "it contains a control character" : nil)
    }
}

/// An item about to be inserted (its id is assigned by the catalog).
public struct NewItem: Sendable, Hashable {
    public var blobID: BlobID
    public var path: String
    public var format: String
    public var width: Int
    public var height: Int
    public var byteSize: Int64
    public var split: Split

    public init(blobID: BlobID, path: String, format: String, width: Int, height: Int, byteSize: Int64, split: Split) {
        self.blobID = blobID
        self.path = path
        self.format = format
        self.width = width
        self.height = height
        self.byteSize = byteSize
        self.split = split
    }
}

/// A label class. `ordinal` fixes the order of classes everywhere.
public struct LabelClass: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    public var hotkey: String?
    public var ordinal: Int

    public init(id: Int64, name: String, hotkey: String?, ordinal: Int) {
        (self.id, self.name, self.hotkey, self.ordinal) = (id, name, hotkey, ordinal)
    }

    /// Checks that `name` can be a class: 1 to 200 characters, no surrounding spaces, no comma or
    /// quote (CSV files list sets with commas), no control characters (names are printed in
    /// terminals), and — because a class is a folder in checkouts and exports, whose sorted order
    /// must stay the class order — no `/` or `\` and no leading `.`.
    /// - Throws: `CatalogError.invalidName` saying which rule the name breaks.
    public static func validate(name: String) throws(CatalogError) {
        func fail(_ why: String) -> CatalogError { .invalidName(kind: "class", name: name, reason: why) }
        guard !name.isEmpty, name.count <= 200 else { throw fail("must be 1 to 200 characters") }
        guard name.trimmingCharacters(in: .whitespacesAndNewlines) == name else { throw fail("has surrounding spaces") }
        guard !name.unicodeScalars.contains(where: Printable.isControl) else { throw fail("contains control characters") }
        guard !name.contains(where: { $0 == "," || $0 == "\"" }) else { throw fail("contains a comma or a quote") }
        guard !name.contains(where: { $0 == "/" || $0 == "\\" }), !name.hasPrefix(".") else {
            throw fail("contains '/' or '\\' or starts with '.' (a class is a folder name in checkouts)")
        }
    }

    /// Keys the labeling UI keeps for itself; no class may use them as a hotkey.
    public static let reservedKeys: Set<Character> = ["q", "u", "z", "?", " "]

    /// Default hotkeys in order: 1–9, 0, then letters not reserved by the UI.
    public static let defaultKeys: [String] =
        (Array("1234567890") + Array("abcdefghijklmnopqrstuvwxyz").filter { !reservedKeys.contains($0) }).map(String.init)

    /// True for a key a class may have: one printable character the labeling UI does not keep for itself.
    public static func usableKey(_ key: String) -> Bool {
        guard key.count == 1, let c = key.first, let scalar = key.unicodeScalars.first else { return false }
        return !reservedKeys.contains(c) && !c.isWhitespace && scalar.value >= 0x21 && scalar.value != 0x7F && !(0x80...0x9F).contains(scalar.value)
    }

    /// Checks that `key` can label a class other than `name` among `classes`.
    /// - Throws: `CatalogError.unusableKey` or `.keyInUse`.
    static func checkKey(_ key: String, usedBy classes: [LabelClass], except name: String? = nil) throws(CatalogError) {
        guard usableKey(key) else { throw .unusableKey(key) }
        if let other = classes.first(where: { $0.hotkey == key && $0.name != name }) { throw .keyInUse(key: key, className: other.name) }
    }
}

/// What an annotator may do.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
    case annotator, reviewer, admin

    /// True for the roles that record verdicts.
    public var mayReview: Bool { self != .annotator }
}

/// A person (or a process, like `import`) who labels.
public struct Annotator: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    public var role: Role
    public var createdAt: Date

    public init(id: Int64, name: String, role: Role, createdAt: Date) {
        (self.id, self.name, self.role, self.createdAt) = (id, name, role, createdAt)
    }

    /// The annotator that labels taken from folder names or a labels file are recorded under.
    public static let importName = "import"

    /// - Throws: `CatalogError.notAReviewer` unless this person's role records verdicts.
    public func checkMayReview() throws(CatalogError) {
        guard role.mayReview else { throw .notAReviewer(name: name, role: role) }
    }
}

/// One entry of the append-only label history.
public struct Annotation: Sendable, Hashable, Codable {
    public var id: Int64
    public var itemID: Int64
    public var annotator: String
    /// The label given, or nil when the annotator skipped the item.
    public var label: Label?
    public var createdAt: Date
    /// What a model suggested while the label was given, if the labeling UI showed suggestions.
    public var suggestion: SuggestionShown?

    public init(id: Int64, itemID: Int64, annotator: String, label: Label?, createdAt: Date, suggestion: SuggestionShown? = nil) {
        (self.id, self.itemID, self.annotator, self.label, self.createdAt) = (id, itemID, annotator, label, createdAt)
        self.suggestion = suggestion
    }
}

/// A model's suggestions as an annotator saw them beside an item: provenance of a label, never a label.
public struct SuggestionShown: Sendable, Hashable, Codable {
    public struct Candidate: Sendable, Hashable, Codable {
        public var className: String
        public var probability: Double
        public init(className: String, probability: Double) { (self.className, self.probability) = (className, probability) }
    }

    /// The run whose model made them.
    public var run: String
    /// Most probable first.
    public var candidates: [Candidate]
    /// True when the label was given with a suggestion key (rather than a class key).
    public var accepted: Bool

    public init(run: String, candidates: [Candidate], accepted: Bool) {
        (self.run, self.candidates, self.accepted) = (run, candidates, accepted)
    }
}

/// What import last saw at a path: enough to skip an unchanged file without reading it.
public struct ImportState: Sendable, Hashable {
    public var path: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
    public var blobID: BlobID
    /// The label import applied from this file (folder name or labels file), if any.
    public var label: String?

    public init(path: String, size: Int64, mtimeNanoseconds: Int64, inode: UInt64, blobID: BlobID, label: String?) {
        self.path = path
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
        self.blobID = blobID
        self.label = label
    }
}
