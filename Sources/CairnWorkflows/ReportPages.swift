import CairnCatalog
import CairnReports
import CairnStore
import CairnSupport
import CairnTraining
import CairnVersioning
import Foundation

/// What a workflow refuses.
public enum WorkflowError: CairnError, Equatable {
    case unknownReportTarget(String)

    public var description: String {
        switch self {
        case .unknownReportTarget(let target):
            "'\(Printable.escaped(target))' is no run, sweep or snapshot here (`cairn runs`, `cairn sweep list`, `cairn log`)"
        }
    }

    /// A name that names nothing is a usage error.
    public var exitStatus: Int32 { 64 }
}

/// `cairn report`: one self-contained HTML page per target, and a comparison page when two or
/// more are runs.
public enum ReportPages {
    /// What a report target names.
    enum Target {
        case sweep(SweepSummary)
        case run(RunRecord)
        case snapshot(SnapshotRecord)
    }

    /// A sweep id, else a run (id or name), else a snapshot ref. A name that is not of a kind
    /// moves on to the next; any other failure (a damaged record, an ambiguous prefix) is thrown,
    /// not taken for "not found".
    static func resolve(_ target: String, training: Training) throws -> Target {
        /// Nil when `body` finds nothing of its kind by that name.
        func found<T>(_ body: () throws -> T) throws -> T? {
            do {
                return try body()
            } catch CatalogError.notFound, CatalogError.prefixTooShort, VersioningError.unknownRef {
                return nil
            }
        }
        if let summary = try found({ try training.summary(of: target) }) { return .sweep(summary) }
        if let run = try found({ try training.run(target) }) { return .run(run) }
        if let snapshot = try found({ try training.versioning.resolve(target) }) { return .snapshot(snapshot) }
        throw WorkflowError.unknownReportTarget(target)
    }

    /// Writes the pages into `directory` (made if needed) and returns their paths, in the order of
    /// `targets`, then compare.html.
    public static func write(_ targets: [String], to directory: String, training: Training) throws -> [String] {
        let resolved = try targets.map { try resolve($0, training: training) }
        try FileOps.makeDirectories(directory)
        var written: [String] = []
        func write(_ html: String, _ name: String) throws {
            let path = (directory as NSString).appendingPathComponent(name)
            try FileOps.writeFile(Data(html.utf8), to: path)
            written.append(path)
        }
        var runFacts: [RunFacts] = []
        for target in resolved {
            switch target {
            case .sweep(let summary):
                try write(ReportHTML.sweepPage(summary), "sweep-\(summary.sweep.id).html")
            case .run(let run):
                let facts = try training.runFacts(run)
                runFacts.append(facts)
                try write(ReportHTML.runPage(facts), "run-\(run.id).html")
            case .snapshot(let snapshot):
                try write(ReportHTML.dataPage(try training.dataFacts(snapshot.id)), "snapshot-\(snapshot.id.hex.prefix(12)).html")
            }
        }
        if runFacts.count > 1 {
            let base = runFacts[0].record.snapshotID
            var diffs: [String: SnapshotDiff] = [:]
            for facts in runFacts.dropFirst() where facts.record.snapshotID != base && diffs[facts.record.snapshotID] == nil {
                diffs[facts.record.snapshotID] = try? training.versioning.diff(base, facts.record.snapshotID)  // the page says when it is missing
            }
            try write(ReportHTML.comparisonPage(runFacts, diffs: diffs), "compare.html")
        }
        return written
    }
}
