import CairnRepository
import Foundation

/// A repository in a fresh temporary directory, for one test.
///
/// ```swift
/// let fixture = try TestRepository()
/// defer { fixture.remove() }
/// try SyntheticImages.writeImageFolder(at: fixture.inputs, count: 10)
/// let report = try fixture.importInputs(labelsFromDirs: true)
/// ```
public struct TestRepository: Sendable {
    public let directory: TemporaryDirectory
    public let repository: Repository

    /// The repository root.
    public var root: String { repository.root }
    /// A sibling directory for input files, outside the repository.
    public var inputs: String { directory.appending("inputs") }

    public init(label: String = "cairn-repo") throws {
        directory = try TemporaryDirectory(label)
        repository = try Repository.initialize(at: directory.appending("repo"))
        try FileManager.default.createDirectory(atPath: directory.appending("inputs"), withIntermediateDirectories: true)
    }

    /// Imports `inputs` with `options`.
    @discardableResult
    public func importInputs(_ options: ImportOptions = ImportOptions()) throws -> ImportReport {
        try Importer(repository: repository, options: options).run(paths: [inputs])
    }

    /// Opens the same repository again, as another process would.
    public func reopen() throws -> Repository { try Repository(root: root) }

    public func remove() { directory.remove() }
}
