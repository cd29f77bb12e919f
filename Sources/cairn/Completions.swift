import CairnRepository
import CairnTraining
import CairnVersioning
import Foundation

/// Shell completions that read the repository: tags (and HEAD) where a snapshot is expected, runs
/// where a run is, remotes where a remote is. A completion never fails: anything that goes wrong
/// (no repository here, a locked catalog) completes nothing.
enum Completions {
    /// The repository the command line names (`-C DIR`, `--repo DIR`), else `$CAIRN_REPO`, else the
    /// one the current directory is in.
    private static func repository(_ words: [String]) -> Repository? {
        var directory = ProcessInfo.processInfo.environment["CAIRN_REPO"]
        for (i, word) in words.enumerated() where (word == "-C" || word == "--repo") && i + 1 < words.count {
            directory = words[i + 1]
        }
        return try? directory.map { try Repository(root: $0) } ?? Repository.discover()
    }

    /// Tag names and `HEAD`.
    @Sendable static func refs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        let tags = (try? repository(words).map { try Versioning(repository: $0).tags().map(\.name) }) ?? []
        return (["HEAD"] + tags).filter { $0.hasPrefix(prefix) }
    }

    /// Run names and ids.
    @Sendable static func runs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        let runs = (try? repository(words).map { try Training(versioning: Versioning(repository: $0), cairnVersion: Cairn.version).runs() }) ?? []
        return Array(Set(runs.flatMap { [$0.name, $0.id] })).sorted().filter { $0.hasPrefix(prefix) }
    }

    /// Remote names.
    @Sendable static func remotes(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        (repository(words)?.config.remotes.keys.sorted() ?? []).filter { $0.hasPrefix(prefix) }
    }

    /// Remote names, then tags and HEAD (push and pull take an optional remote, then refs).
    @Sendable static func remotesAndRefs(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        remotes(words, index, prefix) + refs(words, index, prefix)
    }
}
