import CairnCatalog
import CairnModels
import CairnStore
import CairnSupport
import Foundation
import Synchronization

/// A 2-D array of numbers in NumPy's `.npy` format (what `numpy.save` writes), as 32-bit floats.
///
/// Read: format versions 1–3, little- or big-endian float16/32/64, C or Fortran order, shape
/// `(rows, columns)`; the header's length, the data's length and every value (finite) are
/// checked before anything is used. Written: version 1, `<f4`, C order.
public struct NumpyMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    /// Row-major.
    public var values: [Float]

    /// Most values read (4 GiB as floats: a million rows of 1,024).
    public static let maxValues = 1 << 30
    /// Most columns.
    public static let maxColumns = 65_536

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "values differ from the shape")
        (self.rows, self.columns, self.values) = (rows, columns, values)
    }

    /// Decodes an `.npy` file.
    /// - Throws: `NumpyError` saying what is wrong.
    public init(npy data: Data) throws(NumpyError) {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw NumpyError("not a .npy file (it does not start with \\x93NUMPY)")
        }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw NumpyError(".npy format version \(major) is not one of 1, 2, 3") }
        let (lengthBytes, start) = major == 1 ? (2, 10) : (4, 12)
        guard bytes.count >= start else { throw NumpyError("the header is cut short") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerLength <= 1 << 16, data.count >= start + headerLength else { throw NumpyError("the header is cut short or too long") }
        let base = data.startIndex
        let header = String(decoding: data[(base + start)..<(base + start + headerLength)], as: UTF8.self)
        let fields = try Self.parseHeader(header)
        guard case .text(let descr)? = fields["descr"] else { throw NumpyError("the header has no 'descr' string") }
        guard case .flag(let fortran)? = fields["fortran_order"] else { throw NumpyError("the header has no 'fortran_order' True or False") }
        guard case .shape(let shape)? = fields["shape"] else { throw NumpyError("the header has no 'shape' tuple") }
        guard shape.count == 2 else {
            throw NumpyError("the array has \(shape.count) dimensions (shape \(shape)); embeddings are 2-D: one row per item")
        }
        let (rows, columns) = (shape[0], shape[1])
        guard rows >= 1, (1...Self.maxColumns).contains(columns), rows <= Self.maxValues / columns else {
            throw NumpyError("shape (\(rows), \(columns)) is empty or too large (at most \(Self.maxColumns) columns and \(Self.maxValues) values)")
        }
        let size: Int
        let bigEndian: Bool
        switch descr {
        case "<f2", "=f2", ">f2": size = 2
        case "<f4", "=f4", ">f4": size = 4
        case "<f8", "=f8", ">f8": size = 8
        default: throw NumpyError("dtype '\(Printable.escaped(String(descr.prefix(20))))' is not a float (write float16, float32 or float64)")
        }
        bigEndian = descr.hasPrefix(">")
        let payload = data.count - start - headerLength
        guard payload == rows * columns * size else {
            throw NumpyError("\(payload) bytes of data for shape (\(rows), \(columns)) of \(size)-byte floats (\(rows * columns * size) expected)")
        }
        var values = [Float](repeating: 0, count: rows * columns)
        var bad: Int?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let p = raw.baseAddress! + start + headerLength
            for i in 0..<(rows * columns) {
                let v: Float
                switch size {
                case 2:
                    let bits = p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                    v = Float(Float16(bitPattern: bigEndian ? bits.byteSwapped : bits))
                case 4:
                    let bits = p.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                    v = Float(bitPattern: bigEndian ? bits.byteSwapped : bits)
                default:
                    let bits = p.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                    v = Float(Double(bitPattern: bigEndian ? bits.byteSwapped : bits))
                }
                if !v.isFinite && bad == nil { bad = i }
                // Fortran order: element i is (i % rows, i / rows).
                values[fortran ? (i % rows) * columns + i / rows : i] = v
            }
        }
        if let bad {
            let (row, column) = fortran ? (bad % rows, bad / rows) : (bad / columns, bad % columns)
            throw NumpyError("row \(row), column \(column) is not a finite number (or too large for a 32-bit float)")
        }
        self.init(rows: rows, columns: columns, values: values)
    }

    /// The `.npy` file: version 1, little-endian float32, C order.
    public var npy: Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        out.append(contentsOf: Array(header.utf8))
        values.withUnsafeBytes { raw in
            for i in 0..<values.count { withUnsafeBytes(of: raw.load(fromByteOffset: i * 4, as: UInt32.self).littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    private enum HeaderValue { case text(String), flag(Bool), shape([Int]) }

    /// The header's Python dict literal, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }`.
    private static func parseHeader(_ text: String) throws(NumpyError) -> [String: HeaderValue] {
        var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        func fail() -> NumpyError { NumpyError("the header is not the dict numpy writes: \(Printable.escaped(String(text.prefix(120))))") }
        func skipSpace() { while let c = s.first, c == " " { s.removeFirst() } }
        func expect(_ c: Character) throws(NumpyError) {
            skipSpace()
            guard s.first == c else { throw fail() }
            s.removeFirst()
        }
        func quoted() throws(NumpyError) -> String {
            skipSpace()
            guard let quote = s.first, quote == "'" || quote == "\"" else { throw fail() }
            s.removeFirst()
            guard let end = s.firstIndex(of: quote) else { throw fail() }
            defer { s = s[s.index(after: end)...] }
            return String(s[..<end])
        }
        try expect("{")
        var out: [String: HeaderValue] = [:]
        while true {
            skipSpace()
            if s.first == "}" { s.removeFirst(); break }
            let key = try quoted()
            try expect(":")
            skipSpace()
            if s.hasPrefix("True") || s.hasPrefix("False") {
                out[key] = .flag(s.hasPrefix("True"))
                s = s.dropFirst(s.hasPrefix("True") ? 4 : 5)
            } else if s.first == "(" {
                s.removeFirst()
                var shape: [Int] = []
                while true {
                    skipSpace()
                    if s.first == ")" { s.removeFirst(); break }
                    let digits = s.prefix { $0.isASCII && $0.isNumber }
                    guard !digits.isEmpty, digits.count <= 12, let n = Int(digits) else { throw fail() }
                    shape.append(n)
                    s = s.dropFirst(digits.count)
                    skipSpace()
                    if s.first == "," { s.removeFirst() } else if s.first != ")" { throw fail() }
                    guard shape.count <= 32 else { throw fail() }
                }
                out[key] = .shape(shape)
            } else {
                out[key] = .text(try quoted())
            }
            skipSpace()
            if s.first == "," { s.removeFirst() } else if s.first != "}" { throw fail() }
            guard out.count <= 16 else { throw fail() }
        }
        skipSpace()
        guard s.isEmpty else { throw fail() }
        return out
    }
}

/// What is wrong with an `.npy` file.
public struct NumpyError: CairnError, Equatable {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Where a program run's embeddings are kept: the vectors (an `.npy` of float32, one row per
/// item) and the items' blob ids (one a line, in the rows' order), both blobs.
public struct StoredEmbeddings: Sendable, Hashable, Codable {
    public var vectors: String
    public var keys: String
    public var rows: Int
    public var dimensions: Int
}

/// A run's per-item embeddings, read back from its blobs and checked.
public struct RunEmbeddings: Sendable {
    public let dimensions: Int
    /// Row-major, one row per key.
    public let vectors: [Float]
    public let keys: [BlobID]
    private let rowOf: [BlobID: Int]

    init(_ matrix: NumpyMatrix, keys: [BlobID]) {
        (dimensions, vectors, self.keys) = (matrix.columns, matrix.values, keys)
        rowOf = Dictionary(keys.enumerated().map { ($1, $0) }) { a, _ in a }
    }

    /// The row of an image's embedding, if the run wrote one.
    public func row(_ blob: BlobID) -> Int? { rowOf[blob] }
}

extension Training {
    /// Cosine distance at or under which `check --run` calls two embeddings one picture.
    public static let embeddingThreshold = 0.02

    /// Reads a program's `embeddings.npy` and `embeddings.keys.txt` (one key a line: a blob id or
    /// an imported path, as in predictions.jsonl) and stores them as blobs, rows in the keys'
    /// order and keys as blob ids. Everything is checked first; any problem stores nothing.
    func storeEmbeddings(_ directory: String) throws -> StoredEmbeddings {
        let (file, keysFile) = (directory + "/embeddings.npy", directory + "/embeddings.keys.txt")
        func refuse(_ why: String) -> TrainingError { .badEmbeddings(file: file, problems: [why], total: 1) }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        guard size <= NumpyMatrix.maxValues * 8 + (1 << 17) else { throw refuse("\(size) bytes is more than embeddings may be") }
        guard let data = FileManager.default.contents(atPath: file) else { throw refuse("cannot read it") }
        let matrix: NumpyMatrix
        do { matrix = try NumpyMatrix(npy: data) } catch { throw refuse(error.reason) }
        let keysSize = (try? FileManager.default.attributesOfItem(atPath: keysFile)[.size] as? Int) ?? 0
        guard keysSize <= matrix.rows * 4_097 + 4_096 else {
            throw refuse("embeddings.keys.txt is \(keysSize) bytes, more than \(matrix.rows) keys of up to 4,096 bytes each")
        }
        guard let text = try? String(contentsOfFile: keysFile, encoding: .utf8) else {
            throw refuse("embeddings.keys.txt beside it (one item key a line, blob id or path, in the rows' order) is missing or not UTF-8")
        }
        var keys = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        while keys.last == "" { keys.removeLast() }
        guard keys.count == matrix.rows else {
            throw refuse("\(matrix.rows) rows but \(keys.count) keys in embeddings.keys.txt")
        }
        var problems = ProblemList(), seen = Set<BlobID>(), blobs: [BlobID] = []
        try catalog.read { tx in
            for (i, key) in keys.enumerated() {
                let isBlob = key.count == 64 && BlobID(hex: key.lowercased()) != nil
                guard let item = try Self.item(isBlob ? key : nil, path: isBlob ? nil : key, tx) else {
                    problems.add("embeddings.keys.txt line \(i + 1): no item \(Printable.escaped(String(key.prefix(200))))")
                    continue
                }
                if !seen.insert(item.blobID).inserted { problems.add("embeddings.keys.txt line \(i + 1): a second row for \(item.blobID.hex.prefix(12))") }
                blobs.append(item.blobID)
            }
        }
        guard problems.count == 0 else { throw TrainingError.badEmbeddings(file: file, problems: problems.shown, total: problems.count) }
        let vectors = HashedBlob(matrix.npy), names = HashedBlob(Data(blobs.map(\.hex).joined(separator: "\n").utf8))
        _ = try repository.store.put(vectors)
        _ = try repository.store.put(names)
        try repository.store.flush()
        return StoredEmbeddings(vectors: vectors.id.hex, keys: names.id.hex, rows: matrix.rows, dimensions: matrix.columns)
    }

    /// Run `record`'s embeddings, read from their blobs and checked (a pulled record is not trusted).
    /// - Throws: `TrainingError.badParameter` for a run without them, `.badEmbeddings` for blobs that do not read back.
    public func embeddings(of record: RunRecord) throws -> RunEmbeddings {
        guard let stored = record.program?.embeddings else {
            throw TrainingError.badParameter("run \(record.id) has no embeddings (a program run by `cairn run` writes them to "
                                             + "$CAIRN_RUN_DIR/embeddings.npy with embeddings.keys.txt beside it; Docs/TRAINING.md)")
        }
        func bad(_ why: String) -> TrainingError { .badEmbeddings(file: "run \(record.id)'s embeddings", problems: [why], total: 1) }
        guard let vectorsID = BlobID(hex: stored.vectors), let keysID = BlobID(hex: stored.keys) else { throw bad("the record names no blobs") }
        let matrix: NumpyMatrix
        do { matrix = try NumpyMatrix(npy: try repository.store.get(vectorsID)) } catch let error as NumpyError { throw bad(error.reason) }
        let keys = String(decoding: try repository.store.get(keysID), as: UTF8.self).split(separator: "\n").map { BlobID(hex: String($0)) }
        guard keys.count == matrix.rows, keys.allSatisfy({ $0 != nil }), matrix.columns == stored.dimensions else {
            throw bad("the keys blob holds \(keys.count) lines for \(matrix.rows) rows, or a line that is not a blob id")
        }
        return RunEmbeddings(matrix, keys: keys.map { $0! })
    }
}
