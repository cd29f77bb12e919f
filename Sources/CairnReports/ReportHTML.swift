import CairnModels
import CairnQuality
import CairnTraining
import CairnVersioning
import Foundation

/// `cairn report`'s pages: one self-contained HTML file each (styles, one small script, images as
/// `data:` URIs and plots as inline SVG; nothing is fetched). Every figure is also in the DOM as
/// `data-figure="NAME" data-value="EXACT"`, so a script (or a test) can read the numbers the page
/// shows. Pages are `HTML` values: text from the data is escaped wherever it is interpolated.
public enum ReportHTML {
    // MARK: Pages

    public static func runPage(_ facts: RunFacts) -> String {
        let r = facts.record
        var body: HTML = "<h1>Run \(r.name) <small>\(r.id)</small></h1>"
        body += "<p class=\"meta\">\(status(r.status.rawValue)) · \(r.model) · started \(iso(r.startedAt))"
        if let end = r.endedAt { body += " · \(String(format: "%.1f", end.timeIntervalSince(r.startedAt))) s" }
        if let sweep = r.sweep { body += " · trial \(sweep.trial) of sweep \(sweep.id)" }
        body += "</p>"
        if let error = r.error { body += "<p class=\"note\">\(error)</p>" }
        body += missingSection(facts.missing)
        body += "<h2>Figures</h2><table class=\"figures\"><tr><th></th><th>accuracy</th><th>loss</th><th>macro F1</th></tr>"
        for (name, evaluation) in [("val", r.val), ("test", r.test)] {
            guard let evaluation else { continue }
            body += "<tr><th>\(name)</th><td>\(figure("\(name)-accuracy", evaluation.accuracy, percent: true))</td>"
                + "<td>\(figure("\(name)-loss", evaluation.loss))</td><td>\(figure("\(name)-macro-f1", evaluation.macroF1))</td></tr>"
        }
        if let train = r.trainAccuracy { body += "<tr><th>train</th><td>\(figure("train-accuracy", train, percent: true))</td><td></td><td></td></tr>" }
        if let baseline = r.baseline {
            body += "<tr><th>baseline</th><td>\(figure("baseline-accuracy", baseline.accuracy, percent: true))</td><td colspan=\"2\">always \(baseline.className)</td></tr>"
        }
        body += "</table>"
        if let program = r.program {
            let figures = program.figures.sorted { $0.key < $1.key }
            if !figures.isEmpty {
                body += "<table class=\"figures\">" + figures.map { "<tr><th>\($0.key)</th><td>\(figure($0.key, $0.value))</td></tr>" }.joined() + "</table>"
            }
        }
        body += detectionSection(r)
        body += dataSection(facts.data)
        body += "<h2>Parameters</h2>" + keyValueTable(parameters(r))
        body += "<h2>Curves</h2>" + curves([r])
        if let evaluation = r.test ?? r.val {
            let which = r.test != nil ? "test" : "val"
            body += "<h2>Confusion (\(which); rows true, columns predicted)</h2>" + confusion(evaluation)
            body += "<h2>Per class, worst first</h2><table class=\"sortable\"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
            let ranked = evaluation.perClass.sorted(by: { ($0.f1, $0.name) < ($1.f1, $1.name) })
            for c in ranked.prefix(maxClassRows) {
                body += "<tr><td>\(c.name)</td><td>\(figure("precision:\(c.name)", c.precision))</td><td>\(figure("recall:\(c.name)", c.recall))</td>"
                    + "<td>\(figure("f1:\(c.name)", c.f1))</td><td>\(figure("support:\(c.name)", Double(c.support)))</td></tr>"
            }
            body += "</table>" + more(ranked.count, "classes", where: "`cairn runs show \(r.id) --json`")
        }
        if !facts.pairs.isEmpty {
            body += "<h2>Most confused</h2>"
            for pair in facts.pairs {
                body += "<div class=\"pair\"><h3>\(pair.truth) taken for \(pair.predicted) <small>\(figure("confused:\(pair.truth)>\(pair.predicted)", Double(pair.count))) images</small></h3><div class=\"thumbs\">"
                for example in pair.examples {
                    body += "<figure>" + (example.thumbnail.map { "<img alt=\"\(example.path)\" src=\"\($0)\">" }
                        ?? "<div class=\"noimage\">image missing: \(example.problem ?? "")</div>")
                    body += "<figcaption>\(example.path)<br>labeled by \(example.labeledBy.isEmpty ? "nobody" : example.labeledBy.joined(separator: ", "))</figcaption></figure>"
                }
                body += "</div></div>"
            }
        }
        return page(title: "Run \(r.name)", body: body)
    }

    /// A run's `eval --boxes` results: COCO's 12 numbers and AP per class, for each evaluation kept.
    static func detectionSection(_ r: RunRecord) -> HTML {
        var body: HTML = ""
        for (n, ev) in (r.boxEvaluations ?? []).enumerated() {
            let e = ev.evaluation
            body += "<h2>Detection on \(ev.dataRef) (\(ev.split) split, COCO)</h2>"
            body += "<p class=\"meta\">snapshot <code>\(String(ev.snapshotID.prefix(12)))</code> · \(e.images) images · \(e.truthBoxes) boxes · "
                + "\(e.detections) detections · as pycocotools' COCOeval computes them</p><table class=\"figures\">"
            for (name, value) in zip(DetectionEvaluation.statNames, e.stats) {
                body += "<tr><th>\(name)</th><td>\(figure("box\(n)-\(name)", value < 0 ? nil : value))</td></tr>"
            }
            body += "</table><table class=\"sortable\"><tr><th>class</th><th>AP</th><th>AP50</th><th>AP75</th><th>boxes</th><th>detections</th></tr>"
            for c in e.perClass where c.truth > 0 || c.detections > 0 {
                func f(_ key: String, _ v: Double) -> HTML { figure("box\(n)-\(key):\(c.name)", v < 0 ? nil : v) }
                body += "<tr><td>\(c.name)</td><td>\(f("AP", c.ap))</td><td>\(f("AP50", c.ap50))</td><td>\(f("AP75", c.ap75))</td>"
                    + "<td>\(c.truth)</td><td>\(c.detections)</td></tr>"
            }
            body += "</table>"
        }
        return body
    }

    /// Several runs side by side: the parameters that differ, metric deltas from the first, curves
    /// overlaid, and what differs between their snapshots (`diffs`: first run's snapshot to each other one).
    public static func comparisonPage(_ runs: [RunFacts], diffs: [String: SnapshotDiff]) -> String {
        let records = runs.map(\.record)
        var body: HTML = "<h1>\(records.count) runs compared</h1>"
        body += "<table class=\"sortable\"><tr><th>run</th><th>name</th><th>status</th><th>snapshot</th><th>val acc</th><th>test acc</th><th>Δ test acc</th></tr>"
        let first = records[0].test?.accuracy
        for r in records {
            let delta = r.test.flatMap { t in first.map { t.accuracy - $0 } }
            body += "<tr><td>\(r.id)</td><td>\(r.name)</td><td>\(status(r.status.rawValue))</td><td>\(String(r.snapshotID.prefix(12)))</td>"
                + "<td>\(figure("val-accuracy:\(r.id)", r.val?.accuracy, percent: true))</td><td>\(figure("test-accuracy:\(r.id)", r.test?.accuracy, percent: true))</td>"
                + "<td>\(figure("delta-test-accuracy:\(r.id)", delta, percent: true, signed: true))</td></tr>"
        }
        body += "</table>"
        let all = records.map(parameters)
        let keys = Array(Set(all.flatMap { $0.map(\.0) })).sorted()
        let differing = keys.filter { key in Set(all.map { p in p.first { $0.0 == key }?.1 ?? "" }).count > 1 }
        body += "<h2>Parameters that differ</h2>"
        if differing.isEmpty {
            body += "<p>none: the runs were asked the same.</p>"
        } else {
            body += "<table><tr><th>run</th>" + differing.map { "<th>\($0)</th>" as HTML }.joined() + "</tr>"
            for (r, p) in zip(records, all) {
                body += "<tr><td>\(r.id)</td>" + differing.map { key in "<td data-parameter=\"\(key)\">\(p.first { $0.0 == key }?.1 ?? "")</td>" }.joined() + "</tr>"
            }
            body += "</table>"
        }
        body += "<h2>Curves</h2>" + curves(records)
        body += "<h2>Data</h2>"
        let snapshots = Set(records.map(\.snapshotID))
        if snapshots.count == 1 {
            body += "<p>Every run trained on snapshot <code>\(records[0].snapshotID)</code>.</p>" + dataSection(runs[0].data, heading: false)
        } else {
            for r in records.dropFirst() where r.snapshotID != records[0].snapshotID {
                guard let diff = diffs[r.snapshotID] else { continue }
                body += "<h3>\(String(records[0].snapshotID.prefix(12))) → \(String(r.snapshotID.prefix(12))) (run \(r.id))</h3>"
                body += keyValueTable([("added", "\(diff.added.count)"), ("removed", "\(diff.removed.count)"), ("relabeled", "\(diff.labelsChanged.count)"),
                                       ("moved between splits", "\(diff.splitsChanged.count)"),
                                       ("per class", diff.classDeltas.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value > 0 ? "+" : "")\($0.value)" }.joined(separator: ", "))])
            }
        }
        return page(title: "\(records.count) runs compared", body: body)
    }

    public static func sweepPage(_ summary: SweepSummary) -> String {
        let sweep = summary.sweep
        let names = sweep.spec.parameters.keys.sorted()
        var body: HTML = "<h1>Sweep <small>\(sweep.id)</small></h1>"
        body += "<p class=\"meta\">\(status(sweep.shownStatus)) · \(sweep.spec.method.rawValue) · metric \(sweep.spec.metric.name) (\(sweep.spec.metric.goal.rawValue)) · "
            + "snapshot <code>\(String(sweep.snapshotID.prefix(12)))</code> (\(sweep.dataRef)) · \(sweep.trials.count) trials, \(sweep.jobs) at a time"
            + (sweep.command.map { " · <code>\($0.joined(separator: " "))</code>" as HTML } ?? " · built-in trainer") + "</p>"
        if let best = summary.best { body += "<p>Best: run <code data-figure=\"best\" data-value=\"\(best)\">\(best)</code></p>" }
        body += "<h2>Parallel coordinates</h2>" + ParallelCoordinates(summary).svg()
        body += "<h2>Trials, best first</h2><table class=\"sortable\"><tr><th>rank</th><th>trial</th><th>run</th><th>status</th><th>\(sweep.spec.metric.name)</th>"
            + names.map { "<th>\($0)</th>" as HTML }.joined() + "</tr>"
        for (rank, t) in summary.trials.enumerated() {
            body += "<tr><td>\(rank + 1)</td><td>\(t.trial)</td><td>\(t.run ?? "-")</td><td>\(status(t.status))</td>"
                + "<td>\(figure("metric:\(t.trial)", t.metric))</td>" + names.map { "<td>\(t.parameters[$0]?.argument ?? "")</td>" }.joined() + "</tr>"
        }
        body += "</table>"
        return page(title: "Sweep \(sweep.id)", body: body)
    }

    public static func dataPage(_ facts: DataFacts) -> String {
        page(title: "Snapshot \(facts.snapshot.prefix(12))", body: "<h1>Snapshot <small>\(facts.snapshot)</small></h1>" + dataSection(facts, heading: false))
    }

    // MARK: Sections

    static func dataSection(_ d: DataFacts, heading: Bool = true) -> HTML {
        var out: HTML = heading ? "<h2>Data</h2>" : ""
        out += keyValueTable([("snapshot", d.snapshot), ("tags", d.tags.isEmpty ? "none" : d.tags.joined(separator: ", ")), ("message", d.message),
                              ("made by", "\(d.author), \(iso(d.createdAt))"), ("items", "\(d.items)")]
                             + (d.purged > 0 ? [("purged", "\(d.purged) items whose bytes were purged")] : []))
        let splits = ["train", "val", "test"]
        out += "<table class=\"counts\"><tr><th>class</th>" + splits.map { "<th>\($0)</th>" as HTML }.joined() + "<th>all</th></tr>"
        let rows = d.classes + d.counts.keys.filter { !d.classes.contains($0) }.sorted()
        for name in rows.prefix(maxClassRows) {
            let row = d.counts[name] ?? [:]
            out += "<tr><td>\(name)</td>" + splits.map { "<td>\(figure("count:\(name):\($0)", Double(row[$0] ?? 0)))</td>" }.joined()
                + "<td>\(row.values.reduce(0, +))</td></tr>"
        }
        out += "</table>" + more(rows.count, "classes", where: "`cairn status`")
        if let c = d.changes, let parent = d.parent {
            out += "<h3>Since the parent snapshot <code>\(String(parent.prefix(12)))</code></h3>"
            out += keyValueTable([("added", "\(c.added)"), ("removed", "\(c.removed)"), ("relabeled", "\(c.relabeled)"), ("moved between splits", "\(c.moved)"),
                                  ("per class", c.deltas.isEmpty ? "no change" : c.deltas.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value > 0 ? "+" : "")\($0.value)" }.joined(separator: ", "))])
        } else {
            out += "<p>No parent snapshot: this is where the history starts.</p>"
        }
        var health: [(String, String)] = []
        if let noise = d.estimatedNoise { health.append(("estimated label noise (cairn suspects)", String(format: "%.1f%%", noise * 100))) }
        if let suspects = d.suspects { health.append(("suspect labels", "\(suspects)")) }
        if let leaks = d.leaks { health.append(("near-duplicates across splits (cairn check)", "\(leaks)")) }
        out += "<h3>Label health</h3>" + (health.isEmpty ? "<p>Not computed for this snapshot: run <code>cairn suspects --data \(String(d.snapshot.prefix(12)))</code> and <code>cairn check</code>.</p>" : keyValueTable(health))
        return out
    }

    static func missingSection(_ missing: [String]) -> HTML {
        guard !missing.isEmpty else { return "" }
        return "<section id=\"missing\" class=\"note\"><h2>Missing</h2><ul>" + missing.map { "<li>\($0)</li>" }.joined() + "</ul></section>"
    }

    static func parameters(_ r: RunRecord) -> [(String, String)] {
        if let p = r.parameters { return p.named.map { ($0.name, $0.value) } }
        guard let program = r.program else { return [] }
        return [("command", program.command.joined(separator: " "))] + program.parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The matrix for up to 30 classes; past that (a page of k² cells would run to megabytes), the
    /// most frequent mistakes as a table.
    static func confusion(_ evaluation: Evaluation) -> HTML {
        let names = evaluation.perClass.map(\.name)
        guard !evaluation.confusion.isEmpty, names.count <= 30 else {
            let pairs = (evaluation.confusedPairs ?? []).prefix(50)
            guard !pairs.isEmpty else { return "<p>No mistakes.</p>" }
            return "<p class=\"meta\">\(names.count) classes: the \(pairs.count) most frequent mistakes instead of the matrix.</p>"
                + "<table class=\"sortable\"><tr><th>true class</th><th>predicted</th><th>items</th></tr>"
                + pairs.map { "<tr><td>\($0.actual)</td><td>\($0.predicted)</td><td><span data-value=\"\($0.count)\">\($0.count)</span></td></tr>" }.joined()
                + "</table>"
        }
        var out: HTML = "<table class=\"confusion\"><tr><th></th>" + names.map { "<th>\($0)</th>" as HTML }.joined() + "</tr>"
        for (t, row) in evaluation.confusion.enumerated() {
            let total = max(1, row.reduce(0, +))
            out += "<tr><th>\(names[t])</th>"
            for (p, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let alpha = String(format: "%.2f", share)
                out += "<td data-cell=\"\(t),\(p)\" data-value=\"\(count)\" style=\"background: rgba(31,119,180,\(alpha))\(share > 0.5 ? ";color:white" : "")\">\(count)</td>"
            }
            out += "</tr>"
        }
        return out + "</table>"
    }

    /// Loss by epoch (train solid, val dashed) and val accuracy, one colour per run; a program's metrics by step.
    static func curves(_ records: [RunRecord]) -> HTML {
        var program: [LineChart.Series] = []
        var programAxis: String?
        for record in records {
            let (axis, series) = LineChart.programSeries(record, color: program.count)
            guard !series.isEmpty else { continue }
            programAxis = programAxis.map { $0 == axis ? $0 : "step or epoch" } ?? axis
            program += series.map { s in
                var s = s
                if records.count > 1 { s.name = "\(record.name) \(s.name)" }
                return s
            }
        }
        let charts = [LineChart.loss(records, title: "loss by epoch"), LineChart.accuracy(records, title: "val accuracy by epoch"),
                      program.isEmpty ? nil : LineChart(title: "metrics", series: program, xTitle: programAxis ?? "step", yFromZero: false)]
            .compactMap { $0 }
        return charts.isEmpty ? "<p>No curves: the run recorded no epochs or metrics.</p>" : charts.map(svg).reduce("", +)
    }

    /// `chart` as SVG, in the layout the PNG plots use.
    static func svg(_ chart: LineChart) -> HTML {
        let frame = LineChart.Frame.svg
        func px(_ value: Double) -> String { coordinate(chart.x(value, in: frame)) }
        func py(_ value: Double) -> String { coordinate(chart.y(value, in: frame)) }
        let (l, r, t, b) = (coordinate(frame.left), coordinate(frame.right), coordinate(frame.top), coordinate(frame.bottom))
        var out: HTML = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(frame.width)\" height=\"\(frame.height)\" viewBox=\"0 0 \(frame.width) \(frame.height)\">"
        out += "<text x=\"\(l)\" y=\"18\" font-size=\"13\">\(chart.title)</text>"
        for v in chart.yAxis.ticks {
            out += "<line x1=\"\(l)\" y1=\"\(py(v))\" x2=\"\(r)\" y2=\"\(py(v))\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(coordinate(frame.left - 4))\" y=\"\(coordinate(chart.y(v, in: frame) + 3))\" font-size=\"10\" text-anchor=\"end\">\(chart.yAxis.label(v))</text>"
        }
        for v in chart.xAxis.ticks {
            out += "<text x=\"\(px(v))\" y=\"\(coordinate(frame.bottom + 13))\" font-size=\"10\" text-anchor=\"middle\">\(chart.xAxis.label(v))</text>"
        }
        out += "<text x=\"\(coordinate((frame.left + frame.right) / 2))\" y=\"\(coordinate(frame.bottom + 30))\" font-size=\"11\" text-anchor=\"middle\">\(chart.xAxis.title)</text>"
        out += "<line x1=\"\(l)\" y1=\"\(b)\" x2=\"\(r)\" y2=\"\(b)\" stroke=\"black\"/>"
        out += "<line x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(b)\" stroke=\"black\"/>"
        for s in chart.series {
            let points = s.points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            let dash: HTML = s.dashed ? " stroke-dasharray=\"5,3\"" : ""
            out += "<polyline fill=\"none\" stroke=\"\(s.color.hex)\" stroke-width=\"2\"\(dash) points=\"\(points)\"><title>\(s.name)</title></polyline>"
        }
        for (s, x, y) in chart.legend(in: frame) {
            let dash: HTML = s.dashed ? " stroke-dasharray=\"5,3\"" : ""
            out += "<line x1=\"\(coordinate(x - 20))\" y1=\"\(coordinate(y + 3))\" x2=\"\(coordinate(x - 6))\" y2=\"\(coordinate(y + 3))\" stroke=\"\(s.color.hex)\" stroke-width=\"2\"\(dash)/>"
            out += "<text x=\"\(coordinate(x))\" y=\"\(coordinate(y + 7))\" font-size=\"11\" fill=\"\(s.color.hex)\">\(s.name)</text>"
        }
        return out + "</svg>"
    }

    /// Most rows a per-class table shows: a page stays a page with thousands of classes.
    static let maxClassRows = 200

    /// The note under a table cut at `maxClassRows` of `count` rows (nothing when it was not cut).
    static func more(_ count: Int, _ what: String, where place: String) -> HTML {
        count > maxClassRows ? "<p class=\"meta\">… and \(count - maxClassRows) more \(what), in \(place).</p>" : ""
    }

    /// A coordinate as SVG takes it: one decimal.
    static func coordinate(_ value: Double) -> String { String(format: "%.1f", value) }

    // MARK: Pieces

    static func page(title: String, body: HTML) -> String {
        let page: HTML = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
        <title>\(title)</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
        h1 small, h3 small { color: #777; font-weight: normal; }
        table { border-collapse: collapse; margin: 0.5em 0 1em; }
        th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
        table.sortable th { cursor: pointer; }
        .meta { color: #555; } .note { background: #fff4e0; padding: 0.5em 1em; }
        .status-finished { color: #2a7d2a; } .status-failed, .status-died { color: #b22; } .status-pruned, .status-interrupted { color: #a60; }
        .thumbs { display: flex; flex-wrap: wrap; gap: 8px; } figure { margin: 0; width: 140px; font-size: 11px; }
        figure img { image-rendering: pixelated; width: 64px; height: auto; border: 1px solid #ccc; }
        .confusion td { text-align: right; min-width: 2.5em; }
        </style></head>
        <body>
        \(body)
        <footer><p class="meta">Made by cairn report at \(iso(Date())); every figure is from the run records in the repository.</p></footer>
        <script>
        // Sort a table by a column when its header is clicked (numbers by value, else text).
        for (const table of document.querySelectorAll("table.sortable")) {
          const headers = table.querySelectorAll("tr:first-child th");
          headers.forEach((th, column) => th.addEventListener("click", () => {
            const rows = Array.from(table.querySelectorAll("tr")).slice(1);
            const key = (row) => { const cell = row.children[column]; const v = cell.querySelector("[data-value]"); return v ? parseFloat(v.dataset.value) : cell.textContent; };
            rows.sort((a, b) => { const x = key(a), y = key(b); return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)); });
            rows.forEach((row) => table.appendChild(row));
          }));
        }
        document.body.dataset.figures = String(document.querySelectorAll("[data-figure]").length);
        </script>
        </body></html>

        """
        return page.text
    }

    static func figure(_ name: String, _ value: Double?, percent: Bool = false, signed: Bool = false) -> HTML {
        guard let value, value.isFinite else { return "<span data-figure=\"\(name)\">-</span>" }
        let text = percent ? String(format: signed ? "%+.1f%%" : "%.1f%%", value * 100)
            : value == value.rounded() && abs(value) < 1e12 ? String(Int64(value)) : String(format: "%.4f", value)
        return "<span data-figure=\"\(name)\" data-value=\"\(value)\">\(text)</span>"
    }

    static func keyValueTable(_ rows: [(String, String)]) -> HTML {
        "<table>" + rows.map { "<tr><th>\($0.0)</th><td>\($0.1)</td></tr>" }.joined() + "</table>"
    }

    static func status(_ s: String) -> HTML { "<span class=\"status-\(s.replacingOccurrences(of: " ", with: "-"))\">\(s)</span>" }

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

}
