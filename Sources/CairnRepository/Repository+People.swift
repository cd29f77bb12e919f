import CairnCatalog
import Foundation
import Glibc

/// Who acts, and who may grant roles: one rule for every command that records a person.
extension Repository {
    /// Whether this repository is shared with a group (`init --shared group`).
    public var isShared: Bool { Self.isShared(cairnDirectory) }

    /// The name of the Unix account this process runs as, if the system knows it.
    public static var account: String? {
        getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Who is acting, for a command whose `option` (`--annotator`, `--reviewer`, `--author`) was
    /// given as `given` (nil when not). In a shared repository the Unix account is the identity:
    /// another name is refused, so nobody labels, reviews or purges as someone else. In one's own
    /// repository, the name given, else `$CAIRN_AUTHOR` (for authors), `$USER`, the Unix account.
    /// - Throws: `RepositoryError.notYou` for another name in a shared repository, `.noIdentity`
    ///   when no name can be found.
    public func person(_ given: String?, option: String) throws -> String {
        if isShared {
            guard let account = Self.account else { throw RepositoryError.noIdentity(option: option) }
            if let given, given != account { throw RepositoryError.notYou(given: given, account: account, option: option) }
            return account
        }
        let env = ProcessInfo.processInfo.environment.filter { !$0.value.isEmpty }
        if let name = given ?? (option == "--author" ? env["CAIRN_AUTHOR"] : nil) ?? env["USER"] ?? Self.account { return name }
        throw RepositoryError.noIdentity(option: option)
    }

    /// Records `creator` as the repository's first admin (`cairn init`, `clone`).
    func recordCreator(_ creator: String) throws {
        try catalog.write { tx in
            // A team catalog someone else created has its admins: joining it grants nothing. (Admins a
            // clone pulled are not this catalog's own, so a clone's creator still becomes admin.)
            let local = try tx.localReviewers()
            if try tx.annotators().contains(where: { $0.role == .admin && local.contains($0.name) }) { return }
            if let existing = try tx.annotator(named: creator) {
                try tx.setRole(annotatorID: existing.id, role: .admin)
            } else {
                try tx.addAnnotator(creator, role: .admin)
            }
        }
    }

    /// Adds `name` with `role`; `caller` must be an admin (see `checkAdmin`) to add a reviewer or
    /// admin. Annotators need no one's leave: they are added when they first label.
    /// - Throws: `CatalogError.invalidName`, `.exists`, `.notAnAdmin`.
    @discardableResult
    public func addPerson(_ name: String, role: Role, by caller: String) throws -> Annotator {
        try catalog.write { tx in
            if role != .annotator { try Self.checkAdmin(caller, tx, owner: owner) }
            return try tx.addAnnotator(name, role: role)
        }
    }

    /// Changes `name`'s role; `caller` must be an admin, and the last admin stays one.
    /// - Throws: `CatalogError.notFound`, `.notAnAdmin`, `.lastAdmin`.
    public func setRole(of name: String, to role: Role, by caller: String) throws {
        try catalog.write { tx in
            try Self.checkAdmin(caller, tx, owner: owner)
            guard let person = try tx.annotator(named: name) else { throw CatalogError.notFound(kind: "annotator", name: name) }
            let admins = try tx.annotators().filter { $0.role == .admin }.count
            if person.role == .admin && role != .admin && admins == 1 {
                throw CatalogError.lastAdmin(name: name)
            }
            try tx.setRole(annotatorID: person.id, role: role)
        }
    }

    /// The Unix account that owns `.cairn` (its creator).
    var owner: String? {
        var st = stat()
        guard stat(cairnDirectory, &st) == 0 else { return nil }
        return getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) }
    }

    /// `name` may grant roles: an admin given that role here (not by a pulled bundle), or, in a
    /// repository made before its creator was recorded (no admin at all), the owner of `.cairn`.
    static func checkAdmin(_ name: String, _ tx: any CatalogReadTransaction, owner: String?) throws {
        let admins = try tx.annotators().filter { $0.role == .admin }
        if admins.isEmpty && name == owner { return }
        let local = try tx.localReviewers()
        guard let who = try tx.annotator(named: name), who.role == .admin, local.contains(name) else {
            throw CatalogError.notAnAdmin(name: name, admins: admins.map(\.name))
        }
    }
}
