import CairnCatalog
import CairnStore
import Foundation

/// Classes, people, and labels given from the command line: one catalog transaction each.
extension Repository {
    /// Every class in order.
    public func classes() throws -> [LabelClass] { try catalog.read { try $0.classes() } }

    /// Adds classes at the end of the order, all or none (`hotkey` only with one name).
    /// - Throws: `CatalogError.invalidName`, `.exists`, `.unusableKey`, `.keyInUse`.
    public func addClasses(_ names: [String], hotkey: String? = nil) throws -> [LabelClass] {
        try catalog.write { tx in try names.map { try tx.addClass($0, hotkey: hotkey) } }
    }

    /// Renames a class; its history follows it.
    public func renameClass(_ name: String, to newName: String) throws {
        try catalog.write { try $0.renameClass(name, to: newName) }
    }

    /// Sets the key that labels class `name` in the labeling UI.
    public func setClassKey(_ name: String, to key: String) throws {
        try catalog.write { try $0.setHotkey(name, to: key) }
    }

    /// Every annotator by name.
    public func annotators() throws -> [Annotator] { try catalog.read { try $0.annotators() } }

    /// Adds an annotator.
    /// - Throws: `CatalogError.invalidName`, `.exists`.
    @discardableResult
    public func addAnnotator(_ name: String, role: Role) throws -> Annotator {
        try catalog.write { try $0.addAnnotator(name, role: role) }
    }

    /// The annotator named `name`, added when new.
    public func annotator(ensuring name: String) throws -> Annotator {
        try catalog.write { try $0.ensureAnnotator(name) }
    }

    /// Appends `label` (nil = a skip) by `annotator` to each item `refs` names, in one
    /// transaction; the classes must exist. Returns how many items were labeled.
    /// - Throws: `CatalogError.notFound`/`.ambiguous` for a ref, `.unknownClass`; nothing is recorded then.
    public func annotate(_ refs: [String], label: Label?, annotator: String) throws -> Int {
        try catalog.write { tx in
            let who = try tx.ensureAnnotator(annotator)
            let classIDs = try label.map { try tx.existingClassIDs($0.classes) }
            let items = try refs.map { try tx.item(matching: $0) }
            for item in items { try tx.appendAnnotation(itemID: item.id, annotatorID: who.id, classIDs: classIDs) }
            return items.count
        }
    }

    /// Appends `label` (nil = a skip) by `annotator` to the item `ref` names, in its own transaction.
    public func annotate(_ ref: String, label: Label?, annotator: Annotator) throws {
        try catalog.write { tx in
            let item = try tx.item(matching: ref)
            try tx.appendAnnotation(itemID: item.id, annotatorID: annotator.id, classIDs: try label.map { try tx.existingClassIDs($0.classes) })
        }
    }

    /// Records `reviewer`'s verdict `label` on each item `refs` names, in one transaction.
    /// - Throws: `CatalogError.notAReviewer` unless the reviewer is an annotator with the role
    ///   reviewer or admin; `.notFound`, `.unknownClass`.
    public func review(_ refs: [String], label: Label, reviewer: String) throws -> Int {
        try catalog.write { tx in
            let who = try tx.reviewer(named: reviewer)
            let classIDs = try tx.existingClassIDs(label.classes)
            let items = try refs.map { try tx.item(matching: $0) }
            for item in items { try tx.appendVerdict(itemID: item.id, reviewer: who, classIDs: classIDs) }
            return items.count
        }
    }

    /// Records `person`'s box set for the item `ref` names, in its own transaction: as an
    /// annotator's set, or as a reviewer's verdict when `verdict` is true. The classes must exist.
    /// - Throws: `CatalogError.invalidBox`, `.unknownClass`, `.notFound`, `.notAReviewer`.
    public func setBoxes(_ ref: String, boxes: BoxSet, person: String, verdict: Bool = false) throws {
        try catalog.write { tx in
            let item = try tx.item(matching: ref)
            let classes = Dictionary(uniqueKeysWithValues: try tx.classes().map { ($0.name, $0) })
            if verdict {
                try tx.appendBoxVerdict(item: item, reviewer: try tx.reviewer(named: person), boxes: boxes, classes: classes)
            } else {
                try tx.appendBoxes(.annotations, item: item, personID: try tx.ensureAnnotator(person).id, boxes: boxes, classes: classes)
            }
        }
    }
}
