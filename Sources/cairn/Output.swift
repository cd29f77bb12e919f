import CairnSupport
import CairnCatalog
import Foundation
import Synchronization

/// Writes a line to stdout. Text output quotes names and paths from the data, so every control
/// character but the line breaks is shown escaped (`Printable`): data never drives the terminal.
func say(_ text: String) {
    emit(Data((Printable.lines(text) + "\n").utf8), to: STDOUT_FILENO)
}

/// Writes a line to stderr, escaped as `say` does.
func warn(_ text: String) {
    emit(Data((Printable.lines(text) + "\n").utf8), to: STDERR_FILENO)
}

/// Writes all of `data` to `fd`. When the reader has gone (`cairn log | head`) the command stops
/// quietly with the status a SIGPIPE gives (141): swift-nio, under the S3 client and the PostgreSQL
/// catalog, ignores SIGPIPE for the whole process, so the write fails with EPIPE instead of ending it.
func emit(_ data: Data, to fd: Int32) {
    data.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && errno == EPIPE {
                Foundation.exit(141)
            } else {
                return
            }
        }
    }
}

/// Prints `value` as pretty JSON with sorted keys on stdout.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    emit(try encoder.encode(value) + Data("\n".utf8), to: STDOUT_FILENO)
}

/// Human-readable byte counts: 1.5 KB, 12.0 MB.
func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// Left-aligned columns.
func table(_ rows: [[String]], indent: String = "") -> String {
    guard let width = rows.map(\.count).max() else { return "" }
    var widths = [Int](repeating: 0, count: width)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        indent + row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal, at most 10 times a second.
final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let started = Date()
    /// When the bar was last drawn, and whether it ever was.
    private let state = Mutex((lastDraw: Date.distantPast, drawn: false))

    init(_ label: String, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.enabled = enabled
    }

    /// Redraws with `done` of `total` finished.
    func update(done: Int, total: Int, bytes: Int64? = nil, force: Bool = false) {
        guard enabled else { return }
        state.withLock { state in
            let now = Date()
            guard force || now.timeIntervalSince(state.lastDraw) >= 0.1 else { return }
            state.lastDraw = now
            draw(done: done, total: total, bytes: bytes, now: now)
            state.drawn = true
        }
    }

    private func draw(done: Int, total: Int, bytes: Int64?, now: Date) {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let cells = 30
        let filled = Int(fraction * Double(cells))
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: cells - filled)
        let volume = bytes.map { b in "  \(formatBytes(b)) \(formatBytes(Int64(elapsed > 0 ? Double(b) / elapsed : 0)))/s" } ?? ""
        let line = String(format: "\r%@ %@ %3.0f%% %d/%d  %.0f/s%@  ETA %.0fs ", label, bar, fraction * 100, done, total, rate, volume, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Clears the bar's line.
    func finish() {
        guard enabled else { return }
        state.withLock { if $0.drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
    }
}
