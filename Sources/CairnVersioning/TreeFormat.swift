import CairnCatalog
import CairnStore
import Foundation

/// The byte encoding of snapshot tree objects (specified in Docs/FORMAT.md, with test vectors).
///
/// A snapshot is an 8-way trie over blob ids: a node holding at most `leafCapacity` items is a
/// leaf listing them; a larger one is an interior node with a child per value of the next 3 bits
/// of the ids. The shape depends only on the set of items, so the same content always gives the
/// same objects and ids, whatever the order of import.
public enum TreeFormat {
    /// Most items a leaf holds; a node with more splits on the next 3 bits of the ids.
    public static let leafCapacity = 16
    /// Children of an interior node (one per value of the next `digitBits` bits of the id).
    public static let fanout = 8
    public static let digitBits = 3
    /// Depth past which a node is always a leaf (all 256 bits consumed).
    public static let maxDepth = 86
    public static let version: UInt64 = 1

    /// Class names as a snapshot lists them: sorted by UTF-8 bytes, so the order classes were
    /// created in (which depends on import order) never changes a snapshot id.
    public static func canonicalOrder(_ names: [String]) -> [String] {
        names.sorted(by: utf8Precedes)
    }

    enum Kind: UInt8 {
        /// `leafWithBoxes` is a leaf in which some item has boxes: each item is followed by its box
        /// section. A leaf without boxes keeps kind 1, so snapshots without boxes keep their ids.
        case leaf = 1, interior = 2, root = 3, leafWithBoxes = 4
    }

    // MARK: Nodes

    /// A child pointer in an interior node.
    public struct Child: Sendable, Hashable {
        public var id: BlobID
        public var count: Int
    }

    /// A decoded tree object.
    public enum Node: Sendable, Hashable {
        case leaf([ItemRecord])
        /// `fanout` slots, one per digit; nil where no item's id has that digit.
        case interior([Child?])

        public var count: Int {
            switch self {
            case .leaf(let items): items.count
            case .interior(let children): children.reduce(0) { $0 + ($1?.count ?? 0) }
            }
        }
    }

    /// The root object, whose hash is the snapshot id.
    public struct Root: Sendable, Hashable {
        public var classes: [String]
        public var itemCount: Int
        public var items: BlobID?

        public init(classes: [String], itemCount: Int, items: BlobID?) {
            self.classes = classes
            self.itemCount = itemCount
            self.items = items
        }
    }

    // MARK: Encoding

    public static func encode(_ node: Node) -> Data {
        var w = ByteWriter()
        switch node {
        case .leaf(let items):
            let withBoxes = items.contains { $0.boxes != nil }
            w.byte(withBoxes ? Kind.leafWithBoxes.rawValue : Kind.leaf.rawValue)
            w.varint(UInt64(items.count))
            for item in items {
                encode(item, into: &w)
                if withBoxes { encodeBoxes(item.boxes, into: &w) }
            }
        case .interior(let children):
            w.byte(Kind.interior.rawValue)
            var bitmap: UInt8 = 0
            for (digit, child) in children.enumerated() where child != nil { bitmap |= 1 << UInt8(digit) }
            w.byte(bitmap)
            for child in children.compactMap({ $0 }) {
                w.id(child.id)
                w.varint(UInt64(child.count))
            }
        }
        return w.data
    }

    public static func encode(_ root: Root) -> Data {
        var w = ByteWriter()
        w.byte(Kind.root.rawValue)
        w.varint(version)
        w.varint(UInt64(root.classes.count))
        for name in root.classes { w.string(name) }
        w.varint(UInt64(root.itemCount))
        if let items = root.items {
            w.byte(1)
            w.id(items)
        } else {
            w.byte(0)
        }
        return w.data
    }

    /// The one record encoder (`ItemRecord` keeps its annotations sorted by annotator).
    static func encode(_ item: ItemRecord, into w: inout ByteWriter) {
        w.id(item.blobID)
        w.string(item.path)
        w.byte(item.format == "jpeg" ? 1 : 0)
        w.varint(UInt64(item.width))
        w.varint(UInt64(item.height))
        w.byte(item.split == .train ? 0 : item.split == .val ? 1 : 2)
        // A one-class label keeps the encoding it had before multi-label labels existed, so
        // single-label snapshots keep their ids; any other set is written as a list.
        switch item.resolved {
        case .unlabeled:
            w.byte(0)
        case .labeled(let label):
            if let name = label.single {
                w.byte(1)
                w.string(name)
            } else {
                w.byte(3)
                w.labelSet(label)
            }
        case .conflict(let labels):
            if labels.allSatisfy({ !$0.isMulti }) {
                w.byte(2)
                w.varint(UInt64(labels.count))
                for label in labels { w.string(label.classes[0]) }
            } else {
                w.byte(4)
                w.varint(UInt64(labels.count))
                for label in labels { w.labelSet(label) }
            }
        }
        w.varint(UInt64(item.annotations.count))
        for annotation in item.annotations {
            w.string(annotation.annotator)
            w.optionalLabel(annotation.label)
        }
        if let verdict = item.verdict {
            w.byte(verdict.label.isMulti ? 2 : 1)
            w.string(verdict.reviewer)
            w.label(verdict.label)
        } else {
            w.byte(0)
        }
    }

    /// An item's box section: 0 when it has none; else 1, each annotator's latest set (sorted by
    /// name), then 0, or 1 and the latest verdict's reviewer and set.
    static func encodeBoxes(_ record: BoxRecord?, into w: inout ByteWriter) {
        guard let record else { return w.byte(0) }
        w.byte(1)
        w.varint(UInt64(record.annotations.count))
        for entry in record.annotations {
            w.string(entry.person)
            w.boxSet(entry.boxes)
        }
        if let verdict = record.verdict {
            w.byte(1)
            w.string(verdict.person)
            w.boxSet(verdict.boxes)
        } else {
            w.byte(0)
        }
    }

    static func decodeBoxes(_ r: inout ByteReader, width: Int, height: Int) throws -> BoxRecord? {
        switch try r.byte() {
        case 0: return nil
        case 1: break
        default: throw r.corrupt("bad box section flag")
        }
        let count = try r.count(max: 1 << 20)
        var annotations: [PersonBoxes] = []
        for _ in 0..<count {
            let person = try r.string()
            if let last = annotations.last, !utf8Precedes(last.person, person) { throw r.corrupt("box annotators out of order") }
            annotations.append(PersonBoxes(person: person, boxes: try r.boxSet(width: width, height: height)))
        }
        var verdict: PersonBoxes?
        switch try r.byte() {
        case 0: break
        case 1: verdict = PersonBoxes(person: try r.string(), boxes: try r.boxSet(width: width, height: height))
        default: throw r.corrupt("bad box verdict flag")
        }
        guard !annotations.isEmpty || verdict != nil else { throw r.corrupt("an empty box section") }
        return BoxRecord(annotations: annotations, verdict: verdict)
    }

    // MARK: Decoding

    /// Decodes a leaf or interior node.
    /// - Throws: `VersioningError.corruptObject` for anything malformed.
    public static func decodeNode(_ data: Data, id: BlobID) throws -> Node {
        var r = ByteReader(data: data, id: id)
        let node: Node
        switch try r.byte() {
        case let kind where kind == Kind.leaf.rawValue || kind == Kind.leafWithBoxes.rawValue:
            let count = try r.count(max: data.count / 40 + 1)
            guard count >= 1, count <= leafCapacity else { throw r.corrupt("a leaf must hold 1 to \(leafCapacity) items, not \(count)") }
            var items: [ItemRecord] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                var item = try decodeItem(&r)
                if kind == Kind.leafWithBoxes.rawValue { item.boxes = try decodeBoxes(&r, width: item.width, height: item.height) }
                if let last = items.last, !(last.blobID < item.blobID) { throw r.corrupt("leaf items out of order") }
                items.append(item)
            }
            node = .leaf(items)
        case Kind.interior.rawValue:
            let bitmap = try r.byte()
            guard bitmap != 0 else { throw r.corrupt("interior node without children") }
            var children = [Child?](repeating: nil, count: fanout)
            for digit in 0..<fanout where bitmap & (1 << UInt8(digit)) != 0 {
                let child = Child(id: try r.id(), count: try r.count(max: Int(Int32.max)))
                guard child.count >= 1 else { throw r.corrupt("empty child") }
                children[digit] = child
            }
            node = .interior(children)
            guard node.count > leafCapacity else { throw r.corrupt("an interior node must hold more than \(leafCapacity) items") }
        default:
            throw r.corrupt("unknown node kind")
        }
        try r.end()
        // One content, one encoding, one id: anything this encoder would not have written is refused.
        guard encode(node) == data else { throw r.corrupt("non-canonical encoding") }
        return node
    }

    /// Decodes a root object.
    public static func decodeRoot(_ data: Data, id: BlobID) throws -> Root {
        var r = ByteReader(data: data, id: id)
        guard try r.byte() == Kind.root.rawValue else { throw r.corrupt("not a snapshot root") }
        let version = try r.varint()
        guard version == Self.version else {
            throw VersioningError.unsupportedVersion(id, version: version)
        }
        let classCount = try r.count(max: data.count)
        var classes: [String] = []
        for _ in 0..<classCount {
            let name = try r.string()
            if let last = classes.last, !utf8Precedes(last, name) { throw r.corrupt("classes out of order") }
            classes.append(name)
        }
        let itemCount = try r.count(max: Int(Int32.max))
        let hasItems = try r.byte()
        guard hasItems <= 1 else { throw r.corrupt("bad items flag") }
        let items = hasItems == 1 ? try r.id() : nil
        guard (items == nil) == (itemCount == 0) else { throw r.corrupt("item count does not match the items flag") }
        try r.end()
        let root = Root(classes: classes, itemCount: itemCount, items: items)
        guard encode(root) == data else { throw r.corrupt("non-canonical encoding") }
        return root
    }

    static func decodeItem(_ r: inout ByteReader) throws -> ItemRecord {
        let blobID = try r.id()
        let path = try r.string()
        let format: String
        switch try r.byte() {
        case 0: format = "png"
        case 1: format = "jpeg"
        default: throw r.corrupt("unknown image format")
        }
        let width = try r.count(max: Int(Int32.max)), height = try r.count(max: Int(Int32.max))
        let split: Split
        switch try r.byte() {
        case 0: split = .train
        case 1: split = .val
        case 2: split = .test
        default: throw r.corrupt("unknown split")
        }
        var label: Label? = nil
        var conflict: [Label] = []
        switch try r.byte() {
        case 0: break
        case 1: label = .one(try r.string())
        case 2:
            let n = try r.count(max: 1 << 16)
            for _ in 0..<n { conflict.append(.one(try r.string())) }
        case 3: label = try r.labelSet()
        case 4:
            let n = try r.count(max: 1 << 16)
            for _ in 0..<n { conflict.append(try r.labelSet()) }
        default: throw r.corrupt("unknown label kind")
        }
        let annotationCount = try r.count(max: 1 << 20)
        var annotations: [ItemRecord.AnnotatorLabel] = []
        for _ in 0..<annotationCount {
            let annotator = try r.string()
            if let last = annotations.last, !utf8Precedes(last.annotator, annotator) { throw r.corrupt("annotators out of order") }
            annotations.append(.init(annotator: annotator, label: try r.optionalLabel()))
        }
        var verdict: ItemRecord.Verdict? = nil
        switch try r.byte() {
        case 0: break
        case 1: verdict = .init(reviewer: try r.string(), label: .one(try r.string()))
        case 2: verdict = .init(reviewer: try r.string(), label: try r.labelSet())
        default: throw r.corrupt("bad verdict flag")
        }
        let record = ItemRecord(blobID: blobID, path: path, format: format, width: width, height: height, split: split,
                                annotations: annotations, verdict: verdict)
        guard record.label == label, record.conflict == conflict, record.annotations == annotations else {
            throw r.corrupt("item \(blobID) records a label its provenance does not resolve to")
        }
        return record
    }
}

/// Appends the primitive encodings: bytes, LEB128 varints, length-prefixed UTF-8, raw ids.
struct ByteWriter {
    var bytes: [UInt8] = []

    var data: Data { Data(bytes) }
    var count: Int { bytes.count }

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A set of classes other than one: their count, then each name.
    mutating func labelSet(_ label: Label) {
        varint(UInt64(label.classes.count))
        for name in label.classes { string(name) }
    }

    /// A label whose kind (one class or a set) was written before it.
    mutating func label(_ label: Label) {
        if let name = label.single { string(name) } else { labelSet(label) }
    }

    /// 0 for a skip, 1 and the name for one class, 2 and the set for any other label.
    mutating func optionalLabel(_ label: Label?) {
        guard let label else { return byte(0) }
        byte(label.isMulti ? 2 : 1)
        self.label(label)
    }

    /// A box set: its count, then each box in canonical order as its class, x, y, width and height
    /// (IEEE-754 doubles, 8 bytes big-endian each) and its flags byte.
    mutating func boxSet(_ set: BoxSet) {
        varint(UInt64(set.count))
        for box in set.boxes {
            string(box.className)
            for value in [box.x, box.y, box.width, box.height] {
                withUnsafeBytes(of: value.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
            }
            byte(box.flags)
        }
    }

    mutating func id(_ id: BlobID) {
        for word in [id.w0, id.w1, id.w2, id.w3] {
            withUnsafeBytes(of: word.bigEndian) { bytes.append(contentsOf: $0) }
        }
    }
}

/// Reads what `ByteWriter` writes, refusing anything out of bounds.
struct ByteReader {
    let data: Data
    let object: BlobID
    var offset: Int

    init(data: Data, id: BlobID) {
        self.data = data
        self.object = id
        self.offset = data.startIndex
    }

    func corrupt(_ reason: String) -> VersioningError { .corruptObject(object, reason: reason) }

    mutating func byte() throws -> UInt8 {
        guard offset < data.endIndex else { throw corrupt("truncated") }
        defer { offset += 1 }
        return data[offset]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw corrupt("varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                // Canonical encodings only: a trailing zero group means an overlong varint.
                guard b != 0 || shift == 0 else { throw corrupt("overlong varint") }
                return result
            }
            shift += 7
        }
    }

    /// A varint that must be at most `max`.
    mutating func count(max: Int) throws -> Int {
        let v = try varint()
        guard v <= UInt64(max) else { throw corrupt("count \(v) out of range") }
        return Int(v)
    }

    mutating func string() throws -> String {
        let length = try varint()
        // Compare after reading the length: the bytes left are counted from past the varint.
        guard length <= UInt64(data.endIndex - offset) else { throw corrupt("string runs past the end") }
        let bytes = data[offset..<offset + Int(length)]
        offset += Int(length)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw corrupt("string is not UTF-8") }
        return s
    }

    mutating func id() throws -> BlobID {
        guard data.endIndex - offset >= 32 else { throw corrupt("truncated id") }
        let value = data[offset..<offset + 32].withUnsafeBytes { BlobID(rawBytes: $0)! }
        offset += 32
        return value
    }

    /// What `ByteWriter.labelSet` writes (a non-canonical order is refused by the re-encoding check).
    mutating func labelSet() throws -> Label {
        let n = try count(max: 1 << 16)
        var names: [String] = []
        for _ in 0..<n { names.append(try string()) }
        return Label(names)
    }

    /// What `ByteWriter.boxSet` writes, each box checked against a `width` x `height` image (a
    /// non-canonical order is refused by the re-encoding check).
    mutating func boxSet(width: Int, height: Int) throws -> BoxSet {
        let n = try count(max: (data.endIndex - offset) / 34)
        var boxes: [Box] = []
        boxes.reserveCapacity(n)
        for _ in 0..<n {
            let name = try string()
            guard data.endIndex - offset >= 33 else { throw corrupt("truncated box") }
            let start = offset - data.startIndex
            let (x, y, w, h, flags) = data.withUnsafeBytes { bytes in
                func double(_ k: Int) -> Double {
                    Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: start + 8 * k, as: UInt64.self)))
                }
                return (double(0), double(1), double(2), double(3), bytes[start + 32])
            }
            offset += 33
            guard flags < 4 else { throw corrupt("unknown box flags \(flags)") }
            let box = Box(className: name, x: x, y: y, width: w, height: h, crowd: flags & 1 != 0, occluded: flags & 2 != 0)
            do { try box.check(imageWidth: width, imageHeight: height) } catch { throw corrupt("\(error)") }
            boxes.append(box)
        }
        // Out of order or repeated, the set re-encodes differently and the node is refused as non-canonical.
        return BoxSet(sorted: boxes)
    }

    /// What `ByteWriter.optionalLabel` writes.
    mutating func optionalLabel() throws -> Label? {
        switch try byte() {
        case 0: return nil
        case 1: return .one(try string())
        case 2: return try labelSet()
        default: throw corrupt("bad label flag")
        }
    }

    func end() throws {
        guard offset == data.endIndex else { throw corrupt("\(data.endIndex - offset) trailing bytes") }
    }
}
