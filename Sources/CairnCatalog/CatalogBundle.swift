import CairnStore
import Foundation

/// The part of a catalog that travels with a dataset to a remote: classes, annotators, items,
/// every annotation and verdict, snapshots' descriptions and runs. Rows name items by blob id
/// and people and classes by name, so bundles from different repositories merge.
///
/// ```swift
/// let bundle = try catalog.read { try CatalogBundle.export($0, items: blobsOnRemote, snapshots: pushed) }
/// let merged = remoteBundle.merging(bundle)           // union; nothing is ever dropped
/// let added = try catalog.write { try merged.merge(into: $0) }
/// ```
public struct CatalogBundle: Codable, Sendable, Equatable {
    public static let formatVersion = 1

    /// A class; `removed` (absent when false, and in older bundles) marks one `classes remove` took out.
    public struct ClassEntry: Codable, Sendable, Hashable {
        public var name: String; public var hotkey: String?; public var ordinal: Int
        public var removed: Bool?
    }
    public struct PersonEntry: Codable, Sendable, Hashable { public var name: String; public var role: String; public var createdAt: Double }
    public struct ItemEntry: Codable, Sendable, Hashable {
        public var blob: String, path: String, format: String, width: Int, height: Int, size: Int64, split: String, addedAt: Double
    }
    /// An annotation (`class` nil = skip) or a verdict. A one-class label is written as its name,
    /// a multi-label one as a list of names. `order` is the row's stamp in the label order
    /// (`LabelOrder`, 32 hex digits), made where the row was first written; bundles from before
    /// it existed lack it, and the stamp is then made from the row. A row's identity (what merging
    /// compares) is its item, person, label and time, not the stamp.
    public struct LabelEntry: Codable, Sendable, Hashable {
        public var blob: String, who: String, `class`: Label?, at: Double
        public var order: String?
        /// What a model showed while the label was given (absent when nothing was, and in older bundles).
        public var suggestion: SuggestionShown?

        public init(blob: String, who: String, class label: Label?, at: Double, order: String? = nil, suggestion: SuggestionShown? = nil) {
            (self.blob, self.who, self.class, self.at, self.order, self.suggestion) = (blob, who, label, at, order, suggestion)
        }

        public static func == (a: LabelEntry, b: LabelEntry) -> Bool {
            a.blob == b.blob && a.who == b.who && a.class == b.class && a.at == b.at
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(blob)
            hasher.combine(who)
            hasher.combine(`class`)
            hasher.combine(at)
        }

        /// The stamp this row carries, or the one its content gives.
        /// - Throws: `CatalogError.malformedBundle` for a stamp that is not 32 hex digits.
        func stamp() throws -> Data {
            guard let order else { return LabelOrder.stamp(at: at, label: `class`) }
            guard let stamp = LabelOrder.stamp(hex: order) else {
                throw CatalogError.malformedBundle("the label of \(blob) by \(who) has a malformed order stamp")
            }
            return stamp
        }
    }
    /// A move of an item to a split (`order`: its stamp, 32 hex digits). Identity: item, person,
    /// split and time.
    public struct SplitEntry: Codable, Sendable, Hashable {
        public var blob: String, who: String, split: String, at: Double, order: String
    }
    /// An item's removal from the working state (`removed` true) or its return. Identity: item,
    /// person, answer and time.
    public struct RemovalEntry: Codable, Sendable, Hashable {
        public var blob: String, who: String, removed: Bool, at: Double, order: String
    }
    /// A purge (`cairn purge`): the image's bytes had to go. Identity: the blob.
    public struct PurgeEntry: Codable, Sendable, Hashable {
        public var blob: String, who: String, why: String, at: Double
        public init(blob: String, who: String, why: String, at: Double) { (self.blob, self.who, self.why, self.at) = (blob, who, why, at) }
    }
    public struct RunEntry: Codable, Sendable, Hashable {
        public var id: String, name: String, dataRef: String, snapshot: String, model: String, status: String
        public var startedAt: Double, endedAt: Double?, checkpoint: String?, record: String
        /// Blobs of files the run's program wrote (absent in bundles from before runs kept artifacts).
        public var artifacts: [String]?
    }
    /// A sweep (its trials are runs, which name it). Identity: the id.
    public struct SweepEntry: Codable, Sendable, Hashable {
        public var id: String, dataRef: String, snapshot: String, createdAt: Double, record: String
    }

    public var format = formatVersion
    public var classes: [ClassEntry] = []
    public var annotators: [PersonEntry] = []
    public var items: [ItemEntry] = []
    public var annotations: [LabelEntry] = []
    public var reviews: [LabelEntry] = []
    public var snapshots: [SnapshotRecord] = []
    public var runs: [RunEntry] = []
    /// Absent when there are none (and in bundles from before split changes existed).
    public var splitChanges: [SplitEntry]?
    /// Absent when there are none (and in older bundles).
    public var removals: [RemovalEntry]?
    /// Absent when there are none (and in older bundles).
    public var purges: [PurgeEntry]?
    /// Box sets drawn (`verdict` absent) or decided by a reviewer (`verdict` true), with their
    /// stamps; absent when there are none (and in older bundles). A row's identity is its item,
    /// person, history, boxes and time.
    public var boxLabels: [BoxEntry]?
    /// The sweeps on the bundle's snapshots, so a replica can show the sweep its trials name.
    /// Absent when there are none (and in older bundles).
    public var sweeps: [SweepEntry]?

    public struct BoxEntry: Codable, Sendable, Hashable {
        public var blob: String, who: String, verdict: Bool?, boxes: BoxSet, at: Double, order: String
        /// What a model suggested while the set was drawn (absent when nothing was, and in older
        /// bundles); provenance, not part of the row's identity.
        public var suggestion: BoxSuggestionShown?

        public static func == (a: BoxEntry, b: BoxEntry) -> Bool {
            a.blob == b.blob && a.who == b.who && (a.verdict ?? false) == (b.verdict ?? false) && a.boxes == b.boxes && a.at == b.at
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(blob)
            hasher.combine(who)
            hasher.combine(verdict ?? false)
            hasher.combine(boxes)
            hasher.combine(at)
        }
    }

    public init() {}

    /// What merging added to a catalog.
    public struct MergeCounts: Codable, Sendable, Equatable {
        public var items = 0, annotations = 0, reviews = 0, runs = 0, classes = 0, annotators = 0, splitChanges = 0, removals = 0
        public var purges = 0
        public var sweeps = 0
        public var boxLabels = 0
        /// Purges recorded by someone not trusted here to purge: held, nothing erased (`purge --apply-pulled`).
        public var purgesHeld = 0
        public init() {}
        public var total: Int {
            items + annotations + reviews + runs + classes + annotators + splitChanges + removals + purges + sweeps + boxLabels
        }
    }

    /// The catalog's rows for the items whose blobs are in `items`, the snapshots in `snapshots`,
    /// and the runs on those snapshots. Rows come out in a fixed order, so equal catalogs give equal bundles.
    public static func export(_ tx: any CatalogReadTransaction, items keep: Set<BlobID>, snapshots keepSnapshots: Set<BlobID>) throws -> CatalogBundle {
        var bundle = CatalogBundle()
        bundle.classes = try tx.classes().map { ClassEntry(name: $0.name, hotkey: $0.hotkey, ordinal: $0.ordinal) }
            + tx.removedClasses().map { ClassEntry(name: $0.name, hotkey: nil, ordinal: $0.ordinal, removed: true) }
        bundle.annotators = try tx.annotators().map {
            PersonEntry(name: $0.name, role: $0.role.rawValue, createdAt: $0.createdAt.timeIntervalSince1970)
        }
        bundle.items = try (tx.allItems() + tx.removedItems()).filter { keep.contains($0.blobID) }.sorted { $0.blobID < $1.blobID }.map {
            ItemEntry(blob: $0.blobID.hex, path: $0.path, format: $0.format, width: $0.width, height: $0.height, size: $0.byteSize,
                      split: $0.split.rawValue, addedAt: $0.addedAt.timeIntervalSince1970)
        }
        func entries(_ history: LabelHistory) throws -> [LabelEntry] {
            try tx.labelEvents(history).filter { keep.contains($0.item) }.map {
                LabelEntry(blob: $0.item.hex, who: $0.person, class: $0.label, at: $0.at.timeIntervalSince1970, order: LabelOrder.hex($0.stamp),
                           suggestion: $0.suggestion)
            }
        }
        let moves = try tx.splitEvents().filter { keep.contains($0.item) }.map {
            SplitEntry(blob: $0.item.hex, who: $0.person, split: $0.split.rawValue, at: $0.at.timeIntervalSince1970, order: LabelOrder.hex($0.stamp))
        }
        bundle.splitChanges = moves.isEmpty ? nil : moves
        let removals = try tx.removalEvents().filter { keep.contains($0.item) }.map {
            RemovalEntry(blob: $0.item.hex, who: $0.person, removed: $0.removed, at: $0.at.timeIntervalSince1970, order: LabelOrder.hex($0.stamp))
        }
        bundle.removals = removals.isEmpty ? nil : removals
        let purges = try tx.purges().filter { keep.contains($0.blob) }.map {
            PurgeEntry(blob: $0.blob.hex, who: $0.person, why: $0.reason, at: $0.at.timeIntervalSince1970)
        }
        bundle.purges = purges.isEmpty ? nil : purges
        let classNames = try tx.classNamesByID()
        let boxes = try tx.storedBoxEvents().filter { keep.contains($0.item) }.map {
            BoxEntry(blob: $0.item.hex, who: $0.label.person, verdict: $0.history == .verdicts ? true : nil,
                     boxes: try BoxCoding.decode($0.label.encoded, classNames: classNames), at: $0.label.createdAt.timeIntervalSince1970,
                     order: LabelOrder.hex($0.label.stamp), suggestion: $0.label.suggestion)
        }
        bundle.boxLabels = boxes.isEmpty ? nil : boxes
        bundle.annotations = try entries(.annotations)
        bundle.reviews = try entries(.verdicts)
        bundle.snapshots = try tx.allSnapshots().filter { keepSnapshots.contains($0.id) }.sorted { $0.createdAt < $1.createdAt }
        bundle.runs = try tx.runs().filter { keepSnapshots.contains($0.snapshotID) }.map {
            RunEntry(id: $0.id, name: $0.name, dataRef: $0.dataRef, snapshot: $0.snapshotID.hex, model: $0.model, status: $0.status.rawValue,
                     startedAt: $0.startedAt.timeIntervalSince1970, endedAt: $0.endedAt?.timeIntervalSince1970,
                     checkpoint: $0.checkpointID?.hex, record: $0.record, artifacts: $0.artifactIDs.isEmpty ? nil : $0.artifactIDs.map(\.hex))
        }
        let sweeps = try tx.sweeps().filter { keepSnapshots.contains($0.snapshotID) }.map {
            SweepEntry(id: $0.id, dataRef: $0.dataRef, snapshot: $0.snapshotID.hex, createdAt: $0.createdAt.timeIntervalSince1970, record: $0.record)
        }
        bundle.sweeps = sweeps.isEmpty ? nil : sweeps
        return bundle
    }

    /// The union of two bundles: every row of either, each once. `self`'s rows come first, so
    /// merging what is already there changes nothing.
    public func merging(_ other: CatalogBundle) -> CatalogBundle {
        func union<T: Hashable>(_ a: [T], _ b: [T], key: (T) -> some Hashable) -> [T] {
            var seen = Set(a.map { AnyHashable(key($0)) })
            return a + b.filter { seen.insert(AnyHashable(key($0))).inserted }
        }
        var out = self
        out.classes = union(classes, other.classes, key: \.name)
        let removed = Set((classes + other.classes).filter { $0.removed == true }.map(\.name))
        out.classes = out.classes.map { row in
            guard removed.contains(row.name) else { return row }
            return ClassEntry(name: row.name, hotkey: nil, ordinal: row.ordinal, removed: true)
        }
        out.annotators = union(annotators, other.annotators, key: \.name)
        out.items = union(items, other.items, key: \.blob)
        out.annotations = union(annotations, other.annotations, key: { $0 })
        out.reviews = union(reviews, other.reviews, key: { $0 })
        out.snapshots = union(snapshots, other.snapshots, key: \.id)
        out.runs = union(runs, other.runs, key: \.id)
        let moves = union(splitChanges ?? [], other.splitChanges ?? [], key: { [$0.blob, $0.who, $0.split, "\($0.at)"] })
        out.splitChanges = moves.isEmpty ? nil : moves
        let removals = union(removals ?? [], other.removals ?? [], key: { [$0.blob, $0.who, "\($0.removed)", "\($0.at)"] })
        out.removals = removals.isEmpty ? nil : removals
        let boxes = union(boxLabels ?? [], other.boxLabels ?? [], key: { $0 })
        out.boxLabels = boxes.isEmpty ? nil : boxes
        let purges = union(purges ?? [], other.purges ?? [], key: \.blob)
        out.purges = purges.isEmpty ? nil : purges
        let sweeps = union(sweeps ?? [], other.sweeps ?? [], key: \.id)
        out.sweeps = sweeps.isEmpty ? nil : sweeps
        return out
    }

    /// Adds to the catalog every row it lacks (by blob id, name, or the whole annotation), never
    /// changing or removing what is there. Snapshots named by runs must already be recorded.
    public func merge(into tx: any CatalogTransaction) throws -> MergeCounts {
        var counts = MergeCounts()
        var classIDs: [String: Int64] = [:]
        // A removal is a tombstone: a class removed on either side ends removed on both.
        let removedHere = Dictionary(try tx.removedClasses().map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        for row in classes.sorted(by: { $0.ordinal < $1.ordinal }) {
            if let id = removedHere[row.name] {
                classIDs[row.name] = id
                continue
            }
            if let existing = try tx.labelClass(named: row.name) {
                classIDs[row.name] = existing.id
            } else {
                let used = Set(try tx.classes().compactMap(\.hotkey))
                classIDs[row.name] = try tx.addClass(row.name, hotkey: row.hotkey.flatMap { used.contains($0) ? nil : $0 }).id
                counts.classes += 1
            }
            if row.removed == true, let id = classIDs[row.name] { try tx.markClassRemoved(id: id, at: Date()) }
        }
        // Who may purge here: reviewers and admins given that role here, not by a bundle (a remote names
        // people and roles as it likes). Only their purges are applied; the rest are held.
        let mayPurge = try tx.localReviewers()
        var people: [String: Int64] = [:]
        for row in annotators {
            if let existing = try tx.annotator(named: row.name) {
                people[row.name] = existing.id
            } else {
                let added = try tx.addAnnotator(row.name, role: Role(rawValue: row.role) ?? .annotator)
                try tx.markAnnotatorPulled(id: added.id)
                people[row.name] = added.id
                counts.annotators += 1
            }
        }
        var itemIDs: [String: Int64] = [:]
        var itemSizes: [String: (width: Int, height: Int)] = [:]
        for row in items {
            guard let blob = BlobID(hex: row.blob), let split = Split(rawValue: row.split) else {
                throw CatalogError.malformedBundle("item \(row.blob)")
            }
            let (item, isNew) = try tx.insertItem(
                NewItem(blobID: blob, path: row.path, format: row.format, width: row.width, height: row.height, byteSize: row.size, split: split),
                addedAt: Date(timeIntervalSince1970: row.addedAt))
            itemIDs[row.blob] = item.id
            itemSizes[row.blob] = (item.width, item.height)
            if isNew { counts.items += 1 }
        }
        func ids(_ row: LabelEntry) throws -> (Int64, Int64, [Int64]?) {
            guard let item = itemIDs[row.blob], let who = people[row.who] else {
                throw CatalogError.malformedBundle("a label names an unknown item or person (\(row.blob), \(row.who))")
            }
            let cls = try row.class.map { label in
                try label.classes.map { name in
                    guard let id = classIDs[name] else { throw CatalogError.malformedBundle("a label names an unknown class \(name)") }
                    return id
                }
            }
            return (item, who, cls)
        }
        let here = try Self.export(tx, items: Set(items.compactMap { BlobID(hex: $0.blob) }), snapshots: [])
        // A label row is an event (item, person, label, time): each is added once.
        var haveAnnotations = Set(here.annotations)
        for row in annotations where haveAnnotations.insert(row).inserted {
            let (item, who, cls) = try ids(row)
            try tx.appendLabel(.annotations, itemID: item, personID: who, classIDs: cls, at: Date(timeIntervalSince1970: row.at),
                               stamp: try row.stamp(), suggestion: row.suggestion)
            counts.annotations += 1
        }
        var haveReviews = Set(here.reviews)
        for row in reviews where haveReviews.insert(row).inserted {
            let (item, who, cls) = try ids(row)
            guard let cls else { throw CatalogError.malformedBundle("a verdict without a class") }
            try tx.appendLabel(.verdicts, itemID: item, personID: who, classIDs: cls, at: Date(timeIntervalSince1970: row.at),
                               stamp: try row.stamp(), suggestion: nil)
            counts.reviews += 1
        }
        // A box set is an event (item, person, history, boxes, time): each is added once, checked as
        // if drawn here.
        var haveBoxes = Set(here.boxLabels ?? [])
        for row in boxLabels ?? [] where haveBoxes.insert(row).inserted {
            guard let item = itemIDs[row.blob], let size = itemSizes[row.blob], let who = people[row.who],
                  let stamp = LabelOrder.stamp(hex: row.order) else {
                throw CatalogError.malformedBundle("a box set of \(row.blob) by \(row.who)")
            }
            do {
                try tx.appendBoxes(row.verdict == true ? .verdicts : .annotations, itemID: item, width: size.width, height: size.height,
                                   personID: who, boxes: row.boxes, classIDs: classIDs, at: Date(timeIntervalSince1970: row.at), stamp: stamp,
                                   suggestion: row.suggestion)
            } catch let error as CatalogError {
                throw CatalogError.malformedBundle("a box set of \(row.blob) by \(row.who): \(error)")
            }
            counts.boxLabels += 1
        }
        // A split change is an event too (item, person, split, time): each is added once, and the
        // item's split becomes its latest change's.
        var haveMoves = Set((here.splitChanges ?? []).map { [$0.blob, $0.who, $0.split, "\($0.at)"] })
        for row in splitChanges ?? [] where haveMoves.insert([row.blob, row.who, row.split, "\(row.at)"]).inserted {
            guard let item = itemIDs[row.blob], let who = people[row.who], let split = Split(rawValue: row.split),
                  let stamp = LabelOrder.stamp(hex: row.order) else {
                throw CatalogError.malformedBundle("a split change of \(row.blob) by \(row.who)")
            }
            try tx.changeSplit(itemIDs: [item], to: split, personID: who, at: Date(timeIntervalSince1970: row.at), stamp: stamp)
            counts.splitChanges += 1
        }
        var haveRemovals = Set((here.removals ?? []).map { [$0.blob, $0.who, "\($0.removed)", "\($0.at)"] })
        for row in removals ?? [] where haveRemovals.insert([row.blob, row.who, "\(row.removed)", "\(row.at)"]).inserted {
            guard let item = itemIDs[row.blob], let who = people[row.who], let stamp = LabelOrder.stamp(hex: row.order) else {
                throw CatalogError.malformedBundle("a removal of \(row.blob) by \(row.who)")
            }
            try tx.setRemoved(itemIDs: [item], removed: row.removed, personID: who, at: Date(timeIntervalSince1970: row.at), stamp: stamp)
            counts.removals += 1
        }
        for row in purges ?? [] {
            guard let blob = BlobID(hex: row.blob), itemIDs[row.blob] != nil, let who = people[row.who] else {
                throw CatalogError.malformedBundle("a purge of \(row.blob) by \(row.who)")
            }
            let at = Date(timeIntervalSince1970: row.at)
            if mayPurge.contains(row.who) {
                if try tx.recordPurge(blob: blob, personID: who, reason: row.why, at: at) {
                    try tx.releaseHeldPurge(blob: blob)
                    counts.purges += 1
                }
                // A purged item is out of the working state, whether or not the bundle carried that removal.
                if let item = itemIDs[row.blob], try !tx.isRemoved(itemID: item) {
                    try tx.setRemoved(itemIDs: [item], removed: true, personID: who, at: at, stamp: nil)
                }
            } else if try tx.holdPurge(blob: blob, personID: who, reason: row.why, at: at, heldAt: Date()) {
                counts.purgesHeld += 1
            }
        }
        let haveRuns = Set(try tx.runs().map(\.id))
        for run in runs where !haveRuns.contains(run.id) {
            guard let snapshot = BlobID(hex: run.snapshot) else { throw CatalogError.malformedBundle("run \(run.id)") }
            try tx.insertRun(Run(
                id: run.id, name: run.name, dataRef: run.dataRef, snapshotID: snapshot, model: run.model,
                status: RunStatus(rawValue: run.status) ?? .failed, startedAt: Date(timeIntervalSince1970: run.startedAt),
                endedAt: run.endedAt.map(Date.init(timeIntervalSince1970:)), checkpointID: run.checkpoint.flatMap { BlobID(hex: $0) },
                artifactIDs: (run.artifacts ?? []).compactMap { BlobID(hex: $0) }, record: run.record))
            counts.runs += 1
        }
        let haveSweeps = Set(try tx.sweeps().map(\.id))
        for sweep in sweeps ?? [] where !haveSweeps.contains(sweep.id) {
            guard let snapshot = BlobID(hex: sweep.snapshot) else { throw CatalogError.malformedBundle("sweep \(sweep.id)") }
            try tx.insertSweep(SweepRow(id: sweep.id, dataRef: sweep.dataRef, snapshotID: snapshot,
                                        createdAt: Date(timeIntervalSince1970: sweep.createdAt), record: sweep.record))
            counts.sweeps += 1
        }
        return counts
    }
}
