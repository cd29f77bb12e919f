import CairnCatalog
import Foundation

/// The items a queue would serve next, in order, without leasing any: what `cairn queue` prints,
/// so scripts and tests see the order the labeling UI uses.
public enum QueuePreview {
    public static func next(_ count: Int, catalog: any Catalog, queue: AnnotatorQueue, plan: QueuePlan?) throws -> [Item] {
        guard queue.queue.needsPlan == (plan != nil) else { throw LabelingError.planMismatch(queue.queue.rawValue) }
        return try catalog.read { tx in
            var out: [Item] = []
            if let plan {
                var position = 0
                while out.count < count, position < plan.items.count, let hit = try tx.peekFirst(of: plan.items[position...], in: queue) {
                    out.append(hit.item)
                    position = hit.position + 1
                }
            } else {
                var after: Int64 = 0
                while out.count < count, let item = try tx.peekNext(in: queue, after: after) {
                    out.append(item)
                    after = item.id
                }
            }
            return out
        }
    }
}
