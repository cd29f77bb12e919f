import Dispatch
import Foundation
import Glibc

/// Signals that call `handler` instead of ending the process, until `cancel()` puts back what
/// they did before. The one way Cairn catches Ctrl-C and kill: training stops after its step, a
/// sweep passes the stop to its trials, a program run passes SIGTERM on to the program.
///
/// `@unchecked Sendable`: the sources and the dispositions saved are set once in `init` and only
/// read after; `cancel` runs once (it is the owner's to call).
public final class SignalHandlers: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let previous: [(Int32, sighandler_t?)]

    /// Handles `signals` (each delivery calls `handler` with its number, on a global queue).
    public init(_ signals: [Int32], _ handler: @escaping (Int32) -> Void) {
        previous = signals.map { ($0, signal($0, SIG_IGN)) }
        sources = signals.map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    /// Stops handling: each signal does what it did before.
    public func cancel() {
        for source in sources { source.cancel() }
        for (number, disposition) in previous { signal(number, disposition) }
    }
}
