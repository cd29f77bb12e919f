import Foundation

/// Repository-level failures: where the repository is, its configuration, its inputs.
public enum RepositoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No `.cairn` directory here or in any parent.
    case notARepository(path: String)
    /// `cairn init` where a repository exists.
    case alreadyInitialized(path: String)
    /// `config.toml` is unreadable or invalid.
    case badConfig(path: String, reason: String)
    /// A path given on the command line does not exist or cannot be read.
    case badPath(path: String, reason: String)
    /// A labels file has rows that cannot be parsed.
    case badLabelsFile(path: String, problems: [String])
    /// fsck found problems.
    case inconsistent(problems: Int)
    /// No remote has this name.
    case unknownRemote(String, known: [String])
    /// `remote add` with a name in use.
    case remoteExists(String)

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
        case .unknownRemote(let name, let known):
            "no remote named '\(name)'" + (known.isEmpty ? "; add one with `cairn remote add NAME s3://BUCKET/PREFIX`"
                                           : " (remotes: \(known.joined(separator: ", ")))")
        case .remoteExists(let name): "a remote named '\(name)' exists; remove it first with `cairn remote remove \(name)`"
        }
    }
}
