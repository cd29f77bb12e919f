import Glibc
import Synchronization

/// The modes of what cairn creates. Normally 0644 for files and 0755 for directories, before the
/// umask. In a repository shared with a group (`cairn init --shared group`: `.cairn` setgid and
/// group-writable, as git's `core.sharedRepository = group`), 0660 and 0770 whatever the umask: its
/// group bits are cleared and its bits for others set, so every file any member creates — the
/// catalog's WAL, packs, loose objects, the lock, runs — stays writable by the others and readable by
/// nobody outside the group; directories inherit the group through the setgid bit.
public enum FileModes {
    private static let shared = Atomic<Bool>(false)

    public static var file: mode_t { shared.load(ordering: .relaxed) ? 0o660 : 0o644 }
    public static var directory: mode_t { shared.load(ordering: .relaxed) ? 0o770 : 0o755 }

    /// From now on this process creates group-writable files that others cannot read (the umask's
    /// group bits cleared, its bits for others all set).
    public static func shareWithGroup() {
        guard !shared.exchange(true, ordering: .relaxed) else { return }
        let old = umask(0)
        umask((old & ~0o070) | 0o007)
    }
}
