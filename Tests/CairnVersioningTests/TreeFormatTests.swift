import CairnCatalog
import CairnStore
import CairnTestSupport
@testable import CairnVersioning
import Foundation
import Testing

/// The items of the test vectors in Docs/FORMAT.md.
func vectorItems() -> [ItemRecord] {
    let a = ItemRecord(blobID: BlobID(hashing: Data("a".utf8)), path: "cats/a.png", format: "png", width: 8, height: 8,
                       split: .train, annotations: [.init(annotator: "import", label: "cat")], verdict: nil)
    let b = ItemRecord(blobID: BlobID(hashing: Data("b".utf8)), path: "dogs/b.jpg", format: "jpeg", width: 640, height: 480,
                       split: .val, annotations: [.init(annotator: "ada", label: "dog"), .init(annotator: "bob", label: "cat")],
                       verdict: .init(reviewer: "grace", label: "dog"))
    let c = ItemRecord(blobID: BlobID(hashing: Data("c".utf8)), path: "c.png", format: "png", width: 1, height: 2,
                       split: .test, annotations: [.init(annotator: "ada", label: nil)], verdict: nil)
    return [a, b, c].sorted { $0.blobID < $1.blobID }
}

/// The multi-label items of the test vectors: a conflict between a set and the empty set, and a
/// set decided by a multi-label verdict.
func multiLabelVectorItems() -> [ItemRecord] {
    let d = ItemRecord(blobID: BlobID(hashing: Data("d".utf8)), path: "d.png", format: "png", width: 2, height: 2, split: .train,
                       annotations: [.init(annotator: "ada", label: Label(["dog", "cat"])), .init(annotator: "bob", label: Label([String]()))],
                       verdict: nil)
    let e = ItemRecord(blobID: BlobID(hashing: Data("e".utf8)), path: "e.png", format: "png", width: 2, height: 2, split: .train,
                       annotations: [.init(annotator: "ada", label: "cat")], verdict: .init(reviewer: "grace", label: Label(["cat", "dog"])))
    return [d, e].sorted { $0.blobID < $1.blobID }
}

/// The box items of the test vectors: `f.png` with box sets by two annotators and a verdict, and
/// `g.png` without boxes in the same leaf.
func boxVectorItems() -> [ItemRecord] {
    let cat = Box(className: "cat", x: 1, y: 2, width: 3, height: 4)
    let boxes = BoxRecord(annotations: [PersonBoxes(person: "bob", boxes: BoxSet([cat])),
                                        PersonBoxes(person: "ada", boxes: BoxSet([cat, Box(className: "dog", x: 0, y: 0, width: 16, height: 12, crowd: true)]))],
                          verdict: PersonBoxes(person: "grace", boxes: BoxSet([Box(className: "cat", x: 1, y: 2, width: 3.5, height: 4, occluded: true)])))
    let f = ItemRecord(blobID: BlobID(hashing: Data("f".utf8)), path: "f.png", format: "png", width: 16, height: 12, split: .train,
                       annotations: [.init(annotator: "ada", label: "cat")], verdict: nil, boxes: boxes)
    let g = ItemRecord(blobID: BlobID(hashing: Data("g".utf8)), path: "g.png", format: "png", width: 2, height: 2, split: .val,
                       annotations: [], verdict: nil)
    return [f, g].sorted { $0.blobID < $1.blobID }
}

/// Fenced ```vectors blocks of Docs/FORMAT.md as name → hex.
func formatVectors() throws -> [String: String] {
    let text = try String(contentsOfFile: Fixtures.packageRoot + "/Docs/FORMAT.md", encoding: .utf8)
    var out: [String: String] = [:]
    var inBlock = false
    var name: String? = nil
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("```vectors") { inBlock = true; continue }
        if inBlock && line.hasPrefix("```") { inBlock = false; name = nil; continue }
        guard inBlock else { continue }
        if line.hasSuffix(":") && !line.hasPrefix(" ") {
            name = String(line.dropLast())
            out[name!] = ""
        } else if let name {
            out[name]! += line.trimmingCharacters(in: .whitespaces)
        }
    }
    return out
}

func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

@Suite struct TreeFormatTests {
    @Test func theTestVectorsInFORMATmdHold() throws {
        let vectors = try formatVectors()
        let items = vectorItems()
        let leaf = TreeFormat.encode(.leaf(items))
        let leafID = BlobID(hashing: leaf)
        let root = TreeFormat.encode(TreeFormat.Root(classes: ["cat", "dog"], itemCount: 3, items: leafID))
        let empty = TreeFormat.encode(TreeFormat.Root(classes: [], itemCount: 0, items: nil))
        #expect(vectors["leaf"] == hex(leaf), "leaf bytes: \(hex(leaf))")
        #expect(vectors["root"] == hex(root), "root bytes: \(hex(root))")
        #expect(vectors["snapshot id"] == BlobID(hashing: root).hex, "id: \(BlobID(hashing: root).hex)")
        #expect(vectors["empty snapshot id"] == BlobID(hashing: empty).hex, "empty id: \(BlobID(hashing: empty).hex)")
        let multi = TreeFormat.encode(.leaf(multiLabelVectorItems()))
        #expect(vectors["multi-label leaf"] == hex(multi), "multi-label leaf bytes: \(hex(multi))")
        let boxes = TreeFormat.encode(.leaf(boxVectorItems()))
        #expect(vectors["box leaf"] == hex(boxes), "box leaf bytes: \(hex(boxes))")
    }

    /// A leaf with boxes is kind 4 and reads back equal; a leaf without keeps kind 1 (and its id);
    /// boxes out of order, outside the image, repeated or with unknown flags are refused.
    @Test func boxRecordsRoundTripCanonically() throws {
        let items = boxVectorItems()
        let leaf = TreeFormat.encode(.leaf(items))
        #expect(leaf.first == 4)
        #expect(try TreeFormat.decodeNode(leaf, id: BlobID(hashing: leaf)) == .leaf(items))
        #expect(items[0].boxes?.resolved == BoxSet([Box(className: "cat", x: 1, y: 2, width: 3.5, height: 4, occluded: true)]))
        var plain = items
        for i in plain.indices { plain[i].boxes = nil }
        #expect(TreeFormat.encode(.leaf(plain)).first == 1)

        func leafWith(_ boxes: [Box], width: Int = 16) -> Data {
            var w = ByteWriter()
            w.byte(4)
            w.varint(1)
            var item = ItemRecord(blobID: BlobID(hashing: Data("h".utf8)), path: "h.png", format: "png", width: width, height: 12, split: .train,
                                  annotations: [], verdict: nil)
            item.boxes = nil
            TreeFormat.encode(item, into: &w)
            w.byte(1)
            w.varint(1)
            w.string("ada")
            // Written box by box, in the order given, as a careless or hostile writer might.
            w.varint(UInt64(boxes.count))
            for box in boxes {
                w.string(box.className)
                for v in [box.x, box.y, box.width, box.height] { withUnsafeBytes(of: v.bitPattern.bigEndian) { w.bytes.append(contentsOf: $0) } }
                w.byte(box.flags)
            }
            w.byte(0)
            return w.data
        }
        let a = Box(className: "cat", x: 1, y: 1, width: 2, height: 2), b = Box(className: "dog", x: 1, y: 1, width: 2, height: 2)
        let good = leafWith([a, b])
        #expect(try TreeFormat.decodeNode(good, id: BlobID(hashing: good)).count == 1)
        for bad in [leafWith([b, a]), leafWith([a, a]), leafWith([a], width: 2), leafWith([Box(className: "cat", x: .nan, y: 0, width: 1, height: 1)]),
                    leafWith([Box(className: "cat", x: 0, y: 0, width: -1, height: 1)])] {
            #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(bad, id: BlobID(hashing: bad)) }
        }
        var flags = good
        flags[flags.count - 2] = 7
        #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(flags, id: BlobID(hashing: flags)) }
    }

    /// Records in JSON (exports) write `label`; files from before multi-label support say
    /// `className`, and still read.
    @Test func exportRecordsReadTheOldFieldName() throws {
        let old = try JSONDecoder().decode(ItemRecord.AnnotatorLabel.self, from: Data(#"{"annotator":"ada","className":"cat"}"#.utf8))
        #expect(old.label == "cat")
        let verdict = try JSONDecoder().decode(ItemRecord.Verdict.self, from: Data(#"{"reviewer":"grace","className":"dog"}"#.utf8))
        #expect(verdict.label == "dog")
        let set = ItemRecord.AnnotatorLabel(annotator: "ada", label: Label(["cat", "dog"]))
        let json = String(decoding: try JSONEncoder().encode(set), as: UTF8.self)
        #expect(json.contains(#""label":["cat","dog"]"#) && !json.contains("className"))
        #expect(try JSONDecoder().decode(ItemRecord.AnnotatorLabel.self, from: Data(json.utf8)) == set)
        let skip = try JSONDecoder().decode(ItemRecord.AnnotatorLabel.self, from: Data(#"{"annotator":"bob"}"#.utf8))
        #expect(skip.label == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ItemRecord.Verdict.self, from: Data(#"{"reviewer":"grace"}"#.utf8)) }
    }

    /// Sets round-trip; a set of one class written as a set, or a set out of order, is not the
    /// canonical encoding and is refused (one content, one id).
    @Test func singleClassSaysWhyAnItemHasNone() {
        let items = Dictionary(uniqueKeysWithValues: (vectorItems() + multiLabelVectorItems()).map { ($0.path, $0) })
        let classes = ["cat": 0, "dog": 1]
        #expect(items["cats/a.png"]?.singleClass(in: classes) == .index(0))
        #expect(items["dogs/b.jpg"]?.singleClass(in: classes) == .index(1))  // the verdict decides
        #expect(items["c.png"]?.singleClass(in: classes) == .unlabeled)  // a skip is no label
        #expect(items["d.png"]?.singleClass(in: classes) == .conflict)
        #expect(items["e.png"]?.singleClass(in: classes) == .multiLabel)
        #expect(items["cats/a.png"]?.singleClass(in: ["dog": 0]) == .multiLabel)  // not among the classes asked about
    }

    @Test func multiLabelRecordsRoundTripCanonically() throws {
        let items = multiLabelVectorItems()
        #expect(items.map(\.label) == [nil, Label(["cat", "dog"])] || items.map(\.label) == [Label(["cat", "dog"]), nil])
        let leaf = TreeFormat.Node.leaf(items)
        let data = TreeFormat.encode(leaf)
        #expect(try TreeFormat.decodeNode(data, id: BlobID(hashing: data)) == leaf)
        // One class: the single-label encoding (kind 1), so single-label snapshots keep their ids.
        let one = ItemRecord(blobID: BlobID(hashing: Data("o".utf8)), path: "o.png", format: "png", width: 1, height: 1, split: .train,
                             annotations: [.init(annotator: "ada", label: Label(["cat"]))], verdict: nil)
        var w = ByteWriter()
        w.id(one.blobID); w.string("o.png"); w.byte(0); w.varint(1); w.varint(1); w.byte(0)
        w.byte(1); w.string("cat"); w.varint(1); w.string("ada"); w.byte(1); w.string("cat"); w.byte(0)
        #expect(TreeFormat.encode(.leaf([one])) == Data([1, 1] + w.bytes))
        // A leaf of that item written by hand, its label and ada's annotation as sets (kind 3, flag 2).
        func setEncodedLeaf(_ classes: [String]) -> Data {
            var w = ByteWriter()
            w.byte(1); w.varint(1)
            w.id(one.blobID); w.string("o.png"); w.byte(0); w.varint(1); w.varint(1); w.byte(0)
            w.byte(3); w.varint(UInt64(classes.count)); for name in classes { w.string(name) }
            w.varint(1); w.string("ada"); w.byte(2); w.varint(UInt64(classes.count)); for name in classes { w.string(name) }
            w.byte(0)
            return w.data
        }
        // A set of one class written as a set, and a set out of order, are refused ...
        for bytes in [setEncodedLeaf(["cat"]), setEncodedLeaf(["dog", "cat"])] {
            #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(bytes, id: BlobID(hashing: bytes)) }
        }
        // ... and the same bytes with the set in order decode: the refusals are about those alone.
        let ordered = setEncodedLeaf(["cat", "dog"])
        let decoded = try TreeFormat.decodeNode(ordered, id: BlobID(hashing: ordered))
        guard case .leaf(let records) = decoded else { Issue.record("not a leaf"); return }
        #expect(records.first?.label == Label(["cat", "dog"]))
    }

    @Test func nodesRoundTrip() throws {
        let items = vectorItems()
        let leaf = TreeFormat.Node.leaf(items)
        let data = TreeFormat.encode(leaf)
        #expect(try TreeFormat.decodeNode(data, id: BlobID(hashing: data)) == leaf)
        var children = [TreeFormat.Child?](repeating: nil, count: TreeFormat.fanout)
        children[3] = .init(id: BlobID(hashing: Data("x".utf8)), count: 40)
        children[7] = .init(id: BlobID(hashing: Data("y".utf8)), count: 2)
        let interior = TreeFormat.Node.interior(children)
        let bytes = TreeFormat.encode(interior)
        #expect(try TreeFormat.decodeNode(bytes, id: BlobID(hashing: bytes)) == interior)
    }

    @Test func malformedObjectsAreRejectedNotTrusted() throws {
        let data = TreeFormat.encode(.leaf(vectorItems()))
        for cut in [1, 5, 40, data.count - 1] {
            let truncated = data.prefix(cut)
            #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(truncated, id: BlobID(hashing: truncated)) }
        }
        var trailing = data
        trailing.append(0)
        #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(trailing, id: BlobID(hashing: trailing)) }
        #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(Data([9]), id: BlobID(hashing: Data([9]))) }
        // A label its own provenance does not resolve to.
        var lying = vectorItems()
        lying[0].label = "zebra"
        let bytes = TreeFormat.encode(.leaf(lying))
        #expect(throws: VersioningError.self) { try TreeFormat.decodeNode(bytes, id: BlobID(hashing: bytes)) }
        var future = TreeFormat.encode(TreeFormat.Root(classes: [], itemCount: 0, items: nil))
        future[1] = 9
        #expect(throws: VersioningError.unsupportedVersion(BlobID(hashing: future), version: 9)) {
            try TreeFormat.decodeRoot(future, id: BlobID(hashing: future))
        }
    }
}

/// n synthetic item records with distinct ids.
func syntheticRecords(_ n: Int, label: (Int) -> String? = { "c\($0 % 3)" }) -> [ItemRecord] {
    (0..<n).map { i in
        ItemRecord(blobID: BlobID(hashing: Data("item \(i)".utf8)), path: "p/\(i).png", format: "png", width: 4, height: 4,
                   split: .train, annotations: label(i).map { [.init(annotator: "import", label: .one($0))] } ?? [], verdict: nil)
    }.sorted { $0.blobID < $1.blobID }
}

@Suite struct SnapshotTreeTests {
    @Test func buildIsCanonicalAndSplitsAtTheLeafCapacity() throws {
        let tree = SnapshotTree(store: MemoryBlobStore())
        let small = syntheticRecords(TreeFormat.leafCapacity)
        let leaf = try #require(try tree.build(ArraySlice(small)))
        if case .leaf = try tree.node(leaf.id) {} else { Issue.record("\(TreeFormat.leafCapacity) items should be one leaf") }
        let large = syntheticRecords(TreeFormat.leafCapacity + 1)
        let split = try #require(try tree.build(ArraySlice(large)))
        if case .interior = try tree.node(split.id) {} else { Issue.record("one more item should split") }
        #expect(split.count == TreeFormat.leafCapacity + 1)
        #expect(try tree.items(under: split.id) == large)
    }

    @Test(arguments: [1, 7, 42])
    func incrementalUpdatesEqualAFullRebuild(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let store = MemoryBlobStore()
        let tree = SnapshotTree(store: store)
        var records = Dictionary(uniqueKeysWithValues: syntheticRecords(600).map { ($0.blobID, $0) })
        var current = try tree.build(ArraySlice(records.values.sorted { $0.blobID < $1.blobID }))
        for round in 0..<20 {
            var changes: [BlobID: ItemRecord?] = [:]
            for _ in 0..<Int(rng.next() % 40) {
                let keys = Array(records.keys)
                switch rng.next() % 3 {
                case 0:  // relabel
                    var r = records[keys[Int(rng.next() % UInt64(keys.count))]]!
                    r = ItemRecord(blobID: r.blobID, path: r.path, format: r.format, width: r.width, height: r.height, split: r.split,
                                   annotations: [.init(annotator: "ada", label: .one("x\(round)"))], verdict: nil)
                    changes[r.blobID] = r
                case 1:  // add
                    let r = ItemRecord(blobID: BlobID(hashing: Data("new \(seed) \(round) \(rng.next())".utf8)), path: "n.png",
                                       format: "png", width: 1, height: 1, split: .val, annotations: [], verdict: nil)
                    changes[r.blobID] = r
                default:  // remove
                    changes[keys[Int(rng.next() % UInt64(keys.count))]] = .some(nil)
                }
            }
            let sorted = changes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            current = try tree.update(current, changes: ArraySlice(sorted))
            for (id, record) in sorted { records[id] = record }
            let rebuilt = try tree.build(ArraySlice(records.values.sorted { $0.blobID < $1.blobID }))
            #expect(current?.id == rebuilt?.id, "round \(round)")
            #expect(current?.count == records.count)
        }
        // Removing everything leaves an empty tree.
        let all = records.keys.sorted().map { ($0, ItemRecord?.none) }
        #expect(try tree.update(current, changes: ArraySlice(all)) == nil)
    }

    @Test func aSmallChangeWritesOnlyThePathToIt() throws {
        let store = MemoryBlobStore()
        let tree = SnapshotTree(store: store)
        let records = syntheticRecords(20_000)
        let first = try tree.build(ArraySlice(records))
        let before = Set(try store.allIDs())
        var changed = records[1234]
        changed = ItemRecord(blobID: changed.blobID, path: changed.path, format: "png", width: 4, height: 4, split: .test,
                             annotations: [], verdict: nil)
        _ = try tree.update(first, changes: [(changed.blobID, changed)])
        let written = Set(try store.allIDs()).subtracting(before)
        // 20,000 items in an 8-way trie with 16-item leaves: a leaf plus at most four interior nodes.
        #expect(written.count <= 5)
        #expect(written.count >= 2)
    }
}
