import Foundation
import Synchronization

/// What the terminal looked like before `Terminal.enter()`, for the signal handlers that restore it.
/// nonisolated(unsafe): written once in `enter()` before any handler is installed, then only read.
nonisolated(unsafe) private var savedAttributes = termios()
private let resized = Atomic<Bool>(false)
private let restoreSequence = Array("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l".utf8)

/// Restores the terminal from a signal handler (only async-signal-safe calls), then dies of the signal.
private func restoreAndDie(_ signal: Int32) {
    _ = restoreSequence.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    tcsetattr(STDIN_FILENO, TCSANOW, &savedAttributes)
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

/// A key the labeling UI understands.
public enum Key: Hashable, Sendable {
    case character(String)
    case left, right, up, down, enter, escape, interrupt, backspace, backtab
}

/// The controlling terminal in raw mode on the alternate screen. A resource: one per process.
public final class Terminal {
    public private(set) var columns = 80
    public private(set) var rows = 24
    private var active = false

    public init() {}

    /// True when stdin and stdout are terminals.
    public static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 }

    /// Raw input, no echo, alternate screen, hidden cursor; SIGINT, SIGTERM and SIGHUP restore the
    /// terminal before the process ends, and SIGWINCH marks a resize.
    public func enter() {
        tcgetattr(STDIN_FILENO, &savedAttributes)
        var raw = savedAttributes
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig) { restoreAndDie($0) } }
        signal(SIGWINCH) { _ in resized.store(true, ordering: .relaxed) }
        active = true
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
        updateSize()
    }

    /// Leaves raw mode and the alternate screen. Safe to call more than once.
    public func leave() {
        guard active else { return }
        active = false
        write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        tcsetattr(STDIN_FILENO, TCSANOW, &savedAttributes)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] { signal(sig, SIG_DFL) }
    }

    deinit { leave() }

    /// Reads the window size; true when it changed since the last call (or a SIGWINCH came).
    @discardableResult
    public func updateSize() -> Bool {
        var size = winsize()
        let flagged = resized.exchange(false, ordering: .relaxed)
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return flagged }
        let changed = Int(size.ws_col) != columns || Int(size.ws_row) != rows
        (columns, rows) = (Int(size.ws_col), Int(size.ws_row))
        return changed || flagged
    }

    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { if errno == EINTR { continue }; return }
            done += n
        }
    }

    /// The keys typed so far (several when they came faster than the screen was drawn), waiting up
    /// to `timeout` seconds for the first; empty on timeout.
    public func readKeys(timeout: Double) -> [Key] {
        var poller = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(STDIN_FILENO, &buffer, buffer.count)
        guard n > 0 else { return [] }
        return Self.split(Array(buffer[0..<n]))
    }

    /// Asks the terminal what it supports (Primary Device Attributes, `ESC [ c`) and returns the
    /// numbers of its reply (4 means sixel graphics), or nil when it does not answer within
    /// `timeout` seconds. Switches to raw mode only for the question.
    public static func primaryAttributes(timeout: Double = 0.2) -> [Int]? {
        guard isInteractive else { return nil }
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
        let query = Array("\u{1B}[c".utf8)
        _ = query.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        var reply: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while reply.last != UInt8(ascii: "c") || parseAttributes(reply) == nil {
            let left = deadline.timeIntervalSinceNow
            var poller = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&poller, 1, Int32(left * 1000)) > 0 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = read(STDIN_FILENO, &buffer, buffer.count)
            guard n > 0 else { return nil }
            reply += buffer[0..<n]
        }
        return parseAttributes(reply)
    }

    /// The numbers of a Primary Device Attributes reply `ESC [ ? N ; N … c` found in `bytes`.
    public static func parseAttributes(_ bytes: [UInt8]) -> [Int]? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let start = text.range(of: "\u{1B}[?"), let end = text[start.upperBound...].firstIndex(of: "c") else { return nil }
        let numbers = text[start.upperBound..<end].split(separator: ";").map { Int($0) }
        return numbers.contains(nil) ? nil : numbers.compactMap { $0 }
    }

    /// Splits bytes into keys: escape sequences, UTF-8 characters, control bytes.
    public static func split(_ bytes: [UInt8]) -> [Key] {
        var keys: [Key] = []
        var i = 0
        while i < bytes.count {
            var length = 1
            if bytes[i] == 27, i + 2 < bytes.count, bytes[i + 1] == 91 || bytes[i + 1] == 79 {
                length = 3
            } else if bytes[i] >= 0xC0 {
                length = bytes[i] >= 0xF0 ? 4 : bytes[i] >= 0xE0 ? 3 : 2
            }
            keys.append(parse(Array(bytes[i..<min(bytes.count, i + length)])))
            i += length
        }
        return keys
    }

    /// One key from the bytes a terminal sends for it.
    public static func parse(_ bytes: [UInt8]) -> Key {
        switch bytes {
        case [3]: return .interrupt
        case [13], [10]: return .enter
        case [127], [8]: return .backspace
        case [27]: return .escape
        case [27, 91, 68], [27, 79, 68]: return .left
        case [27, 91, 67], [27, 79, 67]: return .right
        case [27, 91, 65], [27, 79, 65]: return .up
        case [27, 91, 66], [27, 79, 66]: return .down
        case [27, 91, 90]: return .backtab
        default: return .character(String(decoding: bytes, as: UTF8.self))
        }
    }
}
