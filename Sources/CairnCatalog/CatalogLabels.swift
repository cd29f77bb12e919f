import CairnStore
import Foundation

/// The two append-only label histories of an item.
public enum LabelHistory: String, Sendable, CaseIterable {
    /// What annotators said (a skip is an annotation without a label).
    case annotations
    /// What reviewers decided; the latest verdict wins over annotators (`LabelPolicy`).
    case verdicts
}

/// What a read transaction offers of `CatalogLabels`.
public protocol CatalogLabelsReading {
    /// `annotatorID`'s latest annotation of `itemID` in the label order, among those whose stamp
    /// orders before `before` when given: nil when none, `.some(nil)` for a skip.
    func latestAnnotation(itemID: Int64, annotatorID: Int64, before: Data?) throws -> Label??
    /// An item's annotations or verdicts, oldest first in the label order (`annotator` is who gave each).
    func labels(_ history: LabelHistory, itemID: Int64) throws -> [Annotation]
    /// Number of annotations.
    func annotationCount() throws -> Int
    /// What each person who ever labeled or holds a lease has done, by annotator id (names and
    /// roles left blank: `teamActivity` fills them): labels and verdicts in all and since `since`,
    /// the latest of either, and the leases unexpired at `now` by host.
    func activity(since: Date, now: Date) throws -> [Int64: PersonActivity]
    /// Streams the current state of the items `ids` names (every item when nil) as snapshots
    /// record it, in item id order, with each item's catalog id. Without `boxes` the records carry
    /// none (`boxes` nil), for readers of labels alone: box sets are most of a detection catalog.
    ///
    /// - Complexity: O(items + their labels), memory O(1) per item.
    func forEachItemRecord(ids: [Int64]?, includingRemoved: Bool, boxes: Bool, _ body: (Int64, ItemRecord) throws -> Void) throws
}

/// Label history, and each item's current state as snapshots record it.
public protocol CatalogLabels: CatalogLabelsReading {
    /// Appends a label given by `personID` to `itemID`'s history: a set of classes (one, or any
    /// number in multi-label work), nil for a skip (annotations only). `stamp` is the row's place
    /// in the label order (`LabelOrder`); nil makes it from `time` and the label, a stamp made
    /// elsewhere (a merged row) is kept as given. `suggestion` (annotations only) is what a model
    /// showed while the label was given.
    func appendLabel(_ history: LabelHistory, itemID: Int64, personID: Int64, classIDs: [Int64]?, at time: Date, stamp: Data?,
                     suggestion: SuggestionShown?) throws
    /// `appendLabel(.annotations, …)` of each of `rows` in order, stamped from their times (import's
    /// batches; no suggestions), in as few round trips as the backend can.
    func appendAnnotations(_ rows: [NewAnnotation]) throws
}

/// What one person has done and holds now (`cairn status --team`).
public struct PersonActivity: Sendable, Hashable, Codable {
    public var name = ""
    public var role: Role?
    /// Annotations given (skips included), in all and since the window's start.
    public var annotations = 0
    public var recentAnnotations = 0
    /// Verdicts given, in all and since the window's start.
    public var verdicts = 0
    public var recentVerdicts = 0
    /// The time of their latest annotation or verdict.
    public var lastActive: Date?
    /// Items they hold now (unexpired leases), by the machine holding them.
    public var leases: [String: Int] = [:]

    public init() {}

    /// Adds one grouped row of a history: `count` labels, `recent` of them in the window, the latest at `last`.
    public mutating func add(_ history: LabelHistory, count: Int, recent: Int, last: Double?) {
        switch history {
        case .annotations: (annotations, recentAnnotations) = (annotations + count, recentAnnotations + recent)
        case .verdicts: (verdicts, recentVerdicts) = (verdicts + count, recentVerdicts + recent)
        }
        if let last { lastActive = max(lastActive ?? .distantPast, Date(timeIntervalSince1970: last)) }
    }
}

extension CatalogReadTransaction {
    /// Everyone's progress: each person who labeled, reviewed or holds a lease, most recently active first.
    public func teamActivity(since: Date, now: Date = Date()) throws -> [PersonActivity] {
        let counts = try activity(since: since, now: now)
        return try annotators().compactMap { person -> PersonActivity? in
            guard var row = counts[person.id] else { return nil }
            (row.name, row.role) = (person.name, person.role)
            return row
        }.sorted { ($0.lastActive ?? .distantPast, $1.name) > ($1.lastActive ?? .distantPast, $0.name) }
    }
}

/// One annotation to append (`CatalogLabels.appendAnnotations`): nil `classIDs` is a skip.
public struct NewAnnotation: Sendable, Hashable {
    public var itemID: Int64
    public var personID: Int64
    public var classIDs: [Int64]?
    public var at: Date

    public init(itemID: Int64, personID: Int64, classIDs: [Int64]?, at: Date) {
        (self.itemID, self.personID, self.classIDs, self.at) = (itemID, personID, classIDs, at)
    }
}

extension CatalogLabels {
    /// One statement per row: what a backend whose statements cost no round trip (SQLite) needs.
    public func appendAnnotations(_ rows: [NewAnnotation]) throws {
        for row in rows {
            try appendLabel(.annotations, itemID: row.itemID, personID: row.personID, classIDs: row.classIDs, at: row.at, stamp: nil,
                            suggestion: nil)
        }
    }
}

extension CatalogLabelsReading {
    /// The current records of the items in the working state that `ids` names (all when nil).
    public func forEachItemRecord(ids: [Int64]?, _ body: (Int64, ItemRecord) throws -> Void) throws {
        try forEachItemRecord(ids: ids, includingRemoved: false, boxes: true, body)
    }

    /// The records of the items `ids` names, boxes included.
    public func forEachItemRecord(ids: [Int64]?, includingRemoved: Bool, _ body: (Int64, ItemRecord) throws -> Void) throws {
        try forEachItemRecord(ids: ids, includingRemoved: includingRemoved, boxes: true, body)
    }
}

extension CatalogLabels {
    /// Appends an annotation (nil `classIDs` = a skip) made now or at `time`, with the suggestions
    /// a model showed while it was made, if any.
    public func appendAnnotation(itemID: Int64, annotatorID: Int64, classIDs: [Int64]?, at time: Date = Date(),
                                 suggestion: SuggestionShown? = nil) throws {
        try appendLabel(.annotations, itemID: itemID, personID: annotatorID, classIDs: classIDs, at: time, stamp: nil, suggestion: suggestion)
    }

    /// Appends `personID`'s label of `classes` (nil = a skip) to `itemID`'s history and returns its
    /// stamp, made from the classes' names as the caller holds them: the backend looks up no names
    /// (one round trip fewer per save on a networked catalog). A class renamed meanwhile keeps the
    /// old name in the stamp's tie-break; the stamp is made once and travels with the row, so every
    /// replica still orders the row the same way.
    @discardableResult
    public func appendLabel(_ history: LabelHistory, itemID: Int64, personID: Int64, classes: [LabelClass]?, at time: Date = Date(),
                            suggestion: SuggestionShown? = nil) throws -> Data {
        let stamp = LabelOrder.stamp(at: time.timeIntervalSince1970, label: classes.map { Label($0.map(\.name)) })
        try appendLabel(history, itemID: itemID, personID: personID, classIDs: classes.map { $0.map(\.id) }, at: time, stamp: stamp,
                        suggestion: suggestion)
        return stamp
    }

    /// Records `reviewer`'s verdict, a set of classes, made now or at `time`.
    /// - Throws: `CatalogError.notAReviewer` unless the reviewer's role records verdicts.
    public func appendVerdict(itemID: Int64, reviewer: Annotator, classIDs: [Int64], at time: Date = Date()) throws {
        try reviewer.checkMayReview()
        try appendLabel(.verdicts, itemID: itemID, personID: reviewer.id, classIDs: classIDs, at: time, stamp: nil, suggestion: nil)
    }

    /// `appendVerdict` of classes the caller holds, stamped from their names (as `appendLabel(_:itemID:personID:classes:)`); returns the stamp.
    /// - Throws: `CatalogError.notAReviewer` unless the reviewer's role records verdicts.
    @discardableResult
    public func appendVerdict(itemID: Int64, reviewer: Annotator, classes: [LabelClass], at time: Date = Date()) throws -> Data {
        try reviewer.checkMayReview()
        return try appendLabel(.verdicts, itemID: itemID, personID: reviewer.id, classes: classes, at: time)
    }
}

extension CatalogLabelsReading {
    /// `annotatorID`'s latest annotation of `itemID` in the label order: nil when none, `.some(nil)` for a skip.
    public func latestAnnotation(itemID: Int64, annotatorID: Int64) throws -> Label?? {
        try latestAnnotation(itemID: itemID, annotatorID: annotatorID, before: nil)
    }

    /// `annotatorID`'s latest label of `itemID`; nil when none or a skip.
    public func latestLabel(itemID: Int64, annotatorID: Int64) throws -> Label? {
        try latestAnnotation(itemID: itemID, annotatorID: annotatorID) ?? nil
    }

    /// An item's annotations, oldest first in the label order.
    public func history(itemID: Int64) throws -> [Annotation] { try labels(.annotations, itemID: itemID) }

    /// An item's verdicts, oldest first in the label order (`annotator` is the reviewer).
    public func verdicts(itemID: Int64) throws -> [Annotation] { try labels(.verdicts, itemID: itemID) }

    /// Every item's resolved label under `LabelPolicy` (verdicts included), by catalog id.
    public func resolvedLabels() throws -> [Int64: ResolvedLabel] {
        var out: [Int64: ResolvedLabel] = [:]
        try forEachItemRecord(ids: nil, includingRemoved: false, boxes: false) { out[$0] = $1.resolved }
        return out
    }

    /// The current records of the items `ids` names (every item when nil), by catalog id.
    public func itemRecords(ids: [Int64]? = nil) throws -> [Int64: ItemRecord] {
        var out: [Int64: ItemRecord] = [:]
        try forEachItemRecord(ids: ids) { out[$0] = $1 }
        return out
    }

    /// One item's current record.
    public func itemRecord(id: Int64) throws -> ItemRecord? { try itemRecords(ids: [id])[id] }
}

extension CatalogTransaction {
    /// Labels `itemID` as `label` (nil = skip) for `annotator`, creating the annotator and classes if missing.
    public func annotate(itemID: Int64, label: Label?, annotator: String) throws {
        let who = try ensureAnnotator(annotator)
        try appendAnnotation(itemID: itemID, annotatorID: who.id, classIDs: try label.map(ensureClasses))
    }
}
