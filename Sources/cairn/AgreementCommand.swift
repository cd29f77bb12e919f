import ArgumentParser
import CairnCatalog
import CairnLabeling
import Foundation

struct AgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "Inter-annotator agreement: Cohen's κ per pair, Fleiss' κ overall and per class, confused classes; F1 for boxes.",
        discussion: """
            Uses each annotator's latest label per item; skips are left out, and so are labels taken from folders or \
            files at import (the `import` annotator) unless --include-import. κ is 1 for perfect agreement, 0 for \
            chance, and undefined ("-") when everyone gave the same single class. Boxes: each pair's boxes on an item \
            are matched one to one within a class at IoU ≥ 0.5; F1 = 2·matched / (boxes of both), per pair, per class \
            and overall, with the mean IoU of the matches.
            Example:
              cairn agreement --json
            """)
    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Count labels from import as an annotator.") var includeImport = false

    /// The class report and, when two annotators drew boxes on an item, the box report.
    struct Output: Encodable {
        var classes: AgreementReport
        var boxes: BoxAgreementReport?
    }

    func run() throws {
        let catalog = try repository.open().catalog
        let report = try AgreementReport(catalog: catalog, includeImport: includeImport)
        let boxes = try BoxAgreementReport(catalog: catalog, includeImport: includeImport)
        if output.json {
            // Without boxes the report is the class report, as it always was.
            return boxes.items > 0 ? try printJSON(Output(classes: report, boxes: boxes)) : try printJSON(report)
        }
        if boxes.items > 0 { printBoxes(boxes) }
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

    private func printBoxes(_ report: BoxAgreementReport) {
        func number(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "-" }
        say("boxes: F1 \(number(report.overall.f1)) (boxes matched within a class at IoU ≥ \(report.threshold)), mean IoU "
            + "\(number(report.overall.meanIoU)) over \(report.items) items drawn on by two or more annotators")
        var rows = [["  A", "B", "ITEMS", "BOXES A", "BOXES B", "MATCHED", "F1", "MEAN IOU"]]
        for p in report.pairs {
            rows.append(["  " + p.a, p.b, "\(p.items)", "\(p.counts.boxesA)", "\(p.counts.boxesB)", "\(p.counts.matched)", number(p.counts.f1),
                         number(p.counts.meanIoU)])
        }
        say(table(rows))
        rows = [["  CLASS", "BOXES", "MATCHED", "F1", "MEAN IOU"]]
        for c in report.perClass {
            rows.append(["  " + c.className, "\(c.counts.boxesA + c.counts.boxesB)", "\(c.counts.matched)", number(c.counts.f1), number(c.counts.meanIoU)])
        }
        say("boxes per class:")
        say(table(rows))
        say("")
    }
}
