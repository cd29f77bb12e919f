import CairnTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// A repository a team shares on one machine (`init --shared group`, `config shared group`): two
/// Unix users made by the test work in it at once, the one who did not create it runs gc, and a
/// user outside the group is refused with the group named. Needs root (CI runs as root) and
/// useradd; skipped with a message otherwise.
@Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct SharedRepositoryTests {
    static let group = "cairn-team"
    static let (ada, bob, eve) = ("cairn-ada", "cairn-bob", "cairn-eve")

    static var available: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser")
    }

    /// The team (ada and bob in `group`, each with their own primary group) and eve outside it.
    private func makeUsers() {
        CLI.shell("getent group \(Self.group) >/dev/null || groupadd \(Self.group)")
        for user in [Self.ada, Self.bob] { CLI.shell("id \(user) >/dev/null 2>&1 || useradd -M -U -G \(Self.group) \(user)") }
        CLI.shell("id \(Self.eve) >/dev/null 2>&1 || useradd -M -U \(Self.eve)")
    }

    /// Runs cairn as `user` (their own HOME and USER), returning status and output.
    @discardableResult
    private func cairn(as user: String, _ arguments: String) -> (status: Int32, output: String) {
        CLI.shell("cd / && runuser -u \(user) -- env HOME=/tmp USER=\(user) '\(CLI.binary)' \(arguments) 2>&1")
    }

    /// A directory the team can reach: the test's own directory is root's.
    private func teamDirectory(_ dir: TemporaryDirectory) -> String {
        let team = dir.appending("team")
        CLI.shell("chmod 755 '\(dir.path)' && mkdir -p '\(team)' && chgrp \(Self.group) '\(team)' && chmod 2775 '\(team)'")
        CLI.shell("cp -r '\(Fixtures.digits)/3' '\(team)/in' && cp -r '\(Fixtures.digits)/8' '\(team)/in8' && chmod -R a+rX '\(team)'")
        return team
    }

    /// Files under `.cairn` that a group member could not write (or a directory without setgid), or
    /// that someone outside the group could read; users' private caches aside.
    private func unshared(_ repo: String) -> [String] {
        let cairn = repo + "/.cairn"
        var out: [String] = []
        let walker = FileManager.default.enumerator(atPath: cairn)!
        while let relative = walker.nextObject() as? String {
            if relative.hasPrefix("cache/") {
                walker.skipDescendants()
                continue
            }
            var st = stat()
            guard lstat(cairn + "/" + relative, &st) == 0 else { continue }
            let mode = st.st_mode & 0o7777
            if mode & 0o007 != 0 { out.append(relative + String(format: " %o (others)", mode)) }
            let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) }
            if st.st_mode & S_IFMT == S_IFDIR {
                if mode & (S_ISGID | S_IWGRP | S_IXGRP) != (S_ISGID | S_IWGRP | S_IXGRP) || group != Self.group {
                    out.append(relative + String(format: " %o", mode))
                }
            } else if mode & S_IRGRP == 0 || (mode & S_IWUSR != 0 && mode & S_IWGRP == 0) || group != Self.group {
                out.append(relative + String(format: " %o", mode))
            }
        }
        return out
    }

    @Test func twoUsersShareARepositoryAndAnOutsiderIsRefused() throws {
        guard Self.available else {
            print("skipped: needs root and useradd to make the test's users")
            return
        }
        makeUsers()
        let dir = try TemporaryDirectory("cairn-shared")
        defer { dir.remove() }
        let team = teamDirectory(dir)
        let repo = team + "/repo"

        // ada creates and fills it; bob classes, labels and snapshots at the same time as ada labels.
        var step = cairn(as: Self.ada, "init --shared group '\(repo)'")
        #expect(step.status == 0 && step.output.contains("group-shared"), "\(step.output)")
        step = cairn(as: Self.ada, "-C '\(repo)' import '\(team)/in' '\(team)/in8'")
        #expect(step.status == 0, "\(step.output)")
        #expect(cairn(as: Self.bob, "-C '\(repo)' classes add three eight").status == 0)
        let paths = try FileManager.default.contentsOfDirectory(atPath: team + "/in").sorted().prefix(20).map { "in/" + $0 }
        let eights = try FileManager.default.contentsOfDirectory(atPath: team + "/in8").sorted().prefix(20).map { "in8/" + $0 }
        let adaLabels = paths.map { "-C '\(repo)' annotate \($0) --class three" }
        let bobLabels = eights.map { "-C '\(repo)' annotate \($0) --class eight" }
        // Two shells at once, one per user (a shell's `wait` would hang: the test's threads block SIGCHLD).
        let script = { (user: String, commands: [String]) in
            "cd / && " + commands.map { "(runuser -u \(user) -- env HOME=/tmp USER=\(user) '\(CLI.binary)' \($0) || echo FAILED)" }.joined(separator: " && ")
        }
        let scripts = [script(Self.ada, adaLabels), script(Self.bob, bobLabels + ["-C '\(repo)' snapshot -m bob"])]
        let outputs = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let output = CLI.shell(scripts[i]).output
            outputs.withLock { $0.append(output) }
        }
        let both = outputs.withLock { $0.joined(separator: "\n") }
        #expect(!both.contains("FAILED") && !both.contains("error") && both.contains("for \(Self.bob)"), "\(both)")

        // Every label landed, each under its Unix user; bob snapshots, gcs and checks what ada made.
        let history = cairn(as: Self.bob, "-C '\(repo)' show \(paths[0]) --json")
        #expect(history.output.contains("\"annotator\" : \"\(Self.ada)\""), "\(history.output)")
        #expect(cairn(as: Self.bob, "-C '\(repo)' snapshot -m both").status == 0)
        let status = cairn(as: Self.ada, "-C '\(repo)' status --json")
        #expect(status.output.contains("\"three\" : 20") && status.output.contains("\"eight\" : 20"), "\(status.output)")
        step = cairn(as: Self.bob, "-C '\(repo)' gc --grace 0")
        #expect(step.status == 0, "\(step.output)")
        step = cairn(as: Self.ada, "-C '\(repo)' fsck")
        #expect(step.status == 0, "\(step.output)")
        #expect(cairn(as: Self.ada, "-C '\(repo)' train --data HEAD --epochs 1 --size 8x8").status == 0)
        #expect(unshared(repo).isEmpty, "\(unshared(repo))")
        // ada's decoded tensors are hers alone: bob can neither read nor rewrite what her runs train on.
        let adaCache = repo + "/.cairn/cache/" + CLI.shell("id -u \(Self.ada)").output.trimmingCharacters(in: .whitespacesAndNewlines)
        var st = stat()
        #expect(lstat(adaCache, &st) == 0 && st.st_mode & 0o777 == 0o700 && getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } == Self.ada)
        #expect(CLI.shell("runuser -u \(Self.bob) -- ls '\(adaCache)/tensors'").status != 0)

        // bob swaps .cairn/tmp and .cairn/cache for links to a directory of ada's: her gc refuses to start,
        // and nothing there is touched.
        let secrets = team + "/ada-secrets"
        CLI.shell("runuser -u \(Self.ada) -- sh -c \"mkdir -m 700 '\(secrets)' && echo key > '\(secrets)/id_rsa' && touch -d '2 days ago' '\(secrets)/id_rsa'\"")
        for entry in ["tmp", "cache"] {
            CLI.shell("runuser -u \(Self.bob) -- sh -c \"mv '\(repo)/.cairn/\(entry)' '\(repo)/.cairn/\(entry).old' && ln -s '\(secrets)' '\(repo)/.cairn/\(entry)'\"")
            for command in ["gc --grace 0", "purge \(paths[1]) --yes -m x"] {
                step = cairn(as: Self.ada, "-C '\(repo)' \(command)")
                #expect(step.status != 0 && step.output.contains("is not a real directory"), "\(entry), \(command): \(step.output)")
            }
            #expect(FileManager.default.fileExists(atPath: secrets + "/id_rsa"), "\(entry)")
            CLI.shell("rm '\(repo)/.cairn/\(entry)' && mv '\(repo)/.cairn/\(entry).old' '\(repo)/.cairn/\(entry)'")
        }
        // The Unix account is the identity: bob cannot act as ada, nor make himself a reviewer; ada (the
        // creator, the first admin) can make him one.
        step = cairn(as: Self.bob, "-C '\(repo)' review \(paths[2]) --class eight --reviewer \(Self.ada)")
        #expect(step.status != 0 && step.output.contains("you act as your Unix account \(Self.bob)"), "\(step.output)")
        for boxes in ["boxes set \(paths[2]) --box eight:1,1,2,2 --annotator \(Self.ada)", "boxes import /dev/null --annotator \(Self.ada)"] {
            step = cairn(as: Self.bob, "-C '\(repo)' \(boxes)")
            #expect(step.status != 0 && step.output.contains("you act as your Unix account \(Self.bob)"), "\(boxes): \(step.output)")
        }
        step = cairn(as: Self.bob, "-C '\(repo)' annotators add \(Self.bob)-admin --role admin")
        #expect(step.status != 0 && step.output.contains("not an admin here"), "\(step.output)")
        step = cairn(as: Self.bob, "-C '\(repo)' review \(paths[2]) --class eight")
        #expect(step.status != 0 && step.output.contains("role annotator"), "\(step.output)")
        #expect(cairn(as: Self.ada, "-C '\(repo)' annotators role \(Self.bob) reviewer").status == 0)
        step = cairn(as: Self.bob, "-C '\(repo)' review \(paths[2]) --class eight")
        #expect(step.status == 0, "\(step.output)")

        // An outsider who marks every directory safe still reads nothing: the modes keep others out.
        step = CLI.shell("cd / && runuser -u \(Self.eve) -- env HOME=/tmp CAIRN_SAFE_DIRECTORIES='*' '\(CLI.binary)' -C '\(repo)' ls 2>&1")
        #expect(step.status != 0 && !step.output.contains("in/"), "\(step.output)")

        // eve is not in the group: refused, the group named, nothing written.
        let before = CLI.shell("find '\(repo)/.cairn' -type f | sort | xargs sha256sum").output
        step = cairn(as: Self.eve, "-C '\(repo)' annotate \(paths[0]) --class eight")
        #expect(step.status != 0 && step.output.contains("shared with group \(Self.group), which you are not in"), "\(step.output)")
        #expect(CLI.shell("find '\(repo)/.cairn' -type f | sort | xargs sha256sum").output == before)
    }

    @Test func anExistingRepositoryIsConvertedWithConfigShared() throws {
        guard Self.available else {
            print("skipped: needs root and useradd to make the test's users")
            return
        }
        makeUsers()
        let dir = try TemporaryDirectory("cairn-shared-convert")
        defer { dir.remove() }
        let team = teamDirectory(dir)
        let repo = team + "/repo"
        // ada makes an ordinary repository; bob cannot use it until ada shares it.
        #expect(cairn(as: Self.ada, "init '\(repo)'").status == 0)
        #expect(cairn(as: Self.ada, "-C '\(repo)' import '\(team)/in'").status == 0)
        #expect(cairn(as: Self.ada, "-C '\(repo)' snapshot -m one").status == 0)
        var step = cairn(as: Self.bob, "-C '\(repo)' classes add three")
        #expect(step.status != 0 && step.output.contains("belongs to \(Self.ada)"), "\(step.output)")
        // bob may not convert it; ada may.
        step = cairn(as: Self.bob, "-C '\(repo)' config shared group")
        #expect(step.status != 0, "\(step.output)")
        CLI.shell("chgrp -R \(Self.group) '\(repo)'")
        step = cairn(as: Self.ada, "-C '\(repo)' config shared group")
        #expect(step.status == 0 && step.output.contains("shared with group \(Self.group)"), "\(step.output)")
        #expect(unshared(repo).isEmpty, "\(unshared(repo))")
        #expect(cairn(as: Self.bob, "-C '\(repo)' classes add three").status == 0)
        let first = try #require(FileManager.default.contentsOfDirectory(atPath: team + "/in").sorted().first)
        #expect(cairn(as: Self.bob, "-C '\(repo)' annotate in/\(first) --class three").status == 0)
        #expect(cairn(as: Self.bob, "-C '\(repo)' snapshot -m two").status == 0)
        #expect(cairn(as: Self.bob, "-C '\(repo)' gc --grace 0").status == 0)
        #expect(cairn(as: Self.ada, "-C '\(repo)' fsck").status == 0)
        #expect(unshared(repo).isEmpty, "\(unshared(repo))")
    }
}
