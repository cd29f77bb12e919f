import CairnSupport
import CairnCatalog
import CairnStore
import Foundation

/// The small JSON files a remote holds besides its objects (Docs/FORMAT.md, "Remotes"), decoded and
/// checked before anything in them is used: a remote may be written by someone else, so each file
/// is data from outside, like an image from the internet.
///
/// ```swift
/// let (tags, refused) = try RemoteFiles.tags(data)   // refused: names no tag may have, with why
/// ```
public enum RemoteFiles {
    /// `cairn-remote.json`: the remote's format and identity.
    public struct Meta: Codable, Sendable, Equatable {
        public var format: Int
        public var instance: String

        public init(format: Int, instance: String) {
            self.format = format
            self.instance = instance
        }
    }

    /// One entry of `tags.json`.
    public struct Tag: Codable, Sendable, Equatable {
        public var snapshot: String
        public var createdAt: Double
        public var author: String

        public init(snapshot: String, createdAt: Double, author: String) {
            (self.snapshot, self.createdAt, self.author) = (snapshot, createdAt, author)
        }
    }

    /// `tags.json`.
    public struct Tags: Codable, Sendable, Equatable {
        public var tags: [String: Tag] = [:]
        public init() {}
    }

    /// Decodes `cairn-remote.json`.
    /// - Throws: `RepositoryError.badRemoteFile` when it is not a description with a short printable instance id.
    public static func meta(_ data: Data) throws -> Meta {
        guard let meta = try? JSONDecoder().decode(Meta.self, from: data) else {
            throw RepositoryError.badRemoteFile(name: "cairn-remote.json", reason: "not a Cairn remote description")
        }
        guard (1...128).contains(meta.instance.count), meta.instance.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw RepositoryError.badRemoteFile(name: "cairn-remote.json", reason: "its instance id is not a short run of letters, digits and '-'")
        }
        return meta
    }

    /// Decodes `tags.json`, keeping the tags whose names `SnapshotTag.problem` accepts and whose targets
    /// are snapshot ids; the others come back with why they were refused.
    /// - Throws: `RepositoryError.badRemoteFile` when the file is not a tag list at all.
    public static func tags(_ data: Data) throws -> (tags: Tags, refused: [String: String]) {
        guard var tags = try? JSONDecoder().decode(Tags.self, from: data) else {
            throw RepositoryError.badRemoteFile(name: "tags.json", reason: "not a tag list")
        }
        var refused: [String: String] = [:]
        for (name, tag) in tags.tags {
            if let problem = SnapshotTag.problem(name: name) {
                refused[name] = problem
            } else if BlobID(hex: tag.snapshot) == nil {
                refused[name] = "it names '\(Printable.escaped(String(tag.snapshot.prefix(80))))', not a snapshot id"
            } else if tag.author.count > 256 || tag.author.unicodeScalars.contains(where: Printable.isControl) || !tag.createdAt.isFinite {
                refused[name] = "its author or time is malformed"
            }
        }
        for name in refused.keys { tags.tags[name] = nil }
        return (tags, refused)
    }

    /// Decodes `snapshots/<id>`, the description of snapshot `id`.
    /// - Throws: `RepositoryError.badRemoteFile` when it does not describe `id`, or its fields are out of range.
    public static func snapshot(_ data: Data, id: BlobID) throws -> SnapshotRecord {
        let name = "snapshots/\(id.hex)"
        guard let row = try? JSONDecoder().decode(SnapshotRecord.self, from: data) else {
            throw RepositoryError.badRemoteFile(name: name, reason: "not a snapshot description")
        }
        guard row.id == id else { throw RepositoryError.badRemoteFile(name: name, reason: "it describes \(row.id)") }
        guard row.itemCount >= 0, row.message.utf8.count <= 1 << 16, row.author.utf8.count <= 1024, row.counts.utf8.count <= 1 << 24,
              row.createdAt.timeIntervalSince1970.isFinite
        else { throw RepositoryError.badRemoteFile(name: name, reason: "a field is out of range") }
        return row
    }
}
