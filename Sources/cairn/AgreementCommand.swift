import ArgumentParser
import CairnCatalog
import CairnLabeling
import Foundation

struct AgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "Inter-annotator agreement: Cohen's κ per pair, Fleiss' κ overall and per class, confused classes.",
        discussion: """
            Uses each annotator's latest label per item; skips are left out, and so are labels taken from folders or \
            files at import (the `import` annotator) unless --include-import. κ is 1 for perfect agreement, 0 for \
            chance, and undefined ("-") when everyone gave the same single class.
            Example:
              cairn agreement --json
            """)
    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Count labels from import as an annotator.") var includeImport = false

    func run() throws {
        let report = try AgreementReport(catalog: repository.open().catalog, includeImport: includeImport)
        if output.json { return try printJSON(report) }
        func kappa(_ k: Double?) -> String { k.map { String(format: "%.3f", $0) } ?? "-" }
        guard report.items > 0 else {
            return say("no item has labels from two annotators yet (\(report.annotators.count) annotators with labels)")
        }
        say("Fleiss' κ \(kappa(report.fleissKappa)) over \(report.items) items labeled by two or more of \(report.annotators.count) annotators")
        say("\npairs (Cohen's κ):")
        var rows = [["  A", "B", "ITEMS", "AGREE", "KAPPA"]]
        for p in report.pairs { rows.append(["  " + p.a, p.b, "\(p.items)", String(format: "%.1f%%", p.observed * 100), kappa(p.kappa)]) }
        say(table(rows))
        say("\nper class (Fleiss' κ):")
        rows = [["  CLASS", "LABELS", "KAPPA"]]
        for c in report.perClass { rows.append(["  " + c.className, "\(c.labels)", kappa(c.kappa)]) }
        say(table(rows))
        if report.confusions.isEmpty { return say("\nno disagreements") }
        say("\nclasses annotators confuse (pairs of labels on one item):")
        rows = [["  CLASSES", "TIMES"]]
        for c in report.confusions.prefix(20) { rows.append(["  \(c.classA) / \(c.classB)", "\(c.count)"]) }
        say(table(rows))
    }
}
