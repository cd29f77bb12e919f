import CairnImaging
import CairnRepository
import CairnStore
@testable import CairnVersioning
import Foundation

/// The fuzzed entry points, shared by the `cairn-fuzz` libFuzzer binary and the regression test
/// that replays the corpus in ordinary builds. Each must return normally (or throw a Swift
/// error) for any input; a crash, a trap or a sanitizer report is a bug.
public enum FuzzTargets {
    public static let names = ["png", "jpeg", "labels-csv", "jsonl", "tree"]

    /// Runs target `name` on `data`.
    public static func run(_ name: String, _ data: Data) {
        switch name {
        case "png":
            let signature = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let input = data.starts(with: signature) ? data : signature + data
            _ = try? ImageCodec.probe(input)
            _ = try? ImageCodec.decode(input, limits: DecodeLimits(maxPixels: 1 << 22))
        case "jpeg":
            let input = data.starts(with: [0xFF, 0xD8, 0xFF]) ? data : Data([0xFF, 0xD8, 0xFF]) + data
            _ = try? ImageCodec.probe(input)
            _ = try? ImageCodec.decode(input, limits: DecodeLimits(maxPixels: 1 << 22))
        case "labels-csv":
            _ = try? LabelsFile(text: String(decoding: data, as: UTF8.self), path: "fuzz.csv")
        case "jsonl":
            _ = try? Versioning.parseExport(data, path: "fuzz.jsonl")
        case "tree":
            let id = BlobID(hashing: data)
            // Anything that decodes must re-encode to the same bytes: the format is canonical.
            if let node = try? TreeFormat.decodeNode(data, id: id) {
                precondition(TreeFormat.encode(node) == data, "a tree node decoded but does not re-encode to its bytes")
            }
            if let root = try? TreeFormat.decodeRoot(data, id: id) {
                precondition(TreeFormat.encode(root) == data, "a root decoded but does not re-encode to its bytes")
            }
        default:
            preconditionFailure("unknown fuzz target \(name); known: \(names.joined(separator: ", "))")
        }
    }
}
