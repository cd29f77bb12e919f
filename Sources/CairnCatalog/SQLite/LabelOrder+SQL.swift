import Foundation
import GRDB

extension LabelOrder {
    /// `cairn_label_stamp(created_at, multi, class name, JSON list of member names)`, registered on
    /// every catalog connection so that migration 0006 can stamp the rows written before it.
    static let sqlFunction = DatabaseFunction("cairn_label_stamp", argumentCount: 4, pure: true) { values in
        let time = Double.fromDatabaseValue(values[0]) ?? 0
        let multi = Bool.fromDatabaseValue(values[1]) ?? false
        let label: Label?
        if multi {
            let json = String.fromDatabaseValue(values[3]) ?? "[]"
            label = Label((try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? [])
        } else {
            label = String.fromDatabaseValue(values[2]).map(Label.one)
        }
        return stamp(at: time, label: label)
    }
}
