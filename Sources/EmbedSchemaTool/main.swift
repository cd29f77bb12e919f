import Foundation

// Usage: EmbedSchemaTool OUTPUT.swift schema/0001_x.sql schema/0002_y.sql ...
// Writes `embeddedMigrations`, one (name, sql) pair per file, in file-name order.
let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedSchemaTool OUTPUT FILE...\n".utf8))
    exit(64)
}
var source = "// Generated from schema/*.sql by the EmbedSchema plugin. Do not edit.\n"
source += "let embeddedMigrations: [(name: String, sql: String)] = [\n"
for path in arguments.dropFirst().sorted(by: { ($0 as NSString).lastPathComponent < ($1 as NSString).lastPathComponent }) {
    let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    let sql = try String(contentsOfFile: path, encoding: .utf8)
    // A raw string with enough #s that no sequence in the SQL can close it.
    var hashes = "#"
    while sql.contains("\"\"\"" + hashes) { hashes += "#" }
    source += "    (name: \(String(reflecting: name)), sql: \(hashes)\"\"\"\n\(sql)\n\"\"\"\(hashes)),\n"
}
source += "]\n"
try source.write(toFile: output, atomically: true, encoding: .utf8)
