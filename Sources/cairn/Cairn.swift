import ArgumentParser
import CairnCatalog
import CairnImaging
import CairnRepository
import CairnStore
import CairnTraining
import CairnVersioning
import Foundation

/// The `cairn` command: argument parsing and output only; the work happens in the libraries.
@main
struct Cairn: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Version and label image datasets: content-addressed images, labels with history, immutable snapshots.",
        discussion: """
            Start with `cairn init` in a dataset directory, then `cairn import --labels-from-dirs IMAGES`.
            Exit status: 0 success; 1 the command failed; 2 it finished but found problems
            (files rejected by import, damage found by fsck); 64 bad usage.
            """,
        version: version,
        subcommands: [
            InitCommand.self, ImportCommand.self, StatusCommand.self, ListCommand.self, ShowCommand.self,
            ClassesCommand.self, AnnotateCommand.self, AnnotatorsCommand.self, ReviewCommand.self, LabelCommand.self, AgreementCommand.self, SnapshotCommand.self, TagCommand.self, TagsCommand.self,
            LogCommand.self, DiffCommand.self, CheckoutCommand.self, ExportCommand.self, RestoreCommand.self,
            TrainCommand.self, RunsCommand.self, EvalCommand.self, PredictCommand.self,
            RemoteCommand.self, PushCommand.self, PullCommand.self, CloneCommand.self,
            GCCommand.self, FsckCommand.self, CatBlobCommand.self,
        ])

    static func main() {
        // A parent that starts us from a thread with these signals blocked (libdispatch workers do)
        // passes the mask on; Ctrl-C and kill must still stop every command.
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, number) }
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        do {
            var command = try parseAsRoot(extractGlobalRepository(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let error where isUserFacing(error) {
            FileHandle.standardError.write(Data("cairn: error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }

    /// `cairn -C DIR COMMAND …` (or `--repo DIR`) before the command, as with git: the repository is
    /// DIR, while other paths stay relative to the current directory. Passed on as `CAIRN_REPO`.
    static func extractGlobalRepository(_ arguments: [String]) -> [String] {
        var rest = arguments
        while rest.count >= 2, rest[0] == "-C" || rest[0] == "--repo" {
            setenv("CAIRN_REPO", rest[1], 1)
            rest.removeFirst(2)
        }
        return rest
    }

    /// Errors from Cairn's libraries are printed as one line; ArgumentParser's own (help, usage) it prints itself.
    private static func isUserFacing(_ error: any Error) -> Bool {
        error is StoreError || error is CatalogError || error is RepositoryError || error is ImagingError
            || error is VersioningError || error is TrainingError || error is RemoteError || error is S3Error
            || error is CocoaError || error is POSIXError
    }
}

/// Options every command that works on a repository takes.
struct RepositoryOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .customLong("repo")],
            help: "The repository (default: $CAIRN_REPO, else found from the current directory upward).")
    var repo: String?

    func open() throws -> Repository {
        if let repo = repo ?? ProcessInfo.processInfo.environment["CAIRN_REPO"] { return try Repository(root: repo) }
        return try Repository.discover()
    }
}

/// `--json` for commands with machine-readable output.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON on stdout instead of text.")
    var json = false
}
