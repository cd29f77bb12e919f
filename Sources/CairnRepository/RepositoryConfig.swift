import CairnCatalog
import Foundation
import TOMLKit

/// `.cairn/config.toml`: settings shared by everyone who uses the repository. Never secrets.
///
/// ```toml
/// [splits]
/// train = 0.8
/// val = 0.1
/// test = 0.1
/// ```
public struct RepositoryConfig: Sendable, Hashable, Codable {
    /// Ratios for assigning splits at import (by blob id, see `SplitPolicy`).
    public var splits: SplitPolicy

    public init(splits: SplitPolicy = .standard) {
        self.splits = splits
    }

    private struct File: Codable {
        var splits: SplitPolicy?
    }

    /// Reads and validates the config at `path`.
    public static func load(path: String) throws -> RepositoryConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RepositoryError.badConfig(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        do {
            let file = try TOMLDecoder().decode(File.self, from: text)
            let config = RepositoryConfig(splits: file.splits ?? .standard)
            try config.splits.validate()
            return config
        } catch let error as CatalogError {
            throw RepositoryError.badConfig(path: path, reason: error.description)
        } catch {
            throw RepositoryError.badConfig(path: path, reason: "\(error)")
        }
    }

    /// The text written by `cairn init`.
    public func rendered() -> String {
        """
        # Cairn repository settings, shared by everyone who uses this repository.
        # Never put credentials here: remotes take them from the environment.

        # Fractions of items assigned to each split at import, by blob id (stable across versions).
        [splits]
        train = \(splits.train)
        val = \(splits.val)
        test = \(splits.test)

        """
    }
}
