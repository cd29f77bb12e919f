import CairnCatalog
import CairnStore
import CairnSupport
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
    /// Which backend keeps the catalog (`[catalog] backend`); SQLite in `.cairn/` unless it says otherwise.
    public var catalog: CatalogBackend
    /// The remote that holds the team's images (`[store] shared`), of which `.cairn` keeps a cache:
    /// every object stored here is published to it, and every one missing here is fetched from it.
    public var sharedStore: String?

    public init(splits: SplitPolicy = .standard, remotes: [String: RemoteSettings] = [:], keys: KeySettings = KeySettings(),
                catalog: CatalogBackend = .sqlite, sharedStore: String? = nil) {
        self.splits = splits
        self.remotes = remotes
        self.keys = keys
        self.catalog = catalog
        self.sharedStore = sharedStore
    }

    /// Where the catalog is; `Repository` opens the one the config names.
    public enum CatalogBackend: Sendable, Hashable, Codable {
        /// `.cairn/catalog.sqlite`, one file beside the store.
        case sqlite
        /// A PostgreSQL database shared by a team (`[catalog] backend = "postgresql"`, `url = …`):
        /// the URL names the server and database, never a password (libpq's environment and
        /// `~/.pgpass` give that).
        case postgresql(url: String)

        /// The names `[catalog] backend` takes.
        public static let names = ["sqlite", "postgresql"]

        /// The backend a `--catalog` argument names: `sqlite`, or a `postgresql://` URL.
        /// - Throws: `RepositoryError.badConfig` for anything else, or a URL carrying a password.
        public init(argument: String) throws {
            if argument == "sqlite" { self = .sqlite; return }
            guard argument.hasPrefix("postgresql://") || argument.hasPrefix("postgres://") else {
                throw RepositoryError.badConfig(path: "--catalog", reason: "give sqlite or a postgresql://[USER@]HOST[:PORT]/DATABASE URL")
            }
            try Self.checkNoPassword(argument, path: "--catalog")
            self = .postgresql(url: argument)
        }

        /// Refuses a URL with a password in it: the config is shared and read by everyone.
        static func checkNoPassword(_ url: String, path: String) throws {
            if URLComponents(string: url)?.password != nil {
                throw RepositoryError.badConfig(path: path, reason: "the catalog URL holds a password; give it in PGPASSWORD or ~/.pgpass instead")
            }
        }
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
        var catalog: CatalogTable?
        var store: StoreTable?
    }

    private struct StoreTable: Codable {
        var shared: String?
    }

    private struct CatalogTable: Codable {
        var backend: String?
        var url: String?
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
        return try parse(text, path: path)
    }

    /// Parses and validates config text (`path` names it in errors).
    public static func parse(_ text: String, path: String) throws -> RepositoryConfig {
        if let problem = lexicalProblem(text) { throw RepositoryError.badConfig(path: path, reason: problem) }
        do {
            let file = try TOMLDecoder().decode(File.self, from: text)
            let backend: CatalogBackend
            switch (file.catalog?.backend ?? "sqlite", file.catalog?.url) {
            case ("sqlite", nil): backend = .sqlite
            case ("postgresql", let url?):
                guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
                    throw RepositoryError.badConfig(path: path, reason: "[catalog] url must be a postgresql:// URL")
                }
                try CatalogBackend.checkNoPassword(url, path: path)
                backend = .postgresql(url: url)
            case ("postgresql", nil): throw RepositoryError.badConfig(path: path, reason: "[catalog] backend \"postgresql\" needs a url")
            case ("sqlite", _?): throw RepositoryError.badConfig(path: path, reason: "[catalog] url is for backend \"postgresql\"")
            case (let name, _):
                throw RepositoryError.badConfig(path: path, reason: "[catalog] backend '\(Printable.escaped(name))' is not one this cairn has (it has: "
                                                + CatalogBackend.names.joined(separator: ", ") + ")")
            }
            let config = RepositoryConfig(splits: file.splits ?? .standard, remotes: file.remotes ?? [:], keys: file.keys ?? KeySettings(),
                                          catalog: backend, sharedStore: file.store?.shared)
            try config.splits.validate()
            if let shared = config.sharedStore, config.remotes[shared] == nil {
                throw RepositoryError.badConfig(path: path, reason: "[store] shared names remote '\(Printable.escaped(shared))', which [remotes] does not have")
            }
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

    /// Where the text breaks TOML's syntax, found before the text reaches the parser. toml++, under
    /// TOMLKit, stops on an assertion instead of reporting an error for some malformed input (a key
    /// starting with a character keys cannot have, in `parse_key`; a `}` where an array element
    /// belongs, in `parse_value` — both found by the `config` fuzz target), and every command reads
    /// this file. So the structure is checked here: table headers, keys (bare keys are ASCII
    /// letters, digits, `-` and `_`; others are quoted), and values followed through strings,
    /// arrays and inline tables; only the spelling of scalars (numbers, booleans, dates) is left to
    /// the parser.
    static func lexicalProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        var i = 0, line = 1
        let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
        func at(_ offset: Int = 0) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }
        func isBare(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
        }
        func isControl(_ b: UInt8) -> Bool { (b < 0x20 && b != 0x09) || b == 0x7F }
        func skipBlanks() { while let b = at(), b == 0x20 || b == 0x09 { i += 1 } }
        func fail(_ what: String) -> String { "line \(line): \(what)" }
        /// A quoted string starting at `i`; multi-line (triple quotes) only where `multiline`.
        func skipString(multiline: Bool) -> String? {
            let delimiter = at()!
            if multiline, at(1) == delimiter, at(2) == delimiter {
                i += 3
                while i < bytes.count {
                    if bytes[i] == 0x0A { line += 1 }
                    if delimiter == quote, bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if at() == delimiter, at(1) == delimiter, at(2) == delimiter {
                        i += 3
                        while at() == delimiter { i += 1 }  // up to two quotes may end the content
                        return nil
                    }
                    i += 1
                }
                return fail("a multi-line string is not closed")
            }
            i += 1
            while let b = at(), b != 0x0A {
                if delimiter == quote, b == UInt8(ascii: "\\") { i += 2; continue }
                if b == delimiter { i += 1; return nil }
                if isControl(b) { return fail("a control character in a string") }
                i += 1
            }
            return fail("a string is not closed")
        }
        /// A dotted key: bare or quoted parts joined by `.`.
        func key() -> String? {
            while true {
                skipBlanks()
                guard let b = at() else { return fail("a key is missing") }
                if b == quote || b == apostrophe {
                    if let problem = skipString(multiline: false) { return problem }
                } else if isBare(b) {
                    while let c = at(), isBare(c) { i += 1 }
                } else {
                    return fail("a key cannot start with '\(b < 0x80 && !isControl(b) ? String(UnicodeScalar(b)) : "a non-ASCII or control character")' (quote keys that are not plain ASCII)")
                }
                skipBlanks()
                guard at() == UInt8(ascii: ".") else { return nil }
                i += 1
            }
        }
        /// Blanks, newlines and comments, as allowed between the elements of an array.
        func skipBlankLines() {
            while let b = at() {
                if b == 0x20 || b == 0x09 || b == 0x0D {
                    i += 1
                } else if b == 0x0A {
                    line += 1
                    i += 1
                } else if b == UInt8(ascii: "#") {
                    while let c = at(), c != 0x0A { i += 1 }
                } else {
                    return
                }
            }
        }
        func isScalar(_ b: UInt8) -> Bool { isBare(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":") }
        /// One value: a string, an array, an inline table, or a scalar (number, boolean, date) made
        /// of the characters those use, whose spelling the parser checks. Arrays and inline tables
        /// are followed element by element, so no value position ever holds a `,`, `]` or `}`.
        func value(depth: Int) -> String? {
            guard depth < 32 else { return fail("arrays and tables nested too deeply") }
            skipBlanks()
            guard let b = at() else { return fail("a value is missing") }
            switch b {
            case quote, apostrophe:
                return skipString(multiline: true)
            case UInt8(ascii: "["):
                i += 1
                while true {
                    skipBlankLines()
                    if at() == UInt8(ascii: "]") { i += 1; return nil }
                    if let problem = value(depth: depth + 1) { return problem }
                    skipBlankLines()
                    if at() == UInt8(ascii: ",") { i += 1; continue }
                    if at() == UInt8(ascii: "]") { i += 1; return nil }
                    return fail("an array element is not followed by ',' or ']'")
                }
            case UInt8(ascii: "{"):
                i += 1
                skipBlanks()
                if at() == UInt8(ascii: "}") { i += 1; return nil }
                while true {
                    if let problem = key() { return problem }
                    skipBlanks()
                    guard at() == UInt8(ascii: "=") else { return fail("a key in an inline table is not followed by '='") }
                    i += 1
                    if let problem = value(depth: depth + 1) { return problem }
                    skipBlanks()
                    if at() == UInt8(ascii: ",") { i += 1; continue }
                    if at() == UInt8(ascii: "}") { i += 1; return nil }
                    return fail("an inline table entry is not followed by ',' or '}'")
                }
            default:
                guard isScalar(b) else {
                    return fail("a value cannot start with '\(b < 0x80 && !isControl(b) ? String(UnicodeScalar(b)) : "a non-ASCII or control character")'")
                }
                while let c = at(), isScalar(c) { i += 1 }
                return nil
            }
        }
        while i < bytes.count {
            skipBlanks()
            guard let b = at() else { break }
            switch b {
            case 0x0A:
                line += 1
                i += 1
                continue
            case 0x0D:
                i += 1
                continue
            case UInt8(ascii: "#"):
                while let c = at(), c != 0x0A { i += 1 }
                continue
            case UInt8(ascii: "["):
                let double = at(1) == UInt8(ascii: "[")
                i += double ? 2 : 1
                if let problem = key() { return problem }
                skipBlanks()
                guard at() == UInt8(ascii: "]"), !double || at(1) == UInt8(ascii: "]") else { return fail("a table header is not closed") }
                i += double ? 2 : 1
            default:
                if let problem = key() { return problem }
                skipBlanks()
                guard at() == UInt8(ascii: "=") else { return fail("a key is not followed by '='") }
                i += 1
                if let problem = value(depth: 0) { return problem }
            }
            // After a header or a value: only blanks and a comment on the line.
            skipBlanks()
            if at() == UInt8(ascii: "#") { while let c = at(), c != 0x0A { i += 1 } }
            guard at() == nil || at() == 0x0A || at() == 0x0D else { return fail("unexpected text after a table header or value") }
        }
        return nil
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
        """ + (splits.group.map { "\n# Items whose paths give the same first capture group share a split.\ngroup = \(Self.quote($0))\n" } ?? "\n")
            + remotes.keys.sorted().map { name in
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
        }.joined() + renderedCatalog
            + (sharedStore.map { "\n# The team's images live in this remote; .cairn keeps a cache of them.\n[store]\nshared = \(Self.quote($0))\n" } ?? "")
    }

    private var renderedCatalog: String {
        switch catalog {
        case .sqlite: ""
        case .postgresql(let url):
            "\n# The team's catalog: a PostgreSQL database (its password comes from PGPASSWORD or ~/.pgpass).\n[catalog]\nbackend = \"postgresql\"\nurl = \(Self.quote(url))\n"
        }
    }

    /// A TOML basic string.
    static func quote(_ text: String) -> String { Printable.quotedLiteral(text) }

    /// Writes the config to `path` durably (temporary file, fsync, rename).
    public func save(path: String) throws {
        try FileOps.writeFile(Data(rendered().utf8), to: path, durable: true)
    }
}
