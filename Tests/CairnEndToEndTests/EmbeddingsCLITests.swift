import CairnTestSupport
import Foundation
import Testing

/// A program's embeddings (`embeddings.npy` written by numpy, with `embeddings.keys.txt`) through the
/// real binary: stored with the run, and used by `check --run`, `suspects --run` and the queue.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct EmbeddingsCLITests {
    private static let example = Fixtures.packageRoot + "/Docs/examples/embed_numpy.py"

    /// Writes a Python program that saves `body`'s `e` (rows) and `keys` with numpy, and runs it as run `name`.
    private func runWriting(_ repo: String, _ dir: TemporaryDirectory, name: String, _ body: String) throws -> CommandResult {
        let program = dir.appending("\(name).py")
        try """
            import json, os
            import numpy as np
            out = os.environ["CAIRN_RUN_DIR"]
            items = [json.loads(l) for l in open(os.environ["CAIRN_MANIFEST"]) if l.strip()][1:]
            \(body)
            np.save(os.path.join(out, "embeddings.npy"), e)
            open(os.path.join(out, "embeddings.keys.txt"), "w").write("\\n".join(keys) + "\\n")
            """.write(toFile: program, atomically: true, encoding: .utf8)
        return try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", name, "--", "python3", program], in: dir.path)
    }

    /// The example's embeddings are kept with the run (pushed and gc'd with it as blobs); suspects
    /// trains its folds on them and finds the planted flips; the uncertain queue and its suggestions
    /// come from a classifier fitted on the labeled items' embeddings.
    @Test func theExamplesEmbeddingsDriveSuspectsAndTheQueue() throws {
        let dir = try TemporaryDirectory("cairn-e2e-embed")
        defer { dir.remove() }
        let repo = try ModelLoopTests.digits(dir, labeled: 60, unlabeled: 10, flips: [("0", "7", 2), ("1", "0", 2), ("7", "1", 2)])
        let ran = try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", "pca", "-p", "dims=24", "--", "python3", Self.example], in: dir.path)
        #expect(ran.status == 0 && ran.stderr.contains("210 embeddings of 24"), "\(ran)")
        let record = try CLI.run(["-C", repo, "runs", "show", "pca", "--json"]).jsonObject()
        let stored = try #require((record["program"] as? [String: Any])?["embeddings"] as? [String: Any])
        #expect(stored["rows"] as? Int == 210 && stored["dimensions"] as? Int == 24, "\(stored)")
        #expect(try CLI.run(["-C", repo, "runs", "show", "pca"]).stdout.contains("embeddings   210 items × 24"))

        let result = try CLI.run(["-C", repo, "suspects", "--data", "HEAD", "--run", "pca", "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try result.jsonObject()
        #expect((report["source"] as? String)?.hasSuffix("'s embeddings, 5 folds") == true, "\(report)")
        let suspects = report["suspects"] as? [[String: Any]] ?? []
        let flagged = suspects.filter { ($0["path"] as? String ?? "").contains("flipped-") }
        #expect(flagged.count >= 4 && suspects.count <= 10, "\(suspects)")

        // The queue: the 30 unlabeled items, each with a margin and suggestions from the embeddings.
        let queued = try CLI.run(["-C", repo, "queue", "uncertain", "--run", "pca", "--json", "-n", "100"])
        #expect(queued.status == 0, "\(queued)")
        let entries = try queued.jsonArray()
        #expect(entries.count == 30 && entries.allSatisfy { $0["margin"] is Double && ($0["suggestions"] as? [Any])?.count == 3 }, "\(entries)")
        let margins = entries.filter { $0["explore"] as? Bool != true }.compactMap { $0["margin"] as? Double }
        #expect(margins == margins.sorted(), "smallest margin first: \(margins)")
        // The suggestions are mostly right: the unlabeled files are named by their digit.
        let right = entries.filter { entry in
            let top = ((entry["suggestions"] as? [[String: Any]])?.first?["className"] as? String) ?? "?"
            return (entry["path"] as? String ?? "").contains("/d\(top)_")
        }
        #expect(right.count >= 24, "\(right.count) of 30 right")

        // The blobs are gc roots with the run, and fsck is clean.
        #expect(try CLI.run(["-C", repo, "gc", "--grace", "0"]).status == 0)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
        #expect(try CLI.run(["-C", repo, "check", "--data", "HEAD", "--run", "pca"]).status == 0)
    }

    /// `cairn label` with a run of embeddings: suggestions and the uncertain order from them, and
    /// `--retrain-every` refits on the labels given, in the background, while keys keep flowing.
    @Test(.enabled(if: Tmux.available)) func labelingRefitsOnTheEmbeddingsInTheBackground() throws {
        let dir = try TemporaryDirectory("cairn-e2e-embed-label")
        defer { dir.remove() }
        let repo = try ModelLoopTests.digits(dir, labeled: 30, unlabeled: 15)
        #expect(try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", "pca", "--", "python3", Self.example], in: dir.path).status == 0)
        let session = "cairn-embed-label-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("kill-session -t \(session) 2>/dev/null")
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --annotator ada --suggest pca --queue uncertain "
                 + "--retrain-every 3; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "done 0 /")
        #expect(first.contains("%"), "a suggestion with its probability is shown: \(first)")
        for (i, key) in ["1", "7", "0"].enumerated() {
            Tmux.run("send-keys -t \(session) \(key)")
            Tmux.waitFor(session, "done \(i + 1) /")
        }
        Tmux.waitFor(session, "refitted on run")
        Tmux.run("send-keys -t \(session) 1")
        Tmux.waitFor(session, "done 4 /")
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))
        // The labels carry the suggestions shown, from the embeddings' run.
        let labeled = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray().filter { ($0["path"] as? String ?? "").hasPrefix("unl/") && $0["label"] is String }
        #expect(labeled.count == 4, "\(labeled)")
    }

    /// Copies the model embeds alike (here: given their original's vector) are found across splits,
    /// and only those; items without an embedding are counted, not compared. Float64 in Fortran
    /// order and keys given as imported paths read like float32 rows and blob ids.
    @Test func checkByEmbeddingsFindsWhatTheModelCallsTheSame() throws {
        let dir = try TemporaryDirectory("cairn-e2e-embed-check")
        defer { dir.remove() }
        let repo = try ModelLoopTests.digits(dir, labeled: 40, unlabeled: 0)
        let copies = dir.appending("copies")
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        let originals = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/1").sorted().prefix(12)
        // Other pictures altogether (a different digit's file), which only the embeddings call copies.
        let others = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/9").sorted()
        for (file, other) in zip(originals, others) {
            try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/9/\(other)", toPath: "\(copies)/copy-\(file)")
        }
        #expect(try CLI.run(["-C", repo, "import", copies]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "with copies"]).status == 0)
        let ran = try runWriting(repo, dir, name: "oracle", """
            rng = np.random.default_rng(1)
            vec = {}
            for it in items:
                if not it["path"].startswith("copies/"):
                    vec[it["path"]] = rng.normal(size=32)
            for it in items:
                if it["path"].startswith("copies/"):
                    vec[it["path"]] = vec["lab/1/" + it["path"][len("copies/copy-"):]] + rng.normal(scale=0.01, size=32)
            keys = sorted(vec)[:-1]  # one item (a 7) left without an embedding
            e = np.asfortranarray(np.array([vec[k] for k in keys], dtype=np.float64))
            """)
        #expect(ran.status == 0 && ran.stderr.contains("embeddings of 32"), "\(ran)")
        let items = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray()
        let split = Dictionary(items.map { (($0["path"] as? String ?? ""), ($0["split"] as? String ?? "")) }, uniquingKeysWith: { a, _ in a })
        let across = Set(originals.filter { split["lab/1/\($0)"] != split["copies/copy-\($0)"] }.map { "copies/copy-\($0)" })
        let report = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--run", "oracle", "--json"]).jsonObject()
        let found = Set((report["leaks"] as? [[String: Any]] ?? []).compactMap { ($0["paths"] as? [String])?.first { $0.hasPrefix("copies/") } })
        #expect(!across.isEmpty && found == across && report["leakCount"] as? Int == across.count, "\(report)")
        #expect(report["uncovered"] as? Int == 1 && (report["source"] as? String)?.contains("embeddings") == true, "\(report)")
        // The pixels see different digits: thumbnails find none of them.
        let pixels = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--json"]).jsonObject()
        #expect(pixels["leakCount"] as? Int == 0 && pixels["source"] == nil, "\(pixels)")
        let refused = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--run", "oracle", "--flips"])
        #expect(refused.status != 0 && refused.stderr.contains("--flips compares thumbnails"), "\(refused)")
    }

    /// Embeddings that cannot be used are reported with the run, nothing is stored, and the commands
    /// that would use them say the run has none; the run itself is kept.
    @Test func badEmbeddingsAreReportedAndNothingIsStored() throws {
        let dir = try TemporaryDirectory("cairn-e2e-embed-bad")
        defer { dir.remove() }
        let repo = try ModelLoopTests.digits(dir, labeled: 10, unlabeled: 0)
        let cases: [(String, String, String)] = [
            ("rows", "keys = [it[\"blob_id\"] for it in items]; e = np.zeros((len(keys) + 1, 4), np.float32)", "31 rows but 30 keys"),
            ("cube", "keys = [it[\"blob_id\"] for it in items]; e = np.zeros((len(keys), 2, 2), np.float32)", "has 3 dimensions"),
            ("ints", "keys = [it[\"blob_id\"] for it in items]; e = np.zeros((len(keys), 4), np.int64)", "is not a float"),
            ("nan", "keys = [it[\"blob_id\"] for it in items]; e = np.zeros((len(keys), 4)); e[3, 2] = np.nan", "row 3, column 2 is not a finite number"),
            ("unknown", "keys = [it[\"blob_id\"] for it in items]; keys[5] = 'no/such\\x1b[31m.png'; e = np.zeros((len(keys), 4))",
             "line 6: no item no/such\\e[31m.png"),
            ("twice", "keys = [it[\"blob_id\"] for it in items]; keys[1] = keys[0]; e = np.zeros((len(keys), 4))", "line 2: a second row"),
            ("long", "keys = [it[\"blob_id\"] for it in items]; keys[0] = 'x' * 200000; e = np.zeros((len(keys), 4))",
             "more than 30 keys of up to 4,096 bytes each"),
        ]
        for (name, body, problem) in cases {
            let ran = try runWriting(repo, dir, name: name, body)
            #expect(ran.status == 0 && ran.stderr.contains("warning") && ran.stderr.contains(problem), "\(name): \(ran)")
            #expect(!ran.stderr.contains("\u{1B}[31m"), "no escape sequence reaches the terminal")
            let record = try CLI.run(["-C", repo, "runs", "show", name, "--json"]).jsonObject()
            let program = try #require(record["program"] as? [String: Any])
            #expect(program["embeddings"] == nil && (program["embeddingProblems"] as? [String])?.first?.contains(problem) == true, "\(program)")
            let check = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--run", name])
            #expect(check.status != 0 && check.stderr.contains("has no embeddings"), "\(check)")
        }
        // Without the keys file.
        let bare = dir.appending("bare.py")
        try "import numpy as np, os\nnp.save(os.path.join(os.environ['CAIRN_RUN_DIR'], 'embeddings.npy'), np.zeros((3, 2)))\n"
            .write(toFile: bare, atomically: true, encoding: .utf8)
        let ran = try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", "bare", "--", "python3", bare], in: dir.path)
        #expect(ran.stderr.contains("embeddings.keys.txt beside it"), "\(ran)")
        let suspects = try CLI.run(["-C", repo, "suspects", "--data", "HEAD", "--run", "bare"])
        #expect(suspects.status != 0 && suspects.stderr.contains("no stored predictions"), "\(suspects)")
    }
}
