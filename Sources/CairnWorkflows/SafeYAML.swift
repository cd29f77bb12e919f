import CairnSupport
import CairnTraining
import Foundation
import Yams

/// YAML files from outside, read as JSON values without the parts of YAML that can hurt: anchors
/// and aliases are refused (Yams resolves an alias to the anchored node itself, so a few hundred
/// bytes of nested aliases would expand to gigabytes), nesting is bounded, and files over 1 MiB
/// are refused. Sweep specs and YOLO's data.yaml are read this way; the only YAML reader in Cairn.
public enum SafeYAML {
    /// Why a file was refused, for the caller to wrap in its own error.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads `path`.
    /// - Throws: `Refusal` saying what is wrong: unreadable, over 1 MiB, empty, not YAML, anchors
    ///   or aliases, nested too deeply, a key twice or not a plain name.
    public static func read(_ path: String) throws(Refusal) -> JSONValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
            throw Refusal(description: "cannot read \(Printable.escaped(path)): \(reason)")
        }
        guard text.utf8.count <= 1 << 20 else { throw Refusal(description: "\(Printable.escaped(path)) is over 1 MiB") }
        // The parser stays alive while the tree is read: it holds the anchors, which nodes reference
        // weakly, so an anchored node is seen (and refused) before any alias could repeat it.
        let parser: Parser
        let node: Node?
        do {
            parser = try Parser(yaml: text)
            node = try parser.singleRoot()
        } catch {
            // The parser's message then quotes the offending line, which may be the whole file: its first two lines, shortened.
            let message = "\(error)".split(separator: "\n").prefix(2).map { String($0.prefix(200)) }.joined(separator: ": ")
            throw Refusal(description: "\(Printable.escaped(path)) is not valid YAML: \(message)")
        }
        guard let node else { throw Refusal(description: "\(Printable.escaped(path)) is empty") }
        do {
            return try withExtendedLifetime(parser) { try jsonValue(node, depth: 0) }
        } catch let refusal as Refusal {
            throw Refusal(description: "\(Printable.escaped(path)): \(refusal.description)")
        } catch {
            throw Refusal(description: "\(Printable.escaped(path)): \(error)")
        }
    }

    /// A YAML node as a JSON value: plain scalars resolve to null, bool, number or string as YAML
    /// 1.2's core schema says; quoted ones stay strings.
    static func jsonValue(_ node: Node, depth: Int) throws -> JSONValue {
        guard depth < 32 else { throw Refusal(description: "nested too deeply") }
        if node.anchor != nil { throw Refusal(description: "anchors and aliases (&name, *name) are not allowed") }
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if node.null != nil { return .null }
                if let b = node.bool { return .bool(b) }
                if let i = node.int { return .number(Double(i)) }
                if let f = node.float, f.isFinite { return .number(f) }
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .array(try sequence.map { try jsonValue($0, depth: depth + 1) })
        case .mapping(let mapping):
            var out: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let k) = key else { throw Refusal(description: "a key is not a plain name") }
                if out[k.string] != nil { throw Refusal(description: "key '\(Printable.escaped(k.string))' appears twice") }
                out[k.string] = try jsonValue(value, depth: depth + 1)
            }
            return .object(out)
        case .alias:
            throw Refusal(description: "aliases are not allowed")
        }
    }
}

/// What Cairn reads of a YOLO dataset's data.yaml: the class names, in index order.
public enum YOLODataset {
    /// The `names` of `path` (a list, or a mapping from 0, 1, … to names).
    /// - Throws: `SafeYAML.Refusal` for a file `SafeYAML` refuses, or `names` missing, empty, not
    ///   strings, or with indices that are not 0…n-1.
    public static func names(dataYAML path: String) throws(SafeYAML.Refusal) -> [String] {
        guard case .object(let document) = try SafeYAML.read(path) else {
            throw SafeYAML.Refusal(description: "\(Printable.escaped(path)) is not a mapping (data.yaml has names: and the splits)")
        }
        func refuse(_ why: String) -> SafeYAML.Refusal { SafeYAML.Refusal(description: "\(Printable.escaped(path)): \(why)") }
        switch document["names"] {
        case .array(let list)?:
            let names = list.compactMap { value -> String? in if case .string(let s) = value { return s } else { return nil } }
            guard names.count == list.count, !names.isEmpty else { throw refuse("names must be a list of class names") }
            return names
        case .object(let mapping)?:
            var byIndex: [Int: String] = [:]
            for (key, value) in mapping {
                guard let index = Int(key), case .string(let name) = value else { throw refuse("names maps numbers to class names (0: car)") }
                byIndex[index] = name
            }
            guard !byIndex.isEmpty, byIndex.keys.sorted() == Array(0..<byIndex.count) else { throw refuse("names' numbers must be 0 to \(byIndex.count - 1)") }
            return (0..<byIndex.count).map { byIndex[$0]! }
        default:
            throw refuse("there is no names: list of classes")
        }
    }
}
