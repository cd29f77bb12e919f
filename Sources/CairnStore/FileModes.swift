import Glibc
import Synchronization

/// The modes of what cairn creates. Normally 0644 for files and 0755 for directories, before the
/// umask. In a repository shared with a group (`cairn init --shared group`: `.cairn` setgid and
/// group-writable, as git's `core.sharedRepository = group`), 0664 and 0775, and the umask's group
/// bits are cleared, so every file any member creates — the catalog's WAL, packs, loose objects,
/// the lock, caches, runs — stays writable by the others; directories inherit the group through
/// the setgid bit.
public enum FileModes {
    private static let shared = Atomic<Bool>(false)

    public static var file: mode_t { shared.load(ordering: .relaxed) ? 0o664 : 0o644 }
    public static var directory: mode_t { shared.load(ordering: .relaxed) ? 0o775 : 0o755 }

    /// From now on this process creates group-writable files (and clears the umask's group bits).
    public static func shareWithGroup() {
        guard !shared.exchange(true, ordering: .relaxed) else { return }
        let old = umask(0)
        umask(old & ~0o070)
    }
}
