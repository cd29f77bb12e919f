import CairnSupport
import CairnStore
import Foundation

/// What screening a bundle from a remote refused, by kind, with a few examples to name.
public struct BundleRefusals: Codable, Sendable, Equatable {
    /// Items whose blob no snapshot on the remote holds (they would be phantoms here), or malformed.
    public var items = 0
    public var classes = 0
    public var annotators = 0
    /// Annotations, verdicts, box sets, split changes, removals and purges of refused items, classes or people, or malformed.
    public var labels = 0
    /// Runs (and sweeps) on snapshots the remote does not hold, or malformed.
    public var runs = 0
    /// Snapshot descriptions of snapshots the remote does not list, or malformed.
    public var snapshots = 0
    /// Up to ten refused rows, in words.
    public var examples: [String] = []

    public init() {}

    public var total: Int { items + classes + annotators + labels + runs + snapshots }

    mutating func note(_ example: String) {
        if examples.count < 10 { examples.append(Printable.escaped(example)) }
    }

    /// The label-like `rows` that `admits` (nil when none is kept); each one refused is counted as a
    /// label and named by `what`.
    mutating func kept<Row>(_ rows: [Row]?, _ what: (Row) -> String, admits: (Row) -> Bool) -> [Row]? {
        let kept = (rows ?? []).filter { row in
            if admits(row) { return true }
            labels += 1
            note(what(row))
            return false
        }
        return kept.isEmpty ? nil : kept
    }
}

extension CatalogBundle {
    /// The rows of this bundle (from a remote, written by anyone) that a catalog may take: items
    /// whose blob is in `items` (the images the remote's snapshots hold), classes and annotators
    /// whose names the catalog would accept, labels that name only kept items, people and classes,
    /// snapshot descriptions of `snapshots`, and runs on them. Everything else is left out and counted.
    ///
    /// - Complexity: O(rows).
    public func screened(items heldItems: Set<BlobID>, snapshots heldSnapshots: Set<BlobID>) -> (CatalogBundle, BundleRefusals) {
        var refused = BundleRefusals()
        var out = CatalogBundle()
        out.format = format
        for row in classes {
            do {
                try LabelClass.validate(name: row.name)
                out.classes.append(row)
            } catch {
                refused.classes += 1
                refused.note("class \(row.name): \(error)")
            }
        }
        let classNames = Set(out.classes.map(\.name))
        for row in annotators {
            if Role(rawValue: row.role) != nil, AnnotatorNames.problem(row.name) == nil, row.createdAt.isFinite {
                out.annotators.append(row)
            } else {
                refused.annotators += 1
                refused.note("annotator \(row.name)")
            }
        }
        let people = Set(out.annotators.map(\.name))
        for row in items {
            guard let blob = BlobID(hex: row.blob), heldItems.contains(blob) else {
                refused.items += 1
                refused.note("item \(row.path) (\(row.blob.prefix(16))): no snapshot on the remote holds it")
                continue
            }
            guard Split(rawValue: row.split) != nil, row.format == "png" || row.format == "jpeg", row.width > 0, row.height > 0,
                  row.size >= 0, ItemPath.problem(row.path) == nil, row.addedAt.isFinite
            else {
                refused.items += 1
                refused.note("item \(row.blob.prefix(16)): malformed")
                continue
            }
            out.items.append(row)
        }
        let itemBlobs = Set(out.items.map(\.blob))
        func keep(_ row: LabelEntry, verdict: Bool) -> Bool {
            guard itemBlobs.contains(row.blob), people.contains(row.who), row.at.isFinite,
                  (row.class?.classes ?? []).allSatisfy(classNames.contains), !(verdict && row.class == nil),
                  row.order.map({ LabelOrder.stamp(hex: $0) != nil }) ?? true
            else {
                refused.labels += 1
                return false
            }
            return true
        }
        out.annotations = annotations.filter { keep($0, verdict: false) }
        out.reviews = reviews.filter { keep($0, verdict: true) }
        // Box sets: of kept items, people and classes, every box inside its item's image.
        let sizes = Dictionary(out.items.map { ($0.blob, ($0.width, $0.height)) }, uniquingKeysWith: { a, _ in a })
        out.boxLabels = refused.kept(boxLabels, { "box set of \($0.blob.prefix(16)) by \($0.who.prefix(40))" }) { row in
            guard let size = sizes[row.blob] else { return false }
            return people.contains(row.who) && row.at.isFinite && LabelOrder.stamp(hex: row.order) != nil
                && row.boxes.boxes.allSatisfy { classNames.contains($0.className) && (try? $0.check(imageWidth: size.0, imageHeight: size.1)) != nil }
        }
        out.splitChanges = refused.kept(splitChanges, { "split change of \($0.blob.prefix(16)) by \($0.who.prefix(40))" }) { row in
            itemBlobs.contains(row.blob) && people.contains(row.who) && row.at.isFinite && Split(rawValue: row.split) != nil
                && LabelOrder.stamp(hex: row.order) != nil
        }
        out.removals = refused.kept(removals, { "removal of \($0.blob.prefix(16)) by \($0.who.prefix(40))" }) { row in
            itemBlobs.contains(row.blob) && people.contains(row.who) && row.at.isFinite && LabelOrder.stamp(hex: row.order) != nil
        }
        out.purges = refused.kept(purges, { "purge of \($0.blob.prefix(16)) by \($0.who.prefix(40))" }) { row in
            itemBlobs.contains(row.blob) && people.contains(row.who) && row.at.isFinite && row.why.utf8.count <= 4096
        }
        for row in snapshots {
            if heldSnapshots.contains(row.id), row.itemCount >= 0 { out.snapshots.append(row) } else { refused.snapshots += 1 }
        }
        for run in runs {
            guard let snapshot = BlobID(hex: run.snapshot), heldSnapshots.contains(snapshot), run.id.count == 12,
                  run.id.allSatisfy(\.isHexDigit), RunStatus(rawValue: run.status) != nil, run.checkpoint.map({ BlobID(hex: $0) != nil }) ?? true,
                  (run.artifacts ?? []).allSatisfy({ BlobID(hex: $0) != nil }), (run.artifacts ?? []).count <= 10_000,
                  !run.name.unicodeScalars.contains(where: Printable.isControl), run.startedAt.isFinite
            else {
                refused.runs += 1
                refused.note("run \(run.id.prefix(12)) (\(run.name.prefix(40)))")
                continue
            }
            out.runs.append(run)
        }
        let sweeps = (sweeps ?? []).filter { sweep in
            guard let snapshot = BlobID(hex: sweep.snapshot), heldSnapshots.contains(snapshot), sweep.id.count == 12,
                  sweep.id.allSatisfy(\.isHexDigit), sweep.createdAt.isFinite, sweep.record.utf8.count <= 16 << 20,
                  !sweep.dataRef.unicodeScalars.contains(where: Printable.isControl)
            else {
                refused.runs += 1
                refused.note("sweep \(sweep.id.prefix(12))")
                return false
            }
            return true
        }
        out.sweeps = sweeps.isEmpty ? nil : sweeps
        return (out, refused)
    }
}

/// The rule for annotator names, shared by the catalog and bundle screening.
enum AnnotatorNames {
    /// Why `name` cannot be an annotator's, or nil.
    static func problem(_ name: String) -> String? {
        guard !name.isEmpty, name.count <= 128, !name.contains(where: { $0.isWhitespace || $0.isNewline }),
              !name.unicodeScalars.contains(where: Printable.isControl)
        else { return "must be 1 to 128 characters, without spaces or control characters" }
        return nil
    }
}
