import CairnStore
import CairnTestSupport
import Foundation
import Glibc
import Testing

/// `cairn run` with real programs (the numpy example, shell one-liners), WebDataset exports read by
/// the `webdataset` package, and stored predictions, through the real binary.
@Suite(.serialized) struct ProgramRunTests {
    private static let example = Fixtures.packageRoot + "/Docs/examples/train_numpy.py"
    private static let checkShards = Fixtures.packageRoot + "/Tests/Python/check_webdataset.py"

    private func digits(_ dir: TemporaryDirectory) throws -> String {
        try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
    }

    private func show(_ repo: String, _ run: String) throws -> [String: Any] {
        try CLI.run(["-C", repo, "runs", "show", run, "--json"]).jsonObject()
    }

    /// Trials a sweep starts at the same moment on a fresh repository: the first to use the cache
    /// clears it once; none deletes what another is writing there (a trial once failed renaming the
    /// cache's `purges` file another had just cleared away), and every trial sees every image. The
    /// race is one of timing: three fresh repositories, four trials at once in each.
    @Test func trialsStartedAtOnceShareTheCacheSafely() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run-race")
        defer { dir.remove() }
        let seed = try digits(dir)
        let count = dir.appending("count.py")
        try Data("import os\nn = sum(f.endswith('.png') for _, _, fs in os.walk(os.environ['CAIRN_DATA']) for f in fs)\nassert n == 1797, n\n".utf8)
            .write(to: URL(fileURLWithPath: count))
        let spec = dir.appending("spec.yaml")
        try Data("method: grid\nmetric: {name: x, goal: maximize}\nparameters: {x: {values: [1, 2, 3, 4]}}\n".utf8).write(to: URL(fileURLWithPath: spec))
        for round in 0..<3 {
            let repo = dir.appending("round-\(round)")
            #expect(CLI.shell("cp -a '\(seed)' '\(repo)' && rm -rf '\(repo)/.cairn/cache'").status == 0)
            let sweep = try CLI.run(["-C", repo, "sweep", "--data", "v1", "--spec", spec, "--jobs", "4", "--json", "--", "python3", count])
            let statuses = (try? sweep.jsonObject()["runs"] as? [[String: Any]])??.compactMap { $0["status"] as? String } ?? []
            let logs = CLI.shell("cat '\(repo)'/.cairn/sweeps/*/trial-*.log | grep -i error").output
            #expect(statuses == ["finished", "finished", "finished", "finished"], "round \(round): \(statuses) \(logs)")
        }
    }

    /// The example trains on the materialized ImageFolder, and everything it leaves is kept: metrics,
    /// summary, an artifact (a blob gc keeps after the tag is gone), predictions. A second run of
    /// the snapshot reuses the materialization; both appear in runs and compare.
    @Test func aProgramRunIsPinnedAndKeepsWhatItLeaves() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run")
        defer { dir.remove() }
        let repo = try digits(dir)
        let first = try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "np-a", "-p", "lr=0.5", "-p", "epochs=12", "--",
                                 "python3", Self.example], in: dir.path)
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("epoch 12/12"), "the program's output is shown")
        #expect(first.stderr.contains("made in"), "\(first.stderr)")
        let record = try show(repo, "np-a")
        let v1 = (try CLI.run(["-C", repo, "log", "-n", "1", "--json"]).jsonArray().first?["id"]) as? String
        #expect(record["snapshotID"] as? String == v1 && record["status"] as? String == "finished")
        let program = try #require(record["program"] as? [String: Any])
        #expect((program["metrics"] as? [Any])?.count == 12)
        #expect((program["parameters"] as? [String: String]) == ["lr": "0.5", "epochs": "12"])
        let summary = try #require(program["summary"] as? [String: Double])
        #expect((summary["val_accuracy"] ?? 0) > 0.6, "\(summary)")
        let artifacts = try #require(program["artifacts"] as? [[String: Any]])
        #expect(artifacts.map { $0["path"] as? String } == ["weights.npz"])
        let predictions = try CLI.run(["-C", repo, "predictions", "np-a", "--json"]).jsonObject()
        let stored = (predictions["predictions"] as? [[String: Any]])?.count ?? 0
        #expect(stored > 100 && program["predictions"] as? Int == stored)
        #expect(((record["plots"] as? [String]) ?? []).contains { $0.hasSuffix("metric-val_accuracy.png") })
        // The run directory keeps the output.
        let logs = try #require(program["logs"] as? [String])
        #expect(try String(contentsOfFile: repo + "/" + logs[0], encoding: .utf8).contains("epoch 1/12"))

        // A second run reuses the materialization; runs and compare list both.
        let second = try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "np-b", "-p", "lr=0.1", "-p", "epochs=3", "--",
                                  "python3", Self.example], in: dir.path)
        #expect(second.status == 0 && second.stderr.contains("reused"), "\(second)")
        let runs = try CLI.run(["-C", repo, "runs"])
        #expect(runs.stdout.contains("np-a") && runs.stdout.contains("run:train_numpy.py"))
        let compare = try CLI.run(["-C", repo, "runs", "compare", "np-a", "np-b"])
        #expect(compare.status == 0 && compare.stdout.contains("val accuracy") && compare.stdout.contains("lr"), "\(compare)")

        // One vocabulary of figures: the program's summary fills the runs table's columns and shares
        // the comparison's rows with a built-in run.
        #expect(try CLI.run(["-C", repo, "train", "--data", "v1", "--epochs", "2", "--size", "8x8", "--name", "builtin"]).status == 0)
        let listed = try CLI.run(["-C", repo, "runs"]).stdout.split(separator: "\n").first { $0.contains("np-a") } ?? ""
        #expect(listed.contains(String(format: "%.1f%%", (summary["val_accuracy"] ?? 0) * 100)), "\(listed)")
        let mixed = try CLI.run(["-C", repo, "runs", "compare", "builtin", "np-a", "--json"]).jsonObject()
        let valRow = (mixed["metrics"] as? [String: Any])?["val accuracy"] as? [Any]
        #expect(valRow?.count == 2 && valRow?.allSatisfy { $0 is Double } == true, "\(mixed)")
        #expect((mixed["metrics"] as? [String: Any])?["val_accuracy"] == nil, "not a second row of the same figure")
        for args in [["eval", "np-a", "--data", "v1"], ["export-model", "np-a", dir.appending("np.onnx")], ["serve", "np-a", "--port", "0"]] {
            let refused = try CLI.run(["-C", repo] + args)
            #expect(refused.status != 0 && refused.stderr.contains("is a `cairn run` program's run"), "\(args): \(refused)")
        }

        // gc with the tag gone keeps the snapshot, the artifact and the materialized files' source.
        #expect(try CLI.run(["-C", repo, "tag", "-d", "v1"]).status == 0)
        #expect(try CLI.run(["-C", repo, "gc", "--grace", "0"]).status == 0)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
        let blob = try #require(artifacts.first?["blob"] as? String)
        let bytes = try CLI.run(["-C", repo, "cat-blob", blob])
        #expect(bytes.status == 0 && bytes.stdoutData.starts(with: Data("PK".utf8)), "weights.npz is a zip")
    }

    /// A missing command, a failing program, bad metrics lines, bad predictions and an artifact that
    /// links out of the run directory: each is reported, the run kept with what it was.
    /// A program that edits, deletes or adds a file in $CAIRN_DATA (changing the read-only modes
    /// first) does not poison later runs of the snapshot: the next run finds the change and rebuilds.
    @Test func aChangedMaterializationIsRebuiltNotReused() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run-poison")
        defer { dir.remove() }
        let repo = try digits(dir)
        let blobs = Set(try CLI.run(["-C", repo, "ls", "--json"]).jsonArray().compactMap { $0["blobID"] as? String })
        let snapshot = try #require(try CLI.run(["-C", repo, "log", "-n", "1", "--json"]).jsonArray().first?["id"] as? String)
        let data = repo + "/.cairn/cache/\(geteuid())/materialized/\(snapshot)-imagefolder"
        func run(_ script: String) throws -> CommandResult {
            try CLI.run(["-C", repo, "run", "--data", "v1", "--", "sh", "-c", script])
        }
        let changes = [
            #"f=$(find "$CAIRN_DATA" -name '*.png' | sort | head -1); chmod u+w "$f"; printf x >> "$f""#,
            #"f=$(find "$CAIRN_DATA" -name '*.png' | sort | head -1); d=$(dirname "$f"); chmod u+w "$d"; rm -f "$f""#,
            #"d=$(find "$CAIRN_DATA" -mindepth 2 -type d | sort | head -1); chmod u+w "$d"; cp "$(find "$CAIRN_DATA" -name '*.png' | sort | tail -1)" "$d/extra.png""#,
            #"f=$(find "$CAIRN_DATA" -name '*.png' | sort | head -1); touch -d '2001-01-01' "$f""#,
        ]
        #expect(try run("true").stderr.contains("made in"))
        for (i, change) in changes.enumerated() {
            let changed = try run(change)
            #expect(changed.status == 0 && changed.stderr.contains("reused"), "case \(i): \(changed)")
            let next = try run("true")
            #expect(next.status == 0 && next.stderr.contains("made in"), "case \(i): rebuilt, not reused: \(next)")
            // Every image there is again exactly a snapshot blob, and as many as the snapshot has.
            let images = try FileManager.default.subpathsOfDirectory(atPath: data).filter { $0.hasSuffix(".png") }
            #expect(images.count == blobs.count, "case \(i)")
            #expect(images.allSatisfy { blobs.contains(BlobID(hashing: FileManager.default.contents(atPath: data + "/" + $0) ?? Data()).hex) },
                    "case \(i)")
        }
        #expect(try run("true").stderr.contains("reused"), "an intact materialization is reused")
        // An edit that puts the size, time and mode back passes the listing; fsck hashes the files and finds it,
        // and the next run rebuilds.
        let sly = #"f=$(find "$CAIRN_DATA" -name '*.png' | sort | head -1); t=/tmp/cairn-sly-$$; touch -r "$f" $t; chmod u+w "$f"; "#
            + #"printf 'x' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null; touch -r $t "$f"; chmod 444 "$f"; rm $t"#
        #expect(try run(sly).status == 0)
        #expect(try run("true").stderr.contains("reused"), "size, time and mode alike: the listing cannot tell")
        let fsck = try CLI.run(["-C", repo, "fsck", "--json"]).jsonObject()
        #expect((fsck["damagedCaches"] as? [String])?.count == 1, "\(fsck)")
        #expect(try run("true").stderr.contains("made in"), "rebuilt after fsck found it")
        #expect(try CLI.run(["-C", repo, "fsck", "--json"]).jsonObject()["damagedCaches"] as? [String] == [])
    }

    /// Metrics at the ends of what a Double holds (a constant past 2^53, ±1.7e308, 1e-300) are
    /// plotted and kept; a million bad lines give a short warning, not a million; the run finishes.
    @Test func anyFiniteMetricIsPlottedAndBadLinesAreCounted() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run-metrics")
        defer { dir.remove() }
        let repo = try digits(dir)
        let script = #"""
            import json, os
            d = os.environ["CAIRN_RUN_DIR"]
            with open(d + "/metrics.jsonl", "w") as f:
                for i in range(6):
                    f.write(json.dumps({"step": i, "big": 36028797018963968.0, "huge": 1.7e308 if i % 2 else -1.7e308,
                                        "tiny": 1e-300 * i, "note": "x"}) + "\n")
                f.write("not json\n" * 1000000)
            json.dump({"val_accuracy": 0.5}, open(d + "/summary.json", "w"))
            """#
        let result = try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "extreme", "--", "python3", "-c", script])
        #expect(result.status == 0, "\(result)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("warning:") }
        #expect(warnings.count <= 22 && result.stderr.contains("more problems like these") && result.stderr.contains("'note' is not a finite number"),
                "\(warnings.prefix(3)) … \(warnings.count)")
        let record = try show(repo, "extreme")
        #expect(record["status"] as? String == "finished")
        let plots = (record["plots"] as? [String]) ?? []
        for name in ["big", "huge", "tiny"] { #expect(plots.contains { $0.hasSuffix("metric-\(name).png") }, "\(plots)") }
        #expect(try CLI.run(["-C", repo, "report", "extreme", "-o", dir.appending("report")]).status == 0)
    }

    @Test func badProgramsAndBadFilesAreReported() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run-bad")
        defer { dir.remove() }
        let repo = try digits(dir)
        let missing = try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "nope", "--", "no-such-program-xyz"])
        #expect(missing.status == 127 && missing.stderr.contains("command not found"), "\(missing)")
        #expect(try show(repo, "nope")["status"] as? String == "failed")
        #expect((try show(repo, "nope")["error"] as? String)?.contains("no-such-program-xyz") == true)
        #expect(try CLI.run(["-C", repo, "run", "--data", "no-such-ref", "--", "true"]).status == 1)

        let script = """
            printf '{"step": 1, "loss": 2.5}\\nnot json\\n{"step": 2, "loss": 1.5}\\n[1, 2]\\n' > "$CAIRN_RUN_DIR/metrics.jsonl"
            id=$(head -c 0 /dev/null; sed -n 2p "$CAIRN_MANIFEST" | sed 's/.*"blob_id":"\\([0-9a-f]*\\)".*/\\1/')
            echo '{"blob_id": "'$(printf '0%.0s' $(seq 64))'", "probs": [1,0,0,0,0,0,0,0,0,0]}' > "$CAIRN_RUN_DIR/predictions.jsonl"
            echo '{"blob_id": "'$id'", "probs": [0.5, 0.5]}' >> "$CAIRN_RUN_DIR/predictions.jsonl"
            ln -s /etc/hostname "$CAIRN_RUN_DIR/artifacts/escape"
            echo secret > "$CAIRN_RUN_DIR/artifacts/kept.txt"
            exit 3
            """
        let failing = try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "bad", "--", "sh", "-c", script])
        #expect(failing.status == 3, "\(failing)")
        #expect(failing.stderr.contains("metrics.jsonl line 2") && failing.stderr.contains("metrics.jsonl line 4"), "\(failing.stderr)")
        #expect(failing.stderr.contains("a link out of the run directory"), "\(failing.stderr)")
        let record = try show(repo, "bad")
        #expect(record["status"] as? String == "failed")
        let program = try #require(record["program"] as? [String: Any])
        #expect((program["metrics"] as? [Any])?.count == 2 && program["exitStatus"] as? Int == 3)
        #expect((program["artifacts"] as? [[String: Any]])?.map { $0["path"] as? String } == ["kept.txt"])
        let problems = (program["predictionProblems"] as? [String])?.joined() ?? ""
        #expect(problems.contains("line 1: no item") && problems.contains("line 2: 2 probabilities for 10 classes"), "\(problems)")
        #expect(program["predictions"] == nil)
        let listed = try CLI.run(["-C", repo, "predictions", "bad", "--json"]).jsonObject()
        #expect((listed["predictions"] as? [Any])?.isEmpty == true, "nothing stored")
    }

    /// Ctrl-C in the terminal reaches the program; the run is kept as interrupted and cairn exits
    /// with the program's status.
    @Test(.enabled(if: Tmux.available), .tags(.slow)) func ctrlCInterruptsTheRun() throws {
        let dir = try TemporaryDirectory("cairn-e2e-run-int")
        defer { dir.remove() }
        let repo = try digits(dir)
        let session = "cairn-run-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 120 -y 30 '\(CLI.binary) -C \(repo) run --data v1 --name sleepy -- sh -c \"echo started; sleep 60\"; echo EXITED $?; sleep 30'")
        #expect(Tmux.waitFor(session, "started", seconds: 30).contains("started"))
        Tmux.run("send-keys -t \(session) C-c")
        let screen = Tmux.waitFor(session, "EXITED", seconds: 30)
        #expect(screen.contains("EXITED 130"), "\(screen)")
        #expect(try show(repo, "sleepy")["status"] as? String == "interrupted")
    }

    /// Shards the `webdataset` package reads in every split, with the right class indices and blob
    /// ids as keys; two exports are byte-identical; a run gets the shard patterns.
    @Test func webDatasetShardsAreReadByWebdatasetAndAreDeterministic() throws {
        let dir = try TemporaryDirectory("cairn-e2e-wds")
        defer { dir.remove() }
        let repo = try digits(dir)
        for target in ["a", "b"] {
            let export = try CLI.run(["-C", repo, "export", "v1", "--format", "webdataset", "--shard-size", "500", dir.appending(target)])
            #expect(export.status == 0, "\(export)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appending("a")).sorted()
        #expect(names.contains("train-000000.tar") && names.contains("train-000002.tar") && names.contains("_info.json"), "\(names)")
        for name in names {
            #expect(FileManager.default.contentsEqual(atPath: dir.appending("a/" + name), andPath: dir.appending("b/" + name)), "\(name)")
        }
        let checked = CLI.shell("python3 \(Self.checkShards) \(dir.appending("a"))")
        #expect(checked.status == 0 && checked.output.contains("\"samples\": 1797"), "\(checked.output)")
        // Shards under 500 samples each, counts as equal as they can be.
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.appending("a/_info.json")))) as? [String: Any]
        let train = (info?["splits"] as? [String: Any])?["train"] as? [String: Any]
        let lengths = try #require(train?["shard_lengths"] as? [Int])
        #expect(lengths.max()! - lengths.min()! <= 1 && lengths.max()! <= 500)

        // A run with --materialize webdataset reads the shards through the brace patterns it is given.
        let script = "python3 \(Self.checkShards) \"$CAIRN_DATA\" train=\"$CAIRN_SHARDS_TRAIN\" val=\"$CAIRN_SHARDS_VAL\" test=\"$CAIRN_SHARDS_TEST\""
        let run = try CLI.run(["-C", repo, "run", "--data", "v1", "--materialize", "webdataset", "--", "sh", "-c", script])
        #expect(run.status == 0 && run.stdout.contains("\"samples\": 1797"), "\(run)")
    }

    /// `predict --data` stores the built-in model's probabilities; `predictions import` takes a
    /// file and refuses one with problems whole.
    @Test func builtInPredictionsAndImportedOnes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-preds")
        defer { dir.remove() }
        let repo = try digits(dir)
        #expect(try CLI.run(["-C", repo, "train", "--data", "v1", "--epochs", "2", "--size", "8x8", "--name", "m"]).status == 0)
        let stored = try CLI.run(["-C", repo, "predict", "m", "--data", "v1", "--split", "val"])
        #expect(stored.status == 0 && stored.stdout.contains("stored"), "\(stored)")
        let listed = try CLI.run(["-C", repo, "predictions", "m", "--json"]).jsonObject()
        let rows = try #require(listed["predictions"] as? [[String: Any]])
        #expect(rows.count > 100 && (rows.first?["probabilities"] as? [Double])?.count == 10)
        let text = try CLI.run(["-C", repo, "predictions", "m"])
        #expect(text.stdout.contains("PREDICTED") && text.stdout.contains("%"))
        // Import: a file naming items by blob id replaces the stored ones.
        let blob = try #require(rows.first?["blobID"] as? String)
        let file = dir.appending("p.jsonl")
        try Data(("{\"blob_id\": \"\(blob)\", \"probs\": [0.1, 0.9, 0, 0, 0, 0, 0, 0, 0, 0]}\n").utf8).write(to: URL(fileURLWithPath: file))
        #expect(try CLI.run(["-C", repo, "predictions", "import", "m", file]).status == 0)
        let after = try CLI.run(["-C", repo, "predictions", "m", "--json"]).jsonObject()["predictions"] as? [[String: Any]]
        #expect(after?.count == 1 && after?.first?["predicted"] as? String == "1")
        try Data("{\"blob_id\": \"\(blob)\", \"probs\": [2, -1]}\nnot json\n".utf8).write(to: URL(fileURLWithPath: file))
        let refused = try CLI.run(["-C", repo, "predictions", "import", "m", file])
        #expect(refused.status == 1 && refused.stderr.contains("nothing stored") && refused.stderr.contains("line 2"), "\(refused)")
        #expect((try CLI.run(["-C", repo, "predictions", "m", "--json"]).jsonObject()["predictions"] as? [Any])?.count == 1)
        // A file that cannot be read (missing, a folder) is refused naming it; nothing stored.
        for unreadable in [dir.appending("missing.jsonl"), dir.path] {
            let result = try CLI.run(["-C", repo, "predictions", "import", "m", unreadable])
            #expect(result.status == 1 && result.stderr.contains("cannot read it"), "\(result)")
        }
    }

    /// A program run travels with push and clone (its artifacts too), and WebDataset shards written
    /// straight to S3 read back whole.
    @Test(.tags(.slow), .enabled(if: Slow.enabled)) func programRunsAndShardsGoThroughS3() throws {
        let server = try S3TestServer()
        defer { server.stop() }
        try server.createBucket("cairn")
        let dir = try TemporaryDirectory("cairn-e2e-run-s3")
        defer { dir.remove() }
        let env = S3TestServer.environment
        let repo = try digits(dir)
        #expect(try CLI.run(["-C", repo, "run", "--data", "v1", "--name", "np", "-p", "epochs=2", "--", "python3", Self.example],
                            in: dir.path).status == 0)
        #expect(try CLI.run(["-C", repo, "remote", "add", "origin", "s3://cairn/ds", "--endpoint", server.endpoint, "--path-style"]).status == 0)
        let push = try CLI.run(["-C", repo, "push"], environment: env)
        #expect(push.status == 0, "\(push)")
        let clone = dir.appending("clone")
        #expect(try CLI.run(["clone", "s3://cairn/ds", clone, "--endpoint", server.endpoint, "--path-style"], environment: env).status == 0)
        let record = try show(clone, "np")
        let artifacts = try #require((record["program"] as? [String: Any])?["artifacts"] as? [[String: Any]])
        let blob = try #require(artifacts.first?["blob"] as? String)
        #expect(try CLI.run(["-C", clone, "cat-blob", blob]).status == 0, "the artifact came with the run")
        #expect(try CLI.run(["-C", clone, "fsck"]).status == 0)

        let export = try CLI.run(["-C", repo, "export", "v1", "--format", "webdataset", "s3://cairn/wds", "--shard-size", "700",
                                  "--endpoint", server.endpoint, "--path-style"], environment: env)
        #expect(export.status == 0 && export.stdout.contains("1797 samples"), "\(export)")
        let local = dir.appending("wds")
        let copied = CLI.shell("AWS_ACCESS_KEY_ID=cairn-test AWS_SECRET_ACCESS_KEY=cairn-test-secret aws --endpoint-url \(server.endpoint) "
                               + "s3 cp --recursive --quiet s3://cairn/wds \(local)")
        #expect(copied.status == 0, "\(copied.output)")
        let checked = CLI.shell("python3 \(Self.checkShards) \(local)")
        #expect(checked.status == 0 && checked.output.contains("\"samples\": 1797"), "\(checked.output)")
    }
}
