import CairnImaging
import CairnTestSupport
import Foundation
import Glibc
import Testing

/// Promises a user relies on (class indices, keys, labels kept, undecodable images, conflicts, clear answers), each through the real binary.
@Suite struct TrustCLITests {
    /// A repository in a fresh directory; `cairn` runs commands in it.
    private struct Sandbox {
        let dir: TemporaryDirectory
        var root: String { dir.appending("repo") }

        init(_ label: String) throws {
            dir = try TemporaryDirectory("cairn-trust-\(label)")
            #expect(try CLI.run(["init", root]).status == 0)
        }

        @discardableResult
        func cairn(_ arguments: String..., stdin: String? = nil, env: [String: String] = [:]) throws -> CommandResult {
            try CLI.run(["-C", root] + arguments, stdin: stdin.map { Data($0.utf8) }, environment: env)
        }
    }

    /// PyTorch's ImageFolder numbers the folders of each split in sorted order: every split must
    /// hold every class's folder, in the order classes.txt gives, and nothing else.
    @Test func imageFolderCheckoutGivesEveryClassTheSameIndexInEverySplit() throws {
        let r = try Sandbox("imagefolder")
        defer { r.dir.remove() }
        // Three classes; "rare" has a single image, so at most one split has any.
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 30, classes: ["cat", "dog"])
        try FileManager.default.createDirectory(atPath: r.dir.appending("in/rare"), withIntermediateDirectories: true)
        try SyntheticImages.png(seed: 999).write(to: URL(fileURLWithPath: r.dir.appending("in/rare/r.png")))
        try SyntheticImages.png(seed: 998).write(to: URL(fileURLWithPath: r.dir.appending("in/loose.png")))
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "x")
        let out = r.dir.appending("out")
        let checkout = try r.cairn("checkout", "HEAD", out)
        #expect(checkout.status == 0, "\(checkout)")
        let classes = try String(contentsOfFile: out + "/classes.txt", encoding: .utf8)
        #expect(classes == "cat\ndog\nrare\n")
        for split in ["train", "val", "test"] {
            // torchvision's find_classes: sorted names of the directories in the split folder.
            let folders = try FileManager.default.contentsOfDirectory(atPath: out + "/" + split).sorted()
            #expect(folders == ["cat", "dog", "rare"], "\(split): \(folders)")
        }
        // The unlabeled image is outside the splits, where no loader takes it for a class.
        let unlabeled = try FileManager.default.subpathsOfDirectory(atPath: out + "/_unlabeled").filter { $0.hasSuffix(".png") }
        #expect(unlabeled.count == 1)
        // Small images are packed: a hard-linked checkout writes them out and says how many.
        let linked = try r.cairn("checkout", "HEAD", r.dir.appending("linked"), "--link", "hardlink", "--json").jsonObject()
        #expect(linked["notLinked"] as? Int == 32 && linked["linked"] as? Int == 0, "\(linked)")
        let said = try r.cairn("checkout", "HEAD", r.dir.appending("linked2"), "--link", "symlink")
        #expect(said.stderr.contains("32 of 32 files were written out, not linked"), "\(said)")
    }

    @Test func classKeysFollowOneKeyNamesAndClassesShowsTheKeysInUse() throws {
        let r = try Sandbox("keys")
        defer { r.dir.remove() }
        #expect(try r.cairn("import", "--labels-from-dirs", Fixtures.digits).status == 0)
        let classes = try r.cairn("classes", "--json").jsonArray()
        // The digit 0 is labeled with 0, not with 1 (pressing 0 on a zero recorded 9 before).
        for entry in classes { #expect(entry["key"] as? String == entry["name"] as? String, "\(entry)") }
        #expect(try r.cairn("classes", "key", "3", "x").status == 0)
        #expect(try r.cairn("classes", "key", "4", "x").stderr.contains("already used by class 3"))
        #expect(try r.cairn("classes", "key", "4", "q").status != 0)
        // A remap in config.toml is the key the UI uses, and `classes` says so.
        let config = r.root + "/.cairn/config.toml"
        try (String(contentsOfFile: config, encoding: .utf8) + "\n[keys.classes]\n\"5\" = \"f\"\n").write(toFile: config, atomically: true, encoding: .utf8)
        let listed = try r.cairn("classes")
        #expect(listed.stdout.contains("[x]  3\n") && listed.stdout.contains("[f]  5  (remapped in config.toml)"), "\(listed)")
    }

    @Test func importingTheSameBytesUnderAnotherLabelKeepsTheLabel() throws {
        let r = try Sandbox("dups")
        defer { r.dir.remove() }
        let input = r.dir.appending("in")
        try SyntheticImages.writeImageFolder(at: input, count: 4, classes: ["cat", "dog"])
        #expect(try r.cairn("import", "--labels-from-dirs", input).status == 0)
        // The same bytes as cat/0000.png, now under dog/.
        let copies = r.dir.appending("copies")
        try FileManager.default.createDirectory(atPath: copies + "/dog", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: input + "/cat/0000.png", toPath: copies + "/dog/same.png")
        let again = try r.cairn("import", "--labels-from-dirs", copies, "--json")
        #expect(again.status == 0, "\(again)")
        let duplicates = try again.jsonObject()["duplicateLabels"] as? [[String: Any]] ?? []
        #expect(duplicates.count == 1 && duplicates.first?["existingLabel"] as? String == "cat" && duplicates.first?["label"] as? String == "dog")
        #expect(try r.cairn("show", "in/cat/0000.png", "--json").jsonObject()["label"] as? String == "cat")
        let text = try r.cairn("import", "--labels-from-dirs", copies)
        #expect(text.stderr.isEmpty, "unchanged files are not listed again: \(text)")
        // --relabel applies it (as import's own label, so the item is now a conflict only if others disagree).
        try FileManager.default.copyItem(atPath: input + "/cat/0002.png", toPath: copies + "/dog/same2.png")
        let relabeled = try r.cairn("import", "--labels-from-dirs", copies, "--relabel", "--json")
        let left = try relabeled.jsonObject()["duplicateLabels"] as? [Any] ?? []
        #expect(left.isEmpty, "\(relabeled)")
        #expect(try r.cairn("show", "in/cat/0002.png", "--json").jsonObject()["label"] as? String == "dog")
    }

    /// An image imported with --no-verify that does not decode: listed, left out of training
    /// (counted and named), and never mistaken for store damage.
    @Test func undecodableImagesAreListedAndLeftOutOfTraining() throws {
        let r = try Sandbox("undecodable")
        defer { r.dir.remove() }
        let input = r.dir.appending("in")
        try SyntheticImages.writeImageFolder(at: input, count: 40, classes: ["cat", "dog"])
        let good = try Data(contentsOf: URL(fileURLWithPath: input + "/cat/0000.png"))
        try good.prefix(good.count - 30).write(to: URL(fileURLWithPath: input + "/cat/0000.png"))  // IDAT cut short
        #expect(try r.cairn("import", "--labels-from-dirs", input).status == 2)  // verified import rejects it
        #expect(try r.cairn("import", "--labels-from-dirs", input, "--no-verify").status == 0)
        let listed = try r.cairn("ls", "--undecodable", "--json").jsonArray()
        #expect(listed.count == 1 && listed.first?["path"] as? String == "in/cat/0000.png" && listed.first?["problem"] != nil)
        #expect(try r.cairn("fsck").status == 0)  // the bytes are intact
        try r.cairn("snapshot", "-m", "x")
        let train = try r.cairn("train", "--data", "HEAD", "--epochs", "1", "--size", "8x8", "--threads", "1")
        #expect(train.status == 0, "\(train)")
        #expect(train.stdout.contains("1 undecodable images left out") && train.stderr.contains("in/cat/0000.png"), "\(train)")
    }

    @Test func conflictsAreCountedApartFromUnlabeledItems() throws {
        let r = try Sandbox("conflicts")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 6, classes: ["cat", "dog"])
        try SyntheticImages.png(seed: 500).write(to: URL(fileURLWithPath: r.dir.appending("in/loose.png")))
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("annotate", "in/cat/0000.png", "--class", "dog", "--annotator", "ada")
        #expect(try r.cairn("ls", "--unlabeled", "--json").jsonArray().map { $0["path"] as? String } == ["in/loose.png"])
        #expect(try r.cairn("ls", "--conflicting", "--json").jsonArray().map { $0["path"] as? String } == ["in/cat/0000.png"])
        let status = try r.cairn("status", "--json").jsonObject()
        #expect(status["unlabeled"] as? Int == 1 && status["conflicts"] as? Int == 1)
        #expect(try r.cairn("snapshot", "-m", "x").stdout.contains("1 unlabeled, 1 with conflicting labels"))
        #expect(try r.cairn("export", "HEAD", "--format", "csv", r.dir.appending("csv")).status == 0)
        let csv = try String(contentsOfFile: r.dir.appending("csv/labels.csv"), encoding: .utf8)
        #expect(csv.contains(",in/cat/0000.png,conflict\n") && csv.contains(",in/loose.png,unlabeled\n"), "\(csv)")
    }

    @Test func clearAnswersToCommonMistakes() throws {
        let r = try Sandbox("answers")
        defer { r.dir.remove() }
        // An empty directory holds no images: said, exit 2.
        try FileManager.default.createDirectory(atPath: r.dir.appending("empty"), withIntermediateDirectories: true)
        let empty = try r.cairn("import", r.dir.appending("empty"))
        #expect(empty.status == 2 && empty.stderr.contains("found no files to import"), "\(empty)")
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 8, classes: ["cat", "dog"])
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        // Usage errors: one style, exit 64, a suggestion.
        let typo = try CLI.run(["stauts"])
        #expect(typo.status == 64 && typo.stderr.hasPrefix("cairn: error: 'stauts' is not a cairn command; did you mean 'status'?"), "\(typo)")
        let help = try CLI.run(["help", "nosuch"])
        #expect(help.status == 64 && help.stderr.hasPrefix("cairn: error:"), "\(help)")
        let missing = try r.cairn("tag")
        #expect(missing.status == 64 && missing.stderr.hasPrefix("cairn: error: missing expected argument"), "\(missing)")
        // A negative learning rate reaches the learning-rate check: a usage error, and no run recorded.
        try r.cairn("snapshot", "-m", "x")
        let lr = try r.cairn("train", "--data", "HEAD", "--lr", "-1")
        #expect(lr.status == 64 && lr.stderr.contains("--lr must be a positive number"), "\(lr)")
        #expect(try r.cairn("runs", "--json").jsonArray().isEmpty)
        // A short prefix is named as such.
        let short = try r.cairn("show", "6fa")
        #expect(short.stderr.contains("give 4 or more hex digits"), "\(short)")
        #expect(try r.cairn("snapshot", "-m", "").status == 64)
        // With $USER unset, a command that records a person records the Unix account running it.
        let account = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "?"
        let nobody = try CLI.run(["-C", r.root, "annotate", "in/cat/0000.png", "--class", "dog"], environment: ["USER": ""])
        #expect(nobody.status == 0 && nobody.stdout.contains("for \(account)"), "\(nobody)")
        let history = try r.cairn("show", "in/cat/0000.png", "--json").jsonObject()["history"] as? [[String: Any]] ?? []
        #expect(!history.contains { $0["annotator"] as? String == "unknown" })
        // annotate --stdin reports an unknown item on its line and goes on.
        let stream = try r.cairn("annotate", "--stdin", "--annotator", "bot", stdin: "in/cat/0000.png dog\nnope.png cat\nin/dog/0001.png cat\n")
        #expect(stream.status == 2 && stream.stderr.contains("line 2: skipped") && stream.stdout.contains("ok in/dog/0001.png cat"), "\(stream)")
        // Help paragraphs are not hard-wrapped raggedly and show each default once.
        let trainHelp = try CLI.run(["help", "train"]).stdout
        #expect(!trainHelp.contains("(default: all cores). (default:"), "\(trainHelp)")
        #expect(trainHelp.contains("Train, val and test are the snapshot's splits"), "\(trainHelp)")
        // Shell completions name the repository's tags.
        try r.cairn("tag", "v1")
        let completed = try CLI.run(["---completion", "log", "--", "positional@0", "2", "0", "cairn", "log", ""], in: r.root)
        #expect(completed.stdout.split(separator: "\n").contains("v1") && completed.stdout.contains("HEAD"), "\(completed)")
    }

    @Test func diffNamesWhatChangedInPathAndProvenance() throws {
        let r = try Sandbox("diff")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 4, classes: ["cat", "dog"])
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "one")
        try r.cairn("annotate", "in/cat/0000.png", "--class", "cat", "--annotator", "ada")  // agrees: provenance only
        try r.cairn("snapshot", "-m", "two")
        let diff = try r.cairn("diff", "HEAD~1", "HEAD")
        #expect(diff.stdout.contains("ada: cat (new)") && diff.stdout.contains("in/cat/0000.png"), "\(diff)")
    }

    @Test func predictReportsABadFileAndReadsDirectories() throws {
        let r = try Sandbox("predict")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 20, classes: ["cat", "dog"])
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "one")
        #expect(try r.cairn("train", "--data", "HEAD", "--epochs", "1", "--size", "8x8", "--name", "m").status == 0)
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: r.dir.appending("bad.png")))
        let mixed = try r.cairn("predict", "m", r.dir.appending("in/cat/0000.png"), r.dir.appending("bad.png"))
        #expect(mixed.status == 2 && mixed.stdout.contains("0000.png") && mixed.stderr.contains("bad.png"), "\(mixed)")
        let folder = try r.cairn("predict", "m", r.dir.appending("in/dog"), "--json")
        let predicted = try folder.jsonArray()
        #expect(folder.status == 0 && predicted.count == 10, "\(folder)")
    }

    @Test func theFitVerdictSaysWhatItCanMeasure() throws {
        let r = try Sandbox("verdict")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 20, classes: ["cat", "dog"])
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "one")
        let overfit = try r.cairn("train", "--data", "HEAD", "--overfit-batch", "--size", "8x8", "--json").jsonObject()
        let diagnosis = overfit["diagnosis"] as? [String: Any]
        #expect(diagnosis?["verdict"] as? String == "overfitCheck", "\(String(describing: diagnosis))")
    }
}
