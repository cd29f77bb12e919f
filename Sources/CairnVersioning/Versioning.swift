import CairnCatalog
import CairnRepository
import CairnStore
import Foundation

/// A snapshot with what is recorded beside it.
public struct SnapshotInfo: Sendable, Hashable, Codable {
    public var id: BlobID
    public var parent: BlobID?
    public var message: String
    public var author: String
    public var createdAt: Date
    public var itemCount: Int
    public var counts: ItemCounts
    public var tags: [String]

    init(_ row: SnapshotRecord, tags: [String]) {
        id = row.id
        parent = row.parentID
        message = row.message
        author = row.author
        createdAt = row.createdAt
        itemCount = row.itemCount
        counts = (try? JSONDecoder().decode(ItemCounts.self, from: Data(row.counts.utf8))) ?? ItemCounts()
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

    var catalog: any Catalog { repository.catalog }

    // MARK: Snapshot

    /// Freezes the working state into a snapshot.
    ///
    /// The first snapshot encodes every item; later ones recompute only items the catalog's change
    /// log marks as touched since the head snapshot and rewrite only the tree nodes above them.
    ///
    /// - Complexity: O(n) for the first snapshot of n items; O(k · depth) for k changed items after.
    public func snapshot(message: String, author: String) throws -> SnapshotResult {
        if catalog.isReadOnly { throw CatalogError.readOnly(location: catalog.location) }
        return try repository.withLock(exclusive: false) { try snapshotLocked(message: message, author: author) }
    }

    private func snapshotLocked(message: String, author: String) throws -> SnapshotResult {
        // Read a consistent view: head, pending changes, the changed items' records and the classes.
        let (head, changes, classes, content) = try catalog.read { tx -> (SnapshotRecord?, PendingChanges, [String], Content) in
            let head = try tx.headSnapshot()
            let changes = try tx.pendingChanges()
            let classes = TreeFormat.canonicalOrder(try tx.classes().map(\.name))
            if head != nil { return (head, changes, classes, Content.changed(try Self.changedRecords(tx, changes))) }
            let (items, counts) = try Self.encodeAll(tx)
            return (head, changes, classes, Content.all(items, counts))
        }
        let (itemsRoot, counts, examined) = try buildItems(content, head: head)
        let root = TreeFormat.Root(classes: classes, itemCount: itemsRoot?.count ?? 0, items: itemsRoot?.id)
        let id = try tree.writeRoot(root)
        try repository.store.flush()
        let countsJSON = String(decoding: try JSONEncoder.sorted.encode(counts), as: UTF8.self)
        let (row, created) = try catalog.write { tx -> (SnapshotRecord, Bool) in
            try tx.settleChanges(changes)
            if let head, head.id == id { return (head, false) }
            if let existing = try tx.snapshot(id: id) {
                try tx.setHead(id)
                return (existing, false)
            }
            // The parent is HEAD, the snapshot this working state was last frozen into: never a
            // snapshot a pull brought in meanwhile.
            let row = SnapshotRecord(id: id, parentID: try tx.headSnapshot()?.id, message: message, author: author,
                                     createdAt: Date(), itemCount: root.itemCount, counts: countsJSON)
            try tx.recordSnapshot(row)
            return (row, true)
        }
        return SnapshotResult(snapshot: SnapshotInfo(row, tags: try tags(of: id)), created: created, itemsExamined: examined)
    }

    /// What a snapshot is built from: every item, encoded (the first snapshot), or the records of
    /// the items changed since the head.
    private enum Content {
        case all(SnapshotTree.EncodedItems, ItemCounts)
        case changed([(BlobID, ItemRecord?)])
    }

    /// The items subtree of the new snapshot, its counts, and how many items were examined.
    private func buildItems(_ content: Content, head: SnapshotRecord?) throws -> (TreeFormat.Child?, ItemCounts, Int) {
        switch content {
        case .all(let items, let counts):
            return (try tree.build(items, 0..<items.entries.count), counts, items.entries.count)
        case .changed(let changes):
            guard let head else { throw VersioningError.noSnapshots }
            let headRoot = try tree.root(head.id)
            let counts = try adjusted(SnapshotInfo(head, tags: []).counts, items: headRoot.items, changes: changes)
            let current = headRoot.items.map { TreeFormat.Child(id: $0, count: headRoot.itemCount) }
            return (try tree.update(current, changes: ArraySlice(changes)), counts, changes.count)
        }
    }

    /// The items `changes` names, each with its current record, sorted by blob id. A changed item
    /// without a record was removed (`cairn rm`): nil, it leaves the tree.
    private static func changedRecords(_ tx: any CatalogReadTransaction, _ changes: PendingChanges) throws -> [(BlobID, ItemRecord?)] {
        let records = try tx.itemRecords(ids: changes.itemIDs)
        var out = records.values.map { ($0.blobID, Optional($0)) }
        for id in changes.itemIDs where records[id] == nil {
            if let item = try tx.item(id: id) { out.append((item.blobID, nil)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// A snapshot's `counts` with each changed item's record in its tree (under `items`) counted
    /// out and its current record (nil: removed) counted in.
    private func adjusted(_ counts: ItemCounts, items: BlobID?, changes: [(BlobID, ItemRecord?)]) throws -> ItemCounts {
        var counts = counts
        var old: [BlobID: ItemRecord] = [:]
        if let items {
            for record in try recordsIn(items, ids: Set(changes.map(\.0))) { old[record.blobID] = record }
        }
        for (id, record) in changes {
            if let previous = old[id] { counts.add(previous, -1) }
            if let record { counts.add(record) }
        }
        return counts
    }

    /// `Repository.summary`, with the label counts taken from the head snapshot's and the items
    /// changed since (what an incremental snapshot reads): O(changes) rather than O(items). Every
    /// item is read instead when there is no head, its tree is not here, or over 10,000 items and
    /// a tenth of them changed.
    public func summary() throws -> RepositorySummary {
        try repository.summary(known: countsFromHead)
    }

    /// The working state's label counts from the head snapshot's and the items changed since; nil
    /// when there is no head, its tree is not here, or so many items changed that reading them all is as quick.
    func countsFromHead(_ tx: any CatalogReadTransaction) throws -> ItemCounts? {
        guard let head = try tx.headSnapshot(), let counts = try? JSONDecoder().decode(ItemCounts.self, from: Data(head.counts.utf8)) else {
            return nil
        }
        let changes = try tx.pendingChanges()
        guard changes.itemIDs.count <= max(10_000, head.itemCount / 10), let root = try? tree.root(head.id) else { return nil }
        return try? adjusted(counts, items: root.items, changes: try Self.changedRecords(tx, changes))
    }

    /// Every item's record, encoded straight from the catalog stream and sorted by blob id, with counts.
    private static func encodeAll(_ tx: any CatalogReadTransaction) throws -> (SnapshotTree.EncodedItems, ItemCounts) {
        var writer = ByteWriter()
        var entries: [(id: BlobID, start: Int, end: Int, boxesEnd: Int)] = []
        var counts = ItemCounts()
        try tx.forEachItemRecord(ids: nil) { _, record in
            counts.add(record)
            let start = writer.count
            TreeFormat.encode(record, into: &writer)
            let end = writer.count
            if record.boxes != nil { TreeFormat.encodeBoxes(record.boxes, into: &writer) }
            entries.append((record.blobID, start, end, writer.count))
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
    public func resolve(_ ref: String) throws -> SnapshotRecord {
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
                let matches = try tx.snapshots(prefix: lower, limit: 6)
                if matches.count == 1 { return matches[0] }
                if matches.count > 1 { throw VersioningError.ambiguousRef(ref, matches: matches.map { String($0.id.hex.prefix(16)) }) }
            }
            throw VersioningError.unknownRef(ref)
        }
    }

    /// Full information about a snapshot row.
    public func info(_ row: SnapshotRecord) throws -> SnapshotInfo { SnapshotInfo(row, tags: try tags(of: row.id)) }

    private func tags(of id: BlobID) throws -> [String] {
        try catalog.read { try $0.tags() }.filter { $0.snapshotID == id }.map(\.name)
    }

    // MARK: Tags

    /// Checks that `name` can be a tag (`SnapshotTag.problem` says the rules).
    public static func validateTagName(_ name: String) throws {
        if let problem = SnapshotTag.problem(name: name) { throw VersioningError.invalidTagName(name, reason: problem) }
    }

    /// Names `ref`'s snapshot `name`; moving an existing tag needs `force`.
    public func tag(_ name: String, ref: String = "HEAD", author: String, force: Bool = false) throws -> SnapshotRecord {
        try Self.validateTagName(name)
        let target = try resolve(ref)
        try catalog.write { try $0.setTag(name, to: target.id, author: author, force: force) }
        return target
    }

    /// Every tag by name.
    public func tags() throws -> [SnapshotTag] { try catalog.read { try $0.tags() } }

    /// Every create, move and delete of a tag, oldest first.
    public func tagHistory() throws -> [TagEvent] { try catalog.read { try $0.tagHistory() } }

    /// Deletes a tag; its history keeps what it named (and gc keeps that).
    public func deleteTag(_ name: String, author: String) throws {
        try catalog.write { try $0.deleteTag(name, author: author) }
    }

    // MARK: Log

    /// Snapshots from `ref` back through their parents, newest first.
    public func log(from ref: String = "HEAD", limit: Int = .max) throws -> [SnapshotInfo] {
        var out: [SnapshotInfo] = []
        var current: SnapshotRecord? = try resolve(ref)
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

extension Versioning {
    /// The items of snapshot `ref` that `filter` admits (the rule `ls` applies to the working
    /// state too), by path, each with its size when this repository holds its image.
    /// - Throws: `VersioningError.noClass` when the filter names a class the snapshot lacks.
    public func items(of ref: String, matching filter: ItemFilter) throws -> [(record: ItemRecord, bytes: Int64?)] {
        let snapshot = try resolve(ref)
        let root = try tree.root(snapshot.id)
        if let name = filter.className, !root.classes.contains(name) {
            throw VersioningError.noClass(snapshot: snapshot.id, name: name, classes: root.classes)
        }
        let records = try tree.items(under: root.items)
            .filter { filter.admits(path: $0.path, split: $0.split, resolved: $0.resolved) }
            .sorted { $0.path < $1.path }
        let sizes = try repository.catalog.read { tx in
            try Dictionary(records.compactMap { r in try tx.item(blobID: r.blobID).map { (r.blobID, $0.byteSize) } }, uniquingKeysWith: { a, _ in a })
        }
        return records.map { ($0, sizes[$0.blobID]) }
    }
}
