import Foundation

/// A labels CSV: rows `path,label`, or any columns under a header that names `path` and `label`
/// (as `cairn export --format csv` writes); RFC 4180 quoting. With a `status` column, `none` marks
/// the multi-label answer "no class applies" (an empty label otherwise means unlabeled).
public struct LabelsFile: Sendable {
    /// Label by path as written in the file (`a,b` for a set; empty for "no class applies").
    public let labels: [String: String]

    /// Parses `text`; every malformed row is reported, with its line number, in one error.
    /// - Throws: `RepositoryError.badLabelsFile` listing every bad row.
    public init(text: String, path: String) throws {
        var labels: [String: String] = [:]
        var problems: [String] = []
        // A header naming `path` and `label` columns (others ignored); without one, two columns.
        var pathColumn = 0, labelColumn = 1, width = 2
        var statusColumn: Int? = nil
        for (number, fields) in Self.records(text) {
            if fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if number == 1 {
                let names = fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                if let p = names.firstIndex(of: "path"), let l = names.firstIndex(of: "label") {
                    (pathColumn, labelColumn, width) = (p, l, names.count)
                    statusColumn = names.firstIndex(of: "status")
                    continue
                }
            }
            guard fields.count == width else {
                problems.append("line \(number): expected \(width) fields, found \(fields.count)")
                continue
            }
            let (file, label) = (fields[pathColumn], fields[labelColumn].trimmingCharacters(in: .whitespaces))
            guard !file.isEmpty else { problems.append("line \(number): empty path"); continue }
            if let statusColumn, label.isEmpty, fields[statusColumn].trimmingCharacters(in: .whitespaces) == "none" {
                labels[file] = ""
                continue
            }
            // An empty label in a file with a header means "unlabeled"; in a bare two-column file it is a mistake.
            if label.isEmpty {
                if width == 2 && pathColumn == 0 { problems.append("line \(number): empty label for \(file)") }
                continue
            }
            if let previous = labels[file], previous != label {
                problems.append("line \(number): \(file) is labeled both '\(previous)' and '\(label)'")
                continue
            }
            labels[file] = label
        }
        if !problems.isEmpty { throw RepositoryError.badLabelsFile(path: path, problems: problems) }
        self.labels = labels
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepositoryError.badPath(path: path, reason: "cannot read the labels file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RepositoryError.badLabelsFile(path: path, problems: ["the file is not UTF-8 text"])
        }
        try self.init(text: text, path: path)
    }

    /// Splits CSV text into (line number, fields) records. Quoted fields may hold commas,
    /// doubled quotes and newlines; an unterminated quote runs to the end of the text.
    static func records(_ text: String) -> [(Int, [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var line = 1
        var recordLine = 1
        var chars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    let after = next()
                    if after == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = after }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty: inQuotes = true
            case ",": fields.append(field); field = ""
            case "\r": continue
            case "\n":
                fields.append(field)
                records.append((recordLine, fields))
                fields = []
                field = ""
                line += 1
                recordLine = line
            default: field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            records.append((recordLine, fields))
        }
        return records
    }
}
