import CairnImaging
import CairnStore
import Foundation

/// Images read, decoded and rendered for the screen, ahead of the annotator.
///
/// Rendering (libchafa) is most of the time between a keystroke and the next image; it does not
/// depend on the label being saved. So while the annotator looks at one image, the UI has the next
/// one in the queue prepared here on a background thread, and the keystroke only commits the label
/// and writes lines that are ready. A frame still in preparation is waited for, not redone; a
/// frame nobody asked for ahead (another annotator took the predicted item, the window changed
/// size) is made on the spot.
public final class Frames: @unchecked Sendable {
    // @unchecked: `ready`, `order` and `inFlight` are read and written only with `condition`
    // locked (a condition, not a Mutex, because `frame` waits on it); every other field is an
    // immutable `let` of a Sendable type.
    public struct Key: Hashable, Sendable {
        public let blobID: BlobID
        public let columns: Int
        public let rows: Int

        public init(_ blobID: BlobID, columns: Int, rows: Int) {
            (self.blobID, self.columns, self.rows) = (blobID, columns, rows)
        }
    }

    private let store: any BlobStore
    private let renderer: ImageRenderer
    private let worker = DispatchQueue(label: "cairn.frames", qos: .userInitiated)
    private let condition = NSCondition()
    private var ready: [Key: [String]] = [:]
    private var order: [Key] = []
    private var inFlight: Set<Key> = []
    /// Frames kept: the current one, the next, and a few the annotator may go back to.
    private let capacity = 6

    public init(store: any BlobStore, renderer: ImageRenderer) {
        self.store = store
        self.renderer = renderer
    }

    /// The frame for `key`: prepared ahead, awaited if in preparation, else made now.
    /// - Throws: the store's or the decoder's error for a missing, corrupt or undecodable image.
    public func frame(_ key: Key) throws -> [String] {
        condition.lock()
        while inFlight.contains(key) { condition.wait() }
        if let lines = ready[key] {
            condition.unlock()
            return lines
        }
        condition.unlock()
        let lines = try make(key)
        keep(key, lines)
        return lines
    }

    /// Starts preparing `key` on the background thread, unless it is ready or under way. A failure
    /// there is dropped: `frame` meets it again and reports it.
    public func prefetch(_ key: Key) {
        condition.lock()
        defer { condition.unlock() }
        guard ready[key] == nil, inFlight.insert(key).inserted else { return }
        worker.async { [self] in
            let lines = try? make(key)
            condition.lock()
            inFlight.remove(key)
            if let lines { insert(key, lines) }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// True when `key` is ready (for tests and the benchmark).
    public func isReady(_ key: Key) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return ready[key] != nil
    }

    private func make(_ key: Key) throws -> [String] {
        let image = try ImageCodec.decode(try store.get(key.blobID))
        return renderer.render(image, columns: key.columns, rows: key.rows)
    }

    private func keep(_ key: Key, _ lines: [String]) {
        condition.lock()
        insert(key, lines)
        condition.unlock()
    }

    /// Adds a frame, dropping the oldest beyond `capacity`. Call with `condition` held.
    private func insert(_ key: Key, _ lines: [String]) {
        if ready.updateValue(lines, forKey: key) == nil { order.append(key) }
        while order.count > capacity { ready[order.removeFirst()] = nil }
    }
}
