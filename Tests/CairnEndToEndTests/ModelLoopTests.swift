import CairnImaging
import CairnTestSupport
import Foundation
import Testing

/// The model in the loop through the real binary: suggestions and the uncertain queue in `cairn
/// label` (through tmux), background retraining, `cairn queue`, `suspects`, `check`, and the health
/// figures `log` and `diff` show.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct ModelLoopTests {
    /// Digits 0, 1 and 7 of sample-data: `labeled` of each imported with their folder as label
    /// (after `flips` moves files into another class's folder), and `unlabeled` more of each with no
    /// label. Returns the repository; its input folders are beside it.
    static func digits(_ dir: TemporaryDirectory, labeled: Int = 30, unlabeled: Int = 15,
                       flips: [(from: String, to: String, count: Int)] = []) throws -> String {
        let fm = FileManager.default
        let (lab, unl) = (dir.appending("lab"), dir.appending("unl"))
        try fm.createDirectory(atPath: unl, withIntermediateDirectories: true)
        for digit in ["0", "1", "7"] {
            try fm.createDirectory(atPath: "\(lab)/\(digit)", withIntermediateDirectories: true)
            let files = try fm.contentsOfDirectory(atPath: "\(Fixtures.digits)/\(digit)").sorted()
            for file in files.prefix(labeled) { try fm.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(file)", toPath: "\(lab)/\(digit)/\(file)") }
            for file in files.dropFirst(labeled).prefix(unlabeled) {
                try fm.copyItem(atPath: "\(Fixtures.digits)/\(digit)/\(file)", toPath: "\(unl)/d\(digit)_\(file)")
            }
        }
        for flip in flips {
            for file in try fm.contentsOfDirectory(atPath: "\(lab)/\(flip.from)").sorted().prefix(flip.count) {
                try fm.moveItem(atPath: "\(lab)/\(flip.from)/\(file)", toPath: "\(lab)/\(flip.to)/flipped-\(flip.from)-\(file)")
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: lab, labelsFromDirectories: true)
        if unlabeled > 0 { #expect(try CLI.run(["-C", repo, "import", unl]).status == 0) }
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "digits"]).status == 0)
        return repo
    }

    private func train(_ repo: String, name: String = "m") throws {
        let result = try CLI.run(["-C", repo, "train", "--data", "HEAD", "--name", name, "--model", "softmax", "--epochs", "20", "--threads", "1"])
        #expect(result.status == 0, "\(result)")
    }

    private func queue(_ repo: String, _ args: String...) throws -> [[String: Any]] {
        let result = try CLI.run(["-C", repo, "queue"] + args + ["--json"])
        #expect(result.status == 0, "\(result)")
        return try result.jsonArray()
    }

    private func startLabel(_ session: String, repo: String, _ extra: String) {
        Tmux.run("kill-session -t \(session) 2>/dev/null")
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --annotator ada \(extra); echo EXITED $?; sleep 30'")
    }

    private func history(_ repo: String, _ path: String) throws -> [[String: Any]] {
        try CLI.run(["-C", repo, "show", path, "--json"]).jsonObject()["history"] as? [[String: Any]] ?? []
    }

    /// The uncertain queue serves the smallest margin first, with the top suggestion and its
    /// probability beside the image; Enter records it with "accepted" provenance, a class key with
    /// the suggestions shown but not accepted; --blind shows none.
    @Test(.enabled(if: Tmux.available)) func suggestionsAreShownTakenAndRecorded() throws {
        let dir = try TemporaryDirectory("cairn-e2e-suggest")
        defer { dir.remove() }
        let repo = try Self.digits(dir)
        try train(repo)
        // The queue's order without random items: margins never decrease; all 45 unlabeled items.
        let ordered = try queue(repo, "uncertain", "--explore", "0", "-n", "100")
        let margins = ordered.compactMap { $0["margin"] as? Double }
        #expect(ordered.count == 45 && margins.count == 45 && margins == margins.sorted(), "\(margins)")
        #expect(ordered.allSatisfy { $0.keys.contains("label") && $0["label"] is NSNull })
        // With the default share of random items, some are marked and the rest keep the order.
        let mixed = try queue(repo, "uncertain", "-n", "45")
        let explored = mixed.filter { $0["explore"] as? Bool == true }
        let rest = mixed.filter { $0["explore"] as? Bool == false }.compactMap { $0["margin"] as? Double }
        #expect(!explored.isEmpty && explored.count < 10 && rest == rest.sorted(), "\(mixed)")

        let first = try #require(mixed.first)
        let firstPath = try #require(first["path"] as? String)
        let top = try #require((first["suggestions"] as? [[String: Any]])?.first)
        let (topClass, topProbability) = (try #require(top["className"] as? String), try #require(top["probability"] as? Double))

        let session = "cairn-suggest-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, "--suggest --queue uncertain")
        let screen = Tmux.waitFor(session, "done 0 /")
        #expect(screen.contains("suggested") && screen.contains(firstPath), "\(screen)")
        #expect(screen.contains(String(format: "enter  %@  %.1f%%", topClass, topProbability * 100)), "\(screen)")
        Tmux.run("send-keys -t \(session) Enter")
        let second = Tmux.waitFor(session, "done 1 /")
        let secondPath = try #require(mixed.dropFirst().first?["path"] as? String)
        #expect(second.contains(secondPath), "\(second)")
        Tmux.run("send-keys -t \(session) 0")  // a class key, whatever was suggested
        Tmux.waitFor(session, "done 2 /")
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))

        let accepted = try #require(try history(repo, firstPath).first)
        let shown = try #require(accepted["suggestion"] as? [String: Any])
        #expect(accepted["label"] as? String == topClass && shown["accepted"] as? Bool == true)
        #expect((shown["candidates"] as? [[String: Any]])?.count == 3)
        let overruled = try #require(try history(repo, secondPath).first)
        #expect(overruled["label"] as? String == "0" && (overruled["suggestion"] as? [String: Any])?["accepted"] as? Bool == false)
        let text = try CLI.run(["-C", repo, "show", firstPath])
        #expect(text.stdout.contains("took a suggestion (\(topClass) "), "\(text)")

        startLabel(session, repo: repo, "--suggest --blind --queue uncertain")
        let blind = Tmux.waitFor(session, "done 0 /")
        #expect(!blind.contains("suggested") && !blind.contains("take a suggestion"), "\(blind)")
        Tmux.run("send-keys -t \(session) 1")
        Tmux.waitFor(session, "done 1 /")
        Tmux.run("send-keys -t \(session) q")
        Tmux.waitFor(session, "EXITED")
    }

    /// --retrain-every 3: after three labels a new run (pinned to a new snapshot) orders the queue
    /// while keys keep flowing; a retrain that fails is reported on the status line and labeling
    /// goes on.
    @Test(.enabled(if: Tmux.available)) func backgroundRetrainReordersTheQueueAndFailuresAreShown() throws {
        let dir = try TemporaryDirectory("cairn-e2e-retrain")
        defer { dir.remove() }
        let repo = try Self.digits(dir)
        try train(repo)
        let session = "cairn-retrain-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        startLabel(session, repo: repo, "--suggest --queue uncertain --retrain-every 3")
        Tmux.waitFor(session, "done 0 /")
        for (i, key) in ["1", "7", "0"].enumerated() {
            Tmux.run("send-keys -t \(session) \(key)")
            Tmux.waitFor(session, "done \(i + 1) /")
        }
        let retrained = Tmux.waitFor(session, "retrained after 3 labels")
        // Keys were never held up: one more label goes through at once.
        Tmux.run("send-keys -t \(session) 1")
        Tmux.waitFor(session, "done 4 /")
        let runs = try CLI.run(["-C", repo, "runs", "--json"]).jsonArray()
        let newRun = try #require(runs.first { $0["name"] as? String == "m-r1" })
        let newID = try #require(newRun["id"] as? String)
        #expect(retrained.contains("order: run \(newID.prefix(12))") && retrained.contains("run \(newID.prefix(12))"), "\(retrained)")
        #expect(newRun["snapshotID"] as? String != runs.first { $0["name"] as? String == "m" }?["snapshotID"] as? String)

        // The next retrain cannot write its snapshot: the status line says so, labeling goes on.
        let tmp = "\(repo)/.cairn/tmp"
        try FileManager.default.removeItem(atPath: tmp)
        #expect(FileManager.default.createFile(atPath: tmp, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: tmp); try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true) }
        for i in 5...7 {
            Tmux.run("send-keys -t \(session) 7")
            Tmux.waitFor(session, "done \(i) /")
        }
        let failed = Tmux.waitFor(session, "retraining failed")
        // The cause, on the status line (wrapped at the terminal's width).
        #expect(failed.replacingOccurrences(of: "\n", with: "").contains("Not a directory"), "\(failed)")
        Tmux.run("send-keys -t \(session) 0")
        Tmux.waitFor(session, "done 8 /")
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))
        // A repository whose tmp is not a directory is refused by name until it is mended.
        let refused = try CLI.run(["-C", repo, "status"])
        #expect(refused.status != 0 && refused.stderr.contains("tmp is not a real directory"), "\(refused)")
        try FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        #expect(status["unlabeled"] as? Int == 45 - 8, "\(status)")
    }

    /// A class with fewer labeled items than folds is left out and named; the rest are still checked.
    @Test func suspectsLeaveOutAClassTooSmallToCheck() throws {
        let dir = try TemporaryDirectory("cairn-e2e-suspects-small")
        defer { dir.remove() }
        let repo = try Self.digits(dir, labeled: 20, unlabeled: 0)
        let rare = dir.appending("rare/9")
        try FileManager.default.createDirectory(atPath: rare, withIntermediateDirectories: true)
        let one = try #require(try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/9").sorted().first)
        try FileManager.default.copyItem(atPath: "\(Fixtures.digits)/9/\(one)", toPath: rare + "/" + one)
        #expect(try CLI.run(["-C", repo, "import", "--labels-from-dirs", dir.appending("rare")]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "with one nine"]).status == 0)
        var result = try CLI.run(["-C", repo, "suspects", "--data", "HEAD"])
        #expect(result.status == 0 && result.stdout.contains("not checked (fewer labeled items than --folds 5): 9 (1)"), "\(result)")
        result = try CLI.run(["-C", repo, "suspects", "--data", "HEAD", "--json"])
        let report = try result.jsonObject()
        #expect(report["items"] as? Int == 60 && (report["tooFewToCheck"] as? [String: Int]) == ["9": 1], "\(report)")
    }

    /// Six labels planted in the wrong class folder are flagged, with the right class suggested;
    /// `log` shows the noise estimate.
    @Test func suspectsFindPlantedFlips() throws {
        let dir = try TemporaryDirectory("cairn-e2e-suspects")
        defer { dir.remove() }
        let repo = try Self.digits(dir, labeled: 60, unlabeled: 0, flips: [("0", "7", 2), ("1", "0", 2), ("7", "1", 2)])
        let result = try CLI.run(["-C", repo, "suspects", "--data", "HEAD", "--json"])
        #expect(result.status == 0, "\(result)")
        let report = try result.jsonObject()
        let suspects = report["suspects"] as? [[String: Any]] ?? []
        let flagged = suspects.filter { ($0["path"] as? String ?? "").contains("flipped-") }
        #expect(flagged.count >= 5 && suspects.count <= 8, "\(suspects)")
        for suspect in flagged {
            // "flipped-0-…" in folder 7: given 7, the model says 0.
            let name = (suspect["path"] as? String ?? "").split(separator: "/").last.map(String.init) ?? ""
            #expect(suspect["suggested"] as? String == String(name.dropFirst("flipped-".count).prefix(1)), "\(suspect)")
        }
        #expect((report["estimatedNoise"] as? Double ?? 0) > 0)
        let log = try CLI.run(["-C", repo, "log"]).stdout
        #expect(log.contains("health: estimated noise") && log.contains("(mlp, 5 folds)"), "the log says what estimated it: \(log)")
        // The suspects queue serves them, lowest score first.
        let served = try queue(repo, "suspects", "--annotator", "grace", "-n", "100")
        #expect(served.count == suspects.count && served.first?["given"] != nil, "\(served)")
    }

    /// `label --queue suspects` brings the flags to a reviewer, most suspicious first: enter records
    /// the suggested class as the verdict, backspace keeps the given label (one key each).
    @Test(.enabled(if: Tmux.available)) func aReviewerAcceptsOrKeepsSuspectsWithOneKey() throws {
        let dir = try TemporaryDirectory("cairn-e2e-suspects-ui")
        defer { dir.remove() }
        let repo = try Self.digits(dir, labeled: 60, unlabeled: 0, flips: [("0", "7", 2), ("1", "0", 2), ("7", "1", 2)])
        #expect(try CLI.run(["-C", repo, "suspects", "--data", "HEAD"]).status == 0)
        #expect(try CLI.run(["-C", repo, "annotators", "add", "grace", "--role", "reviewer"]).status == 0)
        let served = try queue(repo, "suspects", "--annotator", "grace", "-n", "2")
        let (first, second) = (try #require(served.first), try #require(served.dropFirst().first))
        let session = "cairn-suspects-\(getpid())"
        defer { Tmux.run("kill-session -t \(session)") }
        Tmux.run("kill-session -t \(session) 2>/dev/null")
        Tmux.run("new-session -d -s \(session) -x 120 -y 40 '\(CLI.binary) -C \(repo) label --annotator grace --queue suspects; echo EXITED $?; sleep 30'")
        #expect(Tmux.waitFor(session, "done 0 /").contains(first["path"] as? String ?? "?"))
        Tmux.run("send-keys -t \(session) Enter")
        #expect(Tmux.waitFor(session, "done 1 /").contains(second["path"] as? String ?? "?"))
        Tmux.run("send-keys -t \(session) BSpace")
        Tmux.waitFor(session, "done 2 /")
        Tmux.run("send-keys -t \(session) q")
        #expect(Tmux.waitFor(session, "EXITED").contains("EXITED 0"))
        func verdict(_ entry: [String: Any]) throws -> String? {
            let shown = try CLI.run(["-C", repo, "show", entry["path"] as? String ?? "", "--json"]).jsonObject()
            return (shown["verdicts"] as? [[String: Any]])?.last?["label"] as? String
        }
        #expect(try verdict(first) == first["suggested"] as? String, "\(first)")
        #expect(try verdict(second) == second["given"] as? String, "\(second)")
    }

    /// Darkened, shifted copies of ten images are found across splits; a clean set has no leaks;
    /// `diff` shows the change.
    @Test func checkFindsPlantedNearCopiesAndNothingInACleanSet() throws {
        let dir = try TemporaryDirectory("cairn-e2e-check")
        defer { dir.remove() }
        let repo = try Self.digits(dir, labeled: 60, unlabeled: 0)
        let clean = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--json"])
        #expect(clean.status == 0, "\(clean)")
        #expect(try clean.jsonObject()["leakCount"] as? Int == 0, "\(clean)")

        // Copies: x0.8 brightness, shifted one pixel right (the edge repeated).
        let copies = dir.appending("copies")
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        let originals = try FileManager.default.contentsOfDirectory(atPath: "\(Fixtures.digits)/7").sorted().prefix(10)
        for file in originals {
            let image = try ImageCodec.decode(Data(contentsOf: URL(fileURLWithPath: "\(Fixtures.digits)/7/\(file)")))
            var pixels = [UInt8](repeating: 0, count: image.width * image.height)
            for y in 0..<image.height {
                for x in 0..<image.width {
                    pixels[y * image.width + x] = UInt8(Double(image.pixels[(y * image.width + max(0, x - 1)) * image.channels]) * 0.8)
                }
            }
            let copy = PixelBuffer(width: image.width, height: image.height, channels: 1, pixels: pixels)
            try ImageCodec.encodePNG(copy).write(to: URL(fileURLWithPath: "\(copies)/copy-\(file)"))
        }
        #expect(try CLI.run(["-C", repo, "import", copies]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "with copies"]).status == 0)
        let items = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray()
        let split = Dictionary(items.map { (($0["path"] as? String ?? ""), ($0["split"] as? String ?? "")) }, uniquingKeysWith: { a, _ in a })
        let across = Set(originals.filter { split["lab/7/\($0)"] != split["copies/copy-\($0)"] }.map { "copies/copy-\($0)" })
        let report = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--json"]).jsonObject()
        let leaks = report["leaks"] as? [[String: Any]] ?? []
        let found = Set(leaks.compactMap { ($0["paths"] as? [String])?.first { $0.hasPrefix("copies/") } })
        #expect(found == across && report["leakCount"] as? Int == across.count, "\(leaks) vs \(across)")
        for leak in leaks {
            let paths = leak["paths"] as? [String] ?? []
            let splits = leak["splits"] as? [String] ?? []
            #expect(paths.count == 2 && splits.count == 2 && splits[0] != splits[1], "\(leak)")
            #expect(paths.contains { $0.hasPrefix("lab/7/") }, "\(leak)")
        }
        let diff = try CLI.run(["-C", repo, "diff", "HEAD~1", "HEAD"])
        #expect(diff.stdout.contains("leaks 0 -> \(across.count)"), "\(diff)")
        // A check at another threshold is recorded with it, and the log and diff say so.
        #expect(try CLI.run(["-C", repo, "check", "--data", "HEAD", "--threshold", "0.2"]).status == 0)
        #expect(try CLI.run(["-C", repo, "log", "-n1"]).stdout.contains("(threshold 0.2)"))
        let rediff = try CLI.run(["-C", repo, "diff", "HEAD~1", "HEAD"])
        #expect(rediff.stdout.contains("thresholds 0.01 and 0.2"), "\(rediff)")
    }

    /// Photos (larger than 32 pixels) are compared at 64 pixels with the photos' threshold: colour
    /// textures of 96 pixels and their copies shifted by one pixel (two thirds of a thumbnail
    /// pixel) are found across splits, and the textures are not grouped with each other.
    @Test func checkFindsShiftedCopiesOfPhotos() throws {
        let dir = try TemporaryDirectory("cairn-e2e-check-photos")
        defer { dir.remove() }
        let tree = dir.appending("photos")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        var state: UInt64 = 11
        func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        let side = 100
        for n in 0..<12 {
            // Noise smoothed by a 5x5 box, in three channels; the copy reads one pixel to the left.
            let noise = (0..<(side * side * 3)).map { _ in uniform() }
            func smooth(_ x: Int, _ y: Int, _ c: Int) -> UInt8 {
                var sum = 0.0
                for dy in -2...2 { for dx in -2...2 { sum += noise[((min(side - 1, max(0, y + dy))) * side + min(side - 1, max(0, x + dx))) * 3 + c] } }
                return UInt8(40 + 175 * min(1, max(0, (sum / 25 - 0.5) * 3 + 0.5)))
            }
            for (name, shift) in [("t\(n).png", 0), ("t\(n)-copy.png", 1)] {
                var pixels = [UInt8]()
                for y in 2..<(side - 2) { for x in 2..<(side - 2) { for c in 0..<3 { pixels.append(smooth(x - shift, y, c)) } } }
                try ImageCodec.encodePNG(PixelBuffer(width: side - 4, height: side - 4, channels: 3, pixels: pixels)).write(to: URL(fileURLWithPath: "\(tree)/\(name)"))
            }
        }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: tree, labelsFromDirectories: false)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "photos"]).status == 0)
        let items = try CLI.run(["-C", repo, "ls", "--json"]).jsonArray()
        let split = Dictionary(items.map { (($0["path"] as? String ?? ""), ($0["split"] as? String ?? "")) }, uniquingKeysWith: { a, _ in a })
        let across = Set((0..<12).filter { split["photos/t\($0).png"] != split["photos/t\($0)-copy.png"] }.map { "photos/t\($0)-copy.png" })
        let report = try CLI.run(["-C", repo, "check", "--data", "HEAD", "--json"]).jsonObject()
        #expect(report["threshold"] as? Double == 0.016, "\(report)")
        let leaks = report["leaks"] as? [[String: Any]] ?? []
        let found = Set(leaks.compactMap { ($0["paths"] as? [String])?.first { $0.hasSuffix("-copy.png") } })
        #expect(!across.isEmpty && found == across && leaks.count == across.count, "\(leaks) vs \(across)")
    }

    /// What cannot work says why, and nothing is recorded.
    @Test func badInputGetsClearErrors() throws {
        let dir = try TemporaryDirectory("cairn-e2e-loop-bad")
        defer { dir.remove() }
        let repo = try Self.digits(dir, labeled: 12, unlabeled: 3)
        func fails(_ args: [String], saying text: String) throws {
            let result = try CLI.run(["-C", repo] + args)
            #expect(result.status != 0 && result.stderr.contains(text), "\(args): \(result)")
        }
        try fails(["queue", "uncertain"], saying: "no finished run has this repository's classes")
        try fails(["suspects", "--data", "HEAD", "--folds", "1"], saying: "--folds must be at least 2")
        try fails(["suspects", "--data", "HEAD", "--folds", "13"], saying: "--folds 13 is more than the items of")
        try fails(["check", "--data", "HEAD", "--threshold", "2"], saying: "--threshold is between 0 and 1")
        // A program that left no checkpoint, predictions or embeddings.
        #expect(try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", "empty", "--materialize", "none", "--", "true"]).status == 0)
        try fails(["queue", "uncertain", "--run", "empty"], saying: "no checkpoint, stored predictions or embeddings")
        // A model trained before a class was added.
        try train(repo)
        #expect(try CLI.run(["-C", repo, "classes", "add", "9"]).status == 0)
        try fails(["queue", "uncertain", "--run", "m"], saying: "other classes than this repository has: it lacks 9")
        // A snapshot with one class.
        let single = dir.appending("single")
        try FileManager.default.createDirectory(atPath: "\(single)/0", withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: "\(dir.appending("lab"))/0") {
            try FileManager.default.copyItem(atPath: "\(dir.appending("lab"))/0/\(file)", toPath: "\(single)/0/\(file)")
        }
        let one = try CLI.makeRepository(at: dir.appending("one"), input: single, labelsFromDirectories: true, tag: "v1")
        let result = try CLI.run(["-C", one, "suspects", "--data", "v1"])
        #expect(result.status != 0 && result.stderr.contains("at least two classes"), "\(result)")
        #expect(try CLI.run(["-C", one, "check", "--data", "v1"]).stdout.contains("fewer than two classes in use"))
    }
}
