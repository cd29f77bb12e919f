import Foundation

/// What went wrong in the catalog, with what to do about it.
public enum CatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The repository was written by a newer cairn (its schema has migrations this binary lacks).
    case schemaTooNew(unknownMigrations: [String])
    /// No item, class or annotator matches.
    case notFound(kind: String, name: String)
    /// A short id or name matches more than one thing.
    case ambiguous(kind: String, name: String, matches: [String])
    /// A hex prefix too short to name anything (ids are matched from 4 hex digits on).
    case prefixTooShort(kind: String, name: String)
    /// A request the catalog refuses (duplicate name, bad hotkey …).
    case invalid(String)
    /// A name (of a tag, class or annotator) that breaks the rules for its kind.
    case invalidName(kind: String, name: String, reason: String)
    /// The disk holding the catalog is full.
    case diskFull
    /// The catalog file cannot be written.
    case readOnly(path: String)
    /// Another process held the catalog locked for longer than the busy timeout.
    case busy
    /// Any other SQLite failure, with its result code, message and the SQL that failed.
    case database(code: Int32, message: String, sql: String?)

    public var description: String {
        switch self {
        case .schemaTooNew(let unknown):
            "this repository was written by a newer cairn (schema migrations \(unknown.joined(separator: ", ")) are unknown to this one); upgrade cairn"
        case .notFound(let kind, let name): "no \(kind) matches '\(name)'"
        case .ambiguous(let kind, let name, let matches):
            "'\(name)' is ambiguous: it matches \(matches.count) \(kind)s (\(matches.prefix(5).joined(separator: ", "))\(matches.count > 5 ? ", …" : "")); give more characters"
        case .prefixTooShort(let kind, let name):
            "'\(name)' is too short to name an \(kind): give 4 or more hex digits of its id\(kind == "item" ? ", or its imported path" : "")"
        case .invalid(let reason): reason
        case .invalidName(let kind, let name, let reason): "invalid \(kind) name '\(Printable.escaped(name))': \(reason)"
        case .diskFull: "disk full while writing the catalog; free some space and run the command again (the last transaction was rolled back)"
        case .readOnly(let path): "cannot write \(path): the repository is read-only"
        case .busy: "the catalog stayed locked by another cairn process for too long; try again"
        case .database(let code, let message, let sql):
            "catalog error \(code): \(message)" + (sql.map { " (SQL: \($0))" } ?? "")
        }
    }
}
