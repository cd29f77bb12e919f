import Foundation

/// Reads a COCO detection file in one pass over its bytes, keeping only the fields Cairn uses.
///
/// Why not `JSONDecoder`: it builds a map of the whole document before decoding, which for a
/// 5-million-box file (about 600 MB) took 4.6 GB and most of a minute here (Docs/BENCHMARKS.md,
/// "Boxes at scale"); real COCO files are mostly segmentation polygons that Cairn skips. This
/// reader keeps the few fields per annotation and skips every other value without building it.
/// It accepts exactly JSON (RFC 8259): anything else is an error with its byte offset.
/// `JSONDecoder` on the same types is the oracle its tests compare against.
struct COCOReader {
    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "byte \(offset): \(reason)" }
    }

    private let bytes: UnsafeRawBufferPointer
    private var at = 0
    /// Open objects and arrays; deeper than `maxDepth` is refused (a hostile file must not exhaust the stack).
    private var depth = 0
    private static let maxDepth = 256

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The file's images, categories and annotations.
    /// - Throws: `Failure` for malformed JSON, a missing required field or a value of the wrong type.
    static func read(_ data: Data) throws -> COCOInput {
        try data.withUnsafeBytes { buffer in
            var reader = COCOReader(buffer)
            let input = try reader.document()
            reader.skipSpace()
            guard reader.at == buffer.count else { throw reader.fail("text after the document") }
            return input
        }
    }

    // MARK: The document

    private mutating func document() throws -> COCOInput {
        var images: [COCOInput.Image]?, categories: [COCOInput.Category]?, annotations: [COCOInput.Annotation]?
        try object { key, reader in
            switch key {
            case "images": images = try reader.array { try $0.image() }
            case "categories": categories = try reader.array { try $0.category() }
            case "annotations": annotations = try reader.array { try $0.annotation() }
            default: try reader.skipValue()
            }
        }
        guard let images else { throw fail("images is missing", at: 0) }
        guard let categories else { throw fail("categories is missing", at: 0) }
        guard let annotations else { throw fail("annotations is missing", at: 0) }
        return COCOInput(images: images, categories: categories, annotations: annotations)
    }

    private mutating func image() throws -> COCOInput.Image {
        let start = at
        var id: Int64?, fileName: String?, width: Int?, height: Int?, blob: String?, path: String?
        try object { key, reader in
            switch key {
            case "id": id = try reader.integer()
            case "file_name": fileName = try reader.string()
            case "width": width = try reader.integer().flatMap { Int(exactly: $0) }
            case "height": height = try reader.integer().flatMap { Int(exactly: $0) }
            case "cairn_blob_id": blob = try reader.optionalString()
            case "cairn_path": path = try reader.optionalString()
            default: try reader.skipValue()
            }
        }
        guard let id, let fileName, let width, let height else {
            throw fail(Self.lacking("image", id, ["id": id, "file_name": fileName, "width": width, "height": height]), at: start)
        }
        return COCOInput.Image(id: id, file_name: fileName, width: width, height: height, cairn_blob_id: blob, cairn_path: path)
    }

    private mutating func category() throws -> COCOInput.Category {
        let start = at
        var id: Int64?, name: String?
        try object { key, reader in
            switch key {
            case "id": id = try reader.integer()
            case "name": name = try reader.string()
            default: try reader.skipValue()
            }
        }
        guard let id, let name else { throw fail(Self.lacking("category", id, ["id": id, "name": name]), at: start) }
        return COCOInput.Category(id: id, name: name)
    }

    private mutating func annotation() throws -> COCOInput.Annotation {
        let start = at
        var id: Int64?, image: Int64?, category: Int64?, bbox: COCOInput.BBox?, crowd: Int?
        var segmentation: COCOInput.Segmentation?, occluded: Bool?
        try object { key, reader in
            switch key {
            case "id": id = try reader.integer()
            case "image_id": image = try reader.integer()
            case "category_id": category = try reader.integer()
            case "bbox":
                var numbers = COCOInput.BBox([])
                try reader.arrayElements { numbers.append(try $0.number()) }
                bbox = numbers
            case "iscrowd": crowd = try reader.nullable { try $0.integer().flatMap { Int(exactly: $0) } } ?? nil
            case "segmentation": segmentation = try reader.segmentation()
            case "attributes":
                if try reader.isNull() { break }
                try reader.object { key, reader in
                    if key == "occluded" { occluded = try reader.nullable { try $0.bool() } ?? nil } else { try reader.skipValue() }
                }
            default: try reader.skipValue()
            }
        }
        guard let id, let image, let category, let bbox else {
            throw fail(Self.lacking("annotation", id, ["id": id, "image_id": image, "category_id": category, "bbox": bbox]), at: start)
        }
        return COCOInput.Annotation(id: id, image_id: image, category_id: category, bbox: bbox, iscrowd: crowd, segmentation: segmentation,
                                    attributes: occluded.map { COCOInput.Attributes(occluded: $0) })
    }

    /// Polygons are kept only when they could be the box's own rectangle (one ring of 4 points);
    /// anything larger is remembered as "more than a box" without being built.
    private mutating func segmentation() throws -> COCOInput.Segmentation? {
        skipSpace()
        switch peek() {
        case UInt8(ascii: "n"):
            try literal("null")
            return nil
        case UInt8(ascii: "["):
            var rings: [[Double]] = []
            var large = false
            try arrayElements { reader in
                let ring = try reader.array { try $0.number() }
                if ring.count > 8 { large = true } else { rings.append(ring) }
            }
            return large ? COCOInput.Segmentation(large: true) : COCOInput.Segmentation(polygons: rings)
        default:
            try skipValue()
            return COCOInput.Segmentation(rle: true)
        }
    }

    /// "annotation 12 has no bbox": which required fields an entry lacks (a null counts as missing).
    private static func lacking(_ kind: String, _ id: Int64?, _ fields: KeyValuePairs<String, Any?>) -> String {
        let missing = fields.filter { $0.value == nil }.map(\.key)
        let article = "aeiou".contains(kind.first ?? "x") ? "an" : "a"
        return (id.map { "\(kind) \($0)" } ?? "\(article) \(kind)") + " has no " + missing.joined(separator: ", ")
    }

    // MARK: JSON values

    private func fail(_ reason: String, at offset: Int? = nil) -> Failure { Failure(offset: offset ?? at, reason: reason) }

    private func peek() -> UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipSpace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws {
        skipSpace()
        guard peek() == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        at += 1
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard at + n <= bytes.count, memcmp(bytes.baseAddress! + at, word.utf8Start, n) == 0 else { throw fail("expected \(word)") }
        at += n
    }

    private mutating func isNull() throws -> Bool {
        skipSpace()
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func nullable<T>(_ body: (inout COCOReader) throws -> T) throws -> T? {
        if try isNull() { return nil }
        return try body(&self)
    }

    /// Calls `body` with each key of an object, the reader placed at its value (which `body` must consume).
    private mutating func object(_ body: (String, inout COCOReader) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
        defer { depth -= 1 }
        skipSpace()
        if peek() == UInt8(ascii: "}") { at += 1; return }
        while true {
            skipSpace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try body(key, &self)
            skipSpace()
            switch peek() {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"): at += 1; return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func arrayElements(_ body: (inout COCOReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
        defer { depth -= 1 }
        skipSpace()
        if peek() == UInt8(ascii: "]") { at += 1; return }
        while true {
            try body(&self)
            skipSpace()
            switch peek() {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"): at += 1; return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func array<T>(_ element: (inout COCOReader) throws -> T) throws -> [T] {
        var out: [T] = []
        try arrayElements { out.append(try element(&$0)) }
        return out
    }

    private mutating func bool() throws -> Bool {
        skipSpace()
        if peek() == UInt8(ascii: "t") { try literal("true"); return true }
        try literal("false")
        return false
    }

    private mutating func optionalString() throws -> String? { try nullable { try $0.string() } }

    /// A string, escapes decoded; its bytes must be UTF-8.
    private mutating func string() throws -> String {
        skipSpace()
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        at += 1
        let start = at
        // The common case: no escapes.
        while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\") {
            guard bytes[at] >= 0x20 else { throw fail("a control character in a string") }
            at += 1
        }
        guard at < bytes.count else { throw fail("a string runs past the end") }
        var utf8 = Array(bytes[start..<at])
        while bytes[at] != UInt8(ascii: "\"") {
            at += 1  // past the backslash
            guard at < bytes.count else { throw fail("a string runs past the end") }
            let escape = bytes[at]
            at += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else { throw fail("a lone surrogate") }
                    at += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate") }
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("a lone surrogate")
                }
                utf8.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw fail("an unknown escape")
            }
            while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\") {
                guard bytes[at] >= 0x20 else { throw fail("a control character in a string") }
                utf8.append(bytes[at])
                at += 1
            }
            guard at < bytes.count else { throw fail("a string runs past the end") }
        }
        at += 1
        guard let text = String(validating: utf8, as: UTF8.self) else { throw fail("a string that is not UTF-8", at: start) }
        return text
    }

    private mutating func hex4() throws -> UInt32 {
        guard at + 4 <= bytes.count else { throw fail("a short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexDigit(bytes[at]) else { throw fail("a bad \\u escape") }
            value = value << 4 | digit
            at += 1
        }
        return value
    }

    private func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// The extent of a JSON number at the reader, checked against the grammar; the reader moves past it.
    private mutating func numberText() throws -> Range<Int> {
        skipSpace()
        let start = at
        func digits() -> Int {
            let from = at
            while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") { at += 1 }
            return at - from
        }
        if peek() == UInt8(ascii: "-") { at += 1 }
        let leadingZero = peek() == UInt8(ascii: "0")
        let whole = digits()
        guard whole > 0, !(leadingZero && whole > 1) else { throw fail("expected a number", at: start) }
        if peek() == UInt8(ascii: ".") {
            at += 1
            guard digits() > 0 else { throw fail("a number without digits after its point", at: start) }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            at += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { at += 1 }
            guard digits() > 0 else { throw fail("a number without exponent digits", at: start) }
        }
        return start..<at
    }

    /// A number as the nearest double (as `JSONDecoder` reads it).
    private mutating func number() throws -> Double {
        let range = try numberText()
        var text = [CChar](repeating: 0, count: range.count + 1)
        for (k, i) in range.enumerated() { text[k] = CChar(bitPattern: bytes[i]) }
        let value = strtod(text, nil)
        guard value.isFinite else { throw fail("a number out of range", at: range.lowerBound) }
        return value
    }

    /// An integer (a number without fraction or exponent that fits 64 bits); nil for `null`.
    private mutating func integer() throws -> Int64? {
        if try isNull() { return nil }
        let start = at
        let range = try numberText()
        if bytes[range].contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            // 640.0 or 6.4e2: an integer written as a number with a fraction or exponent.
            at = start
            let value = try number()
            guard value == value.rounded(), let exact = Int64(exactly: value) else { throw fail("expected an integer", at: range.lowerBound) }
            return exact
        }
        var value: Int64 = 0
        var negative = false
        for i in range {
            let b = bytes[i]
            if b == UInt8(ascii: "-") { negative = true; continue }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { throw fail("expected an integer", at: range.lowerBound) }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (plus, o2) = times.addingReportingOverflow(Int64(b - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw fail("an integer out of range", at: range.lowerBound) }
            value = plus
        }
        return negative ? -value : value
    }

    /// Moves past one value of any kind without building it.
    private mutating func skipValue() throws {
        skipSpace()
        switch peek() {
        case UInt8(ascii: "{"): try object { _, reader in try reader.skipValue() }
        case UInt8(ascii: "["): try arrayElements { try $0.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try numberText()
        }
    }
}
