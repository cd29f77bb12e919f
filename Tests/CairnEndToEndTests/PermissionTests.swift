import CairnTestSupport
import Foundation
import Glibc
import Testing

/// Files the repository creates respect the umask, and none is ever world-writable.
@Suite(.serialized) struct PermissionTests {
    private func modes(under root: String) -> [(String, mode_t)] {
        var out: [(String, mode_t)] = []
        let walker = FileManager.default.enumerator(atPath: root)!
        while let relative = walker.nextObject() as? String {
            var st = stat()
            if lstat(root + "/" + relative, &st) == 0 { out.append((relative, st.st_mode & 0o7777)) }
        }
        return out
    }

    @Test(arguments: ["077", "022", "000"])
    func repositoryFilesFollowTheUmaskAndAreNeverWorldWritable(umask: String) throws {
        let dir = try TemporaryDirectory("cairn-umask")
        defer { dir.remove() }
        let repo = dir.appending("repo")
        let script = """
            umask \(umask) && '\(CLI.binary)' init '\(repo)' && '\(CLI.binary)' -C '\(repo)' import --labels-from-dirs '\(Fixtures.digits)' \
            && '\(CLI.binary)' -C '\(repo)' snapshot -m x && '\(CLI.binary)' -C '\(repo)' checkout HEAD '\(dir.appending("out"))' \
            && '\(CLI.binary)' -C '\(repo)' train --data HEAD --epochs 1 --size 8x8 > /dev/null
            """
        let result = CLI.shell(script)
        #expect(result.status == 0, "\(result.output)")
        let mask = mode_t(umask, radix: 8)!
        let created = modes(under: repo + "/.cairn") + modes(under: dir.appending("out"))
        #expect(created.count > 5)
        for (path, mode) in created {
            #expect(mode & 0o002 == 0, "\(path) is world-writable (\(String(mode, radix: 8)))")
            #expect(mode & mask == 0, "\(path) has mode \(String(mode, radix: 8)) despite umask \(umask)")
        }
    }
}
