import CairnCatalog
import CairnModels
import CairnStore
import CairnTraining
import Foundation

/// What `cairn suspects --boxes` found: flagged box labels of a snapshot against a run's box predictions.
public struct BoxSuspectReport: Sendable, Encodable {
    public struct Entry: Sendable, Encodable {
        public var blobID: String
        public var path: String
        public var kind: BoxSuspects.Kind
        /// The label concerned (none for a missing box).
        public var label: Box?
        /// What the model suggests: the box a label misses, the other class, the better place.
        public var prediction: BoxPrediction?
        public var suspicion: Double
    }
    public var snapshot: String
    public var run: String
    /// Images whose boxes resolve, checked.
    public var images: Int
    public var thresholds: [String: Double]
    /// Every flag, most suspicious first.
    public var flags: [Entry]
    /// Flagged images, most suspicious first.
    public var flaggedImages: Int
}

extension Training {
    /// A run's box predictions as proposals for `cairn label --boxes --suggest RUN`: per image, the
    /// boxes scoring at least `minimumScore`, highest first. `runRef` nil: the latest finished run
    /// with box predictions.
    public func boxProposals(run runRef: String?, minimumScore: Double = 0.5) throws -> BoxSuggestions {
        let record = try boxRun(runRef)
        var proposals: [BlobID: [BoxFix]] = [:]
        for (blob, boxes) in try boxPredictions(of: record) {
            let kept = boxes.filter { $0.score >= minimumScore }.sorted { $0.score > $1.score }
            if !kept.isEmpty {
                proposals[blob] = kept.map { BoxFix(remove: nil, add: $0.box) }
            }
        }
        return BoxSuggestions(run: record.id, fixes: proposals)
    }

    /// The run `runRef` names, or (nil) the latest finished run with box predictions.
    private func boxRun(_ runRef: String?) throws -> RunRecord {
        if let runRef { return try run(runRef) }
        guard let latest = try runs().filter({ $0.boxPredictions != nil && $0.status == .finished }).max(by: { $0.startedAt < $1.startedAt }) else {
            throw TrainingError.badParameter("no finished run has box predictions (a program run by `cairn run` writes them "
                                             + "to its predictions file; Docs/TRAINING.md)")
        }
        return latest
    }

    /// The box uncertainty queue (`cairn label --boxes --queue uncertain --run RUN`): images by how
    /// sure the run's detector is of its least sure box, least sure first — a box's certainty is
    /// |2·score − 1| (0 at a score of 0.5, 1 at 0 or 1), an image's the smallest over its boxes —
    /// with a share `explore` of images drawn at random mixed in, as the class uncertainty queue
    /// does; images the run wrote nothing for come last. The queue's own rule still decides what is
    /// served (images without your box set).
    public func boxUncertaintyPlan(run runRef: String?, explore: Double, seed: UInt64 = 0) throws -> QueuePlan {
        let record = try boxRun(runRef)
        let predicted = try boxPredictions(of: record)
        var certainty: [Int64: Double] = [:]
        let ids = try catalog.read { tx in
            let items = try tx.allItems()
            for item in items {
                guard let boxes = predicted[item.blobID] else { continue }
                certainty[item.id] = boxes.map { abs(2 * $0.score - 1) }.min() ?? 1
            }
            return items.map(\.id)
        }
        return Self.plan(ids, margins: certainty, explore: explore, seed: seed, source: "box uncertainty of run \(record.id)")
    }

    /// Flags snapshot `dataRef`'s resolved box labels that run `runRef`'s box predictions disagree
    /// with (`BoxSuspects`): missing, wrong class, badly located, spurious.
    /// - Throws: `TrainingError.badParameter` for a run without box predictions, `.unusableData`
    ///   when no item has boxes that resolve.
    public func boxSuspects(run runRef: String, data dataRef: String) throws -> BoxSuspectReport {
        let record = try run(runRef)
        let predicted = try boxPredictions(of: record)
        let snapshot = try versioning.resolve(dataRef)
        let root = try versioning.tree.root(snapshot.id)
        let items = try versioning.readableItems(try versioning.tree.items(under: root.items)).items.filter { $0.boxes?.resolved != nil }
        guard !items.isEmpty else { throw TrainingError.unusableData("no item has boxes that resolve") }
        let suspects = BoxSuspects(images: items.map { DetectionEvaluation.Image(truth: $0.boxes!.resolved!.boxes, detections: predicted[$0.blobID] ?? []) },
                                   classes: root.classes)
        return BoxSuspectReport(
            snapshot: snapshot.id.hex, run: record.id, images: items.count, thresholds: suspects.thresholds,
            flags: suspects.flags.map {
                BoxSuspectReport.Entry(blobID: items[$0.image].blobID.hex, path: items[$0.image].path, kind: $0.kind, label: $0.label,
                                       prediction: $0.prediction, suspicion: $0.suspicion)
            },
            flaggedImages: suspects.ranking.count)
    }

    /// The box suspects queue (`cairn label --boxes --queue suspects --run RUN`): flagged images of
    /// `dataRef`, most suspicious first, each with its worst flag as the note, and every flag's fix
    /// by item (most suspicious first): a missing box added, a class changed, a box moved where the
    /// model has it, a spurious box taken out.
    public func boxSuspectsPlan(run runRef: String, data dataRef: String = "HEAD") throws -> (QueuePlan, BoxSuggestions) {
        let report = try boxSuspects(run: runRef, data: dataRef)
        var order: [Int64] = [], notes: [Int64: QueuePlan.Note] = [:], fixes: [BlobID: [BoxFix]] = [:]
        try catalog.read { tx in
            for flag in report.flags {
                guard let blob = BlobID(hex: flag.blobID), let item = try tx.item(blobID: blob) else { continue }
                fixes[blob, default: []].append(flag.fix)
                guard notes[item.id] == nil else { continue }
                order.append(item.id)
                notes[item.id] = QueuePlan.Note(given: flag.kind.rawValue + (flag.label.map { ": \($0)" } ?? ""),
                                                suggested: flag.prediction.map(BoxSuspects.describe) ?? "no box there",
                                                score: flag.suspicion)
            }
        }
        return (QueuePlan(items: order, notes: notes, source: "box suspects of \(report.snapshot.prefix(12)) by run \(report.run)"),
                BoxSuggestions(run: report.run, fixes: fixes))
    }
}

extension BoxSuspectReport.Entry {
    /// What taking the model's side means for this flag.
    public var fix: BoxFix {
        let predicted = prediction?.box
        switch kind {
        case .missing: return BoxFix(remove: nil, add: predicted)
        case .wrongClass:
            guard let label, let predicted else { return BoxFix(remove: nil, add: nil) }
            var relabeled = label
            relabeled.className = predicted.className
            return BoxFix(remove: label, add: relabeled)
        case .badlyLocated:
            guard let label, var predicted else { return BoxFix(remove: nil, add: nil) }
            predicted.className = label.className
            return BoxFix(remove: label, add: predicted)
        case .spurious: return BoxFix(remove: label, add: nil)
        }
    }
}

extension BoxSuspects {
    /// A prediction as a reviewer reads it: `dog [10, 20, 30, 40] 0.93`.
    public static func describe(_ p: BoxPrediction) -> String {
        "\(p.className) " + String(format: "[%.1f, %.1f, %.1f, %.1f] %.2f", p.x, p.y, p.width, p.height, p.score)
    }
}
