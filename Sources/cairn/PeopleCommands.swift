import ArgumentParser
import CairnCatalog
import CairnRepository
import Foundation

extension Role: ExpressibleByArgument {}

struct AnnotatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotators", abstract: "List and add the people who label and review, and set their roles.",
        discussion: """
            Whoever ran `cairn init` (or `clone`) is the first admin; only an admin adds reviewers and admins or \
            changes a role. Annotators are added when they first label. In a shared repository everyone acts as \
            their Unix account.
            """,
        subcommands: [List.self, Add.self, SetRole.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List annotators and their roles.")
        @OptionGroup var repository: RepositoryOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let people = try repository.open().annotators()
            if output.json { return try printJSON(people) }
            say(table(people.map { [$0.name, $0.role.rawValue] }))
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an annotator (a reviewer or admin only by an admin).", discussion: "Example: cairn annotators add ada --role reviewer")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Name (no spaces).") var name: String
        @Option(help: "What they may do: reviewers and admins record verdicts and purge; admins grant roles.") var role: Role = .annotator

        func run() throws {
            let repo = try repository.open()
            try repo.addPerson(name, role: role, by: try repo.person(nil, option: "--annotator"))
            say("added \(role.rawValue) \(name)")
        }
    }

    struct SetRole: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "role", abstract: "Change someone's role (admins only).",
            discussion: "Example: cairn annotators role ada reviewer")
        @OptionGroup var repository: RepositoryOptions
        @Argument(help: "Name.") var name: String
        @Argument(help: "annotator, reviewer or admin.") var role: Role

        func run() throws {
            let repo = try repository.open()
            try repo.setRole(of: name, to: role, by: try repo.person(nil, option: "--annotator"))
            say("\(name) is now \(role.rawValue == "admin" ? "an" : "a") \(role.rawValue)")
        }
    }
}

struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Record a reviewer's verdict on items (it wins over annotators' labels).",
        discussion: """
            The reviewer must have the role reviewer or admin (`cairn annotators add NAME --role reviewer`).
            Examples:
              cairn review digits/3/0003.png --class 8 --reviewer grace
                      cairn review 3f2a9c --class cat --class dog --reviewer grace   (multi-label: both apply)
            """)

    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "Items (blob id, id prefix or imported path).") var items: [String]
    @Option(help: "The correct class; repeat it for a multi-label set.") var `class`: [String] = []
    @Flag(help: "No class applies (a multi-label verdict).") var none = false

    func validate() throws {
        guard self.class.isEmpty == none else { throw ValidationError("give --class C (repeatable) or --none") }
    }
    @Option(help: "Who is reviewing (default: $USER).") var reviewer: String?

    func run() throws {
        let repo = try repository.open()
        let reviewer = try repo.person(self.reviewer, option: "--reviewer")
        let count = try repo.review(items, label: Label(self.class), reviewer: reviewer)
        say("recorded \(count) verdict(s) of \(Label(self.class)) by \(reviewer)")
    }
}
