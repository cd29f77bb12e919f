import Foundation
import PackagePlugin

/// Turns the numbered migrations in `schema/*.sql` into Swift source for `CairnCatalog`,
/// so the `cairn` binary carries its schema and `schema/` stays the one place it is written.
@main
struct EmbedSchema: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let schemaDir = context.package.directoryURL.appending(path: "schema")
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
