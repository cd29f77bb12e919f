import Foundation
import Glibc

/// tmux for end-to-end tests of the terminal UI: sessions, `send-keys`, `capture-pane`.
public enum Tmux {
    public static let available = CLI.shell("command -v tmux").status == 0

    /// This test process's own tmux server (`-L`), kept alive by a session that lasts as long as the
    /// process: on the shared default server, one test killing its last session stopped the server
    /// while another test was starting its own ("no server running").
    private static let server: String = {
        let name = "cairn-tests-\(getpid())"
        spawn("tmux -L \(name) new-session -d -s keeper 'while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done'")
        return name
    }()

    /// Runs `tmux ARGS` and returns its output. It is spawned and reaped directly (posix_spawn and
    /// waitpid, output through a file): the tmux server that a first command forks must never hold
    /// a pipe of ours, and Foundation's Process was seen to miss a fast-exiting child under load.
    @discardableResult
    public static func run(_ args: String) -> String {
        let out = NSTemporaryDirectory() + "cairn-tmux-\(getpid())-\(UUID().uuidString)"
        defer { unlink(out) }
        spawn("tmux -L \(server) \(args) < /dev/null > '\(out)' 2>&1")
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    /// Runs `command` with /bin/sh and waits for it.
    private static func spawn(_ command: String) {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", command]
        let argv = words.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    /// Waits until the pane shows `text` (or `seconds` pass); returns the last capture.
    @discardableResult
    public static func waitFor(_ session: String, _ text: String, seconds: Double = 20) -> String {
        var capture = ""
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            capture = run("capture-pane -p -t \(session)")
            if capture.contains(text) { return capture }
            usleep(100_000)
        }
        return capture
    }
}
