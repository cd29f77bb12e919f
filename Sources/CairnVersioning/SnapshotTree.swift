import CairnCatalog
import CairnStore
import CairnSupport
import Foundation
import Synchronization

/// Reads and writes snapshot trees in a blob store.
///
/// Building is canonical (the same items always give the same objects); updating rewrites only
/// the nodes on the paths to changed items and reuses every other subtree by id.
public struct SnapshotTree: Sendable {
    public let store: any BlobStore
    private let cache = NodeCache()

    public init(store: any BlobStore) {
        self.store = store
    }

    // MARK: Reading

    /// Loads and decodes a node (verified against its id; cached for this tree's lifetime).
    public func node(_ id: BlobID) throws -> TreeFormat.Node {
        if let cached = cache.get(id) { return cached }
        let data: Data
        do {
            data = try store.get(id)
        } catch StoreError.notFound(let missing) {
            throw VersioningError.corruptObject(missing, reason: "the object is missing from the store")
        }
        let node = try TreeFormat.decodeNode(data, id: id)
        cache.set(id, node)
        return node
    }

    /// Loads a snapshot's root object.
    public func root(_ id: BlobID) throws -> TreeFormat.Root {
        let data: Data
        do {
            data = try store.get(id)
        } catch StoreError.notFound(let missing) {
            throw VersioningError.corruptObject(missing, reason: "the snapshot's root object is missing from the store")
        }
        return try TreeFormat.decodeRoot(data, id: id)
    }

    /// Calls `body` with every item under `node`, in blob id order.
    ///
    /// - Complexity: O(items + nodes) under `node`.
    public func forEachItem(under node: BlobID?, _ body: (ItemRecord) throws -> Void) throws {
        guard let node else { return }
        switch try self.node(node) {
        case .leaf(let items): for item in items { try body(item) }
        case .interior(let children): for child in children.compactMap({ $0 }) { try forEachItem(under: child.id, body) }
        }
    }

    /// Every item under `node`, in blob id order. The subtrees below the first levels are read on
    /// every core (reading and verifying tree objects is most of a checkout's or export's set-up).
    public func items(under node: BlobID?) throws -> [ItemRecord] {
        guard let node else { return [] }
        var frontier = [node]
        // Open levels, in id order, until there are enough subtrees to share out (or only leaves are left).
        while frontier.count < 64 {
            var next: [BlobID] = []
            var opened = false
            for id in frontier {
                if case .interior(let children) = try self.node(id) {
                    next += children.compactMap { $0?.id }
                    opened = true
                } else {
                    next.append(id)
                }
            }
            frontier = next
            if !opened { break }
        }
        let subtrees = frontier
        return try Parallel.map(subtrees.count) { i in
            var out: [ItemRecord] = []
            try forEachItem(under: subtrees[i]) { out.append($0) }
            return out
        }.flatMap { $0 }
    }

    /// Calls `body` with the id of every tree object under `node` (the node included) whose id
    /// `visit` accepts; subtrees it rejects are skipped (gc uses this to walk shared subtrees once).
    public func forEachObject(under node: BlobID, visit: (BlobID) -> Bool, items: (ItemRecord) -> Void) throws {
        guard visit(node) else { return }
        switch try self.node(node) {
        case .leaf(let records): for record in records { items(record) }
        case .interior(let children):
            for child in children.compactMap({ $0 }) { try forEachObject(under: child.id, visit: visit, items: items) }
        }
    }

    /// `forEachObject` breadth first: every object of one depth before any of the next.
    public func forEachObjectByLevel(under node: BlobID, visit: (BlobID) -> Bool, items: (ItemRecord) -> Void) throws {
        var level = [node]
        while !level.isEmpty {
            var next: [BlobID] = []
            for id in level where visit(id) {
                switch try self.node(id) {
                case .leaf(let records): for record in records { items(record) }
                case .interior(let children): next += children.compactMap { $0?.id }
                }
            }
            level = next
        }
    }

    // MARK: Writing

    /// Writes the canonical tree for `items` (sorted by blob id, no duplicates); nil when empty.
    ///
    /// - Complexity: O(n) encoding and hashing for n items.
    public func build(_ items: ArraySlice<ItemRecord>, depth: Int = 0) throws -> TreeFormat.Child? {
        if items.isEmpty { return nil }
        if items.count <= TreeFormat.leafCapacity || depth >= TreeFormat.maxDepth {
            return try write(.leaf(Array(items)))
        }
        var children = [TreeFormat.Child?](repeating: nil, count: TreeFormat.fanout)
        var start = items.startIndex
        while start < items.endIndex {
            let digit = Self.digit(items[start].blobID, depth)
            var end = start
            while end < items.endIndex && Self.digit(items[end].blobID, depth) == digit { end += 1 }
            children[digit] = try build(items[start..<end], depth: depth + 1)
            start = end
        }
        return try write(.interior(children))
    }

    /// Pre-encoded item records: `bytes` holds them back to back; `entries` (sorted by id) say where:
    /// the record at `start..<end`, then its box section up to `boxesEnd` (empty when it has no boxes).
    public struct EncodedItems {
        var bytes: [UInt8]
        var entries: [(id: BlobID, start: Int, end: Int, boxesEnd: Int)]
    }

    /// Writes the canonical tree for pre-encoded records: the same objects as `build`, without
    /// materialising an `ItemRecord` per item (the first snapshot of a large catalog).
    func build(_ encoded: EncodedItems, _ range: Range<Int>, depth: Int = 0) throws -> TreeFormat.Child? {
        if range.isEmpty { return nil }
        if range.count <= TreeFormat.leafCapacity || depth >= TreeFormat.maxDepth {
            var w = ByteWriter()
            // As `TreeFormat.encode(.leaf)`: a leaf where some item has boxes gives every item its box section.
            let withBoxes = range.contains { encoded.entries[$0].boxesEnd > encoded.entries[$0].end }
            w.byte(withBoxes ? TreeFormat.Kind.leafWithBoxes.rawValue : TreeFormat.Kind.leaf.rawValue)
            w.varint(UInt64(range.count))
            for i in range {
                let entry = encoded.entries[i]
                w.bytes.append(contentsOf: encoded.bytes[entry.start..<entry.end])
                if withBoxes {
                    if entry.boxesEnd > entry.end { w.bytes.append(contentsOf: encoded.bytes[entry.end..<entry.boxesEnd]) } else { w.byte(0) }
                }
            }
            let blob = HashedBlob(w.data)
            try store.put(blob)
            return TreeFormat.Child(id: blob.id, count: range.count)
        }
        var children = [TreeFormat.Child?](repeating: nil, count: TreeFormat.fanout)
        var start = range.lowerBound
        while start < range.upperBound {
            let digit = Self.digit(encoded.entries[start].id, depth)
            var end = start
            while end < range.upperBound && Self.digit(encoded.entries[end].id, depth) == digit { end += 1 }
            children[digit] = try build(encoded, start..<end, depth: depth + 1)
            start = end
        }
        return try write(.interior(children))
    }

    /// Applies `changes` (blob id → new record, or nil to remove) to the subtree `node` at `depth`.
    /// Only nodes on paths to changed items are rewritten.
    ///
    /// - Complexity: O(k · (leafCapacity + depth)) for k changes.
    public func update(_ node: TreeFormat.Child?, changes: ArraySlice<(BlobID, ItemRecord?)>, depth: Int = 0) throws
        -> TreeFormat.Child?
    {
        if changes.isEmpty { return node }
        guard let node else {
            return try build(ArraySlice(changes.compactMap { $0.1 }), depth: depth)
        }
        switch try self.node(node.id) {
        case .leaf(let items):
            var merged: [BlobID: ItemRecord] = Dictionary(uniqueKeysWithValues: items.map { ($0.blobID, $0) })
            for (id, record) in changes { merged[id] = record }
            return try build(ArraySlice(merged.values.sorted { $0.blobID < $1.blobID }), depth: depth)
        case .interior(var children):
            var start = changes.startIndex
            while start < changes.endIndex {
                let digit = Self.digit(changes[start].0, depth)
                var end = start
                while end < changes.endIndex && Self.digit(changes[end].0, depth) == digit { end += 1 }
                children[digit] = try update(children[digit], changes: changes[start..<end], depth: depth + 1)
                start = end
            }
            let total = children.reduce(0) { $0 + ($1?.count ?? 0) }
            if total == 0 { return nil }
            if total <= TreeFormat.leafCapacity {
                // Too small to stay split: the canonical form is a leaf.
                var all: [ItemRecord] = []
                for child in children.compactMap({ $0 }) { all += try items(under: child.id) }
                return try build(ArraySlice(all.sorted { $0.blobID < $1.blobID }), depth: depth)
            }
            return try write(.interior(children))
        }
    }

    /// Writes a root object; its id is the snapshot id.
    public func writeRoot(_ root: TreeFormat.Root) throws -> BlobID {
        let blob = HashedBlob(TreeFormat.encode(root))
        try store.put(blob)
        return blob.id
    }

    private func write(_ node: TreeFormat.Node) throws -> TreeFormat.Child {
        let blob = HashedBlob(TreeFormat.encode(node))
        try store.put(blob)
        return TreeFormat.Child(id: blob.id, count: node.count)
    }

    /// The digit of `id` at `depth`: bits [3·depth, 3·depth + 3) of the id read as a big-endian
    /// 256-bit number (bits past the end count as 0).
    static func digit(_ id: BlobID, _ depth: Int) -> Int {
        let start = depth * TreeFormat.digitBits
        var value = 0
        for bit in start..<start + TreeFormat.digitBits {
            value <<= 1
            guard bit < 256 else { continue }
            let word = bit < 64 ? id.w0 : bit < 128 ? id.w1 : bit < 192 ? id.w2 : id.w3
            value |= Int((word >> UInt64(63 - bit % 64)) & 1)
        }
        return value
    }
}

/// Decoded nodes by id, shared by the copies of one `SnapshotTree`.
final class NodeCache: Sendable {
    private let nodes = Mutex<[BlobID: TreeFormat.Node]>([:])
    func get(_ id: BlobID) -> TreeFormat.Node? { nodes.withLock { $0[id] } }
    func set(_ id: BlobID, _ node: TreeFormat.Node) {
        nodes.withLock { nodes in
            if nodes.count > 200_000 { nodes.removeAll(keepingCapacity: true) }
            nodes[id] = node
        }
    }
}
