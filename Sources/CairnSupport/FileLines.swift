import Foundation

/// Reads a text file a line at a time, a chunk of the file in memory at once, so a file of any size
/// costs memory for its longest line, not for itself.
///
/// ```swift
/// try FileLines.forEach(path) { number, line in … }   // number from 1; line without its "\n"
/// ```
public enum FileLines {
    /// The longest line read; a longer one is an error, not an unbounded allocation.
    public static let maximumLineBytes = 256 << 20

    public struct LineTooLong: Error, CustomStringConvertible {
        public let line: Int
        public var description: String { "line \(line) is longer than \(FileLines.maximumLineBytes >> 20) MiB" }
    }

    /// Calls `body` with each line's number (from 1) and bytes, without the line break (a "\r"
    /// before it is dropped too). The last line need not end in a line break.
    /// - Throws: what opening or reading the file throws, `LineTooLong`, or what `body` throws.
    public static func forEach(_ path: String, chunkBytes: Int = 1 << 20, _ body: (Int, Data) throws -> Void) throws {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var pending = Data()
        var number = 0
        func emit(_ line: Data) throws {
            number += 1
            try body(number, line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
        }
        while let chunk = try handle.read(upToCount: chunkBytes), !chunk.isEmpty {
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                if pending.isEmpty {
                    try emit(chunk[start..<newline])
                } else {
                    pending.append(chunk[start..<newline])
                    try emit(pending)
                    pending = Data()
                }
                start = newline + 1
            }
            pending.append(chunk[start...])
            if pending.count > maximumLineBytes { throw LineTooLong(line: number + 1) }
        }
        if !pending.isEmpty { try emit(pending) }
    }
}
