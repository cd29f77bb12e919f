@testable import CairnReports
@testable import CairnTraining
import Foundation
import Testing

/// The one axis layout both chart renderers use: total over any finite values, readable ticks.
@Suite struct ChartAxisTests {
    @Test(arguments: [
        [0.81, 0.93], [0.0, 1.0], [0.9, 0.9], [9_007_199_254_740_992, 9_007_199_254_740_992], [-1.7e308, 1.7e308],
        [1e-300, 3e-300], [1_000_000, 1_000_000.5], [-5, 12_345], [42, 42], [.greatestFiniteMagnitude, .greatestFiniteMagnitude],
    ])
    func everyFiniteRangeGetsDistinctTicksThatHoldTheValues(values: [Double]) {
        let axis = ChartAxis(values: values, title: "y")
        #expect(axis.ticks.count >= 2 && axis.ticks.count <= 13, "\(axis)")
        #expect(axis.low <= values.min()! && axis.high >= values.max()!, "\(axis)")
        let labels = axis.ticks.map(axis.label)
        #expect(Set(labels).count == labels.count, "no two ticks read the same: \(labels)")
        #expect(values.allSatisfy { (0...1).contains(axis.fraction($0)) })
    }

    @Test func integerAxesTickOnWholeNumbersAndIgnoreNonFiniteValues() {
        let epochs = ChartAxis(values: [1, 2, 3], title: "epoch", integers: true, maxTicks: 9)
        #expect(epochs.ticks.allSatisfy { $0 == $0.rounded() } && epochs.ticks.map(epochs.label) == ["1", "2", "3"], "\(epochs)")
        let odd = ChartAxis(values: [.nan, .infinity, 2, 4], title: "y")
        #expect(odd.low <= 2 && odd.high >= 4 && odd.fraction(.nan) == 0)
        #expect(ChartAxis(values: [0.3, 0.9], title: "y", includeZero: true).low == 0)
    }
}

/// Evaluations of many classes stay small: the matrix up to 100 classes, the top mistakes always.
@Suite struct LargeEvaluationTests {
    @Test func fiveThousandClassesKeepTheirMistakesNotAMatrix() throws {
        let k = 5_000
        let classes = (0..<k).map { "class-\($0)" }
        let truth = (0..<20_000).map { Int32($0 % k) }
        let predicted = truth.enumerated().map { i, t in i % 10 == 0 ? Int32((Int(t) + 1) % k) : t }
        let evaluation = Evaluation(classes: classes, truth: truth, predicted: predicted, loss: 1)
        #expect(evaluation.confusion.isEmpty && evaluation.perClass.count == k)
        #expect(abs(evaluation.accuracy - 0.9) < 1e-9)
        let pairs = try #require(evaluation.confusedPairs)
        #expect(pairs.count == Evaluation.keptPairs && pairs.allSatisfy { $0.count >= 1 })
        #expect(try JSONEncoder().encode(evaluation).count < 1 << 20, "the record stays under a megabyte")
        let html = ReportHTML.confusion(evaluation).text
        #expect(html.utf8.count < 20_000 && html.contains("most frequent mistakes"))

        let small = Evaluation(classes: ["a", "b"], truth: [0, 0, 1, 1], predicted: [0, 1, 1, 1], loss: 1)
        #expect(small.confusion == [[1, 1], [0, 2]] && small.confusedPairs == [.init(actual: "a", predicted: "b", count: 1)])
    }
}

/// Report pages are `HTML`: text interpolated is escaped, markup is only what the code writes,
/// and a page stays bounded with thousands of classes.
@Suite struct ReportHTMLTests {
    @Test func textIsEscapedByDefault() {
        let name = "<b onclick=\"x\">a & 'b'\u{1b}[31m"
        let cell: HTML = "<td title=\"\(name)\">\(name)</td>"
        #expect(cell.text == "<td title=\"&lt;b onclick=&quot;x&quot;&gt;a &amp; &#39;b&#39;\\e[31m\">&lt;b onclick=&quot;x&quot;&gt;a &amp; &#39;b&#39;\\e[31m</td>")
        let inner: HTML = "<i>\(name)</i>"
        let outer: HTML = "<p>\(inner) \(42) \(0.5)</p>"
        #expect(outer.text == "<p>" + inner.text + " 42 0.5</p>", "markup goes in as it is, numbers as numbers")
        #expect((["<a>", "&"].map { "<li>\($0)</li>" as HTML }.joined()).text == "<li>&lt;a&gt;</li><li>&amp;</li>")
    }

    @Test func aDataPageWithThousandsOfClassesStaysSmall() {
        let classes = (0..<5_000).map { "class-\($0)" }
        let facts = DataFacts(snapshot: String(repeating: "a", count: 64), tags: [], message: "m", author: "a", createdAt: Date(), classes: classes,
                              counts: Dictionary(uniqueKeysWithValues: classes.map { ($0, ["train": 3]) }), items: 15_000)
        let page = ReportHTML.dataPage(facts)
        #expect(page.utf8.count < 200_000, "\(page.utf8.count) bytes")
        #expect(page.contains("… and 4800 more classes"))
    }
}
