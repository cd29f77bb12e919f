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

    /// True for the queues whose keys record reviewer verdicts.
    public var isReview: Bool { self == .review || self == .disagreements }

    /// True when labeling an item takes it out of the queue (not for `all` and `mine`).
    public var labelsLeaveIt: Bool { self != .all && self != .mine }
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

    public init(_ queue: LabelQueue, filter: QueueFilter = QueueFilter(), annotatorID: Int64, overlap: Int = 1) {
        (self.queue, self.filter, self.annotatorID, self.overlap) = (queue, filter, annotatorID, overlap)
    }
}

/// Queues and the leases that keep two annotators off the same item.
public protocol CatalogLeases {
    /// The first item after `after` (item id order) that `queue` offers as of `now`, without
    /// leasing it (a labeling UI renders it ahead; `leaseNext` decides).
    func nextItem(in queue: AnnotatorQueue, after: Int64, now: Date) throws -> Item?
    /// How many items `queue` offers as of `now`.
    func itemCount(in queue: AnnotatorQueue, now: Date) throws -> Int
    /// Holds item `itemID` for annotator `me` until `until`, releasing the holder's other leases.
    func lease(itemID: Int64, annotatorID me: Int64, host: String, pid: Int32, until: Date) throws
    /// Drops every lease of one labeling process.
    func releaseLeases(host: String, pid: Int32) throws
}

extension CatalogLeases {
    /// The first item after `after` that `queue` offers now.
    public func peekNext(in queue: AnnotatorQueue, after: Int64) throws -> Item? { try nextItem(in: queue, after: after, now: Date()) }

    /// How many items `queue` offers now.
    public func queueLength(_ queue: AnnotatorQueue) throws -> Int { try itemCount(in: queue, now: Date()) }

    /// Leases the first item after `after` (item id order) that `queue` offers, for `duration`
    /// seconds, and drops the holder's other leases. Nil when the queue is empty.
    ///
    /// Two processes calling this at once get different items: the write transaction serializes
    /// them, and the second sees the first's lease.
    public func leaseNext(in queue: AnnotatorQueue, after: Int64, host: String, pid: Int32, now: Date = Date(),
                          duration: TimeInterval = 120) throws -> Item? {
        guard let item = try nextItem(in: queue, after: after, now: now) else { return nil }
        try lease(itemID: item.id, annotatorID: queue.annotatorID, host: host, pid: pid, until: now.addingTimeInterval(duration))
        return item
    }
}
