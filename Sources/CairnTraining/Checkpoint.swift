import CairnStore
import Foundation

/// A trained model as stored in the blob store: everything needed to predict, nothing else.
///
/// Bytes: `CAIRNCK1`, a little-endian UInt32 header length, the header as JSON (sorted keys),
/// then the weights as little-endian float32 in layer order.
public struct Checkpoint: Sendable, Hashable {
    public struct Header: Sendable, Hashable, Codable {
        public var spec: ModelSpec
        public var classes: [String]
        public var preprocessing: Preprocessing
        public var normalization: Normalization
        public var weightCount: Int
    }

    public var header: Header
    public var weights: [Float]

    private static let magic = Array("CAIRNCK1".utf8)

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        var data = Data(Self.magic)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for weight in weights { withUnsafeBytes(of: weight.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    public init(header: Header, weights: [Float]) {
        self.header = header
        self.weights = weights
    }

    public init(decoding data: Data) throws(TrainingError) {
        let bytes = [UInt8](data)
        guard bytes.count >= 12, Array(bytes[0..<8]) == Self.magic else { throw .badCheckpoint("not a cairn checkpoint") }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard bytes.count >= 12 + length else { throw .badCheckpoint("truncated header") }
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[12..<12 + length]))
        } catch {
            throw .badCheckpoint("header: \(error)")
        }
        let rest = bytes.count - 12 - length
        guard rest == header.weightCount * 4 else {
            throw .badCheckpoint("\(rest) bytes of weights where \(header.weightCount * 4) were expected")
        }
        weights = (0..<header.weightCount).map { i in
            let o = 12 + length + i * 4
            return Float(bitPattern: UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24)
        }
    }
}

/// A network with its weights loaded, ready to predict.
public final class TrainedModel {
    public let checkpoint: Checkpoint
    let network: Network

    public init(_ checkpoint: Checkpoint) throws(TrainingError) {
        self.checkpoint = checkpoint
        network = Network(spec: checkpoint.header.spec, seed: 0)
        try network.load(checkpoint.weights)
    }

    /// Loads the checkpoint blob `id` from `store` (verified against its id).
    public convenience init(store: any BlobStore, id: BlobID) throws {
        try self.init(Checkpoint(decoding: try store.get(id)))
    }

    public var classes: [String] { checkpoint.header.classes }
    public var preprocessing: Preprocessing { checkpoint.header.preprocessing }

    /// Class probabilities for `rows` of `table`, `classes.count` per row.
    public func probabilities(_ table: PixelTable, rows: [Int]) -> [Float] {
        network.probabilities(table, rows: rows, normalization: checkpoint.header.normalization)
    }
}
