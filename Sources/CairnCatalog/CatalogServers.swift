import Foundation
import Synchronization

/// Catalog backends that live on a server, by URL scheme. CairnCatalog links no network code: the
/// `cairn` executable registers the PostgreSQL backend when it starts, so the libraries (and the
/// fuzz build, which links them) stay free of it.
///
/// ```swift
/// CatalogServers.register(scheme: "postgresql") { url, scope in try PostgresCatalog(url: url, scope: scope) }
/// let catalog = try CatalogServers.open(url: "postgresql://ada@db/labels", scope: "host:/data/birds/.cairn")
/// ```
public enum CatalogServers {
    /// Opens the catalog at `url` for the repository `scope` names (its host and `.cairn` path: what
    /// is kept per store, such as import state, is kept per scope).
    public typealias Opener = @Sendable (_ url: String, _ scope: String) throws -> any Catalog

    private static let openers = Mutex<[String: Opener]>([:])

    /// Makes `open(url:)` use `opener` for URLs starting with `scheme://`.
    public static func register(scheme: String, _ opener: @escaping Opener) {
        openers.withLock { $0[scheme] = opener }
    }

    /// Opens the catalog at `url` with the backend registered for its scheme.
    /// - Throws: `CatalogError.invalidLocation` when no backend is registered for it; the backend's errors.
    public static func open(url: String, scope: String) throws -> any Catalog {
        let scheme = url.components(separatedBy: "://").first ?? ""
        let opener = openers.withLock { $0[scheme == "postgres" ? "postgresql" : scheme] }
        guard let opener else {
            throw CatalogError.invalidLocation(scheme + "://…", reason: "this program has no catalog backend for \(scheme)://")
        }
        return try opener(url, scope)
    }
}
