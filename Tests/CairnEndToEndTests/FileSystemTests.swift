import CairnTestSupport
import Foundation
import Glibc
import Testing

/// A tmpfs mounted for one test (root only), unmounted by `remove()`.
private struct SmallDisk {
    let dir: TemporaryDirectory
    var path: String { dir.appending("mnt") }

    init(megabytes: Int) throws {
        dir = try TemporaryDirectory("cairn-disk")
        try FileManager.default.createDirectory(atPath: dir.appending("mnt"), withIntermediateDirectories: true)
        let mounted = CLI.shell("mount -t tmpfs -o size=\(megabytes)m cairn-test '\(dir.appending("mnt"))'")
        try #require(mounted.status == 0, "mount failed: \(mounted.output)")
    }

    func remount(_ options: String) throws {
        let result = CLI.shell("mount -o remount,\(options) '\(path)'")
        try #require(result.status == 0, "remount failed: \(result.output)")
    }

    func remove() {
        CLI.shell("umount '\(path)'")
        dir.remove()
    }
}

private let canMount = getuid() == 0 && CLI.shell("command -v mount").status == 0

/// JPEGs big enough (about 100 KB each) to fill a small disk quickly.
private func writeLargeImages(to directory: String, count: Int) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for n in 0..<count {
        let image = SyntheticImages.pixels(seed: n, width: 256, height: 256, channels: 3)
        try ImageFiles.jpeg(image).write(to: URL(fileURLWithPath: "\(directory)/\(n).jpg"))
    }
}

@Suite(.serialized, .enabled(if: canMount, "mounting a tmpfs needs root; skipped"))
struct FileSystemTests {
    @Test func aFullDiskGivesAClearErrorLeavesNothingPartialAndTheImportCompletesLater() throws {
        let disk = try SmallDisk(megabytes: 2)
        defer { disk.remove() }
        let inputs = disk.dir.appending("inputs")
        try writeLargeImages(to: inputs, count: 40)
        let repo = disk.path + "/repo"
        #expect(try CLI.run(["init", repo]).status == 0)
        let full = try CLI.run(["-C", repo, "import", inputs])
        #expect(full.status == 1)
        #expect(full.stderr.contains("disk full"), "\(full)")
        // Nothing partial: no staging files, and what the catalog names is intact.
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/.cairn/tmp").isEmpty)
        let fsck = try CLI.run(["-C", repo, "fsck", "--json"])
        #expect(fsck.status == 0, "\(fsck)")
        try disk.remount("size=64m")
        let again = try CLI.run(["-C", repo, "import", inputs, "--json"])
        #expect(again.status == 0, "\(again)")
        let status = try CLI.run(["-C", repo, "status", "--json"]).jsonObject()
        #expect(status["items"] as? Int == 40)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
    }

    /// Images over 1 MiB are stored as loose files: a full disk in the middle of a batch of them
    /// leaves no staged file behind (before, 14 files and the disk stayed full), and a catalog
    /// write that fails for want of space says the disk is full, not "disk I/O error".
    @Test func aFullDiskWithLargeImagesLeavesNoStagedFilesAndSaysDiskFull() throws {
        let disk = try SmallDisk(megabytes: 12)
        defer { disk.remove() }
        let inputs = disk.dir.appending("large")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        for n in 0..<8 {  // about 3 MB each: random pixels do not compress
            let image = SyntheticImages.pixels(seed: n, width: 1024, height: 1024, channels: 3)
            try ImageFiles.png(image).write(to: URL(fileURLWithPath: "\(inputs)/\(n).png"))
        }
        let repo = disk.path + "/repo"
        #expect(try CLI.run(["init", repo]).status == 0)
        let full = try CLI.run(["-C", repo, "import", inputs])
        #expect(full.status == 1 && full.stderr.contains("disk full"), "\(full)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/.cairn/tmp").isEmpty)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
        // Fill what is left, then write to the catalog.
        CLI.shell("dd if=/dev/zero of='\(disk.path)/filler' bs=64k 2>/dev/null")
        let annotate = try CLI.run(["-C", repo, "classes", "add", "cat"])
        if annotate.status != 0 {
            #expect(annotate.stderr.contains("disk full") && !annotate.stderr.contains("disk I/O error"), "\(annotate)")
        }
    }

    /// `cairn run` on a disk too small to materialize the snapshot: a clear error, the run recorded
    /// as failed, nothing half-written left to be reused; with room again, the next run materializes.
    @Test func aFullDiskWhileMaterializingLeavesNothingToReuse() throws {
        let disk = try SmallDisk(megabytes: 6)
        defer { disk.remove() }
        let inputs = disk.path + "/inputs"
        try writeLargeImages(to: inputs + "/cat", count: 14)
        try writeLargeImages(to: inputs + "/dog", count: 14)
        let repo = disk.path + "/repo"
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try CLI.run(["-C", repo, "import", "--labels-from-dirs", inputs]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "v1"]).status == 0)
        // Leave about 512 KB free: room to record the run, not to materialize 2.8 MB of images.
        CLI.shell("dd if=/dev/zero of='\(disk.path)/filler' bs=64k 2>/dev/null; truncate -s -512K '\(disk.path)/filler'")
        let full = try CLI.run(["-C", repo, "run", "--data", "HEAD", "--name", "full", "--", "true"])
        #expect(full.status == 1 && full.stderr.contains("disk full"), "\(full)")
        let cache = repo + "/.cairn/cache/\(geteuid())/materialized"
        #expect((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] == [], "nothing half-written is left")
        let record = try CLI.run(["-C", repo, "runs", "show", "full", "--json"]).jsonObject()
        #expect(record["status"] as? String == "failed")
        // With room again, the next run materializes and starts the program.
        try FileManager.default.removeItem(atPath: inputs)
        try FileManager.default.removeItem(atPath: disk.path + "/filler")
        let again = try CLI.run(["-C", repo, "run", "--data", "HEAD", "--", "sh", "-c", "ls \"$CAIRN_DATA/train\""])
        #expect(again.status == 0 && again.stdout.contains("cat") && again.stdout.contains("dog"), "\(again)")
    }

    @Test func aReadOnlyRepositoryReadsButRefusesWrites() throws {
        let disk = try SmallDisk(megabytes: 16)
        defer { disk.remove() }
        let repo = disk.path + "/repo"
        #expect(try CLI.run(["init", repo]).status == 0)
        #expect(try CLI.run(["-C", repo, "import", "--labels-from-dirs", Fixtures.digits + "/../digits"]).status == 0)
        #expect(try CLI.run(["-C", repo, "snapshot", "-m", "before read-only"]).status == 0)
        try disk.remount("ro")
        // Reading models need no cache: without a writable one they decode every image.
        let suspects = try CLI.run(["-C", repo, "suspects", "--data", "HEAD", "--folds", "2"])
        #expect(suspects.status == 0, "\(suspects)")
        let status = try CLI.run(["-C", repo, "status", "--json"])
        #expect(status.status == 0, "\(status)")
        #expect(try status.jsonObject()["items"] as? Int == 1797)
        #expect(try CLI.run(["-C", repo, "fsck"]).status == 0)
        #expect(try CLI.run(["-C", repo, "ls"]).stdout.split(separator: "\n").count == 1797)
        for write in [["import", Fixtures.image("rgba.png")], ["classes", "add", "x"],
                      ["annotate", "digits/3/0003.png", "--class", "3"]] {
            let result = try CLI.run(["-C", repo] + write)
            #expect(result.status == 1)
            #expect(result.stderr.contains("the repository is read-only"), "\(result)")
        }
    }
}
