import CairnTestSupport
import Foundation
import Testing

/// Every Python example in Docs/TRAINING.md runs through `cairn run` on the digits, as a reader
/// would paste it. Those that need torch run where torch is installed; elsewhere (the test
/// machines) each `ImageFolder` they make is checked to pass `allow_empty=True`, without which
/// torchvision refuses a split with an empty class folder.
@Suite struct DocsExamplesTests {
    @Test func trainingExamplesRunThroughCairnRun() throws {
        let text = try String(contentsOfFile: Fixtures.packageRoot + "/Docs/TRAINING.md", encoding: .utf8)
        let blocks = text.components(separatedBy: "```python\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        #expect(blocks.count >= 2)
        let dir = try TemporaryDirectory("cairn-e2e-docs")
        defer { dir.remove() }
        let repo = try CLI.makeRepository(at: dir.appending("repo"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
        let hasTorch = CLI.shell("python3 -c 'import torch, torchvision'").status == 0
        var ran = 0
        for (i, block) in blocks.enumerated() {
            let needsTorch = block.split(separator: "\n").contains { ($0.hasPrefix("import ") || $0.hasPrefix("from ")) && $0.contains("torch") }
            if needsTorch && !hasTorch {
                for call in block.components(separatedBy: "ImageFolder(").dropFirst() {
                    #expect(call.prefix { $0 != "\n" }.contains("allow_empty=True"), "example \(i): ImageFolder without allow_empty=True")
                }
                continue
            }
            let script = dir.appending("example-\(i).py")
            try block.write(toFile: script, atomically: true, encoding: .utf8)
            let layout = block.contains("CAIRN_SHARDS_") ? "webdataset" : "imagefolder"
            let result = try CLI.run(["-C", repo, "run", "--data", "v1", "--materialize", layout, "--", "python3", script])
            #expect(result.status == 0, "example \(i):\n\(block)\n\(result)")
            ran += 1
        }
        #expect(ran >= 1, "at least the examples without torch ran")
    }
}
