import CairnCatalog
import CairnStore
import Foundation
import TOMLKit

/// `.cairn/config.toml`: settings shared by everyone who uses the repository. Never secrets.
///
/// ```toml
/// [splits]
/// train = 0.8
/// val = 0.1
/// test = 0.1
/// ```
public struct RepositoryConfig: Sendable, Hashable, Codable {
    /// Ratios for assigning splits at import (by blob id, see `SplitPolicy`).
    public var splits: SplitPolicy
    /// Remotes by name (`[remotes.NAME]`): where they are, never how to sign in.
    public var remotes: [String: RemoteSettings]
    /// Labeling UI keys (`[keys.classes]`: class name → key, `[keys.actions]`: action → key).
    public var keys: KeySettings

    public init(splits: SplitPolicy = .standard, remotes: [String: RemoteSettings] = [:], keys: KeySettings = KeySettings()) {
        self.splits = splits
        self.remotes = remotes
        self.keys = keys
    }

    /// The `[keys]` tables; checked against the classes when `cairn label` starts.
    public struct KeySettings: Sendable, Hashable, Codable {
        public var classes: [String: String]?
        public var actions: [String: String]?

        public init(classes: [String: String]? = nil, actions: [String: String]? = nil) {
            self.classes = classes
            self.actions = actions
        }
    }

    /// One `[remotes.NAME]` table.
    public struct RemoteSettings: Sendable, Hashable, Codable {
        /// `s3://BUCKET[/PREFIX]`.
        public var url: String
        /// `http(s)://HOST[:PORT]` of an S3-compatible server; absent for AWS.
        public var endpoint: String?
        public var region: String?
        public var pathStyle: Bool?

        public init(url: String, endpoint: String? = nil, region: String? = nil, pathStyle: Bool? = nil) {
            self.url = url
            self.endpoint = endpoint
            self.region = region
            self.pathStyle = pathStyle
        }

        enum CodingKeys: String, CodingKey {
            case url, endpoint, region
            case pathStyle = "path_style"
        }
    }

    private struct File: Codable {
        var splits: SplitPolicy?
        var remotes: [String: RemoteSettings]?
        var keys: KeySettings?
    }

    /// Checks a remote name: 1 to 64 letters, digits, `-`, `_` and `.`, not starting with `.` or `-`.
    /// The name becomes a file name under `.cairn/remotes/`, so nothing else may pass.
    public static func validateRemoteName(_ name: String) throws(RepositoryError) {
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("."), !name.hasPrefix("-"),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw .badConfig(path: "remote name", reason: "invalid remote name '\(Printable.escaped(name))': use letters, digits, '-', '_' and '.'")
        }
    }

    /// Reads and validates the config at `path`.
    public static func load(path: String) throws -> RepositoryConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RepositoryError.badConfig(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        do {
            let file = try TOMLDecoder().decode(File.self, from: text)
            let config = RepositoryConfig(splits: file.splits ?? .standard, remotes: file.remotes ?? [:], keys: file.keys ?? KeySettings())
            try config.splits.validate()
            // A remote's name becomes a file name under .cairn/remotes: a hand-edited or planted
            // `[remotes."../../x"]` must never reach one.
            for name in config.remotes.keys {
                do { try validateRemoteName(name) } catch { throw RepositoryError.badConfig(path: path, reason: "[remotes] has an \(error.reasonText)") }
            }
            return config
        } catch let error as RepositoryError {
            throw error
        } catch let error as CatalogError {
            throw RepositoryError.badConfig(path: path, reason: error.description)
        } catch {
            throw RepositoryError.badConfig(path: path, reason: "\(error)")
        }
    }

    /// The text written by `cairn init`.
    public func rendered() -> String {
        """
        # Cairn repository settings, shared by everyone who uses this repository.
        # Never put credentials here: remotes take them from the environment.

        # Fractions of items assigned to each split at import, by blob id (stable across versions).
        [splits]
        train = \(splits.train)
        val = \(splits.val)
        test = \(splits.test)

        """ + remotes.keys.sorted().map { name in
            let remote = remotes[name]!
            let key = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") } ? name : Self.quote(name)
            var lines = ["[remotes.\(key)]", "url = \(Self.quote(remote.url))"]
            if let endpoint = remote.endpoint { lines.append("endpoint = \(Self.quote(endpoint))") }
            if let region = remote.region { lines.append("region = \(Self.quote(region))") }
            if let pathStyle = remote.pathStyle { lines.append("path_style = \(pathStyle)") }
            return "\n" + lines.joined(separator: "\n") + "\n"
        }.joined() + [("classes", keys.classes), ("actions", keys.actions)].compactMap { table, entries -> String? in
            guard let entries, !entries.isEmpty else { return nil }
            return "\n[keys.\(table)]\n" + entries.keys.sorted().map { "\(Self.quote($0)) = \(Self.quote(entries[$0]!))\n" }.joined()
        }.joined()
    }

    /// A TOML basic string.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Writes the config to `path` durably (temporary file, fsync, rename).
    public func save(path: String) throws {
        try FileOps.writeFile(Data(rendered().utf8), to: path, durable: true)
    }
}
