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

        package init(spec: ModelSpec, classes: [String], preprocessing: Preprocessing, normalization: Normalization, weightCount: Int) {
            (self.spec, self.classes, self.preprocessing) = (spec, classes, preprocessing)
            (self.normalization, self.weightCount) = (normalization, weightCount)
        }
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

    /// Decodes and checks a checkpoint. Checkpoints travel through remotes, so every header field is
    /// checked before anything is allocated from it: the model's shape within what `train` accepts,
    /// its weight count computed from that shape (with overflow checks) and equal to the header's,
    /// classes, preprocessing and normalization consistent with it, and the bytes that follow
    /// exactly that many weights.
    /// - Throws: `TrainingError.badCheckpoint` saying which check failed.
    public init(decoding data: Data) throws(TrainingError) {
        guard data.count >= 12, Array(data.prefix(8)) == Self.magic else { throw .badCheckpoint("not a cairn checkpoint") }
        let length = data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))) }
        guard length <= 1 << 20, data.count - 12 >= length else { throw .badCheckpoint("the header is cut short or over 1 MiB") }
        let start = data.startIndex
        do {
            header = try JSONDecoder().decode(Header.self, from: data.subdata(in: start + 12..<start + 12 + length))
        } catch {
            throw .badCheckpoint("header: \(error)")
        }
        try header.validate()
        let rest = data.count - 12 - length
        guard rest == header.weightCount * 4 else {
            throw .badCheckpoint("\(rest) bytes of weights where \(header.weightCount) weights (\(header.weightCount * 4) bytes) were expected")
        }
        let count = header.weightCount
        weights = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in
                for i in 0..<count {
                    buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12 + length + i * 4, as: UInt32.self)))
                }
            }
            initialized = count
        }
    }
}

extension Checkpoint.Header {
    /// The checks of `Checkpoint(decoding:)` on the header alone.
    func validate() throws(TrainingError) {
        func bad(_ why: String) -> TrainingError { .badCheckpoint(why) }
        let s = spec
        guard (1...1024).contains(s.width), (1...1024).contains(s.height), s.channels == 1 || s.channels == 3 else {
            throw bad("its input size \(s.width)x\(s.height)x\(s.channels) is not one `cairn train` makes")
        }
        guard (2...65_536).contains(s.classes), classes.count == s.classes, Set(classes).count == classes.count else {
            throw bad("it names \(classes.count) classes for a model of \(s.classes)")
        }
        guard s.hidden.count <= 8, s.hidden.allSatisfy({ (1...65_536).contains($0) }) else { throw bad("its hidden layers are out of range") }
        if s.kind == .cnn, s.width < 4 || s.height < 4 { throw bad("a cnn needs an input of at least 4x4") }
        guard preprocessing == Preprocessing(width: s.width, height: s.height, channels: s.channels) else {
            throw bad("its preprocessing does not match its model's input")
        }
        guard normalization.mean.count == s.channels, normalization.std.count == s.channels,
              (normalization.mean + normalization.std).allSatisfy(\.isFinite), normalization.std.allSatisfy({ $0 > 0 })
        else { throw bad("its normalization does not match its channels") }
        guard let expected = s.parameterCount(), expected <= Checkpoint.maxWeights else {
            throw bad("its model would have more than \(Checkpoint.maxWeights) weights")
        }
        guard weightCount == expected else { throw bad("it claims \(weightCount) weights; a model of its shape has \(expected)") }
    }
}

extension Checkpoint {
    /// Most weights a checkpoint may hold (1 GiB of floats): far past what `cairn train` makes.
    static let maxWeights = 1 << 28
}

extension ModelSpec {
    /// How many weights (and biases) a network of this shape has, or nil when the count overflows.
    /// The same layers as `Network.init`, counted without building them.
    package func parameterCount() -> Int? {
        var total = 0
        func dense(_ inputs: Int, _ outputs: Int) -> Bool {
            let (weights, o1) = inputs.multipliedReportingOverflow(by: outputs)
            let (sum, o2) = total.addingReportingOverflow(weights)
            let (withBias, o3) = sum.addingReportingOverflow(outputs)
            total = withBias
            return !(o1 || o2 || o3)
        }
        var size = inputSize
        if kind == .cnn {
            var (h, w, c) = (height, width, channels)
            for filters in [16, 32] {
                guard dense(9 * c, filters) else { return nil }
                (h, w, c) = (h / 2, w / 2, filters)
            }
            size = h * w * c
        }
        if kind != .softmax {
            for hidden in self.hidden {
                guard dense(size, hidden) else { return nil }
                size = hidden
            }
        }
        guard dense(size, classes) else { return nil }
        return total
    }
}

/// A network with its weights loaded, ready to predict.
public final class TrainedModel {
    public let checkpoint: Checkpoint
    package let network: Network

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
