import CairnStore
import Foundation

/// What a read transaction offers of `CatalogBoxes`.
public protocol CatalogBoxesReading {
    /// An item's box sets by annotators (`.annotations`) or reviewers (`.verdicts`), oldest first
    /// in the label order, as stored (`BoxCoding`), with who gave each and when.
    func storedBoxLabels(_ history: LabelHistory, itemID: Int64) throws -> [StoredBoxLabel]
    /// Every box label of both histories, by item blob id then label order: what catalog bundles carry.
    func storedBoxEvents() throws -> [StoredBoxEvent]
    /// Number of box labels (sets, not boxes) in both histories.
    func boxLabelCount() throws -> Int
}

/// The box histories: each annotator's and each reviewer's box sets for an item, append-only, as
/// class labels are (`CatalogLabels`). Items' records (`forEachItemRecord`) carry their boxes.
public protocol CatalogBoxes: CatalogBoxesReading {
    /// Appends a box set already checked and encoded (`BoxCoding.encode`) with its stamp; use
    /// `appendBoxes(_:item:personID:boxes:classes:at:stamp:)`, which checks and encodes.
    func appendStoredBoxes(_ history: LabelHistory, itemID: Int64, personID: Int64, encoded: Data, at time: Date, stamp: Data,
                           suggestion: BoxSuggestionShown?) throws
}

/// A box label as a backend stores it: the set encoded with class ids (`BoxCoding`).
public struct StoredBoxLabel: Sendable, Hashable {
    public var person: String
    public var encoded: Data
    public var createdAt: Date
    public var stamp: Data
    public var suggestion: BoxSuggestionShown?
    public init(person: String, encoded: Data, createdAt: Date, stamp: Data, suggestion: BoxSuggestionShown? = nil) {
        (self.person, self.encoded, self.createdAt, self.stamp, self.suggestion) = (person, encoded, createdAt, stamp, suggestion)
    }
}

/// A stored box label with its item and history, for bundles.
public struct StoredBoxEvent: Sendable, Hashable {
    public var item: BlobID
    public var history: LabelHistory
    public var label: StoredBoxLabel
    public init(item: BlobID, history: LabelHistory, label: StoredBoxLabel) { (self.item, self.history, self.label) = (item, history, label) }
}

/// The catalog's encoding of a box set, with class ids (so a renamed class renames its boxes):
/// a varint count, then per box in the set's order a varint class id, x, y, width and height as
/// IEEE-754 doubles (8 bytes little-endian each), and the flags byte. Backends store the bytes as
/// they are; only this type reads them.
public enum BoxCoding {
    /// Bytes per box past its class id.
    static let geometryBytes = 33

    public static func encode(_ set: BoxSet, classIDs: [String: Int64]) throws -> Data {
        var out = Data(capacity: 1 + set.count * (geometryBytes + 2))
        appendVarint(UInt64(set.count), to: &out)
        for box in set.boxes {
            guard let id = classIDs[box.className] else { throw CatalogError.unknownClass(box.className) }
            appendVarint(UInt64(id), to: &out)
            for value in [box.x, box.y, box.width, box.height] {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
            out.append(box.flags)
        }
        return out
    }

    /// The set `encode` wrote, its class ids named by `classNames`.
    /// - Throws: `CatalogError.corrupt` for bytes `encode` would not have written.
    public static func decode(_ data: Data, classNames: [Int64: String]) throws -> BoxSet {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws -> BoxSet in
            var offset = 0
            func varint() throws -> UInt64 {
                var value: UInt64 = 0, shift: UInt64 = 0
                while true {
                    guard offset < bytes.count, shift < 64 else { throw CatalogError.corrupt("a stored box set is truncated") }
                    let byte = bytes[offset]
                    offset += 1
                    value |= UInt64(byte & 0x7F) << shift
                    if byte & 0x80 == 0 { return value }
                    shift += 7
                }
            }
            let count = try varint()
            guard count <= UInt64(bytes.count / geometryBytes) else { throw CatalogError.corrupt("a stored box set counts more boxes than it holds") }
            var boxes: [Box] = []
            boxes.reserveCapacity(Int(count))
            for _ in 0..<count {
                let id = try varint()
                guard let name = classNames[Int64(truncatingIfNeeded: id)] else { throw CatalogError.corrupt("a stored box names class id \(id), which does not exist") }
                guard bytes.count - offset >= geometryBytes else { throw CatalogError.corrupt("a stored box set is truncated") }
                func double(_ k: Int) -> Double { Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8 * k, as: UInt64.self))) }
                let flags = bytes[offset + 32]
                guard flags < 4 else { throw CatalogError.corrupt("a stored box has unknown flags \(flags)") }
                boxes.append(Box(className: name, x: double(0), y: double(1), width: double(2), height: double(3), crowd: flags & 1 != 0, occluded: flags & 2 != 0))
                offset += geometryBytes
            }
            guard offset == bytes.count else { throw CatalogError.corrupt("a stored box set has trailing bytes") }
            // Written from a set, so already in order, each box once; checked in one pass (a renamed class can reorder them).
            return BoxSet(sorted: boxes)
        }
    }

    private static func appendVarint(_ value: UInt64, to out: inout Data) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

extension CatalogBoxes {
    /// Appends `personID`'s box set for `item` to the annotators' or the reviewers' history and
    /// returns its stamp. Every box is checked against the item's size, and every class must be
    /// one of the current `classes` (by name); `stamp` is kept when given (a merged row).
    /// `suggestion` records what a model suggested while the set was drawn (checked too).
    /// - Throws: `CatalogError.invalidBox`, `.unknownClass`, `.invalidBoxSuggestion`.
    @discardableResult
    public func appendBoxes(_ history: LabelHistory, item: Item, personID: Int64, boxes: BoxSet, classes: [String: LabelClass],
                            at time: Date = Date(), stamp: Data? = nil, suggestion: BoxSuggestionShown? = nil) throws -> Data {
        try appendBoxes(history, itemID: item.id, width: item.width, height: item.height, personID: personID, boxes: boxes,
                        classIDs: classes.mapValues(\.id), at: time, stamp: stamp, suggestion: suggestion)
    }

    /// `appendBoxes` for an item of `width` x `height` pixels, classes named by id (removed classes
    /// included when history names them: a merged row).
    @discardableResult
    public func appendBoxes(_ history: LabelHistory, itemID: Int64, width: Int, height: Int, personID: Int64, boxes: BoxSet,
                            classIDs: [String: Int64], at time: Date, stamp: Data?, suggestion: BoxSuggestionShown? = nil) throws -> Data {
        for box in boxes.boxes { try box.check(imageWidth: width, imageHeight: height) }
        try suggestion?.check()
        let stamp = stamp ?? LabelOrder.stamp(at: time.timeIntervalSince1970, text: boxes.canonicalText)
        try appendStoredBoxes(history, itemID: itemID, personID: personID, encoded: try BoxCoding.encode(boxes, classIDs: classIDs), at: time,
                              stamp: stamp, suggestion: suggestion)
        return stamp
    }
}

extension CatalogBoxes {
    /// Records `reviewer`'s box verdict for `item` (checked as `appendBoxes` checks).
    /// - Throws: `CatalogError.notAReviewer` unless the reviewer's role records verdicts.
    @discardableResult
    public func appendBoxVerdict(item: Item, reviewer: Annotator, boxes: BoxSet, classes: [String: LabelClass], at time: Date = Date(),
                                 suggestion: BoxSuggestionShown? = nil) throws -> Data {
        try reviewer.checkMayReview()
        return try appendBoxes(.verdicts, item: item, personID: reviewer.id, boxes: boxes, classes: classes, at: time, suggestion: suggestion)
    }
}

extension CatalogBoxesReading where Self: CatalogClassesReading {
    /// An item's box history (`.annotations`) or box verdicts, oldest first, decoded.
    public func boxLabels(_ history: LabelHistory, itemID: Int64) throws -> [BoxLabel] {
        let names = try classNamesByID()
        return try storedBoxLabels(history, itemID: itemID).map {
            BoxLabel(person: $0.person, boxes: try BoxCoding.decode($0.encoded, classNames: names), createdAt: $0.createdAt,
                     suggestion: $0.suggestion)
        }
    }

    /// Every class's name by id, removed classes included (old box sets may name them).
    public func classNamesByID() throws -> [Int64: String] {
        Dictionary(uniqueKeysWithValues: try (classes() + removedClasses()).map { ($0.id, $0.name) })
    }
}

/// Merges two streams in item id order — each annotator's latest box set per item, each item's
/// latest verdict — into the item record scans of the backends.
public struct BoxScan {
    public typealias Entry = (item: Int64, boxes: PersonBoxes)
    private let nextAnnotation: () throws -> Entry?
    private let nextVerdict: () throws -> Entry?
    private var annotation: Entry?
    private var verdict: Entry?
    private var started = false

    public init(next: @escaping () throws -> Entry?, nextVerdict: @escaping () throws -> Entry?) {
        (self.nextAnnotation, self.nextVerdict) = (next, nextVerdict)
    }

    /// The box record of `itemID` (nil when it has no box labels); call with rising ids.
    public mutating func record(for itemID: Int64) throws -> BoxRecord? {
        if !started { (annotation, verdict, started) = (try nextAnnotation(), try nextVerdict(), true) }
        var sets: [PersonBoxes] = []
        var decided: PersonBoxes?
        while let next = annotation, next.item <= itemID {
            if next.item == itemID { sets.append(next.boxes) }
            annotation = try nextAnnotation()
        }
        while let next = verdict, next.item <= itemID {
            if next.item == itemID { decided = next.boxes }
            verdict = try nextVerdict()
        }
        return sets.isEmpty && decided == nil ? nil : BoxRecord(annotations: sets, verdict: decided)
    }
}
