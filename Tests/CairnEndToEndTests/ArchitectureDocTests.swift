import CairnTestSupport
import Foundation
import Testing

/// Docs/ARCHITECTURE.md against Package.swift, as SwiftPM reads it (`swift package dump-package`):
/// the table names every target but the tests once, with the dependencies the manifest gives it,
/// and the test targets are named too. A target added, removed or rewired without the document
/// fails here.
@Suite struct ArchitectureDocTests {
    /// Target name → (kind, dependencies) from the manifest.
    private func manifest() throws -> [String: (type: String, dependencies: Set<String>)] {
        let scratch = try TemporaryDirectory("cairn-dump-package")
        defer { scratch.remove() }
        // A scratch path of its own: `swift test` holds the lock on .build.
        let result = CLI.shell("cd '\(Fixtures.packageRoot)' && swift package --scratch-path '\(scratch.path)' dump-package 2>/dev/null")
        try #require(result.status == 0, "\(result.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        var out: [String: (String, Set<String>)] = [:]
        for target in json["targets"] as? [[String: Any]] ?? [] {
            let dependencies = (target["dependencies"] as? [[String: Any]] ?? []).compactMap { dependency in
                (dependency.values.first as? [Any])?.first as? String
            }
            out[target["name"] as? String ?? ""] = (target["type"] as? String ?? "", Set(dependencies))
        }
        return out
    }

    @Test func theTargetTableMatchesPackageSwift() throws {
        let targets = try manifest()
        #expect(targets.count > 20)
        let text = try String(contentsOfFile: Fixtures.packageRoot + "/Docs/ARCHITECTURE.md", encoding: .utf8)
        let products = ["swift-crypto": "Crypto", "async-http-client": "AsyncHTTPClient", "swift-argument-parser": "ArgumentParser"]
        /// A name as the table writes it → the manifest's ("Store" → "CairnStore", "swift-crypto" → "Crypto").
        func manifestName(_ name: String) -> String {
            if let product = products[name] { return product }
            return targets["Cairn" + name] != nil ? "Cairn" + name : name
        }
        var documented: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            try #require(cells.count >= 4, "\(line)")
            let names = cells[1].matches(of: /`([^`]+)`/).map { String($0.1) }
            let listed = cells[cells.count - 2]
            let dependencies = listed == "—" ? Set<String>() : Set(listed.components(separatedBy: ", ").map(manifestName))
            for name in names {
                #expect(documented[name] == nil, "\(name) has two rows")
                documented[name] = dependencies
            }
        }
        for (name, target) in targets where target.type != "test" {
            #expect(documented[name] == target.dependencies, "\(name): the table says \(documented[name].map { $0.sorted() } ?? []), Package.swift \(target.dependencies.sorted())")
        }
        for name in documented.keys {
            #expect(targets[name] != nil, "the table names \(name), which Package.swift does not have")
        }
        for (name, target) in targets where target.type == "test" {
            #expect(text.contains("`\(name)`"), "ARCHITECTURE.md does not name the test target \(name)")
        }
    }
}
