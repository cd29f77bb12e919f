import CairnStore
import CairnSupport
import Synchronization

/// How a repository reaches the shared image store its config names (`[store] shared`). The
/// repository libraries link no network code: the `cairn` executable registers the remote-backed
/// store when it starts (as it registers catalog servers), so the fuzz build stays free of it.
///
/// ```swift
/// SharedStores.register { settings in SharedImageStore(settings: settings) }
/// ```
public enum SharedStores {
    /// The upstream for the remote `settings` describe. It should not reach the remote yet: the
    /// repository opens it on every command, and most never read an image.
    public typealias Opener = @Sendable (RepositoryConfig.RemoteSettings) throws -> any BlobUpstream

    private static let opener = Mutex<Opener?>(nil)

    public static func register(_ open: @escaping Opener) {
        opener.withLock { $0 = open }
    }

    /// The upstream for `settings`.
    /// - Throws: `RepositoryError.badConfig` when this program cannot reach shared stores.
    static func open(_ settings: RepositoryConfig.RemoteSettings, configPath: String) throws -> any BlobUpstream {
        guard let open = opener.withLock({ $0 }) else {
            throw RepositoryError.badConfig(path: configPath, reason: "[store] shared names a remote, and this program cannot reach remotes")
        }
        return try open(settings)
    }
}
