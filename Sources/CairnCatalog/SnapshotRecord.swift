import CairnSupport
import CairnStore
import Foundation

/// A snapshot as the catalog records it: the content id plus what is recorded beside it.
public struct SnapshotRecord: Sendable, Hashable, Codable {
    public var id: BlobID
    public var parentID: BlobID?
    public var message: String
    public var author: String
    public var createdAt: Date
    public var itemCount: Int
    /// JSON-encoded `ItemCounts`, kept opaque to the catalog.
    public var counts: String

    public init(id: BlobID, parentID: BlobID?, message: String, author: String, createdAt: Date, itemCount: Int, counts: String) {
        self.id = id
        self.parentID = parentID
        self.message = message
        self.author = author
        self.createdAt = createdAt
        self.itemCount = itemCount
        self.counts = counts
    }
}

/// A tag: an immutable name for a snapshot.
public struct SnapshotTag: Sendable, Hashable, Codable {
    public var name: String
    public var snapshotID: BlobID
    public var createdAt: Date
    public var author: String

    public init(name: String, snapshotID: BlobID, createdAt: Date, author: String) {
        (self.name, self.snapshotID, self.createdAt, self.author) = (name, snapshotID, createdAt, author)
    }

    /// Why `name` cannot be a tag, or nil when it can: 1 to 128 characters, no `/`, `\`, `..`,
    /// whitespace or control characters, not starting with `-`, `.` or `HEAD`, and not 64 hex
    /// digits (the form of a snapshot id, which a tag must never shadow). Tags come from remotes
    /// too, so the rule is kept where every tag is written.
    public static func problem(name: String) -> String? {
        guard !name.isEmpty, name.count <= 128 else { return "must be 1 to 128 characters" }
        guard !name.contains("/"), !name.contains("\\") else { return "must not contain '/' or '\\'" }
        guard !name.contains("..") else { return "must not contain '..'" }
        guard !name.contains(where: { $0.isWhitespace || $0.isNewline }), !name.unicodeScalars.contains(where: Printable.isControl) else {
            return "must not contain whitespace or control characters"
        }
        guard !name.hasPrefix("-"), !name.hasPrefix("."), !name.hasPrefix("HEAD") else { return "must not start with '-', '.' or 'HEAD'" }
        guard !(name.count == 64 && name.allSatisfy(\.isHexDigit)) else { return "must not look like a snapshot id (64 hex digits)" }
        return nil
    }
}

/// What happened to a tag.
public enum TagAction: String, Sendable, Hashable, Codable {
    case create, move, delete
}

/// One entry of a tag's history.
public struct TagEvent: Sendable, Hashable, Codable {
    public var name: String
    public var snapshotID: BlobID
    public var action: TagAction
    public var at: Date
    public var author: String

    public init(name: String, snapshotID: BlobID, action: TagAction, at: Date, author: String) {
        (self.name, self.snapshotID, self.action, self.at, self.author) = (name, snapshotID, action, at, author)
    }
}
