import CairnModels
import CairnSupport
import CairnTraining
import Foundation
import Yams

/// Sweep specs as files: YAML (or JSON, which is YAML) in, YAML out. The only YAML in Cairn.
public enum SweepSpecFile {
    /// Reads and checks a spec file.
    /// - Throws: `TrainingError.badSweepSpec` saying what is wrong (unreadable, over 1 MiB, not YAML,
    ///   anchors or aliases, nested too deeply, a spec `SweepSpec.parse` refuses).
    public static func read(_ path: String) throws -> SweepSpec {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable UTF-8 text" : "no such file"
            throw TrainingError.badSweepSpec("cannot read \(Printable.escaped(path)): \(reason)")
        }
        guard text.utf8.count <= 1 << 20 else { throw TrainingError.badSweepSpec("\(Printable.escaped(path)) is over 1 MiB") }
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
            throw TrainingError.badSweepSpec("\(Printable.escaped(path)) is not valid YAML: \(message)")
        }
        guard let node else { throw TrainingError.badSweepSpec("\(Printable.escaped(path)) is empty") }
        return try withExtendedLifetime(parser) { try SweepSpec.parse(try jsonValue(node, depth: 0)) }
    }

    /// A YAML node as a JSON value: plain scalars resolve to null, bool, number or string as YAML 1.2's
    /// core schema says; quoted ones stay strings.
    /// Anchors are refused where they are defined, before any alias repeats them: Yams resolves an alias
    /// to the anchored node itself, so a few hundred bytes of nested aliases would expand to gigabytes here.
    static func jsonValue(_ node: Node, depth: Int) throws -> JSONValue {
        guard depth < 32 else { throw TrainingError.badSweepSpec("nested too deeply") }
        if node.anchor != nil { throw TrainingError.badSweepSpec("anchors and aliases (&name, *name) are not allowed") }
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
                guard case .scalar(let k) = key else { throw TrainingError.badSweepSpec("a key is not a plain name") }
                if out[k.string] != nil { throw TrainingError.badSweepSpec("key '\(Printable.escaped(k.string))' appears twice") }
                out[k.string] = try jsonValue(value, depth: depth + 1)
            }
            return .object(out)
        case .alias:
            throw TrainingError.badSweepSpec("aliases are not allowed")
        }
    }

    /// A JSON value as a YAML node (for `sweep refine`).
    static func yamlNode(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? Node(String(Int64(n)), Tag(.int)) : Node("\(n)", Tag(.float))
        case .string(let s): return Node(s, Tag(.str), .doubleQuoted)
        case .array(let list): return Node(list.map(yamlNode), Tag(.seq), .flow)
        case .object(let object): return Node(object.sorted { $0.key < $1.key }.map { (Node($0.key), yamlNode($0.value)) })
        }
    }

    /// `spec` as YAML (keys sorted), after the comment lines `header`.
    public static func yaml(_ spec: SweepSpec, header: String) throws -> String {
        header.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n"
            + (try Yams.serialize(node: yamlNode(spec.document), sortKeys: true))
    }
}
