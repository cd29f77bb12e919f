import CairnCatalog
import CairnLabeling
import Foundation
import Testing

@Suite struct AgreementTests {
    /// Cohen's classic worked example: 50 items, A says yes to 25, B to 30, both yes 20, both no 15:
    /// p_o = 0.7, p_e = 0.5 · 0.6 + 0.5 · 0.4 = 0.5, κ = 0.4.
    @Test func cohensKappaMatchesTheTextbookExample() throws {
        var labels: [[String: Label]] = []
        labels += Array(repeating: ["a": "yes", "b": "yes"], count: 20)
        labels += Array(repeating: ["a": "yes", "b": "no"], count: 5)
        labels += Array(repeating: ["a": "no", "b": "yes"], count: 10)
        labels += Array(repeating: ["a": "no", "b": "no"], count: 15)
        let report = AgreementReport(labels: labels)
        let pair = try #require(report.pairs.first)
        #expect(pair.items == 50)
        #expect(abs(pair.observed - 0.7) < 1e-12)
        #expect(abs((pair.kappa ?? 0) - 0.4) < 1e-12)
        // With two raters on every item, Fleiss' κ uses pooled marginals: p = 0.55 / 0.45.
        let pe = 0.55 * 0.55 + 0.45 * 0.45
        #expect(abs((report.fleissKappa ?? 0) - (0.7 - pe) / (1 - pe)) < 1e-12)
        #expect(report.confusions.map { "\($0.classA)/\($0.classB)=\($0.count)" } == ["no/yes=15"])
        #expect(report.agreements == 35)
    }

    /// Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, κ ≈ 0.210;
    /// per-category κ for category 1 ≈ 0.248 (computed by the same formula by hand).
    @Test func fleissKappaMatchesTheTextbookExample() throws {
        let table = [
            [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
        ]
        let labels = table.map { row -> [String: Label] in
            var item: [String: Label] = [:]
            var rater = 0
            for (category, count) in row.enumerated() {
                for _ in 0..<count {
                    item["r\(rater)"] = .one("c\(category + 1)")
                    rater += 1
                }
            }
            return item
        }
        let report = AgreementReport(labels: labels)
        #expect(report.items == 10)
        #expect(abs((report.fleissKappa ?? 0) - 0.20993) < 1e-4)
        let c1 = try #require(report.perClass.first { $0.className == "c1" })
        #expect(c1.labels == 20)
        // p1 = 20/140; Σ n_i1 (14 − n_i1) = 2·12 + 7·7 + 3·11 + 2·12 + 6·8 = 178; κ1 = 1 − 178 / (1820 · p1 · (1 − p1)).
        let p1 = 20.0 / 140
        #expect(abs((c1.kappa ?? 0) - (1 - 178 / (1820 * p1 * (1 - p1)))) < 1e-12)
    }

    @Test func perfectAndDegenerateAgreement() {
        let xx: [String: Label] = ["a": "x", "b": "x"], yy: [String: Label] = ["a": "y", "b": "y"]
        let same = AgreementReport(labels: Array(repeating: xx, count: 5) + Array(repeating: yy, count: 5))
        #expect(same.pairs.first?.kappa == 1 && same.fleissKappa == 1)
        // Both always say "x": agreement is total but says nothing; κ is undefined, not 1.
        let constant = AgreementReport(labels: Array(repeating: xx, count: 4))
        #expect(constant.pairs.first?.kappa == nil && constant.fleissKappa == nil)
        // A single rater per item: nothing to compare.
        let x: [String: Label] = ["a": "x"], y: [String: Label] = ["b": "y"]
        let single = AgreementReport(labels: [x, y])
        #expect(single.pairs.isEmpty && single.items == 0 && single.fleissKappa == nil)
    }

    /// Multi-label: two labels agree only as the same set, but per class each label carries the
    /// class or not, so a class both always see together still has κ = 1.
    @Test func multiLabelSetsAgreeAsSetsAndPerClass() throws {
        let catDog = Label(["dog", "cat"]), cat: Label = "cat", none = Label([String]())
        let labels: [[String: Label]] = [
            ["a": catDog, "b": catDog], ["a": catDog, "b": cat], ["a": cat, "b": cat], ["a": none, "b": none],
        ]
        let report = AgreementReport(labels: labels)
        let pair = try #require(report.pairs.first)
        #expect(pair.items == 4 && abs(pair.observed - 0.75) < 1e-12)
        #expect(report.confusions.map { "\($0.classA)/\($0.classB)=\($0.count)" } == ["cat/cat+dog=1"])
        // "cat": carried by both raters on the first three items, by neither on the last: total agreement.
        let catAgreement = try #require(report.perClass.first { $0.className == "cat" })
        #expect(catAgreement.labels == 6 && catAgreement.kappa == 1)
        // "dog": a says it twice, b once; they differ on one item of four.
        let dog = try #require(report.perClass.first { $0.className == "dog" })
        #expect(dog.labels == 3)
        // p = 3/8; disagreement Σ n_ic (n_i − n_ic) = 1·1 = 1 over Σ n_i(n_i − 1) = 8: κ = 1 − 1 / (8 · p (1 − p)).
        let p = 3.0 / 8
        #expect(abs((dog.kappa ?? 0) - (1 - 1 / (8 * p * (1 - p)))) < 1e-12)
    }
}
