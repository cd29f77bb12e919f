import CairnStore
import Foundation
import Glibc
import Testing

/// Directory entries are read in place, only up to their name's NUL (`FileOps.entryName`).
@Suite struct DirectoryEntryTests {
    /// readdir packs entries to their names' lengths, so the last one in its buffer can end where
    /// the mapped memory ends. Such an entry is built here, its name ending at the last byte of a
    /// page followed by a page that cannot be read: copying the 256-byte `d_name` field, as the
    /// listing code once did, crashes this test; reading the name in place does not.
    @Test func anEntryEndingAtTheEndOfReadableMemoryIsReadInPlace() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let memory = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(memory != MAP_FAILED)
        defer { munmap(memory, 2 * page) }
        try #require(mprotect(memory + page, page, PROT_NONE) == 0)
        let nameOffset = try #require(MemoryLayout<dirent>.offset(of: \dirent.d_name))
        let name = Array("a.pack".utf8) + [0]
        let entry = memory + page - name.count - nameOffset
        name.withUnsafeBytes { (entry + nameOffset).copyMemory(from: $0.baseAddress!, byteCount: name.count) }
        let bytes = FileOps.entryName(entry.assumingMemoryBound(to: dirent.self))
        #expect(String(decoding: bytes, as: UTF8.self) == "a.pack")
    }

    @Test func listingNamesEveryEntryButDots() throws {
        let dir = NSTemporaryDirectory() + "cairn-entries-" + FileOps.uniqueName()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = (0..<300).map { "entry-\($0)-" + String(repeating: "x", count: $0 % 200) }
        for name in names { try #require(FileManager.default.createFile(atPath: dir + "/" + name, contents: nil)) }
        #expect(try FileOps.list(dir).sorted() == names.sorted())
    }
}
