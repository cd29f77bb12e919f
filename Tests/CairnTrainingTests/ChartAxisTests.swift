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

/// One chart model, laid out once, drawn as PNG and as SVG.
@Suite struct LineChartTests {
    func record(_ name: String, epochs: Int, baseline: Double? = nil) -> RunRecord {
        var record = RunRecord(id: name + "-id", name: name, dataRef: "HEAD", snapshotID: "", parameters: nil,
                               environment: .current(cairnVersion: "test", sourceCommit: nil))
        record.epochs = (1...epochs).map {
            EpochMetrics(epoch: $0, trainLoss: 2 / Double($0), valLoss: 2.5 / Double($0), valAccuracy: 0.5 + 0.05 * Double($0), seconds: 1)
        }
        record.baseline = baseline.map { Baseline(className: "a", accuracy: $0) }
        return record
    }

    @Test func runsShareColoursAcrossChartsAndValidationIsDashed() throws {
        let runs = [record("m1", epochs: 3), record("m2", epochs: 5)]
        let loss = try #require(LineChart.loss(runs, title: "loss"))
        #expect(loss.series.map(\.name) == ["m1 train loss", "m1 val loss", "m2 train loss", "m2 val loss"])
        #expect(loss.series.map(\.dashed) == [false, true, false, true])
        #expect(loss.series[0].color == loss.series[1].color && loss.series[0].color != loss.series[2].color)
        let accuracy = try #require(LineChart.accuracy(runs, title: "accuracy"))
        #expect(accuracy.series.map(\.color) == [loss.series[0].color, loss.series[2].color], "a run keeps its colour")
        #expect(loss.xAxis.ticks.first! <= 1 && loss.xAxis.ticks.last! >= 5 && loss.yAxis.ticks.first == 0)
        let one = try #require(LineChart.accuracy([record("m", epochs: 4, baseline: 0.3)], title: "accuracy"))
        #expect(one.series.map(\.name) == ["val accuracy %", "baseline %"] && one.series[1].points.map(\.y) == [30, 30])
    }

    @Test func theSVGAndThePNGDrawTheSameChart() throws {
        let chart = try #require(LineChart.loss([record("m1", epochs: 3), record("m2", epochs: 4)], title: "loss <by> epoch"))
        let svg = ReportHTML.svg(chart).text
        func count(_ part: String) -> Int { svg.components(separatedBy: part).count - 1 }
        #expect(count("<polyline ") == 4 && count("stroke-dasharray") == 4, "lines, and the dashed ones' legend keys")
        #expect(svg.contains("loss &lt;by&gt; epoch") && chart.series.allSatisfy { svg.contains(">\($0.name)</text>") })
        for tick in chart.yAxis.ticks { #expect(svg.contains(">\(chart.yAxis.label(tick))</text>")) }
        let png = Plots.draw(chart)
        #expect(png.width == LineChart.Frame.png.width && png.height == LineChart.Frame.png.height)
        let last = chart.series.last!  // drawn last, so on top where lines meet
        let color = last.color
        let frame = LineChart.Frame.png
        let (x, y) = (Int(chart.x(1, in: frame)), Int(chart.y(last.points[0].y, in: frame)))
        let i = (y * png.width + x) * 3
        #expect(Array(png.pixels[i..<i + 3]) == [color.red, color.green, color.blue], "the first point is drawn in its run's colour")
    }

    @Test func theLegendGoesWhereNoLineRuns() throws {
        // Accuracy near the top, the baseline near the bottom: the legend sits between them.
        var run = record("m", epochs: 6, baseline: 0.07)
        for i in run.epochs.indices { run.epochs[i].valAccuracy = 0.9 + 0.01 * Double(i) }
        let chart = try #require(LineChart.accuracy([run], title: "accuracy"))
        for frame in [LineChart.Frame.png, .svg] {
            let legend = chart.legend(in: frame)
            let (top, bottom) = (legend.first!.y - 4, legend.last!.y + 10)
            #expect(legend.count == 2)
            for s in chart.series {
                for p in s.points where chart.xAxis.fraction(p.x) > 0.6 { #expect(!(top...bottom).contains(chart.y(p.y, in: frame))) }
            }
        }
    }

    @Test func aDashedLineLeavesGaps() {
        var canvas = Canvas(width: 30, height: 1)
        canvas.line(0, 0, 29, 0, color: (0, 0, 0), dashed: true)
        let drawn = (0..<30).map { canvas.pixels[$0 * 3] == 0 }
        #expect(drawn == (0..<30).map { ($0 / 5) % 2 == 0 })
    }
}
