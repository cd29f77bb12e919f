import Foundation

/// What a read transaction offers of `CatalogClasses`.
public protocol CatalogClassesReading {
    /// Every class in ordinal order (removed ones left out).
    func classes() throws -> [LabelClass]
    /// The class named `name`, if any (a removed class is not).
    func labelClass(named name: String) throws -> LabelClass?
    /// Classes removed by `classes remove` or `merge`: kept for the history that names them.
    func removedClasses() throws -> [LabelClass]
}

/// Label classes, in their fixed order, with the key each has in the labeling UI.
public protocol CatalogClasses: CatalogClassesReading {
    /// Removes class `id` from every list and frees its key; its history stays. Never undone.
    func markClassRemoved(id: Int64, at time: Date) throws
    /// Stores a new class as given. Callers use `addClass`, which checks the name and picks the key.
    func insertClass(name: String, hotkey: String?, ordinal: Int) throws -> LabelClass
    /// Stores class `id`'s new name and key as given. Callers use `renameClass` and `setHotkey`.
    func updateClass(id: Int64, name: String, hotkey: String?) throws
}

/// What a read transaction offers of `CatalogPeople`.
public protocol CatalogPeopleReading {
    /// Every annotator by name.
    func annotators() throws -> [Annotator]
    /// The annotator named `name`, if any.
    func annotator(named name: String) throws -> Annotator?
    /// The names of reviewers and admins given their role here (not by a pulled bundle): whose pulled
    /// purges apply.
    func localReviewers() throws -> Set<String>
}

/// The people (and processes, like `import`) who label and review.
public protocol CatalogPeople: CatalogPeopleReading {
    /// Stores a new annotator as given. Callers use `addAnnotator`, which checks the name.
    func insertAnnotator(name: String, role: Role, createdAt: Date) throws -> Annotator
    /// Gives annotator `annotatorID` `role`, granted here (no longer a pulled claim). Callers use
    /// `Repository.setRole`, which checks who grants it.
    func setRole(annotatorID: Int64, role: Role) throws
    /// Marks annotator `id` as added by a pulled bundle: the role is the remote's claim, not granted here.
    func markAnnotatorPulled(id: Int64) throws
}

extension CatalogClasses {
    /// Adds a class at the end of the order. Without `hotkey`, a class whose name is one free key
    /// gets that key (class `0` gets `0`), any other the first free default key.
    /// - Throws: `CatalogError.invalidName` for a name `LabelClass.validate` refuses, `.exists`
    ///   for a name in use, `.unusableKey` or `.keyInUse` for a bad hotkey.
    @discardableResult

    public func addClass(_ name: String, hotkey: String? = nil) throws -> LabelClass {
        try LabelClass.validate(name: name)
        if try labelClass(named: name) != nil { throw CatalogError.exists(kind: "class", name: name) }
        if try removedClasses().contains(where: { $0.name == name }) { throw CatalogError.removedClass(name) }
        let existing = try classes()
        let used = Set(existing.compactMap(\.hotkey))
        var key = hotkey
        if let hotkey {
            try LabelClass.checkKey(hotkey, usedBy: existing)
        } else if name.count == 1, LabelClass.usableKey(name), !used.contains(name) {
            key = name
        } else {
            key = LabelClass.defaultKeys.first { !used.contains($0) }
        }
        // Removed classes keep their place: a new class goes after them too.
        let last = max(existing.map(\.ordinal).max() ?? -1, try removedClasses().map(\.ordinal).max() ?? -1)
        return try insertClass(name: name, hotkey: key, ordinal: last + 1)
    }

    /// The class named `name`, added if missing.
    public func ensureClass(_ name: String) throws -> LabelClass {
        if let existing = try labelClass(named: name) { return existing }
        return try addClass(name)
    }

    /// Gives class `name` the labeling key `hotkey`.
    /// - Throws: `CatalogError.notFound` for an unknown class, `.unusableKey` or `.keyInUse`.
    public func setHotkey(_ name: String, to hotkey: String) throws {
        guard let existing = try labelClass(named: name) else { throw CatalogError.notFound(kind: "class", name: name) }
        try LabelClass.checkKey(hotkey, usedBy: try classes(), except: name)
        try updateClass(id: existing.id, name: existing.name, hotkey: hotkey)
    }

    /// Renames a class; its history follows it.
    /// - Throws: `CatalogError.notFound`, `.exists`, `.invalidName`.
    public func renameClass(_ name: String, to newName: String) throws {
        guard let existing = try labelClass(named: name) else { throw CatalogError.notFound(kind: "class", name: name) }
        guard try labelClass(named: newName) == nil else { throw CatalogError.exists(kind: "class", name: newName) }
        if try removedClasses().contains(where: { $0.name == newName }) { throw CatalogError.exists(kind: "removed class", name: newName) }
        try LabelClass.validate(name: newName)
        try updateClass(id: existing.id, name: newName, hotkey: existing.hotkey)
    }

    /// The ids of a label's classes, adding classes that are missing.
    public func ensureClasses(_ label: Label) throws -> [Int64] {
        try label.classes.map { try ensureClass($0).id }
    }
}

extension CatalogClassesReading {
    /// The ids of classes that must exist (what a user typed).
    /// - Throws: `CatalogError.unknownClass` naming a class that does not exist.
    public func existingClassIDs(_ names: [String]) throws -> [Int64] {
        try names.map { name in
            guard let found = try labelClass(named: name) else {
                if try removedClasses().contains(where: { $0.name == name }) { throw CatalogError.removedClass(name) }
                throw CatalogError.unknownClass(name)
            }
            return found.id
        }
    }
}

extension CatalogPeople {
    /// Adds an annotator.
    /// - Throws: `CatalogError.invalidName` for a name `AnnotatorNames` refuses, `.exists` for a name in use.
    @discardableResult

    public func addAnnotator(_ name: String, role: Role) throws -> Annotator {
        if let problem = AnnotatorNames.problem(name) { throw CatalogError.invalidName(kind: "annotator", name: name, reason: problem) }
        if try annotator(named: name) != nil { throw CatalogError.exists(kind: "annotator", name: name) }
        return try insertAnnotator(name: name, role: role, createdAt: Date())
    }

    /// The annotator named `name`, added with `role` if missing.
    public func ensureAnnotator(_ name: String, role: Role = .annotator) throws -> Annotator {
        if let existing = try annotator(named: name) { return existing }
        return try addAnnotator(name, role: role)
    }
}

extension CatalogPeopleReading {
    /// The person named `name` if they may record verdicts (the one rule for reviewing: an
    /// annotator with the role reviewer or admin).
    /// - Throws: `CatalogError.notAReviewer`.
    public func reviewer(named name: String) throws -> Annotator {
        guard let who = try annotator(named: name) else { throw CatalogError.notAReviewer(name: name, role: nil) }
        try who.checkMayReview()
        return who
    }
}
