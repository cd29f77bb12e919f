import CairnSupport
import CairnCatalog
import CairnStore
import Foundation

/// What went wrong with snapshots, refs, checkout or export.
public enum VersioningError: CairnError, Equatable {
    /// A ref that names no snapshot.
    case unknownRef(String)
    /// A short id that matches several snapshots.
    case ambiguousRef(String, matches: [String])
    /// No snapshot exists yet.
    case noSnapshots
    /// A tree object that does not decode (its bytes hash correctly but are not a valid node).
    case corruptObject(BlobID, reason: String)
    /// A snapshot written by a newer cairn.
    case unsupportedVersion(BlobID, version: UInt64)
    /// A tag name that is not allowed.
    case invalidTagName(String, reason: String)
    /// Checkout or export target problems.
    case badTarget(path: String, reason: String)
    /// An export file that cannot be imported.
    case badExport(path: String, reason: String)
    /// An annotation file (COCO, …) that cannot be imported, naming the image or annotation.
    case badAnnotations(path: String, reason: String)
    /// A class filter names a class the snapshot does not have.
    case noClass(snapshot: BlobID, name: String, classes: [String])

    public var description: String {
        switch self {
        case .unknownRef(let ref) where !ref.isEmpty && ref.count < 4 && ref.allSatisfy(\.isHexDigit):
            "'\(ref)' is too short to name a snapshot: give 4 or more hex digits of its id, or a tag"
        case .unknownRef(let ref):
            "no snapshot matches '\(ref)' (try a tag from `cairn tags`, an id from `cairn log`, HEAD or HEAD~N)"
        case .ambiguousRef(let ref, let matches):
            "'\(ref)' matches \(matches.count) snapshots (\(matches.joined(separator: ", "))); give more characters"
        case .noSnapshots: "there are no snapshots yet; make one with `cairn snapshot -m MESSAGE`"
        case .corruptObject(let id, let reason): "snapshot object \(id) is corrupt (\(reason)); run `cairn fsck`"
        case .unsupportedVersion(let id, let version):
            "snapshot object \(id) has format version \(version), newer than this cairn understands; upgrade cairn"
        case .invalidTagName(let name, let reason): "invalid tag name '\(Printable.escaped(name))': \(reason)"
        case .badTarget(let path, let reason): "\(path): \(reason)"
        case .badExport(let path, let reason): "\(path): \(reason)"
        case .badAnnotations(let path, let reason): "\(path): \(reason); nothing was imported"
        case .noClass(let snapshot, let name, let classes):
            "snapshot \(snapshot.hex.prefix(12)) has no class \(Printable.escaped(name)) (its classes: \(classes.map(Printable.escaped).joined(separator: ", ")))"
        }
    }
}
