@testable import CairnRepository
import CairnTestSupport
import Foundation
import Testing

/// The structure check that runs before TOMLKit: valid TOML of every value shape passes it (and
/// parses), malformed structure is a clear error naming the line, never an assertion in toml++.
@Suite struct ConfigTests {
    @Test func validValuesOfEveryShapePass() throws {
        let text = """
            # comment
            [splits]
            train = 0.7   # trailing comment
            val = 2e-1
            test = 1_0e-2
            [remotes.origin]
            url = "s3://bucket/prefix"
            [keys.classes]
            "chat noir" = 'c'
            [other]
            list = [ 1, 2.5, +3,   # a comment inside an array
                     "x", [true, false], { a = 1, "b c" = [] }, ]
            table = { x = { y = "z" } }
            empty = {}
            text = \"\"\"
            several
            lines\"\"\"
            when = 1979-05-27T07:32:00Z
            """
        #expect(RepositoryConfig.lexicalProblem(text) == nil)
        let config = try RepositoryConfig.parse(text, path: "config.toml")
        #expect(config.splits.train == 0.7 && config.remotes["origin"] != nil)
    }

    @Test(arguments: [
        ("a = [[[[}}}", "line 1: a value cannot start with '}'"),
        ("a = [1 2]", "line 1: an array element is not followed by ',' or ']'"),
        ("a = {b = 1 c = 2}", "line 1: an inline table entry is not followed by ',' or '}'"),
        ("a = {b}", "line 1: a key in an inline table is not followed by '='"),
        ("a = [,]", "line 1: a value cannot start with ','"),
        ("\na = 1 2", "line 2: unexpected text after a table header or value"),
        ("a = [\n1,\n", "line 3: a value is missing"),
        ("a = " + String(repeating: "[", count: 40), "line 1: arrays and tables nested too deeply"),
    ]) func malformedStructureIsNamed(text: String, problem: String) {
        #expect(RepositoryConfig.lexicalProblem(text) == problem)
    }

    /// What cairn writes into config.toml reads back exactly, whatever the characters (quotes,
    /// backslashes, controls, DEL): the one string-literal writer JSON and TOML share.
    @Test func renderedStringsReadBackExactly() throws {
        let odd = "s3://b/p \"q\" \\ \u{01}\n\t\u{7F} é"
        var config = RepositoryConfig()
        config.remotes["origin"] = RepositoryConfig.RemoteSettings(url: odd, region: "eu\u{1B}west")
        config.splits.group = "^a/(\\w+)_"
        let back = try RepositoryConfig.parse(config.rendered(), path: "config.toml")
        #expect(back.remotes["origin"]?.url == odd && back.remotes["origin"]?.region == "eu\u{1B}west")
        #expect(back.splits.group == "^a/(\\w+)_")
    }

    /// The catalog backend comes from the config: SQLite unless it says otherwise, PostgreSQL with a
    /// URL that holds no password, a backend this cairn lacks refused with the ones it has, the
    /// default not written out.
    @Test func theCatalogBackendIsConfigured() throws {
        #expect(try RepositoryConfig.parse("", path: "config.toml").catalog == .sqlite)
        #expect(try RepositoryConfig.parse("[catalog]\nbackend = \"sqlite\"\n", path: "config.toml").catalog == .sqlite)
        #expect(throws: RepositoryError.badConfig(path: "config.toml", reason: "[catalog] backend 'cloud\\e[31m' is not one this cairn has (it has: sqlite, postgresql)")) {
            try RepositoryConfig.parse("[catalog]\nbackend = \"cloud\\u001b[31m\"\n", path: "config.toml")
        }
        #expect(!RepositoryConfig().rendered().contains("[catalog]"))

        let team = RepositoryConfig(catalog: .postgresql(url: "postgresql://ada@db.lab/birds"))
        #expect(try RepositoryConfig.parse(team.rendered(), path: "config.toml") == team)
        #expect(throws: RepositoryError.self) { try RepositoryConfig.parse("[catalog]\nbackend = \"postgresql\"\n", path: "config.toml") }
        #expect(throws: RepositoryError.self) {
            try RepositoryConfig.parse("[catalog]\nbackend = \"postgresql\"\nurl = \"postgresql://ada:secret@db/x\"\n", path: "config.toml")
        }
        #expect(throws: RepositoryError.self) { try RepositoryConfig.parse("[catalog]\nurl = \"postgresql://db/x\"\n", path: "config.toml") }
        #expect(throws: RepositoryError.self) { try RepositoryConfig.CatalogBackend(argument: "mysql://db/x") }
        #expect(try RepositoryConfig.CatalogBackend(argument: "postgres://db/x") == .postgresql(url: "postgres://db/x"))
    }

    @Test func aRepositoryWhoseCatalogIsMissingIsNotOne() throws {
        let dir = try TemporaryDirectory("cairn-config")
        defer { dir.remove() }
        try Repository.initialize(at: dir.path)
        try FileManager.default.removeItem(atPath: dir.path + "/.cairn/catalog.sqlite")
        #expect(throws: RepositoryError.notARepository(path: dir.path)) { try Repository(root: dir.path) }
        try "[catalog]\nbackend = \"cloud\"\n".write(toFile: dir.path + "/.cairn/config.toml", atomically: true, encoding: .utf8)
        #expect(throws: RepositoryError.self) { try Repository.discover(from: dir.path) }
    }
}
