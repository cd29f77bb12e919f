import CairnSupport
import CairnCatalog
import CairnImaging
import CairnStore
import Foundation
import Synchronization

/// An item whose stored bytes are intact but are not a decodable image (imported with `--no-verify`).
public struct UndecodableImage: Sendable, Codable, Hashable {
    public var item: Item
    public var reason: String
}

extension Repository {
    /// Every item whose image does not decode, found by decoding each one (in parallel). Items whose
    /// bytes are missing or damaged are fsck's to report and are not listed here.
    ///
    /// - Complexity: one full decode per item.
    public func undecodableImages(progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> [UndecodableImage] {
        let items = try catalog.read { try $0.allItems() }
        let done = Atomic<Int>(0)
        let store = self.store
        let found = Parallel.map(items.count) { i -> UndecodableImage? in
            defer { progress(done.add(1, ordering: .relaxed).newValue, items.count) }
            guard let bytes = try? store.get(items[i].blobID) else { return nil }
            do {
                _ = try ImageCodec.decode(bytes)
                return nil
            } catch {
                return UndecodableImage(item: items[i], reason: "\(error)")
            }
        }
        return found.compactMap { $0 }
    }
}
