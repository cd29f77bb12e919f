import ArgumentParser
import CairnCatalog
import CairnPostgres
import CairnRemote
import CairnRepository
import CairnSupport
import Foundation

/// The `cairn` command: argument parsing and output only; the work happens in the libraries.
@main
struct Cairn: AsyncParsableCommand {
    static let version = "0.1.0"

    /// What `--suggest` given without a run stands for (see `optionalValues`).
    static let latest = "@latest"

    /// `--suggest [RUN]`: an option whose value may be left out. Given alone (last, or before
    /// another option), it gets the value `latest`, which the command reads as "the latest run".
    static func optionalValues(_ arguments: [String]) -> [String] {
        var out: [String] = []
        for (i, word) in arguments.enumerated() {
            out.append(word)
            if word == "--suggest", i + 1 == arguments.count || arguments[i + 1].hasPrefix("-") { out.append(latest) }
        }
        return out
    }

    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Version and label image datasets: content-addressed images, labels with history, immutable snapshots.",
        discussion: """
            Start with `cairn init` in a dataset directory, then `cairn import --labels-from-dirs IMAGES`.
            Exit status: 0 success; 1 the command failed; 2 it finished but found problems \
            (files rejected by import, damage found by fsck); 64 bad usage.
            """,
        version: version,
        // `cairn --help` lists the commands in these groups.
        groupedSubcommands: [
            CommandGroup(name: "Data", subcommands: [
                InitCommand.self, ImportCommand.self, StatusCommand.self, ListCommand.self, ShowCommand.self, SplitCommand.self,
                RemoveCommand.self, PurgeCommand.self, ConfigCommand.self,
            ]),
            CommandGroup(name: "Labels", subcommands: [
                ClassesCommand.self, AnnotateCommand.self, BoxesCommand.self, AnnotatorsCommand.self, LabelCommand.self, QueueCommand.self, ReviewCommand.self,
                AgreementCommand.self,
            ]),
            CommandGroup(name: "Versions", subcommands: [
                SnapshotCommand.self, TagCommand.self, TagsCommand.self, LogCommand.self, DiffCommand.self, CheckoutCommand.self,
                ExportCommand.self, RestoreCommand.self,
            ]),
            CommandGroup(name: "Remotes", subcommands: [RemoteCommand.self, PushCommand.self, PullCommand.self, CloneCommand.self]),
            CommandGroup(name: "Models", subcommands: [
                TrainCommand.self, RunCommand.self, RunsCommand.self, SweepCommand.self, EvalCommand.self, PredictCommand.self,
                PredictionsCommand.self, ReportCommand.self,
            ]),
            CommandGroup(name: "Quality", subcommands: [SuspectsCommand.self, CheckCommand.self]),
            CommandGroup(name: "Serving", subcommands: [ExportModelCommand.self, ServeCommand.self]),
            CommandGroup(name: "Storage", subcommands: [GCCommand.self, FsckCommand.self, CatBlobCommand.self]),
        ])

    static func main() async {
        // A parent that starts us from a thread with these signals blocked (libdispatch workers do)
        // passes the mask on; Ctrl-C and kill must still stop every command.
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, number) }
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        CatalogServers.register(scheme: "postgresql") { url, scope in try PostgresCatalog(url: url, scope: scope) }
        SharedImageStore.register()
        let arguments = optionalValues(extractGlobalRepository(Array(CommandLine.arguments.dropFirst())))
        do {
            if let unknown = unknownCommand(in: arguments) { throw unknown }
            var command = try parseAsRoot(arguments)
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let error as any CairnError {
            warn("cairn: error: \(error)")
            Foundation.exit(error.exitStatus)
        } catch let error where error is CocoaError || error is POSIXError {
            // The system's own errors (a file that cannot be read), passed through by a library.
            warn("cairn: error: \(error)")
            Foundation.exit(1)
        } catch let error as UnknownCommand {
            warn("cairn: error: \(error)")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version, help: what was asked for, on stdout.
                say(fullMessage(for: error))
                Foundation.exit(0)
            }
            if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }  // from a command that has already said why
            if code != .validationFailure {
                // An error no layer turned into a CairnError: said as it is rather than not at all.
                warn("cairn: error: \(error)")
                Foundation.exit(code.rawValue)
            }
            var text = message(for: error)
            if let first = text.first { text = first.lowercased() + text.dropFirst() }
            warn("cairn: error: \(text)")
            warn("usage: \(usageString(for: arguments))  (`cairn help \(commandPath(arguments).joined(separator: " "))` for more)")
            Foundation.exit(code.rawValue)
        }
    }

    /// A mistyped command name, with the closest real ones.
    struct UnknownCommand: Error, CustomStringConvertible {
        var name: String
        var within: [String]
        var suggestions: [String]
        var description: String {
            let command = (["cairn"] + within).joined(separator: " ")
            return "'\(name)' is not a \(command) command"
                + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.map { "'\($0)'" }.joined(separator: " or "))?")
                + " (`\(command) --help` lists them)"
        }
    }

    /// The subcommand names `arguments` walk through, as far as they name real ones.
    static func commandPath(_ arguments: [String]) -> [String] {
        var command: any ParsableCommand.Type = Cairn.self
        var path: [String] = []
        for word in arguments where !word.hasPrefix("-") {
            guard let next = command.configuration.subcommands.first(where: { $0._commandName == word }) else { break }
            path.append(word)
            command = next
        }
        return path
    }

    /// Default subcommands that take positional arguments: a word after their parent may be one
    /// of those, not a mistyped subcommand.
    static let defaultsTakingWords: Set<String> = ["show"]

    /// `cairn stauts`, `cairn help nosuch`, `cairn runs shwo`: the first word that should name a
    /// subcommand and does not, when the command it follows takes no other words there.
    static func unknownCommand(in arguments: [String]) -> UnknownCommand? {
        // Only the words before the first option: after one, a word may be that option's value.
        var words = Array(arguments.prefix { !$0.hasPrefix("-") })
        if words.first == "help" { words.removeFirst() }
        var command: any ParsableCommand.Type = Cairn.self
        var within: [String] = []
        for word in words {
            let subcommands: [any ParsableCommand.Type] = command.configuration.subcommands
            if subcommands.isEmpty { return nil }
            let names: [String] = subcommands.map { $0._commandName }
            if let index = names.firstIndex(of: word) {
                command = subcommands[index]
                within.append(word)
                continue
            }
            // Under a default subcommand that takes arguments the word may be one of them.
            if let fallback = command.configuration.defaultSubcommand, defaultsTakingWords.contains(fallback._commandName) {
                return nil
            }
            let close = names.filter { $0 != "help" && (editDistance($0, word) <= 2 || ($0.hasPrefix(word) && word.count >= 2)) }
            return UnknownCommand(name: word, within: within, suggestions: close)
        }
        return nil
    }

    /// Levenshtein distance, for "did you mean".
    static func editDistance(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        var row = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, y.count) where !y.isEmpty {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return x.isEmpty ? y.count : row[y.count]
    }

    /// The usage line of the deepest command `arguments` name.
    static func usageString(for arguments: [String]) -> String {
        var command: any ParsableCommand.Type = Cairn.self
        let path = commandPath(arguments)
        for word in path {
            command = command.configuration.subcommands.first { $0._commandName == word } ?? command
        }
        let usage = command.usageString().replacingOccurrences(of: "\n", with: " ")
        return path.isEmpty ? usage : (["cairn"] + path.dropLast() + [usage]).joined(separator: " ")
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
