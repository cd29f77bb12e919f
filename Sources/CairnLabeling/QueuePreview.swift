import CairnCatalog
import Foundation

/// The items a queue would serve next, in order, without leasing any: what `cairn queue` prints,
/// so scripts and tests see the order the labeling UI uses.
public enum QueuePreview {
    /// The next `count` items of `queue` as `annotator` (a person's name; one never seen yet has
    /// labeled nothing) would be served them, each with its record, read in one transaction.
    public static func next(_ count: Int, catalog: any Catalog, queue: LabelQueue, annotator: String, overlap: Int = 1,
                            plan: QueuePlan?) throws -> [(item: Item, record: ItemRecord?)] {
        guard queue.needsPlan == (plan != nil) else { throw LabelingError.planMismatch(queue.rawValue) }
        return try catalog.read { tx in
            let view = AnnotatorQueue(queue, annotatorID: try tx.annotator(named: annotator)?.id ?? -1, overlap: overlap)
            var out: [Item] = []
            if let plan {
                var position = 0
                while out.count < count, position < plan.items.count, let hit = try tx.peekFirst(of: plan.items[position...], in: view) {
                    out.append(hit.item)
                    position = hit.position + 1
                }
            } else {
                var after: Int64 = 0
                while out.count < count, let item = try tx.peekNext(in: view, after: after) {
                    out.append(item)
                    after = item.id
                }
            }
            let records = try tx.itemRecords(ids: out.map(\.id))
            return out.map { ($0, records[$0.id]) }
        }
    }
}
