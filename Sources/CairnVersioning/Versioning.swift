import CairnCatalog
import CairnRepository
import CairnStore
import Foundation

/// Per-class and per-split counts recorded beside a snapshot.
public struct SnapshotCounts: Sendable, Hashable, Codable {
    /// Labeled items carrying each class (an item labeled with a set counts for each of its classes).
    public var classes: [String: Int] = [:]
    public var splits: [String: Int] = [:]
    public var unlabeled = 0
    public var conflicts = 0

    public init() {}

    mutating func add(_ item: ItemRecord, _ sign: Int = 1) {
        add(split: item.split, label: item.resolved, sign)
    }

    mutating func add(split: Split, label: ResolvedLabel, _ sign: Int = 1) {
        splits[split.rawValue, default: 0] += sign
        switch label {
        case .labeled(let label):
            for name in label.classes {
                classes[name, default: 0] += sign
                if classes[name] == 0 { classes[name] = nil }
            }
        case .unlabeled: unlabeled += sign
        case .conflict: conflicts += sign
        }
    }
}

/// A snapshot with what is recorded beside it.
public struct SnapshotInfo: Sendable, Hashable, Codable {
    public var id: BlobID
    public var parent: BlobID?
    public var message: String
    public var author: String
    public var createdAt: Date
    public var itemCount: Int
    public var counts: SnapshotCounts
    public var tags: [String]

    init(_ row: SnapshotRow, tags: [String]) {
        id = row.id
        parent = row.parentID
        message = row.message
        author = row.author
        createdAt = row.createdAt
        itemCount = row.itemCount
        counts = (try? JSONDecoder().decode(SnapshotCounts.self, from: Data(row.counts.utf8))) ?? SnapshotCounts()
        self.tags = tags
    }
}

/// The result of `snapshot`.
public struct SnapshotResult: Sendable, Codable {
    public var snapshot: SnapshotInfo
    /// False when the content equals the head snapshot's, so nothing new was recorded.
    public var created: Bool
    /// Items whose records were recomputed (all of them for a first snapshot).
    public var itemsExamined: Int
}

/// Snapshots, tags, refs, history, diff, checkout, export and gc for one repository.
public struct Versioning: Sendable {
    public let repository: Repository
    public let tree: SnapshotTree

    public init(repository: Repository) {
        self.repository = repository
        self.tree = SnapshotTree(store: repository.store)
    }

    var catalog: Catalog { repository.catalog }

    // MARK: Snapshot

    /// Freezes the working state into a snapshot.
    ///
    /// The first snapshot encodes every item; later ones recompute only items the catalog's change
    /// log marks as touched since the head snapshot and rewrite only the tree nodes above them.
    ///
    /// - Complexity: O(n) for the first snapshot of n items; O(k · depth) for k changed items after.
    public func snapshot(message: String, author: String) throws -> SnapshotResult {
        if catalog.isReadOnly { throw CatalogError.readOnly(path: catalog.path) }
        return try repository.withLock(exclusive: false) { try snapshotLocked(message: message, author: author) }
    }

    private func snapshotLocked(message: String, author: String) throws -> SnapshotResult {
        // Read a consistent view: head, change log, the changed items and the classes.
        let (head, maxSequence, marks, states, classes, encoded) = try catalog.read { tx in
            let head = try tx.headSnapshot()
            let (dirty, maxSequence) = try tx.dirtyItems()
            let marks = try tx.highWaterMarks()
            let classes = TreeFormat.canonicalOrder(try tx.classes().map(\.name))
            if head != nil {
                return (head, maxSequence, marks, try tx.itemStates(ids: dirty), classes,
                        Optional<(SnapshotTree.EncodedItems, SnapshotCounts)>.none)
            }
            return (head, maxSequence, marks, [ItemState](), classes, try Self.encodeAll(tx))
        }
        var counts = SnapshotCounts()
        var examined = states.count
        let itemsRoot: TreeFormat.Child?
        if let head {
            let records = states.map(ItemRecord.init).sorted { $0.blobID < $1.blobID }
            let headRoot = try tree.root(head.id)
            counts = SnapshotInfo(head, tags: []).counts
            // Old records of the changed items, to adjust the counts.
            var old: [BlobID: ItemRecord] = [:]
            if let items = headRoot.items {
                for record in try recordsIn(items, ids: Set(records.map(\.blobID))) { old[record.blobID] = record }
            }
            for record in records {
                if let previous = old[record.blobID] { counts.add(previous, -1) }
                counts.add(record)
            }
            let current = headRoot.items.map { TreeFormat.Child(id: $0, count: headRoot.itemCount) }
            itemsRoot = try tree.update(current, changes: ArraySlice(records.map { ($0.blobID, Optional($0)) }))
        } else {
            let (items, allCounts) = encoded!
            counts = allCounts
            examined = items.entries.count
            itemsRoot = try tree.build(items, 0..<items.entries.count)
        }
        let root = TreeFormat.Root(classes: classes, itemCount: itemsRoot?.count ?? 0, items: itemsRoot?.id)
        let itemCount = root.itemCount
        let id = try tree.writeRoot(root)
        try repository.store.flush()
        let countsJSON = String(decoding: try JSONEncoder.sorted.encode(counts), as: UTF8.self)
        let (row, created) = try catalog.write { tx -> (SnapshotRow, Bool) in
            try tx.clearDirty(upTo: maxSequence)
            // The change log runs only once a head exists: mark what arrived while this first one was built.
            if head == nil { try tx.markChangedSince(marks) }
            if let head, head.id == id { return (head, false) }
            if let existing = try tx.snapshot(id: id) {
                try tx.setHead(id)
                return (existing, false)
            }
            // The parent is HEAD, the snapshot this working state was last frozen into: never a
            // snapshot a pull brought in meanwhile.
            let row = SnapshotRow(id: id, parentID: try tx.headSnapshot()?.id, message: message, author: author,
                                  createdAt: Date(), itemCount: itemCount, counts: countsJSON)
            try tx.recordSnapshot(row)
            return (row, true)
        }
        return SnapshotResult(snapshot: SnapshotInfo(row, tags: try tags(of: id)), created: created, itemsExamined: examined)
    }

    /// Every item's record, encoded straight from the catalog stream and sorted by blob id, with counts.
    private static func encodeAll(_ tx: CatalogTransaction) throws -> (SnapshotTree.EncodedItems, SnapshotCounts) {
        do {
            return try encodeAll(tx, presorted: true)
        } catch is ScanOrderError {
            return try encodeAll(tx, presorted: false)
        }
    }

    private static func encodeAll(_ tx: CatalogTransaction, presorted: Bool) throws -> (SnapshotTree.EncodedItems, SnapshotCounts) {
        var writer = ByteWriter()
        var entries: [(id: BlobID, start: Int, end: Int)] = []
        var counts = SnapshotCounts()
        try tx.forEachItemState(presorted: presorted) { row in
            let labels = row.labels.count > 1 ? row.labels.sorted { utf8Precedes($0.annotator, $1.annotator) } : row.labels
            let resolved = LabelPolicy.resolve(labels: labels.map(\.label), verdict: row.verdict?.label)
            counts.add(split: row.split, label: resolved)
            let start = writer.count
            TreeFormat.encodeRecord(blobID: row.blobID, path: row.path, format: row.format, width: row.width, height: row.height,
                                    split: row.split, label: resolved, annotations: labels.map { ($0.annotator, $0.label) },
                                    verdict: row.verdict.map { ($0.reviewer, $0.label) }, into: &writer)
            entries.append((row.blobID, start, writer.count))
        }
        entries.sort { $0.id < $1.id }
        return (SnapshotTree.EncodedItems(bytes: writer.bytes, entries: entries), counts)
    }

    /// The records under `node` whose ids are in `ids`, visiting only the branches that can hold them.
    private func recordsIn(_ node: BlobID, ids: Set<BlobID>, depth: Int = 0) throws -> [ItemRecord] {
        switch try tree.node(node) {
        case .leaf(let items): return items.filter { ids.contains($0.blobID) }
        case .interior(let children):
            var byDigit = [Set<BlobID>](repeating: [], count: TreeFormat.fanout)
            for id in ids { byDigit[SnapshotTree.digit(id, depth)].insert(id) }
            var out: [ItemRecord] = []
            for digit in 0..<TreeFormat.fanout where !byDigit[digit].isEmpty {
                if let child = children[digit] { out += try recordsIn(child.id, ids: byDigit[digit], depth: depth + 1) }
            }
            return out
        }
    }

    // MARK: Refs

    /// Resolves a full snapshot id, a tag, an unambiguous short snapshot id, `HEAD` or `HEAD~N` to a
    /// snapshot, in that order: a tag can never shadow a snapshot's full id. `HEAD` is the snapshot
    /// the working state was last frozen into (made here, or the latest one a first pull or clone
    /// brought); later pulls do not move it.
    public func resolve(_ ref: String) throws -> SnapshotRow {
        try catalog.read { tx in
            if let full = BlobID(hex: ref), let row = try tx.snapshot(id: full) { return row }
            if ref == "HEAD" || ref.hasPrefix("HEAD~") {
                guard var current = try tx.headSnapshot() ?? tx.latestSnapshot() else { throw VersioningError.noSnapshots }
                let steps = ref == "HEAD" ? 0 : Int(ref.dropFirst(5))
                guard let steps, steps >= 0 else { throw VersioningError.unknownRef(ref) }
                for _ in 0..<steps {
                    guard let parent = current.parentID, let row = try tx.snapshot(id: parent) else {
                        throw VersioningError.unknownRef(ref)
                    }
                    current = row
                }
                return current
            }
            if let tag = try tx.tag(named: ref), let row = try tx.snapshot(id: tag.snapshotID) { return row }
            let lower = ref.lowercased()
            if lower.count >= 4, lower.allSatisfy(\.isHexDigit) {
                let matches = try tx.snapshots(prefix: lower)
                if matches.count == 1 { return matches[0] }
                if matches.count > 1 { throw VersioningError.ambiguousRef(ref, matches: matches.map { String($0.id.hex.prefix(16)) }) }
            }
            throw VersioningError.unknownRef(ref)
        }
    }

    /// Full information about a snapshot row.
    public func info(_ row: SnapshotRow) throws -> SnapshotInfo { SnapshotInfo(row, tags: try tags(of: row.id)) }

    private func tags(of id: BlobID) throws -> [String] {
        try catalog.read { try $0.tags() }.filter { $0.snapshotID == id }.map(\.name)
    }

    // MARK: Tags

    /// Checks that `name` can be a tag (`TagRow.problem` says the rules).
    public static func validateTagName(_ name: String) throws {
        if let problem = TagRow.problem(name: name) { throw VersioningError.invalidTagName(name, reason: problem) }
    }

    /// Names `ref`'s snapshot `name`; moving an existing tag needs `force`.
    public func tag(_ name: String, ref: String = "HEAD", author: String, force: Bool = false) throws -> SnapshotRow {
        try Self.validateTagName(name)
        let target = try resolve(ref)
        try catalog.write { try $0.setTag(name, to: target.id, author: author, force: force) }
        return target
    }

    /// Deletes a tag; its history keeps what it named (and gc keeps that).
    public func deleteTag(_ name: String, author: String) throws {
        try catalog.write { try $0.deleteTag(name, author: author) }
    }

    // MARK: Log

    /// Snapshots from `ref` back through their parents, newest first.
    public func log(from ref: String = "HEAD", limit: Int = .max) throws -> [SnapshotInfo] {
        var out: [SnapshotInfo] = []
        var current: SnapshotRow? = try resolve(ref)
        let tags = try catalog.read { try $0.tags() }
        while let row = current, out.count < limit {
            out.append(SnapshotInfo(row, tags: tags.filter { $0.snapshotID == row.id }.map(\.name)))
            current = try row.parentID.flatMap { id in try catalog.read { try $0.snapshot(id: id) } }
        }
        return out
    }
}

extension JSONEncoder {
    /// Sorted keys, so the same value always encodes to the same bytes.
    public static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
