import Foundation

/// A step of a fixture that failed, with what the command printed.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}

extension CLI {
    /// A repository at `root` made through the binary, the way a user makes one: `cairn init`;
    /// then `images` synthetic images in the folders `imageClasses` (written beside it, in the
    /// folder `inputFolder`, so items are `in/cat/0000.png` …) or the files under `input`, imported — labeled from their folders when
    /// `labelsFromDirectories`; then `classes` added; then, with `tag`, a snapshot tagged `tag`.
    ///
    /// ```swift
    /// let repo = try CLI.makeRepository(at: dir.appending("repo"), images: 30, classes: ["cat", "dog"])
    /// let digits = try CLI.makeRepository(at: dir.appending("d"), input: Fixtures.digits, labelsFromDirectories: true, tag: "v1")
    /// ```
    /// - Throws: `FixtureError` naming the step that failed and what it printed.
    @discardableResult
    public static func makeRepository(at root: String, images: Int = 0, imageClasses: [String] = ["cat", "dog"], inputFolder: String = "in",
                                      input: String? = nil, labelsFromDirectories: Bool = false, classes: [String] = [],
                                      tag: String? = nil) throws -> String {
        func step(_ arguments: [String]) throws {
            let result = try run(arguments)
            guard result.status == 0 else { throw FixtureError(description: "cairn \(arguments.joined(separator: " ")): \(result)") }
        }
        try step(["init", root])
        var source = input
        if images > 0 {
            let folder = (root as NSString).deletingLastPathComponent + "/" + inputFolder
            try SyntheticImages.writeImageFolder(at: folder, count: images, classes: imageClasses)
            source = folder
        }
        if let source { try step(["-C", root, "import"] + (labelsFromDirectories ? ["--labels-from-dirs"] : []) + [source]) }
        if !classes.isEmpty { try step(["-C", root, "classes", "add"] + classes) }
        if let tag {
            try step(["-C", root, "snapshot", "-m", tag])
            try step(["-C", root, "tag", tag])
        }
        return root
    }
}
