import CairnTestSupport
import Foundation
import Testing

/// Who may do what, through the real binary: the creator is the first admin and may review, merge
/// and purge without adding themselves; roles are granted only by an admin; a name nobody granted
/// a role is refused by every command that needs one (one rule: purge, restore, merge, review).
@Suite struct IdentityCLITests {
    @Test func theCreatorIsAdminAndOnlyAnAdminGrantsRoles() throws {
        let dir = try TemporaryDirectory("cairn-e2e-identity")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), images: 6, labelsFromDirectories: true, tag: "v1")
        let creator = CLI.environment["USER"] ?? ""
        func cairn(_ args: [String], as user: String? = nil) throws -> CommandResult {
            try CLI.run(["-C", repo] + args, environment: user.map { ["USER": $0] } ?? [:])
        }
        let people = try cairn(["annotators", "--json"]).jsonArray()
        #expect(people.contains { $0["name"] as? String == creator && $0["role"] as? String == "admin" }, "\(people)")

        // The creator reviews, merges and purges as themselves, with no set-up.
        let item = try #require(try cairn(["ls", "--json"]).jsonArray().first?["path"] as? String)
        #expect(try cairn(["review", item, "--class", "dog"]).status == 0)
        #expect(try cairn(["classes", "add", "kitten"]).status == 0)
        #expect(try cairn(["classes", "merge", "kitten", "cat"]).status == 0)

        // A name nobody granted a role: refused everywhere, nothing added on the way.
        for args in [["purge", item, "--yes", "--author", "mallory"], ["restore", "v1", "--author", "mallory"],
                     ["review", item, "--class", "cat", "--reviewer", "mallory"], ["classes", "merge", "dog", "cat", "--reviewer", "mallory"]] {
            let result = try cairn(args)
            #expect(result.status != 0 && result.stderr.contains("mallory is not an annotator here"), "\(args): \(result)")
        }
        #expect(try !cairn(["annotators", "--json"]).jsonArray().contains { $0["name"] as? String == "mallory" })

        // mallory (another $USER) cannot make herself or anyone a reviewer; the admin can.
        var result = try cairn(["annotators", "add", "mallory", "--role", "admin"], as: "mallory")
        #expect(result.status != 0 && result.stderr.contains("mallory is not an admin here") && result.stderr.contains(creator), "\(result)")
        #expect(try cairn(["annotators", "add", "mallory"], as: "mallory").status == 0, "anyone may be an annotator")
        result = try cairn(["annotators", "role", "mallory", "reviewer"], as: "mallory")
        #expect(result.status != 0 && result.stderr.contains("not an admin"), "\(result)")
        #expect(try cairn(["annotators", "role", "mallory", "reviewer"]).status == 0)
        #expect(try cairn(["review", item, "--class", "cat"], as: "mallory").status == 0)
        result = try cairn(["annotators", "role", creator, "annotator"])
        #expect(result.status != 0 && result.stderr.contains("last admin"), "\(result)")
    }
}
