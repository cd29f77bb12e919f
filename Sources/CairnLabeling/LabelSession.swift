import CairnCatalog
import CairnStore
import Foundation

/// One annotator's labeling session: which item is current, what a key does to the catalog, and
/// the undo history. The terminal UI drives it; tests drive it directly.
///
/// A label is a set of classes: one per key in single-label work, any number (none included) in
/// multi-label work. Every label is one committed catalog transaction before the call returns,
/// so nothing the UI showed as saved can be lost. Undo appends the annotator's previous label
/// again (history stays append-only); undoing a first label appends a skip, which leaves the item
/// unlabeled by them.
public final class LabelSession {
    public let catalog: any Catalog
    public let annotator: Annotator
    /// The queue as this annotator sees it.
    public let view: AnnotatorQueue
    public var queue: LabelQueue { view.queue }
    public private(set) var classes: [LabelClass] = []
    /// The item on screen, nil when the queue is exhausted.
    public private(set) var current: Item?
    /// Labels set in this session (undo subtracts).
    public private(set) var labeled = 0
    /// True while the item on screen is one an undo brought back: its undo left it with a skip, so
    /// the queue no longer counts it, yet it is still to label (the queue's total counts it here).
    public private(set) var showingUndone = false
    /// Items an undo brought back that another undo moved past: served again before the queue.
    private var pendingUndone: [Item] = []
    /// Items to label that the queue does not count: those an undo brought back.
    public var undoneToLabel: Int { pendingUndone.count + (showingUndone ? 1 : 0) }
    /// Items this session's labels took out of the queue (an undone item, labeled again, was already out).
    public private(set) var queueExits = 0
    public let started = Date()
    private var visited: [Item] = []
    private var undoStack: [(item: Item, stamp: Data)] = []
    /// In item id order: the id after which to look next. In a plan's order: the position.
    private var cursor: Int64 = 0
    /// The order of a plan-served queue (uncertain, suspects), and where each item is in it.
    public private(set) var plan: QueuePlan?
    private var positions: [Int64: Int] = [:]
    private let host = ProcessInfo.processInfo.hostName
    private let pid = getpid()

    /// Opens a session for `annotatorName` (created as an annotator when new).
    /// - Throws: `LabelingError.invalidOverlap` for an overlap below 1, `.unknownClass` for a
    ///   filter naming no class, `CatalogError.notAReviewer` for a review queue opened by someone
    ///   who may not review.
    public init(catalog: any Catalog, annotator annotatorName: String, queue: LabelQueue = .unlabeled, filter: QueueFilter = QueueFilter(),
                overlap: Int = 1, plan: QueuePlan? = nil, kind: LabelKind = .classes) throws {
        guard overlap >= 1 else { throw LabelingError.invalidOverlap(overlap) }
        guard queue.needsPlan == (plan != nil) else { throw LabelingError.planMismatch(queue.rawValue) }
        self.plan = plan
        positions = Dictionary(plan?.items.enumerated().map { ($1, $0) } ?? [], uniquingKeysWith: { a, _ in a })
        self.catalog = catalog
        annotator = try catalog.write { try $0.ensureAnnotator(annotatorName) }
        if queue.isReview { try annotator.checkMayReview() }
        view = AnnotatorQueue(queue, filter: filter, annotatorID: annotator.id, overlap: overlap, kind: kind)
        classes = try catalog.read { try $0.classes() }
        if let name = filter.className, !classes.contains(where: { $0.name == name }) {
            throw LabelingError.unknownClass(name, classes: classes.map(\.name))
        }
        try advance()
    }

    /// Items still in the queue besides the current one.
    public func remaining() throws -> Int { try remainingCounter()() }

    /// `remaining()` as a function that may run on another thread (it reads the catalog only).
    public func remainingCounter() -> @Sendable () throws -> Int {
        let (catalog, view) = (self.catalog, self.view)
        if let plan {
            let rest = plan.items[min(Int(cursor), plan.items.count)...]
            return { try catalog.read { try $0.countOffered(rest, in: view, now: Date()) } }
        }
        return { try catalog.read { try $0.queueLength(view) } }
    }

    /// What the plan knows about the current item (its margin, or a suspect's fix).
    public var currentNote: QueuePlan.Note? { current.flatMap { plan?.notes[$0.id] } }

    /// Serves the queue in `plan`'s order from its start (a retrained model's order); the current
    /// item stays on screen.
    public func replacePlan(_ plan: QueuePlan) {
        guard self.plan != nil else { return }
        self.plan = plan
        positions = Dictionary(plan.items.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        cursor = 0
    }

    /// The item the next label or skip will most likely show (the queue's next one as of now;
    /// another annotator may take it first). The UI renders it ahead.
    public func peekNext() throws -> Item? {
        let view = self.view
        if let plan {
            let rest = plan.items[min(nextPosition, plan.items.count)...]
            return try catalog.read { try $0.peekFirst(of: rest, in: view)?.item }
        }
        var after = cursor
        if let current { after = max(after, current.id) }
        return try catalog.read { try $0.peekNext(in: view, after: after) }
    }

    /// Where in the plan the next item is looked for: after the current one.
    private var nextPosition: Int {
        var position = Int(cursor)
        if let current, let at = positions[current.id] { position = max(position, at + 1) }
        return position
    }

    /// This annotator's latest label on the current item (nil when none or skipped).
    public func currentLabel() throws -> Label? {
        guard let current else { return nil }
        return try catalog.read { try $0.latestLabel(itemID: current.id, annotatorID: annotator.id) }
    }

    /// Every annotator's latest label on the current item (what a reviewer decides between).
    public func currentLabels() throws -> [(annotator: String, label: Label?)] {
        guard let current else { return [] }
        let record = try catalog.read { try $0.itemRecord(id: current.id) }
        return (record?.annotations ?? []).map { ($0.annotator, $0.label) }
    }

    /// Labels the current item with one class and moves on, noting the suggestions shown, if any.
    public func label(_ labelClass: LabelClass, suggestion: SuggestionShown? = nil) throws { try label([labelClass], suggestion: suggestion) }

    /// In the suspects queue: records the suggested fix (`accept`) or the given label as the
    /// reviewer's verdict, and moves on. Either is one key: on nearly clean data most flags are
    /// false alarms.
    public func decide(accept: Bool) throws {
        guard let note = currentNote, let name = accept ? note.suggested : note.given,
              let labelClass = classes.first(where: { $0.name == name }) else { return }
        try label([labelClass])
    }

    /// Labels the current item with a set of classes (multi-label work; empty means no class
    /// applies) and moves on. In a review queue this records the verdict. The label and the next
    /// item's lease are one transaction: one durable commit per label.
    public func label(_ labelClasses: [LabelClass], suggestion: SuggestionShown? = nil) throws {
        guard let item = current else { return }
        let review = queue.isReview
        let me = annotator
        let wasUndone = showingUndone
        var stamp = Data()
        try advance { tx in
            stamp = review
                ? try tx.appendVerdict(itemID: item.id, reviewer: me, classes: labelClasses)
                : try tx.appendLabel(.annotations, itemID: item.id, personID: me.id, classes: labelClasses, suggestion: suggestion)
        }
        if !review { undoStack.append((item, stamp)) }
        if !wasUndone { queueExits += 1 }
        labeled += 1
    }

    /// The box sets on the current item, oldest first: each annotator's latest (`.annotations`) or
    /// each reviewer's latest verdict (`.verdicts`).
    public func currentBoxSets(_ history: LabelHistory) throws -> [PersonBoxes] {
        guard let current else { return [] }
        var latest: [String: BoxSet] = [:]
        var order: [String] = []
        for label in try catalog.read({ try $0.boxLabels(history, itemID: current.id) }) {
            if latest.updateValue(label.boxes, forKey: label.person) == nil { order.append(label.person) }
        }
        return order.map { PersonBoxes(person: $0, boxes: latest[$0]!) }
    }

    /// Saves `boxes` as this annotator's box set for the current item (a reviewer's box verdict in
    /// a review queue) and moves on; the empty set records that the image has no objects. One
    /// transaction with the next item's lease, as for class labels. `suggestion` is what a model
    /// suggested on the image, kept with the set as its provenance.
    /// - Throws: `CatalogError.invalidBox` for a box outside the image, `.unknownClass`.
    public func saveBoxes(_ boxes: BoxSet, suggestion: BoxSuggestionShown? = nil) throws {
        guard let item = current else { return }
        let (review, me, classes) = (queue.isReview, annotator, Dictionary(classes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }))
        let wasUndone = showingUndone
        try advance { tx in
            if review {
                try tx.appendBoxVerdict(item: item, reviewer: me, boxes: boxes, classes: classes, suggestion: suggestion)
            } else {
                try tx.appendBoxes(.annotations, item: item, personID: me.id, boxes: boxes, classes: classes, suggestion: suggestion)
            }
        }
        if !wasUndone { queueExits += 1 }
        labeled += 1
    }

    /// Moves on without labeling (the item stays in the queue for later sessions).
    public func skip() throws { try advance() }

    /// Goes back to the previous item of this session.
    public func back() throws {
        guard let previous = visited.popLast() else { return }
        if let current {
            if plan != nil, let at = positions[current.id] { cursor = Int64(min(Int(cursor), at)) } else { cursor = min(cursor, current.id - 1) }
        }
        try show(previous)
    }

    /// Takes back the last label of this session and shows its item again. False when there is nothing to undo.
    @discardableResult
    public func undo() throws -> Bool {
        // Verdicts cannot be taken back, only replaced: review queues keep no undo history.
        guard let (item, stamp) = undoStack.popLast() else { return false }
        try catalog.write { tx in
            // What this annotator said before the label taken back, in the label order.
            let previous = try tx.latestAnnotation(itemID: item.id, annotatorID: annotator.id, before: stamp)
            try tx.appendAnnotation(itemID: item.id, annotatorID: annotator.id, classIDs: try previous.flatMap { $0 }.map(tx.ensureClasses))
        }
        labeled -= 1
        if let current {
            if showingUndone { pendingUndone.append(current) } else { visited.append(current) }
        }
        try show(item)
        showingUndone = true
        return true
    }

    /// Releases this process's leases (call on every exit path; they also expire on their own).
    public func close() {
        try? catalog.write { try $0.releaseLeases(host: host, pid: pid) }
    }

    /// Keeps the current lease alive during a long look at one item.
    public func renew() throws {
        guard let current else { return }
        try catalog.write { try $0.lease(itemID: current.id, annotatorID: annotator.id, host: host, pid: pid, until: Date().addingTimeInterval(120)) }
    }

    private func show(_ item: Item) throws {
        current = item
        showingUndone = false
        try renew()
    }

    /// Moves to the next item of the queue, running `record` first in the same transaction (which
    /// may run twice: `Catalog.writeRepeatable`; `record` only writes to the catalog and notes a stamp).
    private func advance(recording record: (any CatalogTransaction) throws -> Void = { _ in }) throws {
        let (view, host, pid) = (self.view, self.host, self.pid)
        if let undone = pendingUndone.popLast() {  // an item an undo brought back comes before the queue
            try catalog.writeRepeatable { try record($0) }
            if let current { visited.append(current) }
            try show(undone)
            showingUndone = true
            return
        }
        if let plan {
            let from = min(nextPosition, plan.items.count)
            let next = try catalog.writeRepeatable { tx in
                try record(tx)
                return try tx.leaseFirst(of: plan.items[from...], in: view, host: host, pid: pid)
            }
            if let current { visited.append(current) }
            cursor = Int64(next.map { $0.position } ?? plan.items.count)
            current = next?.item
            showingUndone = false
            if current == nil { close() }
            return
        }
        var after = cursor
        if let current { after = max(after, current.id) }
        // The label and the next lease in one transaction that waits once on a networked catalog:
        // the lease's answer comes with COMMIT's.
        let now = Date()
        let next = try catalog.writeRepeatable { tx in
            try record(tx)
            return try tx.leaseNextLater(in: view, after: after, host: host, pid: pid, now: now, until: now.addingTimeInterval(120))
        }.value()
        if let current { visited.append(current) }
        cursor = after
        current = next
        showingUndone = false
        if current == nil { close() }
    }
}
