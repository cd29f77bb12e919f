import CairnTestSupport
import Foundation
import Testing

/// `cairn label` driven through a real terminal: tmux sessions, `send-keys`, `capture-pane`.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct LabelUITests {
    /// A repository of `count` unlabeled images with classes cat (key 1) and dog (key 2).
    private func repository(_ dir: TemporaryDirectory, count: Int = 30) throws -> String {
        try CLI.makeRepository(at: dir.appending("repo"), images: count, classes: ["cat", "dog"])
    }

    private func startLabel(_ session: String, repo: String, annotator: String, _ extra: String = "") {
        Tmux.run("kill-session -t \(session) 2>/dev/null")
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --annotator \(annotator) \(extra); echo EXITED $?; sleep 30'")
    }

    private func labelCounts(_ repo: String) throws -> [String: Int] {
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        return status["classes"] as? [String: Int] ?? [:]
    }

    @Test(.enabled(if: Tmux.available)) func labelUndoAndQuitKeepExactlyWhatWasKept() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui")
        defer { dir.remove() }
        let repo = try repository(dir)
        let session = "cairn-ui-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, annotator: "ann")
        let first = Tmux.waitFor(session, "done 0 / 30")
        #expect(first.contains("cairn label") && first.contains("1  cat") && first.contains("2  dog"), "\(first)")
        // Twenty labels, one key each: 1 2 1 2 …
        for i in 0..<20 {
            Tmux.run("send-keys -t \(session) \(i % 2 == 0 ? "1" : "2")")
            Tmux.waitFor(session, "done \(i + 1) / 30")
        }
        Tmux.run("send-keys -t \(session) u")
        let once = Tmux.waitFor(session, "done 19 /")
        #expect(once.contains("done 19 / 30"), "undo keeps the queue's total: \(once)")
        Tmux.run("send-keys -t \(session) u")
        let undone = Tmux.waitFor(session, "done 18 /")
        #expect(undone.contains("done 18 / 30"), "\(undone)")
        Tmux.run("send-keys -t \(session) Space")  // skip one: no label
        Tmux.run("send-keys -t \(session) q")
        let end = Tmux.waitFor(session, "EXITED")
        #expect(end.contains("labeled 18 items") && end.contains("EXITED 0"), "\(end)")
        let counts = try labelCounts(repo)
        #expect(counts["cat"] == 9 && counts["dog"] == 9, "\(counts)")
    }

    @Test(.enabled(if: Tmux.available)) func twoAnnotatorsAtOnceGetDisjointItems() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui2")
        defer { dir.remove() }
        let repo = try repository(dir, count: 20)
        let (a, b) = ("cairn-ui-a-\(getpid())", "cairn-ui-b-\(getpid())")
        defer { Tmux.run("kill-session -t \(a)"); Tmux.run("kill-session -t \(b)") }
        startLabel(a, repo: repo, annotator: "ada")
        startLabel(b, repo: repo, annotator: "bob")
        Tmux.waitFor(a, "done 0 /")
        Tmux.waitFor(b, "done 0 /")
        for i in 0..<6 {
            Tmux.run("send-keys -t \(a) 1")
            Tmux.run("send-keys -t \(b) 2")
            Tmux.waitFor(a, "done \(i + 1) /")
            Tmux.waitFor(b, "done \(i + 1) /")
        }
        Tmux.run("send-keys -t \(a) q")
        Tmux.run("send-keys -t \(b) q")
        Tmux.waitFor(a, "EXITED")
        Tmux.waitFor(b, "EXITED")
        // No item got labels from both: agreement finds nothing to compare, and 12 items are labeled.
        let agreement = try CLI.run(["-C", repo, "agreement", "--json"]).jsonObject()
        #expect(agreement["items"] as? Int == 0)
        let counts = try labelCounts(repo)
        #expect(counts["cat"] == 6 && counts["dog"] == 6, "\(counts)")
    }

    @Test(.enabled(if: Tmux.available)) func ctrlCRestoresTheTerminal() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui3")
        defer { dir.remove() }
        let repo = try repository(dir, count: 5)
        let session = "cairn-ui-c-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 100 -y 30 'env PS1=READY\\$\\  bash --norc --noprofile'")
        Tmux.waitFor(session, "READY$")
        Tmux.run("send-keys -t \(session) '\(CLI.binary) -C \(repo) label --annotator c' Enter")
        Tmux.waitFor(session, "done 0 /")
        #expect(Tmux.run("display -p -t \(session) '#{alternate_on}'").hasPrefix("1"))
        Tmux.run("send-keys -t \(session) 1")
        Tmux.waitFor(session, "done 1 /")
        Tmux.run("send-keys -t \(session) C-c")
        let after = Tmux.waitFor(session, "labeled 1 item")
        #expect(after.contains("labeled 1 item"), "\(after)")
        #expect(Tmux.run("display -p -t \(session) '#{alternate_on}'").hasPrefix("0"))
        // The shell works again: echo is back and a command runs.
        Tmux.run("send-keys -t \(session) 'echo back-to-normal' Enter")
        #expect(Tmux.waitFor(session, "back-to-normal\nREADY$").contains("back-to-normal\nREADY$"))
    }

    /// Blind overlap: two annotators with --overlap 2 label the same items blind, agreement
    /// reports their κ, and a reviewer resolves the disagreements in the UI.
    @Test(.enabled(if: Tmux.available)) func overlapAgreementAndReview() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui5")
        defer { dir.remove() }
        let repo = try repository(dir, count: 6)
        let (a, b, r) = ("cairn-ui-oa-\(getpid())", "cairn-ui-ob-\(getpid())", "cairn-ui-or-\(getpid())")
        defer { for s in [a, b, r] { Tmux.run("kill-session -t \(s)") } }
        startLabel(a, repo: repo, annotator: "ada", "--overlap 2")
        startLabel(b, repo: repo, annotator: "bob", "--overlap 2")
        Tmux.waitFor(a, "done 0 /")
        Tmux.waitFor(b, "done 0 /")
        let (keysA, keysB) = (["1", "1", "1", "2", "2", "2"], ["1", "1", "2", "2", "2", "1"])
        for i in 0..<6 {
            Tmux.run("send-keys -t \(a) \(keysA[i])")
            Tmux.run("send-keys -t \(b) \(keysB[i])")
            Tmux.waitFor(a, i == 5 ? "EXITED" : "done \(i + 1) /")
            Tmux.waitFor(b, i == 5 ? "EXITED" : "done \(i + 1) /")
        }
        #expect(Tmux.waitFor(a, "EXITED").contains("labeled 6 items"))
        let agreement = try CLI.run(["-C", repo, "agreement", "--json"]).jsonObject()
        let pair = try #require((agreement["pairs"] as? [[String: Any]])?.first)
        #expect(abs((pair["kappa"] as? Double ?? 0) - 1.0 / 3) < 1e-9, "\(pair)")
        // An annotator may not review; a reviewer works through the two disagreements.
        startLabel(r, repo: repo, annotator: "ada", "--queue disagreements")
        #expect(Tmux.waitFor(r, "EXITED").contains("only reviewers"))
        #expect(try CLI.run(["-C", repo, "annotators", "add", "grace", "--role", "reviewer"]).status == 0)
        startLabel(r, repo: repo, annotator: "grace", "--queue disagreements")
        let shown = Tmux.waitFor(r, "done 0 / 2")
        #expect(shown.contains("ada=") && shown.contains("bob="), "\(shown)")
        Tmux.run("send-keys -t \(r) 1")
        Tmux.waitFor(r, "done 1 / 2")
        Tmux.run("send-keys -t \(r) 2")
        #expect(Tmux.waitFor(r, "EXITED").contains("labeled 2 items"))
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        #expect(status["conflicts"] as? Int == 0, "\(status)")
    }

    /// Keys remapped in config.toml work (and the help line shows them); --split keeps the queue to
    /// one split; --queue mine brings back what this annotator labeled.
    @Test(.enabled(if: Tmux.available)) func remappedKeysSplitFilterAndMineQueue() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui6")
        defer { dir.remove() }
        let repo = try repository(dir, count: 40)
        let config = repo + "/.cairn/config.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8) + "\n[keys.classes]\ncat = \"c\"\n\n[keys.actions]\nundo = \"backspace\"\n"
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let train = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray().filter { $0["split"] as? String == "train" }.count
        let session = "cairn-ui-keys-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, annotator: "kim", "--split train")
        let first = Tmux.waitFor(session, "done 0 / \(train)")
        #expect(first.contains("c  cat") && first.contains("backspace undo"), "\(first)")
        for i in 1...3 {
            Tmux.run("send-keys -t \(session) c")
            Tmux.waitFor(session, "done \(i) /")
        }
        Tmux.run("send-keys -t \(session) 1")  // cat's default key is taken away
        #expect(Tmux.waitFor(session, "'1' is not a key").contains("'1' is not a key"))
        Tmux.run("send-keys -t \(session) BSpace")
        #expect(Tmux.waitFor(session, "done 2 /").contains("done 2 /"))
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("labeled 2 items"))
        let labeled = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray().filter { $0["label"] as? String == "cat" }
        #expect(labeled.count == 2 && labeled.allSatisfy { $0["split"] as? String == "train" }, "\(labeled)")

        // Mine: the two labels and the undone item (undo recorded a skip).
        startLabel(session, repo: repo, annotator: "kim", "--queue mine")
        let mine = Tmux.waitFor(session, "done 0 / 3")
        #expect(mine.contains("done 0 / 3") && mine.contains("your label: cat"), "\(mine)")
    }

    /// An image that does not decode (imported with --no-verify) is shown as such, with its path
    /// and id, and the session goes on: space skips it, a class key still labels it.
    @Test(.enabled(if: Tmux.available)) func anUndecodableImageIsShownAndTheSessionGoesOn() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui7")
        defer { dir.remove() }
        let input = dir.appending("in")
        try SyntheticImages.writeImageFolder(at: input, count: 3)
        let good = try Data(contentsOf: URL(fileURLWithPath: input + "/cat/0000.png"))
        try good.prefix(good.count - 30).write(to: URL(fileURLWithPath: input + "/cat/0000.png"))
        let repo = dir.appending("repo")
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try CLI.run(["-C", repo, "import", "--no-verify", input]).status == 0)
        #expect(try CLI.run(["-C", repo, "classes", "add", "cat", "dog"]).status == 0)
        let session = "cairn-ui-bad-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, annotator: "ann", "--queue all")
        let first = Tmux.waitFor(session, "cannot be decoded")
        #expect(first.contains("cannot be decoded") && first.contains("in/cat/0000.png"), "\(first)")
        Tmux.run("send-keys -t \(session) Space")
        #expect(!Tmux.waitFor(session, "in/cat/0002.png").contains("cannot be decoded"))
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))
    }

    /// Labeling takes nothing out of `--queue all`, so its total is the queue and stays fixed.
    @Test(.enabled(if: Tmux.available)) func theTotalStaysFixedInTheAllQueue() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui8")
        defer { dir.remove() }
        let repo = try repository(dir, count: 12)
        let session = "cairn-ui-all-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, annotator: "ann", "--queue all")
        #expect(Tmux.waitFor(session, "done 0 / 12").contains("done 0 / 12"))
        for i in 1...3 {
            Tmux.run("send-keys -t \(session) 1")
            #expect(Tmux.waitFor(session, "done \(i) / 12").contains("done \(i) / 12"))
        }
        usleep(600_000)  // the background recount has run: the total is still the queue
        #expect(Tmux.run("capture-pane -p -t \(session)").contains("done 3 / 12"))
        Tmux.run("send-keys -t \(session) q")
        Tmux.waitFor(session, "EXITED")
    }

    @Test func aNonInteractiveStdinGetsAClearMessage() throws {
        let dir = try TemporaryDirectory("cairn-e2e-ui4")
        defer { dir.remove() }
        let repo = try repository(dir, count: 2)
        let result = try CLI.run(["-C", repo, "label"])
        #expect(result.status != 0 && result.stderr.contains("interactive terminal"), "\(result)")
    }
}
