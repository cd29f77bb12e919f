import CairnSupport
import CairnStore
import Foundation

/// What went wrong in the catalog, with what to do about it. No case carries a backend's own
/// codes: `storage` holds a backend failure in words.
public enum CatalogError: CairnError, Equatable {
    /// The repository was written by a newer cairn (its schema has migrations this binary lacks).
    case schemaTooNew(unknownMigrations: [String])
    /// The catalog needs a schema upgrade, which a read-only repository cannot take.
    case needsUpgrade(location: String)
    /// No item, class, annotator, tag, run or snapshot matches.
    case notFound(kind: String, name: String)
    /// A short id or name matches more than one thing.
    case ambiguous(kind: String, name: String, matches: [String])
    /// A hex prefix too short to name anything (ids are matched from 4 hex digits on).
    case prefixTooShort(kind: String, name: String)
    /// A class or annotator of that name exists already.
    case exists(kind: String, name: String)
    /// A name (of a tag, class or annotator) that breaks the rules for its kind.
    case invalidName(kind: String, name: String, reason: String)
    /// A label names a class the catalog does not have.
    case unknownClass(String)
    /// A key no class may have (not one printable character, or one the labeling UI keeps).
    case unusableKey(String)
    /// A key another class has.
    case keyInUse(key: String, className: String)
    /// A tag names another snapshot, and tags move only with force.
    case tagImmutable(name: String, snapshot: BlobID)
    /// A verdict by someone whose role does not record verdicts (nil role: not an annotator at all).
    case notAReviewer(name: String, role: Role?)
    /// Granting a role by someone who is not an admin here; `admins` are who is.
    case notAnAdmin(name: String, admins: [String])
    /// Taking the admin role from the last admin.
    case lastAdmin(name: String)
    /// Split ratios that are negative or do not sum to 1.
    case invalidSplitRatios(train: Double, val: Double, test: Double)
    /// A label with a class `classes remove` or `merge` took out.
    case removedClass(String)
    /// A `[splits] group` or `split regroup --by` pattern that cannot group paths.
    case invalidSplitGroup(pattern: String, reason: String)
    /// A catalog bundle (from a remote) with a row that cannot be merged.
    case malformedBundle(String)
    /// The catalog holds something malformed.
    case corrupt(String)
    /// The disk holding the catalog is full.
    case diskFull
    /// The catalog cannot be written.
    case readOnly(location: String)
    /// Another process held the catalog locked for longer than the busy timeout.
    case busy
    /// A catalog location (a PostgreSQL URL) that cannot be used; never carries a password.
    case invalidLocation(String, reason: String)
    /// The catalog's server cannot be reached or signed in to (a networked backend).
    case unreachable(location: String, reason: String)
    /// Any other failure of the backend, in words.
    case storage(String)
    /// A box that cannot be stored: not a finite rectangle of positive size inside its image.
    case invalidBox(Box, reason: String)
    /// A box set's provenance (`BoxSuggestionShown`) that does not hold together.
    case invalidBoxSuggestion(String)

    public var description: String {
        switch self {
        case .schemaTooNew(let unknown):
            "this repository was written by a newer cairn (schema migrations \(unknown.joined(separator: ", ")) are unknown to this one); upgrade cairn"
        case .needsUpgrade(let location):
            "\(location) needs a schema upgrade, which a read-only repository cannot take; open it once where it is writable"
        case .notFound(let kind, let name): "no \(kind) matches '\(name)'"
        case .ambiguous(let kind, let name, let matches):
            "'\(name)' is ambiguous: it matches \(matches.count) \(kind)s (\(matches.prefix(5).joined(separator: ", "))\(matches.count > 5 ? ", …" : "")); give more characters"
        case .prefixTooShort(let kind, let name):
            "'\(name)' is too short to name an \(kind): give 4 or more hex digits of its id\(kind == "item" ? ", or its imported path" : "")"
        case .exists(let kind, let name): "\(kind) '\(name)' already exists"
        case .invalidName(let kind, let name, let reason): "invalid \(kind) name '\(Printable.escaped(name))': \(reason)"
        case .unknownClass(let name): "no class '\(name)'; add it with `cairn classes add \(name)`"
        case .unusableKey(let key):
            "hotkey '\(key)' must be one printable character other than \(LabelClass.reservedKeys.sorted().map { "'\($0)'" }.joined(separator: " "))"
        case .keyInUse(let key, let className): "hotkey '\(key)' is already used by class \(className)"
        case .tagImmutable(let name, let snapshot):
            "tag '\(name)' already names \(snapshot.hex.prefix(12)); tags are immutable (use --force to move it)"
        case .notAReviewer(let name, nil):
            "\(name) is not an annotator here; an admin adds them with `cairn annotators add \(name) --role reviewer`"
        case .notAReviewer(let name, let role?):
            "\(name) has the role \(role.rawValue); only reviewers and admins review (an admin runs `cairn annotators role \(name) reviewer`)"
        case .notAnAdmin(let name, let admins):
            "\(Printable.escaped(name)) is not an admin here; only an admin grants roles"
                + (admins.isEmpty ? "" : " (admins: \(admins.map(Printable.escaped).joined(separator: ", ")))")
        case .lastAdmin(let name): "\(Printable.escaped(name)) is the last admin; make someone else admin first"
        case .invalidSplitRatios(let train, let val, let test):
            "split ratios must be non-negative and sum to 1 (got train \(train), val \(val), test \(test))"
        case .removedClass(let name): "class '\(Printable.escaped(name))' was removed (`cairn classes remove` or `merge`); it labels nothing any more"
        case .invalidSplitGroup(let pattern, let reason): "cannot group paths by '\(Printable.escaped(pattern))': \(reason)"
        case .malformedBundle(let what): "the remote's catalog bundle is malformed: \(what)"
        case .corrupt(let what): "the catalog is damaged: \(what); run `cairn fsck`"
        case .diskFull: "disk full while writing the catalog; free some space and run the command again (the last transaction was rolled back)"
        case .readOnly(let location): "cannot write \(location): the repository is read-only"
        case .busy: "the catalog stayed locked by another cairn process for too long; try again"
        case .invalidLocation(let location, let reason): "cannot use the catalog at \(location): \(reason)"
        case .unreachable(let location, let reason):
            "cannot reach the catalog at \(location): \(Printable.escaped(reason)); check that the server runs and this machine may connect"
        case .storage(let message): "catalog error: \(message)"
        case .invalidBox(let box, let reason): "invalid box \(Printable.escaped(box.description)): \(reason)"
        case .invalidBoxSuggestion(let reason): "invalid record of box suggestions: \(reason)"
        }
    }
}
