import Foundation

/// Which items a labeling session is offered.
public enum LabelQueue: String, Sendable, Hashable, Codable, CaseIterable {
    /// Items that still need labels: fewer than `overlap` annotators have labeled them (or hold them).
    case unlabeled
    /// Every item, in order.
    case all
    /// Items this annotator has labeled (to look over their own work).
    case mine
    /// Labeled items without a reviewer verdict (reviewers only).
    case review
    /// Items whose annotators gave different labels, without a verdict (reviewers only).
    case disagreements
    /// Unlabeled items, the ones a model is least sure of first (served by a `QueuePlan`).
    case uncertain
    /// Items a confident-learning pass flagged as probably mislabeled, most suspicious first
    /// (reviewers only; served by a `QueuePlan`).
    case suspects

    /// True for the queues whose keys record reviewer verdicts.
    public var isReview: Bool { self == .review || self == .disagreements || self == .suspects }

    /// True when labeling an item takes it out of the queue (not for `all` and `mine`).
    public var labelsLeaveIt: Bool { self != .all && self != .mine }

    /// True for the queues served in a plan's order rather than by item id.
    public var needsPlan: Bool { self == .uncertain || self == .suspects }
}

/// The order a queue serves items in, when it is not item id order: the uncertainty queue (by a
/// model's margin, with randomly chosen items mixed in) and the suspects queue (by score). The
/// queue's own rule still decides whether an item is offered (an item labeled meanwhile is not).
public struct QueuePlan: Sendable {
    /// What the plan knows about an item.
    public struct Note: Sendable, Hashable, Codable {
        /// Top-1 minus top-2 probability (uncertainty queue).
        public var margin: Double?
        /// Mixed in at random, to measure the gain over random order (uncertainty queue).
        public var explore = false
        /// A suspect's given label, the suggested fix, and its score (suspects queue).
        public var given: String?
        public var suggested: String?
        public var score: Double?

        public init(margin: Double? = nil, explore: Bool = false, given: String? = nil, suggested: String? = nil, score: Double? = nil) {
            (self.margin, self.explore, self.given, self.suggested, self.score) = (margin, explore, given, suggested, score)
        }
    }

    public var items: [Int64]
    public var notes: [Int64: Note]
    /// Where the plan came from, for the status line ("run 1a2b3c", "suspects of 9f8e…").
    public var source: String

    public init(items: [Int64], notes: [Int64: Note] = [:], source: String) {
        (self.items, self.notes, self.source) = (items, notes, source)
    }
}

/// Narrows a queue to one split and/or to items someone currently labels with a class (alone or in a set).
public struct QueueFilter: Sendable, Hashable {
    public var split: Split?
    public var className: String?

    public init(split: Split? = nil, className: String? = nil) {
        self.split = split
        self.className = className
    }
}

/// One annotator's view of a queue: which items it offers them, with how many annotators each
/// item should get (`overlap`). Leases held by others count as labels on the way.
public struct AnnotatorQueue: Sendable, Hashable {
    public var queue: LabelQueue
    public var filter: QueueFilter
    public var annotatorID: Int64
    public var overlap: Int
    /// Which labels the queue is about: class labels, or box sets (`cairn label --boxes`). A box
    /// queue reads the box histories: "unlabeled" is "no box set from you", "review" is "box sets
    /// without a box verdict", "disagreements" is "annotators' latest sets differ".
    public var kind: LabelKind

    public init(_ queue: LabelQueue, filter: QueueFilter = QueueFilter(), annotatorID: Int64, overlap: Int = 1, kind: LabelKind = .classes) {
        (self.queue, self.filter, self.annotatorID, self.overlap, self.kind) = (queue, filter, annotatorID, overlap, kind)
    }
}

/// The two kinds of label an item takes: image-level classes, and boxes.
public enum LabelKind: String, Sendable, Hashable {
    case classes, boxes
}

/// What a read transaction offers of `CatalogLeases`.
public protocol CatalogLeasesReading {
    /// The first item after `after` (item id order) that `queue` offers as of `now`, without
    /// leasing it (a labeling UI renders it ahead; `leaseNext` decides).
    func nextItem(in queue: AnnotatorQueue, after: Int64, now: Date) throws -> Item?
    /// How many items `queue` offers as of `now`.
    func itemCount(in queue: AnnotatorQueue, now: Date) throws -> Int
    /// Which of `ids` (at most `offeredBatch` of them) `queue` offers as of `now`.
    func offered(_ ids: [Int64], in queue: AnnotatorQueue, now: Date) throws -> Set<Int64>
}

/// Queues and the leases that keep two annotators off the same item.
public protocol CatalogLeases: CatalogLeasesReading {
    /// Holds item `itemID` for annotator `me` until `until`, releasing the holder's other leases.
    func lease(itemID: Int64, annotatorID me: Int64, host: String, pid: Int32, until: Date) throws
    /// Drops every lease of one labeling process.
    func releaseLeases(host: String, pid: Int32) throws
    /// `leaseNext` whose answer may arrive with the transaction's commit: a networked backend sends
    /// the choice and the lease as one statement and reads its answer with COMMIT's, so a labeling
    /// save waits once. Read it after the transaction returns (inside, `value()` waits for it).
    func leaseNextLater(in queue: AnnotatorQueue, after: Int64, host: String, pid: Int32, now: Date, until: Date) throws -> Later<Item?>
}

/// A value a write transaction makes that a networked backend may only know once the transaction
/// commits (`CatalogLeases.leaseNextLater`).
public struct Later<T: Sendable>: Sendable {
    private let read: @Sendable () throws -> T
    public init(_ read: @escaping @Sendable () throws -> T) { self.read = read }
    public init(value: T) { read = { value } }
    public func value() throws -> T { try read() }
}

extension CatalogLeasesReading {
    /// How many ids one `offered` call takes (SQLite binds each as a statement variable).
    public static var offeredBatch: Int { 256 }

    /// The position in `candidates` of the first item `queue` offers as of `now` (their order, not id order).
    public func firstOffered(_ candidates: ArraySlice<Int64>, in queue: AnnotatorQueue, now: Date) throws -> Int? {
        var start = candidates.startIndex
        while start < candidates.endIndex {
            let chunk = candidates[start..<min(start + Self.offeredBatch, candidates.endIndex)]
            let offered = try offered(Array(chunk), in: queue, now: now)
            if let hit = chunk.indices.first(where: { offered.contains(candidates[$0]) }) { return hit }
            start = chunk.endIndex
        }
        return nil
    }

    /// How many of `candidates` `queue` offers as of `now`.
    public func countOffered(_ candidates: ArraySlice<Int64>, in queue: AnnotatorQueue, now: Date) throws -> Int {
        try stride(from: candidates.startIndex, to: candidates.endIndex, by: Self.offeredBatch).reduce(0) { count, start in
            count + (try offered(Array(candidates[start..<min(start + Self.offeredBatch, candidates.endIndex)]), in: queue, now: now).count)
        }
    }
}

extension CatalogTransaction {
    /// Leases the first of `candidates` that `queue` offers, as `leaseNext` does; returns it and its position.
    public func leaseFirst(of candidates: ArraySlice<Int64>, in queue: AnnotatorQueue, host: String, pid: Int32, now: Date = Date(),
                           duration: TimeInterval = 120) throws -> (item: Item, position: Int)? {
        guard let position = try firstOffered(candidates, in: queue, now: now), let item = try item(id: candidates[position]) else { return nil }
        try lease(itemID: item.id, annotatorID: queue.annotatorID, host: host, pid: pid, until: now.addingTimeInterval(duration))
        return (item, position)
    }
}

extension CatalogReadTransaction {
    /// The first of `candidates` that `queue` offers now, and its position.
    public func peekFirst(of candidates: ArraySlice<Int64>, in queue: AnnotatorQueue) throws -> (item: Item, position: Int)? {
        guard let position = try firstOffered(candidates, in: queue, now: Date()), let item = try item(id: candidates[position]) else { return nil }
        return (item, position)
    }
}

extension CatalogLeasesReading {
    /// The first item after `after` that `queue` offers now.
    public func peekNext(in queue: AnnotatorQueue, after: Int64) throws -> Item? { try nextItem(in: queue, after: after, now: Date()) }

    /// How many items `queue` offers now.
    public func queueLength(_ queue: AnnotatorQueue) throws -> Int { try itemCount(in: queue, now: Date()) }
}

extension CatalogLeases {
    /// Leases the first item after `after` (item id order) that `queue` offers, for `duration`
    /// seconds, and drops the holder's other leases. Nil when the queue is empty.
    ///
    /// Two processes calling this at once get different items: the write transaction serializes
    /// them, and the second sees the first's lease.
    public func leaseNext(in queue: AnnotatorQueue, after: Int64, host: String, pid: Int32, now: Date = Date(),
                          duration: TimeInterval = 120) throws -> Item? {
        try leaseNextLater(in: queue, after: after, host: host, pid: pid, now: now, until: now.addingTimeInterval(duration)).value()
    }

    /// The choice, then the lease, each answered at once (a local backend).
    public func leaseNextLater(in queue: AnnotatorQueue, after: Int64, host: String, pid: Int32, now: Date, until: Date) throws -> Later<Item?> {
        guard let item = try nextItem(in: queue, after: after, now: now) else { return Later(value: nil) }
        try lease(itemID: item.id, annotatorID: queue.annotatorID, host: host, pid: pid, until: until)
        return Later(value: item)
    }
}
