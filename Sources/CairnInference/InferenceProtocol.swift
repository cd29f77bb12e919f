import CairnSupport
import Foundation

/// A request the server refuses: an HTTP status code and what is wrong, sent as `{"error": "..."}`.
/// (`cairn serve` makes it Hummingbird's `HTTPResponseError`, so a handler only throws it.)
public struct InferError: CairnError {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) { (self.code, self.message) = (code, message) }

    /// A 400: the request is malformed in the way `message` says.
    public static func bad(_ message: String) -> InferError { InferError(code: 400, message: message) }

    public var description: String { message }
}

/// One tensor of an inference request, as the Open Inference Protocol v2 describes it.
public struct RequestTensor: Sendable {
    public enum Values: Sendable {
        case bytes([Data])
        case floats([Float])
    }
    public var name: String
    public var datatype: String
    public var shape: [Int]
    public var values: Values
}

/// An output the client asked for, and whether it wants it as binary data.
public struct RequestedOutput: Sendable {
    public var name: String
    public var binary: Bool

    public init(name: String, binary: Bool) { (self.name, self.binary) = (name, binary) }
}

/// A parsed `POST /v2/models/{name}/infer` body: JSON, or with Triton's binary data extension
/// (`Inference-Header-Content-Length` gives the JSON's length; the tensors' bytes follow it).
///
/// Nothing in the body is trusted: shapes are checked for overflow and against the data, binary
/// sizes against the body, and every tensor holds at most `maxElements` elements.
public struct InferRequest: Sendable {
    public var id: String?
    public var inputs: [RequestTensor]
    /// Nil when the request names no outputs (all of them are returned).
    public var outputs: [RequestedOutput]?
    /// `parameters.binary_data_output`: outputs not named come as binary data.
    public var binaryByDefault: Bool

    /// Most elements one tensor may have.
    public static let maxElements = 64 << 20

    /// Parses a request body; `headerLength` is the `Inference-Header-Content-Length` header, if sent.
    /// - Throws: `InferError` (400) saying what is malformed.
    public static func parse(_ body: Data, headerLength: Int?) throws(InferError) -> InferRequest {
        let jsonPart: Data, binary: Data
        if let headerLength {
            guard headerLength >= 0, headerLength <= body.count else {
                throw .bad("Inference-Header-Content-Length is \(headerLength), but the body has \(body.count) bytes")
            }
            jsonPart = body.prefix(headerLength)
            binary = body.dropFirst(headerLength)
        } else {
            (jsonPart, binary) = (body, Data())
        }
        let top: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: jsonPart) as? [String: Any] else {
                throw InferError.bad("the request must be a JSON object")
            }
            top = object
        } catch let error as InferError {
            throw error
        } catch {
            throw .bad("malformed JSON: \(Self.describe(error))")
        }
        var request = InferRequest(id: nil, inputs: [], outputs: nil, binaryByDefault: false)
        if let id = top["id"] {
            guard let text = id as? String else { throw .bad("\"id\" must be a string") }
            request.id = text
        }
        if let parameters = top["parameters"] {
            guard let p = parameters as? [String: Any] else { throw .bad("\"parameters\" must be an object") }
            request.binaryByDefault = (p["binary_data_output"] as? Bool) ?? false
        }
        guard let inputs = top["inputs"] as? [Any], !inputs.isEmpty else { throw .bad("\"inputs\" must be a non-empty list of tensors") }
        var offset = binary.startIndex
        for (i, raw) in inputs.enumerated() {
            guard let input = raw as? [String: Any] else { throw .bad("inputs[\(i)] must be an object") }
            guard let name = input["name"] as? String else { throw .bad("inputs[\(i)] has no \"name\"") }
            guard let datatype = input["datatype"] as? String else { throw .bad("input \(Self.quoted(name)) has no \"datatype\"") }
            guard let shapeList = input["shape"] as? [Any], let shape = Self.integers(shapeList), shape.allSatisfy({ $0 >= 0 }), shape.count <= 8 else {
                throw .bad("input \(Self.quoted(name)) needs \"shape\": a list of non-negative integers")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (m, o) = acc.0.multipliedReportingOverflow(by: d)
                return (m, acc.1 || o)
            }
            guard !overflow, elements <= maxElements else { throw .bad("input \(Self.quoted(name)) has too many elements") }
            let binarySize = (input["parameters"] as? [String: Any])?["binary_data_size"]
            let values: RequestTensor.Values
            if let binarySize {
                guard let size = binarySize as? Int, size >= 0, size <= binary.endIndex - offset else {
                    throw .bad("input \(Self.quoted(name)): binary_data_size runs past the end of the body")
                }
                let bytes = binary[offset..<offset + size]
                offset += size
                values = try Self.binaryValues(bytes, datatype: datatype, elements: elements, name: name)
            } else {
                guard let data = input["data"] else { throw .bad("input \(Self.quoted(name)) has neither \"data\" nor binary_data_size") }
                values = try Self.jsonValues(data, datatype: datatype, elements: elements, name: name)
            }
            request.inputs.append(RequestTensor(name: name, datatype: datatype, shape: shape, values: values))
        }
        if let outputs = top["outputs"] {
            guard let list = outputs as? [Any] else { throw .bad("\"outputs\" must be a list") }
            request.outputs = try list.enumerated().map { (i: Int, raw: Any) throws(InferError) -> RequestedOutput in
                guard let output = raw as? [String: Any], let name = output["name"] as? String else { throw .bad("outputs[\(i)] needs a \"name\"") }
                let binary = ((output["parameters"] as? [String: Any])?["binary_data"] as? Bool) ?? false
                return RequestedOutput(name: name, binary: binary)
            }
        }
        return request
    }

    /// Values from the binary part: FP32 as little-endian floats, BYTES as 4-byte little-endian
    /// lengths each followed by that many bytes.
    private static func binaryValues(_ bytes: Data, datatype: String, elements: Int, name: String) throws(InferError) -> RequestTensor.Values {
        switch datatype {
        case "FP32":
            guard bytes.count == elements * 4 else {
                throw .bad("input \(quoted(name)): \(bytes.count) bytes of FP32 data for \(elements) elements (expected \(elements * 4))")
            }
            var floats = [Float](repeating: 0, count: elements)
            floats.withUnsafeMutableBytes { out in _ = bytes.copyBytes(to: out) }
            return .floats(floats.map { Float(bitPattern: $0.bitPattern.littleEndian) })
        case "BYTES":
            var items: [Data] = []
            var at = bytes.startIndex
            while at < bytes.endIndex {
                guard bytes.endIndex - at >= 4 else { throw .bad("input \(quoted(name)): a BYTES element's length is cut off") }
                let length = Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
                at += 4
                guard length <= bytes.endIndex - at else { throw .bad("input \(quoted(name)): a BYTES element runs past its data") }
                items.append(bytes[at..<at + length])
                at += length
            }
            guard items.count == elements else { throw .bad("input \(quoted(name)): \(items.count) BYTES elements for shape with \(elements)") }
            return .bytes(items)
        default:
            throw .bad("input \(quoted(name)): datatype \(quoted(datatype)) is not accepted (BYTES or FP32)")
        }
    }

    /// Values from JSON `data`: a flat or nested list of numbers (FP32) or strings (BYTES).
    private static func jsonValues(_ data: Any, datatype: String, elements: Int, name: String) throws(InferError) -> RequestTensor.Values {
        var flat: [Any] = []
        func flatten(_ value: Any, depth: Int) -> Bool {
            guard depth < 10 else { return false }
            if let list = value as? [Any] {
                for item in list where !flatten(item, depth: depth + 1) { return false }
                return true
            }
            flat.append(value)
            return flat.count <= maxElements
        }
        guard flatten(data, depth: 0) else { throw .bad("input \(quoted(name)): \"data\" is nested too deeply or too long") }
        guard flat.count == elements else { throw .bad("input \(quoted(name)): \(flat.count) values for a shape with \(elements) elements") }
        switch datatype {
        case "FP32":
            var floats: [Float] = []
            floats.reserveCapacity(flat.count)
            for value in flat {
                guard let number = value as? NSNumber, !isBoolean(value), number.doubleValue.isFinite else {
                    throw .bad("input \(quoted(name)): FP32 data must be finite numbers")
                }
                floats.append(number.floatValue)
            }
            return .floats(floats)
        case "BYTES":
            var items: [Data] = []
            for value in flat {
                guard let text = value as? String else { throw .bad("input \(quoted(name)): BYTES data must be strings (base64 for images)") }
                items.append(Data(text.utf8))
            }
            return .bytes(items)
        default:
            throw .bad("input \(quoted(name)): datatype \(quoted(datatype)) is not accepted (BYTES or FP32)")
        }
    }

    private static func integers(_ list: [Any]) -> [Int]? {
        var out: [Int] = []
        for value in list {
            guard let n = value as? NSNumber, !isBoolean(value), n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    /// Whether a value JSONSerialization made is `true` or `false` (Foundation boxes them as a
    /// number class of their own; `is Bool` also holds for the numbers 0 and 1).
    public static func isBoolean(_ value: Any) -> Bool {
        guard let object = value as? NSNumber else { return false }
        return type(of: object) == type(of: NSNumber(value: true))
    }

    /// `text` for an error message: quoted, escaped, at most 200 characters.
    public static func quoted(_ text: String) -> String { "'" + Printable.escaped(String(text.prefix(200))) + "'" }

    private static func describe(_ error: any Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        return Printable.escaped(String(text.prefix(200)))
    }
}

/// A JSON text built by appending: the one shape of every response, with no intermediate objects.
public struct JSONText: Sendable {
    public private(set) var text = ""

    public init() {}

    /// Appends JSON syntax as it is.
    public mutating func raw(_ s: String) { text += s }
    /// Appends `s` as a JSON string.
    public mutating func string(_ s: String) { text += Printable.quotedLiteral(s) }
    /// Appends a number (`null` for a non-finite one).
    public mutating func number(_ f: Float) { text += f.isFinite ? "\(f)" : "null" }
}
