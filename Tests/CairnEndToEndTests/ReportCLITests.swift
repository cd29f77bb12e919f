import CairnTestSupport
import Foundation
import Testing

/// `cairn report` pages rendered by headless Chromium (Debian's `chromium`, installed by `make
/// test`): they render offline with no console message, their script runs, and the figures in the
/// DOM equal the run records'.
@Suite(.serialized) struct ReportCLITests {
    /// The page as Chromium renders it (the DOM after scripts ran) and what it logged to the console.
    private func render(_ path: String) throws -> (dom: String, console: [String]) {
        let chromium = "/usr/bin/chromium"
        #expect(FileManager.default.isExecutableFile(atPath: chromium), "chromium is missing: `make test` installs it")
        let result = CLI.shell("'\(chromium)' --headless --no-sandbox --disable-gpu --enable-logging=stderr --host-resolver-rules='MAP * ~NOTFOUND' "
                               + "--dump-dom 'file://\(path)' 2>'\(path).log'")
        let log = (try? String(contentsOfFile: path + ".log", encoding: .utf8)) ?? ""
        #expect(result.status == 0, "\(log)")
        return (result.output, log.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init))
    }

    /// Every `data-figure` with a value in the rendered DOM.
    private func figures(_ dom: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for match in dom.matches(of: /data-figure="([^"]*)" data-value="([^"]*)"/) {
            out[String(match.1).replacingOccurrences(of: "&gt;", with: ">")] = Double(match.2)
        }
        return out
    }

    @Test func runSweepComparisonAndDataPagesRenderOfflineWithTheRecordsFigures() throws {
        let dir = try TemporaryDirectory("cairn-e2e-report")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        #expect(try cairn("train", "--data", "v1", "--model", "softmax", "--epochs", "3", "--name", "first").status == 0)
        // A second snapshot with a few labels changed, and a run on it with another learning rate.
        #expect(try cairn("annotators", "add", "grace", "--role", "reviewer").status == 0)
        let some = try cairn("ls", "--class", "3", "--json").jsonArray().prefix(4).compactMap { $0["path"] as? String }
        for path in some { #expect(try cairn("review", path, "--class", "8", "--reviewer", "grace").status == 0) }
        #expect(try cairn("snapshot", "-m", "relabel four").status == 0)
        #expect(try cairn("tag", "v2").status == 0)
        #expect(try cairn("train", "--data", "v2", "--model", "softmax", "--epochs", "3", "--lr", "0.001", "--name", "second").status == 0)
        #expect(try cairn("suspects", "--data", "v2").status == 0)
        let spec = dir.appending("spec.yaml")
        try Data("method: grid\nmetric: {name: val_accuracy, goal: maximize}\nparameters: {lr: {values: [0.003, 0.0003]}, epochs: {value: 2}, model: {value: softmax}}\n".utf8)
            .write(to: URL(fileURLWithPath: spec))
        let sweepID = try #require(try cairn("sweep", "--data", "v1", "--spec", spec, "--json").jsonObject()["sweep"] as? String)

        let out = dir.appending("report")
        var result = try cairn("report", "first", "second", sweepID, "v2", "-o", out, "--json")
        #expect(result.status == 0, "\(result)")
        let pages = try #require(try result.jsonObject()["pages"] as? [String])
        #expect(pages.count == 5, "\(pages)")
        let first = try cairn("runs", "show", "first", "--json").jsonObject()
        let firstID = try #require(first["id"] as? String)

        for page in pages {
            let html = try String(contentsOfFile: page, encoding: .utf8)
            #expect(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"))
            #expect(html.matches(of: /(src|href)=["']?(https?:)?\/\//).isEmpty && !html.contains("url(http"), "\(page) references nothing outside itself")
            let (dom, console) = try render(page)
            #expect(console.isEmpty, "\(page): \(console)")
            #expect(dom.contains("data-figures=\""), "\(page): the page's script ran")
        }

        // The run page: its figures are the record's, to the last digit.
        let runPage = try #require(pages.first { $0.hasSuffix("run-\(firstID).html") })
        let shown = figures(try render(runPage).dom)
        #expect(shown.count > 20, "\(shown)")
        // Read with JSONDecoder: Foundation's JSONSerialization on Linux rounds some doubles in the last digit.
        struct Figures: Decodable {
            struct PerClass: Decodable { var name: String; var f1: Double; var support: Int }
            struct Evaluation: Decodable { var accuracy: Double; var loss: Double; var macroF1: Double; var perClass: [PerClass]; var confusion: [[Int]] }
            var test: Evaluation
            var val: Evaluation
        }
        let record = try JSONDecoder().decode(Figures.self, from: Data(try cairn("runs", "show", "first", "--json").stdout.utf8))
        let test = record.test
        #expect(shown["test-accuracy"] == test.accuracy && shown["val-accuracy"] == record.val.accuracy)
        #expect(shown["test-loss"] == test.loss && shown["test-macro-f1"] == test.macroF1)
        for c in test.perClass {
            #expect(shown["f1:\(c.name)"] == c.f1 && shown["support:\(c.name)"] == Double(c.support), "\(c.name)")
        }
        let dom = try render(runPage).dom
        let cells = dom.matches(of: /data-cell="(\d+),(\d+)" data-value="(\d+)"/).map { (Int($0.1)!, Int($0.2)!, Int($0.3)!) }
        let confusion = test.confusion
        #expect(!cells.isEmpty && cells.allSatisfy { confusion[$0.0][$0.1] == $0.2 }, "the confusion matrix is the record's")
        let counts = try cairn("ls", "v1", "--class", "3", "--split", "train", "--json").jsonArray().count
        #expect(shown["count:3:train"] == Double(counts))
        if let confused = shown.first(where: { $0.key.hasPrefix("confused:") }) {
            #expect(confused.value >= 1 && dom.contains("src=\"data:image/png;base64,") && dom.contains("labeled by"))
        }

        // The comparison: only the learning rate differs; the data difference names the four relabeled items.
        let compare = try String(contentsOfFile: try #require(pages.first { $0.hasSuffix("compare.html") }), encoding: .utf8)
        #expect(compare.contains("data-parameter=\"lr\"") && !compare.contains("data-parameter=\"batch\""))
        #expect(compare.contains("<th>relabeled</th><td>4</td>"), "the snapshots differ by four relabeled items")
        let compared = figures(try render(try #require(pages.first { $0.hasSuffix("compare.html") })).dom)
        #expect(compared["delta-test-accuracy:\(firstID)"] == 0)

        // The sweep: one line per trial in the parallel coordinates, and the trial table.
        let sweepPage = try String(contentsOfFile: try #require(pages.first { $0.contains("sweep-") }), encoding: .utf8)
        #expect(sweepPage.matches(of: /<polyline data-trial=/).count == 2 && sweepPage.contains("Trials, best first"))
        // The data page: label health from `cairn suspects`, and what changed since v1.
        let dataPage = try String(contentsOfFile: try #require(pages.first { $0.contains("snapshot-") }), encoding: .utf8)
        #expect(dataPage.contains("estimated label noise") && dataPage.contains("<th>relabeled</th><td>4</td>"))

        // A run whose checkpoint is gone: the page says what is missing and still renders.
        #expect(try cairn("train", "--data", "v1", "--epochs", "1", "--hidden", "600", "--name", "big").status == 0)
        let checkpoint = try #require(try cairn("runs", "show", "big", "--json").jsonObject()["checkpoint"] as? String)
        let loose = repo + "/.cairn/objects/sha256/\(checkpoint.prefix(2))/\(checkpoint.dropFirst(2))"
        try FileManager.default.removeItem(atPath: loose)
        result = try cairn("report", "big", "-o", dir.appending("report-missing"), "--json")
        #expect(result.status == 0, "\(result)")
        let missingPage = try #require(try result.jsonObject()["pages"] as? [String]).first!
        let (missingDOM, missingConsole) = try render(missingPage)
        #expect(missingDOM.contains("id=\"missing\"") && missingDOM.contains("checkpoint") && missingConsole.isEmpty)
        #expect(figures(missingDOM)["val-accuracy"] != nil, "the rest of the page is there")

        // Names from the data are text on the page, never markup or script.
        let hostile = "x<script>document.body.dataset.owned='1'</script>\u{1b}[31m"
        #expect(try cairn("train", "--data", "v1", "--model", "softmax", "--epochs", "1", "--name", hostile).status == 0)
        result = try cairn("report", hostile, "-o", dir.appending("report-hostile"), "--json")
        let hostilePage = try #require(try result.jsonObject()["pages"] as? [String]).first!
        let hostileHTML = try String(contentsOfFile: hostilePage, encoding: .utf8)
        #expect(hostileHTML.contains("x&lt;script&gt;") && !hostileHTML.contains("\u{1b}"), "escaped")
        let (hostileDOM, hostileConsole) = try render(hostilePage)
        #expect(!hostileDOM.contains("data-owned") && hostileConsole.isEmpty)

        result = try cairn("report", "nothing-here", "-o", dir.appending("x"))
        #expect(result.status == 64 && result.stderr.contains("is no run, sweep or snapshot"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: dir.appending("x")), "nothing is written before every target is known")

        // A run whose record is damaged is reported as damaged, not taken for a name that is not there.
        let sql = "UPDATE runs SET record = '{\\\"broken\\\": 1}' WHERE name = 'second';"
        let damaged = CLI.shell("command -v sqlite3 >/dev/null && sqlite3 '\(repo)/.cairn/catalog.sqlite' \"\(sql)\"")
        try #require(damaged.status == 0, "sqlite3 is needed for this test: \(damaged.output)")
        result = try cairn("report", "second", "-o", dir.appending("y"))
        #expect(result.status == 1 && result.stderr.contains("the record of run") && result.stderr.contains("is damaged"), "\(result)")
        #expect(try cairn("runs", "show", "second").stderr.contains("is damaged"), "every reader says so")
    }
}
