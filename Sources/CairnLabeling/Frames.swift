import CairnImaging
import CairnStore
import CairnSupport
import Foundation
import Synchronization

/// Images read, decoded and rendered for the screen, ahead of the annotator.
///
/// Rendering (libchafa) is most of the time between a keystroke and the next image; it does not
/// depend on the label being saved. So while the annotator looks at one image, the UI has the next
/// one in the queue prepared here on a background thread, and the keystroke only commits the label
/// and writes lines that are ready. A frame still in preparation is waited for, not redone; a
/// frame nobody asked for ahead (another annotator took the predicted item, the window changed
/// size) is made on the spot.
public final class Frames: Sendable {
    public struct Key: Hashable, Sendable {
        public let blobID: BlobID
        public let columns: Int
        public let rows: Int

        public init(_ blobID: BlobID, columns: Int, rows: Int) {
            (self.blobID, self.columns, self.rows) = (blobID, columns, rows)
        }
    }

    private struct State {
        var ready: [Key: [String]] = [:]
        /// Oldest first, for dropping beyond `capacity`.
        var order: [Key] = []
        var inFlight: [Key: Pending<[String]?>] = [:]

        /// Adds a frame, dropping the oldest beyond `capacity`.
        mutating func insert(_ key: Key, _ lines: [String], capacity: Int) {
            if ready.updateValue(lines, forKey: key) == nil { order.append(key) }
            while order.count > capacity { ready[order.removeFirst()] = nil }
        }
    }

    private let store: any BlobStore
    private let renderer: ImageRenderer
    private let worker = Worker("cairn.frames", qos: .userInitiated)
    private let state = Mutex(State())
    /// Frames kept: the current one, the next, and a few the annotator may go back to.
    private let capacity = 6

    public init(store: any BlobStore, renderer: ImageRenderer) {
        self.store = store
        self.renderer = renderer
    }

    /// The frame for `key`: prepared ahead, awaited if in preparation, else made now.
    /// - Throws: the store's or the decoder's error for a missing, corrupt or undecodable image.
    public func frame(_ key: Key) throws -> [String] {
        let (ready, inFlight) = state.withLock { ($0.ready[key], $0.inFlight[key]) }
        if let lines = ready ?? inFlight.flatMap({ try? $0.value() }) { return lines }
        let lines = try make(key)
        state.withLock { $0.insert(key, lines, capacity: capacity) }
        return lines
    }

    /// Starts preparing `key` in the background, unless it is ready or under way. A failure there
    /// is dropped: `frame` meets it again and reports it.
    public func prefetch(_ key: Key) {
        state.withLock { state in
            guard state.ready[key] == nil, state.inFlight[key] == nil else { return }
            state.inFlight[key] = worker.start { [self] in
                let lines = try? make(key)
                self.state.withLock { state in
                    state.inFlight[key] = nil
                    if let lines { state.insert(key, lines, capacity: capacity) }
                }
                return lines
            }
        }
    }

    /// True when `key` is ready (for tests and the benchmark).
    public func isReady(_ key: Key) -> Bool {
        state.withLock { $0.ready[key] != nil }
    }

    private func make(_ key: Key) throws -> [String] {
        let image = try ImageCodec.decode(try store.get(key.blobID))
        return renderer.render(image, columns: key.columns, rows: key.rows)
    }
}
