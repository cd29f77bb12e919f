import CairnTestSupport
import Foundation
import Testing

/// `cairn label --boxes` in a real terminal (tmux): boxes drawn with two corner keys, relabeled,
/// selected with Tab, deleted and brought back by undo, moved, saved with Enter; an image saved
/// with no boxes; quitting with unsaved boxes asks first. The catalog must hold exactly what was
/// saved, at the coordinates the keys put them.
@Suite(.serialized) struct BoxLabelUITests {
    /// The numbers after `label` on the screen's line holding it (e.g. "crosshair 16,16" → [16, 16]).
    private func numbers(after label: String, in screen: String) -> [Int] {
        guard let line = screen.split(separator: "\n").first(where: { $0.contains(label) }),
              let range = line.range(of: label) else { return [] }
        return line[range.upperBound...].split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    }

    @Test(.enabled(if: Tmux.available)) func keysDrawMoveDeleteUndoAndSaveBoxes() throws {
        let dir = try TemporaryDirectory("cairn-e2e-box-ui")
        defer { dir.remove() }
        // 64x48 images on a 120x40 terminal: one crosshair step is one pixel.
        let folder = dir.appending("in")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for n in 0..<4 { try SyntheticImages.png(seed: n, width: 64, height: 48).write(to: URL(fileURLWithPath: "\(folder)/\(n).png")) }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: folder, classes: ["cat", "dog"])
        let session = "cairn-boxes-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --boxes --annotator ann; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "crosshair")
        #expect(first.contains("cairn label --boxes") && first.contains("queue unlabeled") && first.contains("0 boxes"), "\(first)")
        let start = numbers(after: "crosshair ", in: first)
        try #require(start.count == 2, "\(first)")
        func path(_ screen: String) throws -> String {
            try #require(screen.split(separator: "\n").first { $0.contains("saved box") || $0.contains("unsaved") }?.split(separator: " ").first).description
        }
        let firstPath = try path(first)
        let (x0, y0) = (start[0], start[1])
        func send(_ keys: String, until text: String) -> String {
            Tmux.run("send-keys -t \(session) \(keys)")
            return Tmux.waitFor(session, text)
        }
        // A cat box from 10 pixels up-left of the centre to the centre.
        _ = send("H K Space", until: "first corner placed")
        var screen = send("L J Space", until: "selected: cat")
        #expect(screen.contains("  \(x0 - 10),\(y0 - 10)  10x10"), "\(screen)")
        // Deselect, pick dog for the next box, draw it below: 5 wide, 3 high.
        _ = send("Escape 2", until: "no box selected")
        _ = send("j j j Space", until: "first corner placed")
        screen = send("l l l l l j j j Space", until: "2 boxes")
        #expect(screen.contains("selected: dog") && screen.contains("  \(x0),\(y0 + 3)  5x3"), "\(screen)")
        // Tab selects the box under the crosshair; x deletes it, u brings it back.
        screen = send("Escape Escape Tab x", until: "1 box")
        #expect(screen.contains("no box selected"), "\(screen)")
        screen = send("u", until: "2 boxes")
        // m: the keys now move the selected box: two pixels left.
        screen = send("m h h", until: "keys move: move")
        #expect(Tmux.waitFor(session, "  \(x0 - 2),\(y0 + 3)  5x3").contains("  \(x0 - 2),\(y0 + 3)  5x3"))
        screen = send("Escape Escape Enter", until: "done 1 /")
        #expect(screen.contains("0 saved boxes"), "the next image starts empty: \(screen)")
        let secondPath = try path(screen)
        // The second image has no objects: Enter saves the empty set.
        screen = send("Enter", until: "done 2 /")
        // The third: a box drawn, then > (skip) and q each ask first; q again quits without it.
        _ = send("Space l j Space", until: "1 box")
        let thirdPath = try path(Tmux.waitFor(session, "unsaved"))
        screen = send("'>'", until: "not saved")
        #expect(screen.contains("> again skips the image without them") && screen.contains(thirdPath), "\(screen)")
        screen = send("q", until: "q again")
        #expect(screen.contains("q again quits without them"), "\(screen)")
        let end = send("q", until: "EXITED")
        #expect(end.contains("saved boxes on 2 images as ann") && end.contains("EXITED 0"), "\(end)")

        func boxes(_ path: String) throws -> [[String: Any]]? {
            let shown = try CLI.run(["-C", repo, "show", path, "--json"]).jsonObject()
            let annotations = (shown["boxes"] as? [String: Any])?["annotations"] as? [[String: Any]]
            return annotations?.first { $0["person"] as? String == "ann" }?["boxes"] as? [[String: Any]]
        }
        let saved = try #require(try boxes(firstPath))
        let described = saved.map { "\($0["className"]!) \($0["x"]!),\($0["y"]!) \($0["width"]!)x\($0["height"]!)" }.sorted()
        #expect(described == ["cat \(x0 - 10),\(y0 - 10) 10x10", "dog \(x0 - 2),\(y0 + 3) 5x3"], "\(described)")
        #expect(try boxes(secondPath)?.isEmpty == true, "an empty set is saved: no objects")
        #expect(try boxes(thirdPath) == nil, "boxes not saved are not in the catalog")
        #expect(Set([firstPath, secondPath, thirdPath]).count == 3)
    }

    /// Two 64x48 images with a cat box each drawn by ann and snapshotted, and run "det" whose box
    /// predictions see both cats and, on the first image, a dog nobody drew.
    private func predictedRepository(_ dir: TemporaryDirectory) throws -> (repo: String, paths: [String]) {
        let folder = dir.appending("in")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for n in 0..<2 { try SyntheticImages.png(seed: n, width: 64, height: 48).write(to: URL(fileURLWithPath: "\(folder)/\(n).png")) }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: folder, classes: ["cat", "dog"])
        func cairn(_ args: String...) throws -> CommandResult {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status == 0, "\(args) → \(result)")
            return result
        }
        let items = try cairn("ls", "--json").json([[String: AnyDecodable]].self)
        let paths = items.compactMap { $0["path"]?.string }.sorted()
        try #require(paths.count == 2, "\(items)")
        for path in paths { _ = try cairn("boxes", "set", path, "--box", "cat:10,10,20,20", "--annotator", "ann") }
        _ = try cairn("snapshot", "-m", "boxes")
        _ = try cairn("run", "--data", "HEAD", "--name", "det", "--", "true")
        // The model sees the cat on both images, and a dog on the first that nobody drew.
        let cat = #"{"class": "cat", "bbox": [10, 10, 20, 20], "score": 0.9}"#
        let predictions = dir.appending("predictions.jsonl")
        try Data(("{\"path\": \"\(paths[0])\", \"boxes\": [\(cat), {\"class\": \"dog\", \"bbox\": [36, 20, 20, 20], \"score\": 0.8}]}\n"
                  + "{\"path\": \"\(paths[1])\", \"boxes\": [\(cat)]}\n").utf8).write(to: URL(fileURLWithPath: predictions))
        _ = try cairn("predictions", "import", "det", predictions)
        return (repo, paths)
    }

    /// A run's box predictions flag a missing box (`suspects --boxes`); in the box suspects queue a
    /// reviewer sees the flag, `a` takes the model's fix and enter saves it as the box verdict.
    @Test(.enabled(if: Tmux.available)) func theSuspectsQueueTakesTheModelsFix() throws {
        let dir = try TemporaryDirectory("cairn-e2e-box-suspects")
        defer { dir.remove() }
        let (repo, paths) = try predictedRepository(dir)
        func cairn(_ args: String...) throws -> CommandResult {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status == 0, "\(args) → \(result)")
            return result
        }
        let listed = try cairn("suspects", "--boxes", "--data", "HEAD", "--run", "det")
        #expect(listed.stdout.contains("1 flags on 1 of 2 images") && listed.stdout.contains("missing")
                && listed.stdout.contains("dog [36.0, 20.0, 20.0, 20.0] 0.80"), "\(listed.stdout)")
        _ = try cairn("annotators", "add", "grace", "--role", "reviewer")
        let session = "cairn-box-suspects-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 140 -y 40 '\(CLI.binary) -C \(repo) label --boxes --queue suspects --run det --annotator grace; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "suspect: missing")
        #expect(first.contains("a takes the fix (1 left)") && first.contains("1 box"), "\(first)")
        Tmux.run("send-keys -t \(session) a")
        let fixed = Tmux.waitFor(session, "2 boxes")
        #expect(fixed.contains("selected: dog") && fixed.contains("36,20  20x20"), "\(fixed)")
        Tmux.run("send-keys -t \(session) Enter")
        let end = Tmux.waitFor(session, "EXITED")
        #expect(end.contains("saved boxes on 1 image as grace") && end.contains("EXITED 0"), "\(end)")
        let shown = try cairn("show", paths[0], "--json").jsonObject()
        let resolved = (shown["boxes"] as? [String: Any])?["resolved"] as? [[String: Any]]
        #expect(resolved?.map { "\($0["className"]!)" }.sorted() == ["cat", "dog"], "\(shown)")
        let verdict = (shown["boxVerdicts"] as? [[String: Any]])?.first
        #expect(verdict?["person"] as? String == "grace")
        // The verdict keeps what the model suggested and that the fix was taken.
        #expect((verdict?["suggestion"] as? [String: Any])?["taken"] as? [Int] == [0], "\(shown)")
        #expect(try cairn("show", paths[0]).stdout.contains("took 1 of 1 suggestion, 1 as proposed (run "))
    }

    /// `--suggest RUN` draws the run's boxes dashed on each image; `a` takes them one by one
    /// (highest score first) and enter saves the annotator's set.
    @Test(.enabled(if: Tmux.available)) func suggestionsAreTakenOneKeyEach() throws {
        let dir = try TemporaryDirectory("cairn-e2e-box-suggest")
        defer { dir.remove() }
        let (repo, paths) = try predictedRepository(dir)
        let session = "cairn-box-suggest-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 140 -y 40 '\(CLI.binary) -C \(repo) label --boxes --suggest det --annotator bob --overlap 2; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "2 suggested (dashed)")
        #expect(first.contains("0 boxes") && first.contains(paths[0]), "\(first)")
        Tmux.run("send-keys -t \(session) a")
        #expect(Tmux.waitFor(session, "1 suggested").contains("selected: cat"))
        Tmux.run("send-keys -t \(session) a")
        let both = Tmux.waitFor(session, "2 boxes")
        #expect(both.contains("selected: dog"), "\(both)")
        Tmux.run("send-keys -t \(session) a")
        #expect(Tmux.waitFor(session, "no more suggestions").contains("no more suggestions on this image"))
        // The dog taken is deleted again: the set keeps one box as the model proposed it.
        Tmux.run("send-keys -t \(session) x")
        _ = Tmux.waitFor(session, "1 box")
        Tmux.run("send-keys -t \(session) Enter")
        _ = Tmux.waitFor(session, "done 1 /")
        Tmux.run("send-keys -t \(session) a Enter")
        let end = Tmux.waitFor(session, "EXITED")
        #expect(end.contains("saved boxes on 2 images as bob") && end.contains("EXITED 0"), "\(end)")
        let shown = try CLI.run(["-C", repo, "show", paths[0], "--json"]).jsonObject()
        let bob = ((shown["boxes"] as? [String: Any])?["annotations"] as? [[String: Any]])?.first { $0["person"] as? String == "bob" }
        #expect((bob?["boxes"] as? [[String: Any]])?.compactMap { $0["className"] as? String } == ["cat"], "\(shown)")
        // Provenance: both proposals shown, both taken, one kept as proposed.
        let drawn = (shown["boxHistory"] as? [[String: Any]])?.last { $0["person"] as? String == "bob" }?["suggestion"] as? [String: Any]
        #expect((drawn?["fixes"] as? [Any])?.count == 2 && drawn?["taken"] as? [Int] == [0, 1], "\(shown)")
        let text = try CLI.run(["-C", repo, "show", paths[0]]).stdout
        #expect(text.contains("took 2 of 2 suggestions, 1 as proposed (run "), "\(text)")
        #expect(try CLI.run(["-C", repo, "show", paths[1]]).stdout.contains("took 1 of 1 suggestion, 1 as proposed (run "))
    }

    /// `--queue uncertain --run RUN` serves the image whose least sure box is least sure first
    /// (|2·score − 1|: 0.60 for the dog at 0.8, against 0.80 for a lone cat at 0.9).
    @Test(.enabled(if: Tmux.available)) func theUncertaintyQueueServesTheLeastSureImageFirst() throws {
        let dir = try TemporaryDirectory("cairn-e2e-box-uncertain")
        defer { dir.remove() }
        let (repo, paths) = try predictedRepository(dir)
        let session = "cairn-box-uncertain-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("new-session -d -s \(session) -x 140 -y 40 '\(CLI.binary) -C \(repo) label --boxes --queue uncertain --run det --explore 0 "
                 + "--annotator bob --overlap 2; echo EXITED $?; sleep 30'")
        let first = Tmux.waitFor(session, "model certainty")
        #expect(first.contains(paths[0]) && first.contains("model certainty 0.60"), "\(first)")
        Tmux.run("send-keys -t \(session) Enter")
        let second = Tmux.waitFor(session, "model certainty 0.80")
        #expect(second.contains(paths[1]), "\(second)")
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))
    }
}
