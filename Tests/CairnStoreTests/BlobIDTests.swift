import CairnStore
import Foundation
import Testing

@Suite struct BlobIDTests {
    @Test func hashesWithSHA256() {
        // sha256("hello"), as printed by sha256sum.
        #expect(BlobID(hashing: Data("hello".utf8)).hex == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    }

    @Test func parsesHexInEitherCaseAndRejectsOtherText() throws {
        let id = BlobID(hashing: Data("x".utf8))
        #expect(BlobID(hex: id.hex) == id)
        #expect(BlobID(hex: id.hex.uppercased()) == id)
        #expect(BlobID(hex: String(id.hex.dropLast())) == nil)
        #expect(BlobID(hex: String(id.hex.dropLast()) + "g") == nil)
    }

    @Test func ordersByBytesAndRoundTripsRawBytes() {
        let a = BlobID(hex: "00" + String(repeating: "f", count: 62))!
        let b = BlobID(hex: "01" + String(repeating: "0", count: 62))!
        #expect(a < b)
        #expect(b.firstByte == 1)
        let raw = b.bytes
        #expect(raw.withUnsafeBytes { BlobID(rawBytes: $0) } == b)
    }

    @Test func codesAsHexString() throws {
        let id = BlobID(hashing: Data("y".utf8))
        let json = try JSONEncoder().encode([id])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(id.hex)\"]")
        #expect(try JSONDecoder().decode([BlobID].self, from: json) == [id])
    }
}
