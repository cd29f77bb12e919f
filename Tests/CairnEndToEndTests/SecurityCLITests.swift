import CairnImaging
import CairnTestSupport
import Foundation
import Testing

/// Hostile files, names and local state, through the real binary: nothing crashes, nothing is planted, and what a terminal shows is escaped.
@Suite struct SecurityCLITests {
    private struct Sandbox {
        let dir: TemporaryDirectory
        var root: String { dir.appending("repo") }

        init(_ label: String) throws {
            dir = try TemporaryDirectory("cairn-sec-\(label)")
            #expect(try CLI.run(["init", root]).status == 0)
        }

        @discardableResult
        func cairn(_ arguments: String..., env: [String: String] = [:]) throws -> CommandResult {
            try CLI.run(["-C", root] + arguments, environment: env)
        }
    }

    /// Escape sequences in the data (a downloaded dataset's folder and file names, a snapshot
    /// message) never reach the terminal raw: shown escaped in text, exact in JSON; names that
    /// would become classes or annotators are refused.
    @Test func escapeSequencesFromTheDataAreShownEscaped() throws {
        let r = try Sandbox("escapes")
        defer { r.dir.remove() }
        let evil = "\u{1B}]0;pwned\u{07}"
        let input = r.dir.appending("in")
        try FileManager.default.createDirectory(atPath: input + "/" + evil, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: input + "/cat", withIntermediateDirectories: true)
        try SyntheticImages.png(seed: 1).write(to: URL(fileURLWithPath: input + "/" + evil + "/a.png"))
        try SyntheticImages.png(seed: 2).write(to: URL(fileURLWithPath: input + "/cat/b\u{1B}[31m.png"))
        let imported = try r.cairn("import", "--labels-from-dirs", input)
        // The folder cannot be a class: that file is rejected with the reason, shown escaped.
        #expect(imported.status == 2 && imported.stderr.contains("contains control characters"), "\(imported)")
        #expect(!imported.stderr.contains("\u{1B}") && imported.stderr.contains("\\e]0;pwned\\a"), "\(imported)")
        try r.cairn("snapshot", "-m", "msg \u{1B}[2J cleared")
        for command in [["ls"], ["show", "in/cat/b\u{1B}[31m.png"], ["log"], ["status"], ["classes"]] {
            let out = try CLI.run(["-C", r.root] + command)
            #expect(out.status == 0, "\(command): \(out)")
            #expect(!out.stdout.contains("\u{1B}") && !out.stderr.contains("\u{1B}"), "\(command) wrote a raw escape: \(out)")
        }
        #expect(try r.cairn("ls").stdout.contains("in/cat/b\\e[31m.png"))
        // JSON stays exact: the path decodes to the real name.
        let listed = try r.cairn("ls", "--json").jsonArray()
        #expect(listed.contains { $0["path"] as? String == "in/cat/b\u{1B}[31m.png" })
        let classAdd = try r.cairn("classes", "add", "x\u{1B}[2Jy")
        #expect(classAdd.status == 1 && classAdd.stderr.contains("control characters") && !classAdd.stderr.contains("\u{1B}"), "\(classAdd)")
        #expect(try r.cairn("annotators", "add", "ada\u{07}").status == 1)
    }

    /// A loose object whose bytes no longer match its id is never handed out by a link: hard link,
    /// symlink and reflink checkouts refuse, naming it, as a copy does.
    @Test func linkedCheckoutsVerifyBeforeLinking() throws {
        let r = try Sandbox("links")
        defer { r.dir.remove() }
        let input = r.dir.appending("in/big")
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        // Over 1 MiB, so stored loose (random pixels do not compress).
        try ImageFiles.png(SyntheticImages.pixels(seed: 9, width: 700, height: 700, channels: 3))
            .write(to: URL(fileURLWithPath: input + "/large.png"))
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "x")
        let objects = r.root + "/.cairn/objects/sha256"
        let fan = try #require(try FileManager.default.contentsOfDirectory(atPath: objects).first)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: objects + "/" + fan).first)
        let path = "\(objects)/\(fan)/\(name)"
        CLI.shell("chmod u+w '\(path)' && printf 'X' | dd of='\(path)' bs=1 seek=100 conv=notrunc 2>/dev/null")
        for mode in ["hardlink", "symlink", "reflink", "copy"] {
            let out = try r.cairn("checkout", "HEAD", r.dir.appending("out-\(mode)"), "--link", mode)
            #expect(out.status == 1 && out.stderr.contains("is corrupt"), "\(mode): \(out)")
        }
    }

    /// A progressive-style JPEG with thousands of scans is refused before decoding, with the reason.
    @Test func jpegScanBombsAreRefusedBeforeDecoding() throws {
        let r = try Sandbox("scans")
        defer { r.dir.remove() }
        let bomb = try scanBomb(scans: 5000)
        try FileManager.default.createDirectory(atPath: r.dir.appending("in"), withIntermediateDirectories: true)
        try bomb.write(to: URL(fileURLWithPath: r.dir.appending("in/bomb.jpg")))
        let imported = try r.cairn("import", r.dir.appending("in"))
        #expect(imported.status == 2 && imported.stderr.contains("scans"), "\(imported)")
        #expect(throws: ImagingError.tooManyScans(scans: 101, limit: 100)) { try ImageCodec.decode(bomb) }
    }

    /// A `.cairn` planted by another user above the caller's work is not used: the command refuses,
    /// naming the owner and how to trust it; marked safe, it works.
    @Test(.enabled(if: getuid() == 0, "changing a directory's owner needs root"))
    func aRepositoryOwnedByAnotherUserIsRefused() throws {
        let r = try Sandbox("owner")
        defer { r.dir.remove() }
        let inside = r.root + "/private"
        try FileManager.default.createDirectory(atPath: inside, withIntermediateDirectories: true)
        try SyntheticImages.png(seed: 3).write(to: URL(fileURLWithPath: inside + "/secret.png"))
        CLI.shell("chown -R 65534:65534 '\(r.root)/.cairn'")
        let refused = try CLI.run(["import", "private"], in: r.root + "/private/..")
        let fromBelow = try CLI.run(["import", "."], in: inside)
        for out in [refused, fromBelow] {
            #expect(out.status == 1 && out.stderr.contains("belongs to") && out.stderr.contains("CAIRN_SAFE_DIRECTORIES"), "\(out)")
        }
        #expect(try CLI.run(["status"], in: inside, environment: ["CAIRN_SAFE_DIRECTORIES": r.root]).status == 0)
    }

    /// ImageFolder export keeps apart a set {cat, dog} and a class named cat+dog, "no class applies"
    /// and a class named _none, unlabeled items and a class named _unlabeled.
    @Test func imageFolderEncodingsAreUnambiguous() throws {
        let r = try Sandbox("folders")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 5, classes: ["cat+dog", "_none", "_unlabeled", "cat", "dog"])
        try SyntheticImages.png(seed: 77).write(to: URL(fileURLWithPath: r.dir.appending("in/x.png")))
        try SyntheticImages.png(seed: 78).write(to: URL(fileURLWithPath: r.dir.appending("in/y.png")))
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("annotate", "in/x.png", "--class", "cat", "--class", "dog", "--annotator", "ada")
        try r.cairn("annotate", "in/y.png", "--none", "--annotator", "ada")
        try r.cairn("snapshot", "-m", "x")
        let out = r.dir.appending("out")
        #expect(try r.cairn("export", "HEAD", "--format", "imagefolder", out).status == 0)
        let files = try FileManager.default.subpathsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") }
        let folders = Set(files.map { ($0 as NSString).deletingLastPathComponent })
        #expect(files.count == 7 && folders.count == 7, "\(files)")
        #expect(folders.contains { $0.hasPrefix("_multi/") && $0.hasSuffix("/cat+dog") })
        #expect(folders.contains { $0.hasPrefix("_multi/") && $0.hasSuffix("/_none") })
        #expect(folders.contains { !$0.hasPrefix("_") && $0.hasSuffix("/cat+dog") })
        #expect(folders.contains { !$0.hasPrefix("_") && $0.hasSuffix("/_unlabeled") })
    }

    /// A parameter combination that needs tens of GB is refused before anything is allocated.
    @Test func trainingThatCannotFitInMemoryIsRefused() throws {
        let r = try Sandbox("memory")
        defer { r.dir.remove() }
        try SyntheticImages.writeImageFolder(at: r.dir.appending("in"), count: 10)
        try r.cairn("import", "--labels-from-dirs", r.dir.appending("in"))
        try r.cairn("snapshot", "-m", "x")
        let huge = try r.cairn("train", "--data", "HEAD", "--hidden", "65536,65536,65536", "--size", "1024x1024", "--channels", "3")
        #expect(huge.status == 1 && huge.stderr.contains("would need"), "\(huge)")
        #expect(try r.cairn("runs", "--json").jsonArray().first?["status"] as? String == "failed")
    }

    /// A remote name in config.toml that would lead out of .cairn/remotes is refused, so no command
    /// can write a file outside the repository through it.
    @Test func remoteNamesInConfigAreValidated() throws {
        let r = try Sandbox("config")
        defer { r.dir.remove() }
        let config = r.root + "/.cairn/config.toml"
        try (String(contentsOfFile: config, encoding: .utf8)
             + "\n[remotes.\"../../../OUTSIDE\"]\nurl = \"s3://bucket/x\"\n").write(toFile: config, atomically: true, encoding: .utf8)
        let push = try r.cairn("push", "../../../OUTSIDE")
        #expect(push.status == 1 && push.stderr.contains("invalid remote name"), "\(push)")
        #expect(!FileManager.default.fileExists(atPath: r.dir.path + "/OUTSIDE.json"))
    }

    /// A JPEG of `scans` SOS segments: a real baseline JPEG with empty scans appended before EOI.
    private func scanBomb(scans: Int) throws -> Data {
        var jpeg = try ImageFiles.jpeg(SyntheticImages.pixels(seed: 4, width: 64, height: 64, channels: 3))
        let end = jpeg.count - 2
        #expect(jpeg[end] == 0xFF && jpeg[end + 1] == 0xD9)
        var bomb = jpeg.prefix(end)
        let scan: [UInt8] = [0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x00]
        for _ in 0..<scans { bomb.append(contentsOf: scan) }
        bomb.append(contentsOf: [0xFF, 0xD9])
        jpeg = Data(bomb)
        return jpeg
    }
}
