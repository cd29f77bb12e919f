import CairnFuzz
import CairnTestSupport
import Foundation
import Testing

/// Replays the fuzz seed corpus and every saved crash (`Tests/Fuzz/regressions/<target>/`) through
/// the fuzz targets in an ordinary build, so a fixed crash stays fixed.
@Suite struct FuzzCorpusTests {
    @Test(arguments: FuzzTargets.names)
    func corpusAndRegressionsRunCleanly(target: String) throws {
        var count = 0
        for folder in ["corpus", "regressions"] {
            let dir = "\(Fixtures.packageRoot)/Tests/Fuzz/\(folder)/\(target)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                FuzzTargets.run(target, try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
                count += 1
            }
        }
        #expect(count > 0, "no seed inputs for \(target)")
    }

    /// `make test` and `make fuzz` fuzz every target there is (the Makefile names them).
    @Test func theMakefileFuzzesEveryTarget() throws {
        let makefile = try String(contentsOfFile: "\(Fixtures.packageRoot)/Makefile", encoding: .utf8)
        let line = try #require(makefile.split(separator: "\n").first { $0.hasPrefix("FUZZ_TARGETS :=") })
        #expect(line.dropFirst("FUZZ_TARGETS :=".count).split(separator: " ").map(String.init) == FuzzTargets.names)
    }
}
