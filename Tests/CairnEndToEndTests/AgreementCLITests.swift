import CairnTestSupport
import Foundation
import Testing

@Suite struct AgreementCLITests {
    /// Two annotators label the same six items and disagree on two: κ is reported per pair, overall
    /// and per class, and the confused classes are named.
    @Test func twoAnnotatorsGetACohensKappa() throws {
        let dir = try TemporaryDirectory("cairn-e2e-agree")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), images: 6, classes: ["cat", "dog"])
        let paths = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray().compactMap { $0["path"] as? String }.sorted()
        #expect(paths.count == 6)
        let none = try CLI.run(["-C", repo, "agreement"])
        #expect(none.status == 0 && none.stdout.contains("no item has labels from two annotators"), "\(none)")
        let ann = ["cat", "cat", "cat", "dog", "dog", "dog"], bob = ["cat", "cat", "dog", "dog", "dog", "cat"]
        for (i, path) in paths.enumerated() {
            #expect(try CLI.run(["-C", repo, "annotate", path, "--class", ann[i], "--annotator", "ann"]).status == 0)
            #expect(try CLI.run(["-C", repo, "annotate", path, "--class", bob[i], "--annotator", "bob"]).status == 0)
        }
        let report = try CLI.run(["-C", repo, "agreement", "--json"]).jsonObject()
        let pair = try #require((report["pairs"] as? [[String: Any]])?.first)
        // p_o = 4/6, p_e = 0.5 · 0.5 + 0.5 · 0.5 = 0.5, κ = 1/3.
        #expect(abs((pair["kappa"] as? Double ?? 0) - 1.0 / 3) < 1e-9)
        #expect(pair["items"] as? Int == 6)
        let confusions = try #require(report["confusions"] as? [[String: Any]])
        #expect(confusions.first?["count"] as? Int == 2)
        let text = try CLI.run(["-C", repo, "agreement"])
        #expect(text.stdout.contains("Fleiss") && text.stdout.contains("cat / dog"), "\(text)")
    }
}
