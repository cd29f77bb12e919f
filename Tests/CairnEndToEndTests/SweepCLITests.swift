import CairnTestSupport
import Foundation
import Testing

/// `cairn sweep` through the real binary on the digits: grids and random draws of built-in trials
/// with median early stopping, program trials, show, refine, Ctrl-C, and every bad spec.
@Suite(.serialized) struct SweepCLITests {
    /// A labeled digits repository tagged v1.
    private func digits(_ dir: TemporaryDirectory) throws -> String {
        try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
    }

    private func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }

    @Test func aGridOfBuiltInTrialsIsPinnedRankedAndPrunedByTheMedian() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep")
        defer { dir.remove() }
        let repo = try digits(dir)
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        // Two good learning rates first, then two hopeless ones: with two trials done, the median rule prunes.
        try write("""
            method: grid
            metric: {name: val_accuracy, goal: maximize}
            parameters:
              lr: {values: [0.003, 0.002, 0.000001, 0.0000005]}
              epochs: {value: 6}
              hidden: {value: 32}
            early_terminate: {type: median, min_epochs: 2}
            """, dir.appending("grid.yaml"))
        var result = try cairn("sweep", "--data", "v1", "--spec", dir.appending("grid.yaml"), "--jobs", "2", "--json")
        #expect(result.status == 0, "\(result)")
        let sweep = try result.jsonObject()
        let id = try #require(sweep["sweep"] as? String)
        let trials = try #require(sweep["runs"] as? [[String: Any]])
        #expect(trials.count == 4)
        let metrics = trials.compactMap { $0["metric"] as? Double }
        #expect(metrics == metrics.sorted(by: >), "ranked best first: \(metrics)")
        let statuses = Dictionary(uniqueKeysWithValues: trials.map { ($0["trial"] as! Int, $0["status"] as! String) })
        #expect(statuses[1] == "finished" && statuses[2] == "finished", "\(statuses)")
        #expect(statuses[3] == "pruned" || statuses[4] == "pruned", "a hopeless trial after two good ones is pruned: \(statuses)")
        #expect(sweep["best"] as? String == trials.first?["run"] as? String)

        // Every trial is a normal run, tagged with the sweep and pinned to v1's snapshot.
        let v1 = try cairn("tags", "--json").jsonArray().first?["snapshotID"] as? String
        let runs = try cairn("runs", "--json").jsonArray().filter { ($0["sweep"] as? [String: Any])?["id"] as? String == id }
        #expect(runs.count == 4 && runs.allSatisfy { $0["snapshotID"] as? String == v1 }, "\(runs.count)")
        let pruned = runs.first { $0["status"] as? String == "pruned" }
        #expect((pruned?["error"] as? String)?.contains("median") == true && (pruned?["epochs"] as? [Any])?.count ?? 6 < 6)
        #expect(try cairn("runs").stdout.contains("\(id) #1"))
        #expect(try cairn("runs", "show", try #require(pruned?["id"] as? String)).stdout.contains("sweep        \(id)"))

        // show: the same ranking, and the parallel-coordinates plot as a PNG.
        result = try cairn("sweep", "show", String(id.prefix(6)), "--json")
        let shown = try result.jsonObject()
        #expect((shown["runs"] as? [[String: Any]])?.map { $0["trial"] as! Int } == trials.map { $0["trial"] as! Int })
        let plot = try #require(shown["plot"] as? String)
        let png = try #require(FileManager.default.contents(atPath: repo + "/" + plot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(try cairn("sweep", "show", id).stdout.contains("best: trial"))
        #expect(try cairn("sweep", "list").stdout.contains(id))
    }

    @Test func randomDrawsRefineToTheBestTrialsSpan() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-refine")
        defer { dir.remove() }
        let repo = try digits(dir)
        func cairn(_ args: String...) throws -> CommandResult { try CLI.run(["-C", repo] + args) }
        try write("""
            method: random
            metric: {name: val_loss, goal: minimize}
            run_cap: 6
            parameters:
              lr: {min: 0.00001, max: 0.03, distribution: log_uniform_values}
              hidden: {values: [8, 16, 48]}
              epochs: {value: 3}
            """, dir.appending("coarse.yaml"))
        var result = try cairn("sweep", "--data", "v1", "--spec", dir.appending("coarse.yaml"), "--json", "--seed", "7")
        #expect(result.status == 0, "\(result)")
        let id = try #require(try result.jsonObject()["sweep"] as? String)
        let trials = try #require(try result.jsonObject()["runs"] as? [[String: Any]])
        #expect((trials.compactMap { $0["metric"] as? Double }) == (trials.compactMap { $0["metric"] as? Double }).sorted(), "lowest loss first")
        let lrs = trials.compactMap { ($0["parameters"] as? [String: Any])?["lr"] as? Double }
        #expect(lrs.count == 6 && lrs.allSatisfy { $0 >= 0.00001 && $0 <= 0.03 } && Set(lrs).count == 6)

        let top = Array(trials.prefix(3))
        let topLRs = top.compactMap { ($0["parameters"] as? [String: Any])?["lr"] as? Double }
        let topHidden = Set(top.compactMap { ($0["parameters"] as? [String: Any])?["hidden"] as? Int })
        result = try cairn("sweep", "refine", id, "--top", "0.5", "-o", dir.appending("fine.yaml"))
        #expect(result.status == 0, "\(result)")
        // The refined spec is read back by the sweep itself (and by Python's yaml, as any user would).
        let check = CLI.shell("python3 -c \"import json,yaml; print(json.dumps(yaml.safe_load(open('\(dir.appending("fine.yaml"))'))))\"")
        let parsed = try JSONSerialization.jsonObject(with: Data(check.output.utf8))
        let fine = try #require(parsed as? [String: Any], "\(check.output)")
        let parameters = try #require(fine["parameters"] as? [String: [String: Any]])
        let (lrMin, lrMax) = (parameters["lr"]?["min"] as? Double, parameters["lr"]?["max"] as? Double)
        #expect(lrMin == topLRs.min() && lrMax == topLRs.max())
        #expect(parameters["lr"]?["distribution"] as? String == "log_uniform_values")
        let hiddenValues = parameters["hidden"]?["values"] as? [Int] ?? []
        #expect(Set(hiddenValues) == topHidden)
        #expect(fine["run_cap"] as? Int == 6 && (fine["metric"] as? [String: Any])?["goal"] as? String == "minimize")
        result = try cairn("sweep", "--data", "v1", "--spec", dir.appending("fine.yaml"), "--json")
        let refined = try #require(try result.jsonObject()["runs"] as? [[String: Any]])
        #expect(refined.allSatisfy { t in
            let lr = (t["parameters"] as? [String: Any])?["lr"] as? Double ?? -1
            return lr >= topLRs.min()! && lr <= topLRs.max()!
        }, "the fine sweep draws inside the refined range")
    }

    @Test func programTrialsGetTheirParametersAndReportTheirMetric() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-program")
        defer { dir.remove() }
        let repo = try digits(dir)
        try write("""
            import json, os, sys
            p = json.loads(os.environ["CAIRN_PARAMS"])
            assert "--x=" + p["x"] in sys.argv and "--mode=" + p["mode"] in sys.argv, sys.argv
            assert "CAIRN_SWEEP_TRIAL" not in os.environ, "the sweep's contract with cairn run reached the program"
            open(os.environ["CAIRN_RUN_DIR"] + "/summary.json", "w").write(json.dumps({"score": -(float(p["x"]) - 3) ** 2}))
            """, dir.appending("prog.py"))
        try write("""
            method: grid
            metric: {name: score, goal: maximize}
            parameters:
              x: {values: [1, 2.5, 3, 5]}
              mode: {value: fast}
            """, dir.appending("spec.yaml"))
        let result = try CLI.run(["-C", repo, "sweep", "--data", "v1", "--spec", dir.appending("spec.yaml"), "--jobs", "2", "--json",
                                  "--", "python3", dir.appending("prog.py")])
        #expect(result.status == 0, "\(result)")
        let trials = try #require(try result.jsonObject()["runs"] as? [[String: Any]])
        #expect(trials.map { $0["trial"] as! Int } == [3, 2, 1, 4] || trials.map { $0["trial"] as! Int } == [3, 2, 4, 1], "\(trials)")
        #expect(trials.first?["metric"] as? Double == 0 && trials.allSatisfy { $0["status"] as? String == "finished" })
        let runs = try CLI.run(["-C", repo, "runs", "--json"]).jsonArray()
        #expect(runs.filter { $0["sweep"] != nil }.allSatisfy { $0["program"] != nil }, "each trial is a `cairn run` run")
        // x = 1 and x = 5 tie (-4): a cut between them keeps both, whatever order they were ranked in.
        let id = try #require(try result.jsonObject()["sweep"] as? String)
        let refined = try CLI.run(["-C", repo, "sweep", "refine", id, "--top", "0.75", "-o", dir.appending("fine.yaml")])
        #expect(refined.status == 0 && refined.stdout.contains("top 4 of 4"), "\(refined)")
        let values = CLI.shell("python3 -c \"import yaml; print(sorted(yaml.safe_load(open('\(dir.appending("fine.yaml"))'))['parameters']['x']['values']))\"")
        #expect(values.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[1, 2.5, 3, 5]", "\(values.output)")
    }

    @Test func ctrlCKeepsFinishedTrialsAndMarksTheRest() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-int")
        defer { dir.remove() }
        let repo = try digits(dir)
        try write("""
            method: grid
            metric: {name: val_accuracy, goal: maximize}
            parameters:
              epochs: {values: [1, 3000, 3000, 3000, 3000]}
            """, dir.appending("spec.yaml"))
        let (process, stdout, _) = try CLI.start(["-C", repo, "sweep", "--data", "v1", "--spec", dir.appending("spec.yaml"), "--json"])
        // Wait for the first (one-epoch) trial to finish, then interrupt the long second one.
        var finished = false
        for _ in 0..<600 where !finished {
            Thread.sleep(forTimeInterval: 0.1)
            finished = (try? CLI.run(["-C", repo, "runs", "--json"]).jsonArray())?.contains { $0["status"] as? String == "finished" } == true
        }
        Thread.sleep(forTimeInterval: 1)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let output = try #require(try JSONSerialization.jsonObject(with: stdout.fileHandleForReading.readDataToEndOfFile()) as? [String: Any])
        #expect(output["status"] as? String == "interrupted")
        let statuses = Dictionary(uniqueKeysWithValues: (output["runs"] as? [[String: Any]] ?? []).map { ($0["trial"] as! Int, $0["status"] as! String) })
        #expect(statuses[1] == "finished" && statuses[2] == "interrupted" && statuses[3] == "not started" && statuses[5] == "not started",
                "\(statuses)")
        #expect(!(try CLI.run(["-C", repo, "runs"]).stdout.contains("running")))
    }

    /// A program trial that ignores Ctrl-C is stopped all the same: SIGTERM after --stop-grace.
    @Test func aTrialThatIgnoresCtrlCIsStoppedAfterTheGrace() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-stubborn")
        defer { dir.remove() }
        let repo = try digits(dir)
        try write("method: grid\nmetric: {name: score, goal: maximize}\nparameters: {x: {values: [1, 2]}}\n", dir.appending("spec.yaml"))
        let marker = "32.\(getpid())"  // only the trial's own sleep has it in its command line
        try write("trap '' INT\nsleep \(marker)\n", dir.appending("stubborn.sh"))
        let (process, _, _) = try CLI.start(["-C", repo, "sweep", "--data", "v1", "--spec", dir.appending("spec.yaml"), "--stop-grace", "1",
                                             "--", "sh", dir.appending("stubborn.sh")])
        var started = false
        for _ in 0..<300 where !started {
            Thread.sleep(forTimeInterval: 0.1)
            started = CLI.shell("pgrep -f '[s]leep \(marker)'").status == 0
        }
        #expect(started)
        kill(process.processIdentifier, SIGINT)
        let deadline = Date().addingTimeInterval(60)  // a bound for a hang, not a timing
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!process.isRunning, "the sweep ends although its trial ignores SIGINT")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(CLI.shell("pgrep -f '[s]leep \(marker)'").status != 0, "nothing left running")
        _ = CLI.shell("pkill -f 'sleep \(marker)'")
    }

    /// A sweep whose own process is killed: shown as died, its unstarted trials as not started.
    @Test func aKilledSweepIsShownAsDied() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-kill")
        defer { dir.remove() }
        let repo = try digits(dir)
        try write("method: grid\nmetric: {name: score, goal: maximize}\nparameters: {x: {values: [1, 2, 3]}}\n", dir.appending("spec.yaml"))
        let marker = "31.\(getpid())"  // a sleep no other test runs, to stop the orphaned trial afterwards
        let (process, _, _) = try CLI.start(["-C", repo, "sweep", "--data", "v1", "--spec", dir.appending("spec.yaml"), "--", "sleep", marker])
        var started = false
        for _ in 0..<300 where !started {
            Thread.sleep(forTimeInterval: 0.1)
            started = (try? CLI.run(["-C", repo, "runs", "--json"]).jsonArray())?.isEmpty == false
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // The orphaned trial notices that its sweep died and stops (checked each second; bounded wait).
        var orphans = true
        for _ in 0..<300 where orphans {
            Thread.sleep(forTimeInterval: 0.1)
            orphans = CLI.shell("pgrep -f '[s]leep \(marker)'").status == 0
        }
        #expect(!orphans, "no trial outlives its sweep")
        _ = CLI.shell("pkill -f 'sleep \(marker)'")
        let shown = try CLI.run(["-C", repo, "sweep", "list", "--json"]).jsonArray()
        let id = try #require(shown.first?["id"] as? String)
        let summary = try CLI.run(["-C", repo, "sweep", "show", id, "--json"]).jsonObject()
        #expect(summary["status"] as? String == "died", "\(summary)")
        let statuses = (summary["runs"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        #expect(statuses.filter { $0 == "not started" }.count == 2, "\(statuses)")
    }

    @Test func badSpecsAndRefsGetClearErrors() throws {
        let dir = try TemporaryDirectory("cairn-e2e-sweep-bad")
        defer { dir.remove() }
        let repo = try digits(dir)
        let cases: [(String, String)] = [
            ("method: grid\nmetric: {name: val_accuracy}\nparameters: {lr: {values: [0.1]}}\nbogus: 1\n", "unknown key 'bogus'"),
            ("method: random\nrun_cap: 2\nmetric: {name: val_accuracy}\nparameters: {lr: {min: 0.1, max: 1, distribution: normal}}\n",
             "unknown distribution 'normal'"),
            ("method: random\nrun_cap: 2\nmetric: {name: val_accuracy}\nparameters: {lr: {min: 1, max: 0.1}}\n", "min 1.0 is greater than max 0.1"),
            ("method: grid\nmetric: {name: val_accuracy}\nparameters: {dropout: {values: [0.1]}}\n", "does not take parameter 'dropout'"),
            ("method: grid\nmetric: {name: val_accuracy}\nparameters: {lr: {values: []}}\n", "parameters.lr.values is empty"),
            ("method: random\nmetric: {name: val_accuracy}\nparameters: {lr: {values: [0.1]}}\n", "needs run_cap"),
            ("method: grid\nmetric: {name: val_accuracy}\nparameters: {lr: {min: 0.1, max: 1, distribution: uniform}}\n", "a grid needs values"),
            ("method: grid\nmetric: {name: accuracy}\nparameters: {lr: {values: [0.1]}}\n", "metric 'accuracy' is not one a built-in run has"),
            ("method: grid\nmetric: {name: val_accuracy}\nparameters: {lr: {values: [-1]}}\n", "--lr must be a positive number"),
            ("method: grid\nmetric: {name: val_accuracy, goal: up}\nparameters: {lr: {values: [0.1]}}\n", "metric.goal 'up'"),
            ("method: [grid\n", "not valid YAML"),
            (String(repeating: "[", count: 100_000) + "\n", "Maximum nesting level reached"),
            // An alias bomb (9^9 strings once expanded): refused at its first anchor, before anything grows.
            ("a: &a [x,x,x,x,x,x,x,x,x]\n" + (1...8).map { "b\($0): &b\($0) [" + Array(repeating: $0 == 1 ? "*a" : "*b\($0 - 1)", count: 9)
                .joined(separator: ",") + "]" }.joined(separator: "\n") + "\n", "anchors and aliases"),
            ("method: random\nrun_cap: 2\nmetric: {name: val_accuracy}\nparameters: {epochs: {min: 1e17, max: 1.0000001e17, distribution: int_uniform}}\n",
             "int_uniform bounds must lie within"),
        ]
        for (i, (spec, message)) in cases.enumerated() {
            let path = dir.appending("bad-\(i).yaml")
            try write(spec, path)
            let result = try CLI.run(["-C", repo, "sweep", "--data", "v1", "--spec", path])
            #expect(result.status != 0 && result.stderr.contains(message) && result.stderr.utf8.count < 1_000, "case \(i): \(result)")
        }
        #expect(try CLI.run(["-C", repo, "runs", "--json"]).jsonArray().isEmpty, "no trial ran for a bad spec")
        // The sweep↔trial contract is an environment variable cairn sweep sets, not a flag; a bad one is refused.
        #expect(try CLI.run(["-C", repo, "train", "--data", "v1", "--sweep", "0123456789ab:1"]).status == 64)
        let bad = try CLI.run(["-C", repo, "train", "--data", "v1", "--epochs", "1"], environment: ["CAIRN_SWEEP_TRIAL": "nope"])
        #expect(bad.status != 0 && bad.stderr.contains("CAIRN_SWEEP_TRIAL must be SWEEP_ID:TRIAL"), "\(bad)")
        var result = try CLI.run(["-C", repo, "sweep", "show", "abcdef"])
        #expect(result.status == 1 && result.stderr.contains("no sweep"), "\(result)")
        result = try CLI.run(["-C", repo, "sweep", "refine", "abcdef", "--top", "1.5", "-o", dir.appending("x.yaml")])
        #expect(result.status == 64 && result.stderr.contains("--top must be in (0, 1]"), "\(result)")
        result = try CLI.run(["-C", repo, "sweep", "--data", "v1", "--spec", dir.appending("missing.yaml")])
        #expect(result.status != 0 && result.stderr.contains("missing.yaml: no such file") && !result.stderr.contains("usage:"), "\(result)")
        result = try CLI.run(["-C", repo, "sweep", "--data", "v9", "--spec", dir.appending("bad-0.yaml")])
        #expect(result.status != 0, "\(result)")
    }
}
