import CairnSupport
import Foundation
import Testing

@Suite struct FileLinesTests {
    private func lines(of text: String, chunkBytes: Int) throws -> [String] {
        let path = NSTemporaryDirectory() + "cairn-lines-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        var out: [String] = []
        try FileLines.forEach(path, chunkBytes: chunkBytes) { number, line in
            #expect(number == out.count + 1)
            out.append(String(decoding: line, as: UTF8.self))
        }
        return out
    }

    /// Lines come out whole whatever the chunk size: split across chunks, empty, CRLF, no final break.
    @Test(arguments: [1, 2, 3, 7, 1 << 20]) func linesSurviveEveryChunkSize(chunkBytes: Int) throws {
        #expect(try lines(of: "first\nsécond line\r\n\n{\"a\": [1, 2]}\nlast", chunkBytes: chunkBytes)
                == ["first", "sécond line", "", "{\"a\": [1, 2]}", "last"])
        #expect(try lines(of: "one\n", chunkBytes: chunkBytes) == ["one"])
        #expect(try lines(of: "", chunkBytes: chunkBytes).isEmpty)
    }

    @Test func aMissingFileThrows() {
        #expect(throws: (any Error).self) { try FileLines.forEach("/nonexistent/cairn-lines") { _, _ in } }
    }
}
