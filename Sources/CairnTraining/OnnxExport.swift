import CairnModels
import Foundation

/// A run's model as an ONNX file (IR version 8, opset 13), for the inference servers that run ONNX
/// (Triton, KServe, onnxruntime).
///
/// The graph takes `input`, FP32 `[N, C, H, W]` raw pixel values 0–255 at the run's size, normalizes
/// them inside the graph (Mul, Add: the run's per-channel mean and std), and gives `probs`, FP32
/// `[N, K]` class probabilities. Cairn's layers work on pixels in H, W, C order, so dense layers read
/// a Transpose to NHWC, flattened; convolutions work in NCHW with weights reordered to match.
/// Class names, the run id and the snapshot id are in the model's metadata.
///
/// The protobuf messages are written by hand (`ProtoWriter`), field numbers from the ONNX IR
/// specification (onnx.proto); only what this graph needs is written.
public enum OnnxExport {
    public static let opset: Int64 = 13
    public static let irVersion: Int64 = 8

    /// The ONNX bytes of `model`, trained by `record`.
    public static func encode(_ model: TrainedModel, record: RunRecord) -> Data {
        let spec = model.checkpoint.header.spec
        let normalization = model.checkpoint.header.normalization
        var graph = Graph()
        let (c, h, w) = (spec.channels, spec.height, spec.width)
        // Normalize: (x / 255 - mean) / std = x * (1 / (255 std)) + (-mean / std), per channel.
        graph.initializer("scale", dims: [1, Int64(c), 1, 1], normalization.std.map { 1 / (255 * $0) })
        graph.initializer("shift", dims: [1, Int64(c), 1, 1], zip(normalization.mean, normalization.std).map { -$0 / $1 })
        graph.node("Mul", ["input", "scale"], "scaled")
        graph.node("Add", ["scaled", "shift"], "normalized")
        var current = "normalized"
        var layers = model.network.layers[...]
        if spec.kind == .cnn {
            while let conv = layers.first as? Conv2D {
                layers = layers.dropFirst()
                let (k, filters, channels) = (conv.kernel, conv.filters, conv.channels)
                // Cairn's patch weights are (ky, kx, channel) × filter; ONNX wants filter × channel × ky × kx.
                var weights = [Float](repeating: 0, count: filters * channels * k * k)
                let source = conv.patches.weight.value
                for f in 0..<filters {
                    for ch in 0..<channels {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                weights[((f * channels + ch) * k + ky) * k + kx] = source[((ky * k + kx) * channels + ch) * filters + f]
                            }
                        }
                    }
                }
                let name = "conv\(graph.nodes.count)"
                graph.initializer(name + ".w", dims: [Int64(filters), Int64(channels), Int64(k), Int64(k)], weights)
                graph.initializer(name + ".b", dims: [Int64(filters)], conv.patches.bias.value)
                let pad = Int64(k / 2)
                graph.node("Conv", [current, name + ".w", name + ".b"], name, attributes: [
                    .ints("kernel_shape", [Int64(k), Int64(k)]), .ints("pads", [pad, pad, pad, pad]), .ints("strides", [1, 1]),
                ])
                current = name
                if layers.first is ReLU {
                    layers = layers.dropFirst()
                    graph.node("Relu", [current], name + ".relu")
                    current = name + ".relu"
                }
                if layers.first is MaxPool2 {
                    layers = layers.dropFirst()
                    graph.node("MaxPool", [current], name + ".pool", attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
                    current = name + ".pool"
                }
            }
        }
        // Dense layers read features in H, W, C order.
        graph.node("Transpose", [current], "nhwc", attributes: [.ints("perm", [0, 2, 3, 1])])
        graph.node("Flatten", ["nhwc"], "features", attributes: [.int("axis", 1)])
        current = "features"
        for layer in layers {
            if let dense = layer as? Dense {
                let name = "dense\(graph.nodes.count)"
                graph.initializer(name + ".w", dims: [Int64(dense.inputs), Int64(dense.outputs)], dense.weight.value)
                graph.initializer(name + ".b", dims: [Int64(dense.outputs)], dense.bias.value)
                graph.node("Gemm", [current, name + ".w", name + ".b"], name)
                current = name
            } else if layer is ReLU {
                graph.node("Relu", [current], current + ".relu")
                current += ".relu"
            }
        }
        graph.node("Softmax", [current], "probs", attributes: [.int("axis", 1)])

        var graphBytes = ProtoWriter()
        for node in graph.nodes { graphBytes.message(1, node) }
        graphBytes.string(2, "cairn-\(record.name)")
        for tensor in graph.initializers { graphBytes.message(5, tensor) }
        graphBytes.message(11, valueInfo("input", elemType: 1, dims: [.param("N"), .value(Int64(c)), .value(Int64(h)), .value(Int64(w))]))
        graphBytes.message(12, valueInfo("probs", elemType: 1, dims: [.param("N"), .value(Int64(spec.classes))]))

        var modelBytes = ProtoWriter()
        modelBytes.int(1, irVersion)
        modelBytes.string(2, "cairn")
        modelBytes.string(3, record.environment.cairnVersion)
        modelBytes.int(5, 1)
        modelBytes.string(6, "\(spec.kind.rawValue) from cairn run \(record.id) on snapshot \(record.snapshotID); input: FP32 [N,\(c),\(h),\(w)] "
                          + "pixel values 0-255 (channels: \(c == 1 ? "gray" : "R, G, B")); output: class probabilities in the order of metadata 'classes'")
        modelBytes.message(7, graphBytes)
        var opset = ProtoWriter()
        opset.string(1, "")
        opset.int(2, Self.opset)
        modelBytes.message(8, opset)
        let classes = (try? JSONEncoder().encode(model.classes)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        for (key, value) in [("classes", classes), ("cairn.run", record.id), ("cairn.run_name", record.name), ("cairn.snapshot", record.snapshotID),
                             ("cairn.model", spec.kind.rawValue)] {
            var entry = ProtoWriter()
            entry.string(1, key)
            entry.string(2, value)
            modelBytes.message(14, entry)
        }
        return modelBytes.data
    }

    enum Dimension {
        case value(Int64)
        case param(String)
    }

    /// A ValueInfoProto of a tensor: name, element type and shape.
    static func valueInfo(_ name: String, elemType: Int64, dims: [Dimension]) -> ProtoWriter {
        var shape = ProtoWriter()
        for dim in dims {
            var d = ProtoWriter()
            switch dim {
            case .value(let v): d.int(1, v)
            case .param(let p): d.string(2, p)
            }
            shape.message(1, d)
        }
        var tensor = ProtoWriter()
        tensor.int(1, elemType)
        tensor.message(2, shape)
        var type = ProtoWriter()
        type.message(1, tensor)
        var info = ProtoWriter()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    /// The nodes and weights of a graph as they are added.
    struct Graph {
        var nodes: [ProtoWriter] = []
        var initializers: [ProtoWriter] = []

        enum Attribute {
            case int(String, Int64)
            case ints(String, [Int64])
        }

        mutating func node(_ op: String, _ inputs: [String], _ output: String, attributes: [Attribute] = []) {
            var node = ProtoWriter()
            for input in inputs { node.string(1, input) }
            node.string(2, output)
            node.string(3, output)
            node.string(4, op)
            for attribute in attributes {
                var a = ProtoWriter()
                switch attribute {
                case .int(let name, let value):
                    a.string(1, name)
                    a.int(3, value)
                    a.int(20, 2)  // AttributeType INT
                case .ints(let name, let values):
                    a.string(1, name)
                    a.packedInts(8, values)
                    a.int(20, 7)  // AttributeType INTS
                }
                node.message(5, a)
            }
            nodes.append(node)
        }

        /// A FLOAT TensorProto holding `values` (little-endian `raw_data`).
        mutating func initializer(_ name: String, dims: [Int64], _ values: [Float]) {
            var t = ProtoWriter()
            t.packedInts(1, dims)
            t.int(2, 1)  // DataType FLOAT
            t.string(8, name)
            var raw = Data(capacity: values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            t.bytes(9, raw)
            initializers.append(t)
        }
    }
}

/// Protocol buffers' wire format, for writing: varints, length-delimited fields, packed repeats.
struct ProtoWriter {
    private(set) var data = Data()

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            data.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        data.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    /// An int64/int32/enum field (wire type 0; negative values as ten-byte two's complement).
    mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func bytes(_ field: Int, _ value: Data) {
        key(field, 2)
        varint(UInt64(value.count))
        data.append(value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Data(value.utf8)) }

    mutating func message(_ field: Int, _ value: ProtoWriter) { bytes(field, value.data) }

    mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var body = ProtoWriter()
        for v in values { body.varint(UInt64(bitPattern: v)) }
        bytes(field, body.data)
    }
}
