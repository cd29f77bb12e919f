import Foundation
import PackagePlugin

/// Turns the numbered migrations in `schema/*.sql` into Swift source for `CairnCatalog` (and those
/// in `schema/postgres/*.sql` for `CairnPostgres`), so the `cairn` binary carries its schemas and
/// `schema/` stays the one place they are written.
@main
struct EmbedSchema: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let schemaDir = context.package.directoryURL.appending(path: target.name == "CairnPostgres" ? "schema/postgres" : "schema")
        let fm = FileManager.default
        let files = try fm.contentsOfDirectory(atPath: schemaDir.path(percentEncoded: false))
            .filter { $0.hasSuffix(".sql") }
            .sorted()
            .map { schemaDir.appending(path: $0) }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedSchema.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) schema migrations",
                executable: try context.tool(named: "EmbedSchemaTool").url,
                arguments: [output.path(percentEncoded: false)] + files.map { $0.path(percentEncoded: false) },
                inputFiles: files,
                outputFiles: [output])
        ]
    }
}
