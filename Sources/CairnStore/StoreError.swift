import CairnSupport
import Foundation

/// What went wrong in a blob store, with the object or path involved and what to do about it.
public enum StoreError: CairnError, Equatable {
    /// No object with this id is stored.
    case notFound(BlobID)
    /// The stored bytes of this object no longer hash to its id (bit rot, a truncated file, tampering).
    case corrupt(BlobID, location: String)
    /// A pack or index file is damaged in a way that makes it unreadable.
    case damagedFile(path: String, reason: String)
    /// The file system has no space left.
    case diskFull(path: String)
    /// An entry inside `.cairn` that must be a directory of a certain kind and is not (a symbolic
    /// link someone planted, a file, another user's private cache): refused rather than followed.
    case unsafeEntry(path: String, expected: String)
    /// The repository is on a read-only file system or its files are not writable.
    case readOnly(path: String)
    /// Permission denied for a path.
    case permissionDenied(path: String)
    /// Any other operating-system error.
    case io(operation: String, path: String, errno: Int32)
    /// A string that is not a blob id or an id prefix.
    case invalidID(String)

    public var description: String {
        switch self {
        case .notFound(let id):
            "object \(id) is not in the store; run `cairn fsck` to find what references it"
        case .corrupt(let id, let location):
            "object \(id) is corrupt: the bytes at \(location) do not hash to its id; "
                + "restore it from a remote or a copy of the file, then run `cairn fsck`"
        case .damagedFile(let path, let reason):
            "\(path) is damaged (\(reason)); run `cairn fsck`"
        case .unsafeEntry(let path, let expected):
            "\(Printable.escaped(path)) is not \(expected); cairn follows no links and uses no one else's files inside .cairn, "
                + "so it stops here. Check who made it, then replace it with a directory (`mkdir`)"
        case .diskFull(let path):
            "disk full while writing \(path): free some space and run the command again (nothing partial was kept)"
        case .readOnly(let path):
            "cannot write \(path): the repository is read-only"
        case .permissionDenied(let path):
            "permission denied: \(path)"
        case .io(let operation, let path, let code):
            "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        case .invalidID(let text):
            "\(text) is not a blob id (expected 64 hex digits)"
        }
    }

    /// Maps an `errno` from `operation` on `path` to the most specific case.
    public static func fromErrno(_ code: Int32, _ operation: String, _ path: String) -> StoreError {
        switch code {
        case ENOSPC, EDQUOT: .diskFull(path: path)
        case EROFS: .readOnly(path: path)
        case EACCES, EPERM: .permissionDenied(path: path)
        default: .io(operation: operation, path: path, errno: code)
        }
    }
}
