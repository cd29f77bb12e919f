import CairnCatalog
import CairnStore
import Foundation

/// What `split set` or `split regroup` changed (or, dry, would change).
public struct SplitReport: Sendable, Codable, Equatable {
    /// Items moved, by the split they moved to.
    public var moved: [String: Int] = [:]
    /// Items already in the split they would get.
    public var unchanged = 0
    /// `regroup`: items whose path the pattern matched, and the groups they form.
    public var matched: Int?
    public var groups: Int?
    public var dryRun = false

    public var movedTotal: Int { moved.values.reduce(0, +) }
}

extension Repository {
    /// Moves the items `refs` name to `split`, recorded as split changes by `person` (one
    /// transaction: all or nothing). Items already there are counted, not recorded again.
    /// - Throws: `CatalogError.notFound`/`.ambiguous` for a ref; nothing is recorded then.
    public func moveToSplit(_ refs: [String], split: Split, person: String) throws -> SplitReport {
        try catalog.write { tx in
            let items = try refs.map { try tx.item(matching: $0) }
            var seen = Set<Int64>()
            let unique = items.filter { seen.insert($0.id).inserted }
            let moving = unique.filter { $0.split != split }
            var report = SplitReport(unchanged: unique.count - moving.count)
            if !moving.isEmpty {
                let who = try tx.ensureAnnotator(person)
                try tx.changeSplit(itemIDs: moving.map(\.id), to: split, personID: who.id, at: Date(), stamp: nil)
                report.moved[split.rawValue] = moving.count
            }
            return report
        }
    }

    /// Gives every item whose path `pattern` matches the split its group key draws (the first
    /// capture group; items sharing a key share a split), recorded as split changes by `person`,
    /// and saves the pattern as `[splits] group` so later imports follow it. Items it does not
    /// match keep their split.
    /// - Throws: `CatalogError.invalidSplitGroup` for a pattern that does not compile, has no
    ///   capture group, or matches no item's path; nothing is changed then.
    public func regroup(by pattern: String, person: String, dryRun: Bool = false) throws -> SplitReport {
        var policy = config.splits
        policy.group = pattern
        let assigner = try SplitAssigner(policy)
        let report = try catalog.write { tx -> SplitReport in
            var report = SplitReport(dryRun: dryRun)
            var targets: [Split: [Int64]] = [:]
            var keys = Set<String>()
            var matched = 0
            for item in try tx.allItems(split: nil) {
                guard let key = assigner.key(of: item.path) else { continue }
                matched += 1
                keys.insert(key)
                let split = policy.split(forKey: key)
                if split == item.split { report.unchanged += 1 } else { targets[split, default: []].append(item.id) }
            }
            guard matched > 0 else { throw CatalogError.invalidSplitGroup(pattern: pattern, reason: "it matches no item's path") }
            (report.matched, report.groups) = (matched, keys.count)
            for (split, ids) in targets { report.moved[split.rawValue] = ids.count }
            if !dryRun, !targets.isEmpty {
                let who = try tx.ensureAnnotator(person)
                let now = Date()
                for (split, ids) in targets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                    try tx.changeSplit(itemIDs: ids, to: split, personID: who.id, at: now, stamp: nil)
                }
            }
            return report
        }
        if !dryRun {
            var saved = config
            saved.splits = policy
            try saved.save(path: configPath)
        }
        return report
    }
}

/// What `cairn rm` removed (or, dry, would remove).
public struct RemovalReport: Sendable, Codable, Equatable {
    public var removed: [String] = []
    public var dryRun = false
}

extension Repository {
    /// Removes from the working state the items `refs` name and those `filter` admits (by path
    /// pattern or class), recorded as removals by `person` in one transaction. Snapshots that hold
    /// them keep them; they leave every list, queue and later snapshot.
    /// - Throws: `CatalogError.notFound`/`.ambiguous` for a ref or an unknown class;
    ///   `RepositoryError.nothingToRemove` when nothing matches. Nothing changes then.
    public func removeItems(_ refs: [String], filter: ItemFilter?, person: String, dryRun: Bool) throws -> RemovalReport {
        try catalog.write { tx in
            var chosen = try refs.map { try tx.item(matching: $0) }.filter { item in try !tx.isRemoved(itemID: item.id) }
            if let filter {
                if let name = filter.className, try tx.labelClass(named: name) == nil { throw CatalogError.notFound(kind: "class", name: name) }
                let resolved = try tx.resolvedLabels()
                chosen += try tx.allItems(split: filter.split).filter { filter.admits(path: $0.path, split: $0.split, resolved: resolved[$0.id] ?? .unlabeled) }
            }
            var seen = Set<Int64>()
            chosen = chosen.filter { seen.insert($0.id).inserted }
            guard !chosen.isEmpty else { throw RepositoryError.nothingToRemove }
            if !dryRun {
                let who = try tx.ensureAnnotator(person)
                try tx.setRemoved(itemIDs: chosen.map(\.id), removed: true, personID: who.id, at: Date(), stamp: nil)
            }
            return RemovalReport(removed: chosen.map(\.path).sorted(), dryRun: dryRun)
        }
    }
}
