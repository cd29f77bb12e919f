import CairnTestSupport
import Foundation
import Testing

/// `Catalog.read` hands its body a `CatalogReadTransaction`, which has no writes: a write in a read
/// is a compile error, not a failure at the server. Checked by type-checking two snippets against
/// the modules this build made (the same compiler, the same CairnCatalog).
@Suite struct ReadTransactionTests {
    @Test func aWriteInAReadDoesNotCompile() throws {
        let allowed = """
            import CairnCatalog
            func use(_ catalog: any Catalog) throws {
                _ = try catalog.write { tx in try tx.ensureClass("cat") }
                _ = try catalog.read { tx in try tx.classes().count + tx.itemCount() }
            }
            """
        let refused = """
            import CairnCatalog
            func use(_ catalog: any Catalog) throws {
                _ = try catalog.read { tx in try tx.ensureClass("cat") }
            }
            """
        let ok = try typecheck(allowed)
        #expect(ok.status == 0, "\(ok.output)")
        let bad = try typecheck(refused)
        #expect(bad.status != 0)
        #expect(bad.output.contains("'any CatalogReadTransaction' has no member 'ensureClass'"), "\(bad.output)")
    }

    /// Runs `swiftc -typecheck` on `source` with the build's module directory (next to the `cairn`
    /// binary) and the C module GRDB's SQLite needs (in the build's checkouts).
    private func typecheck(_ source: String) throws -> (status: Int32, output: String) {
        let dir = try TemporaryDirectory("cairn-typecheck")
        defer { dir.remove() }
        let file = dir.appending("snippet.swift")
        try Data(source.utf8).write(to: URL(fileURLWithPath: file))
        let binaryDir = URL(fileURLWithPath: CLI.binary).resolvingSymlinksInPath().deletingLastPathComponent()
        var root = binaryDir
        var sqlite: String?
        for _ in 0..<4 {
            let candidate = root.appendingPathComponent("checkouts/GRDB.swift/Sources/GRDBSQLite").path
            if FileManager.default.fileExists(atPath: candidate) { sqlite = candidate; break }
            root.deleteLastPathComponent()
        }
        let modules = binaryDir.appendingPathComponent("Modules").path
        try #require(FileManager.default.fileExists(atPath: modules), "no module directory at \(modules)")
        let found = try #require(sqlite, "no GRDB checkout above \(binaryDir.path)")
        return CLI.shell("swiftc -typecheck -I '\(modules)' -I '\(found)' '\(file)' 2>&1")
    }
}
