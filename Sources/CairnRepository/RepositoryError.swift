import CairnStore
import CairnSupport
import Foundation

/// Repository-level failures: where the repository is, its configuration, its inputs.
public enum RepositoryError: CairnError, Equatable {
    /// No `.cairn` directory here or in any parent.
    case notARepository(path: String)
    /// `cairn init` where a repository exists.
    case alreadyInitialized(path: String)
    /// `config.toml` is unreadable or invalid.
    case badConfig(path: String, reason: String)
    /// A path given on the command line does not exist or cannot be read.
    case badPath(path: String, reason: String)
    /// `cairn rm` that names or matches no item in the working state.
    case nothingToRemove
    /// Bytes asked for that were purged (`cairn purge`).
    case purged(BlobID, summary: String)
    /// `classes remove`/`merge` of a class items still carry, with what to do about it.
    case classInUse(name: String, items: Int, hint: String)
    /// A labels file has rows that cannot be parsed.
    case badLabelsFile(path: String, problems: [String])
    /// fsck found problems.
    case inconsistent(problems: Int)
    /// A repository another user owns, not shared with a group of the caller's, not marked safe.
    /// `group`: the group the repository is shared with, when it is (the caller is not in it).
    case notOwned(path: String, owner: String, group: String?)
    /// In a shared repository, a name other than the caller's Unix account for `option`.
    case notYou(given: String, account: String, option: String)
    /// No name to record for `option`: not given, and neither $USER nor the Unix account is known.
    case noIdentity(option: String)
    /// No remote has this name.
    case unknownRemote(String, known: [String])
    /// `remote add` with a name in use.
    case remoteExists(String)
    /// A remote's description, tag list or snapshot description that does not parse or check.
    case badRemoteFile(name: String, reason: String)

    /// The reason alone, for errors quoted inside another message.
    public var reasonText: String {
        if case .badConfig(_, let reason) = self { return reason }
        return description
    }

    public var description: String {
        switch self {
        case .notARepository(let path):
            "not a cairn repository (no .cairn directory in \(path) or any parent); run `cairn init` first"
        case .alreadyInitialized(let path): "\(path) is already a cairn repository"
        case .badConfig(let path, let reason): "\(path): \(reason)"
        case .badPath(let path, let reason): "\(path): \(reason)"
        case .badLabelsFile(let path, let problems):
            "\(path) has \(problems.count) malformed row(s); nothing was imported:\n  "
                + problems.prefix(20).joined(separator: "\n  ") + (problems.count > 20 ? "\n  …" : "")
        case .inconsistent(let problems): "fsck found \(problems) problem(s)"
        case .nothingToRemove: "no item in the working state matches; nothing removed"
        case .purged(let id, let summary): "\(id.hex.prefix(16)): its bytes are gone, \(Printable.escaped(summary))"
        case .classInUse(let name, let items, let hint):
            (items > 0 ? "\(items) item(s) carry class \(name); " : "cannot remove class \(name): ") + hint + "; nothing changed"
        case .notYou(let given, let account, let option):
            "this repository is shared: you act as your Unix account \(account), so \(option) \(Printable.escaped(given)) is refused "
                + "(each member labels, reviews and purges under their own account)"
        case .noIdentity(let option):
            "this command records who did it, and $USER is not set: give \(option) NAME"
        case .notOwned(let path, let owner, let group):
            "the repository at \(path) belongs to \(owner)"
                + (group.map { " and is shared with group \($0), which you are not in (a member: `usermod -aG \($0) USER`, then log in again)" } ?? "")
                + "; cairn does not use a repository another user owns (someone may have planted it above your work). "
                + "If you trust it, add its path to $CAIRN_SAFE_DIRECTORIES or ~/.config/cairn/safe-directories"
        case .unknownRemote(let name, let known):
            "no remote named '\(name)'" + (known.isEmpty ? "; add one with `cairn remote add NAME s3://BUCKET/PREFIX`"
                                           : " (remotes: \(known.joined(separator: ", ")))")
        case .badRemoteFile(let name, let reason): "the remote's \(name) is damaged or not Cairn's: \(reason)"
        case .remoteExists(let name): "a remote named '\(name)' exists; remove it first with `cairn remote remove \(name)`"
        }
    }
}
