import CairnModels
import CairnSupport
import CairnTraining
import Foundation
import Yams

/// Sweep specs as files: YAML (or JSON, which is YAML) in, read by `SafeYAML`; YAML out.
public enum SweepSpecFile {
    /// Reads and checks a spec file.
    /// - Throws: `TrainingError.badSweepSpec` saying what is wrong (unreadable, over 1 MiB, not YAML,
    ///   anchors or aliases, nested too deeply, a spec `SweepSpec.parse` refuses).
    public static func read(_ path: String) throws -> SweepSpec {
        let document: JSONValue
        do {
            document = try SafeYAML.read(path)
        } catch {
            throw TrainingError.badSweepSpec(error.description)
        }
        return try SweepSpec.parse(document)
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
