import Foundation
import Glibc
import Synchronization

/// Why a program could not be started.
public enum ChildProcessError: CairnError, Equatable {
    case notFound(String)
    case notExecutable(String)
    case cannotStart(String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let name): "command not found: \(Printable.escaped(name))"
        case .notExecutable(let name): "cannot execute \(Printable.escaped(name)): permission denied"
        case .cannotStart(let name, let code): "cannot start \(Printable.escaped(name)): \(String(cString: strerror(code)))"
        }
    }

    /// 127 for a command that does not exist, 126 for one that cannot run (as a shell says).
    public var exitStatus: Int32 {
        switch self {
        case .notFound: 127
        case .notExecutable, .cannotStart: 126
        }
    }
}

/// How a program ended.
public enum Termination: Sendable, Hashable {
    case exited(Int32)
    case signaled(Int32)

    /// The status a shell reports: the exit code, or 128 + the signal.
    public var status: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}

/// A program started with `posix_spawnp` in the current directory, in this process's process group
/// (so Ctrl-C in a terminal reaches it as it would any command), with the default disposition of
/// every signal, and its stdout and stderr read through pipes.
///
/// ```swift
/// let child = try ChildProcess(["python3", "train.py"], environment: env)
/// let ended = child.stream { stream, bytes in log(stream, bytes) }
/// ```
public final class ChildProcess {
    public enum Stream: Sendable { case stdout, stderr }

    public let pid: pid_t
    private let stdout: Int32, stderr: Int32

    /// Starts `argv[0]` (looked up in `PATH`) with `argv`; with `ownProcessGroup`, in a process
    /// group of its own (Ctrl-C in the terminal then reaches only this process, which passes it on
    /// with `sendToGroup`).
    /// - Throws: `ChildProcessError`.
    public init(_ argv: [String], environment: [String: String], ownProcessGroup: Bool = false) throws(ChildProcessError) {
        guard let name = argv.first else { throw .notFound("") }
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else { throw .cannotStart(name, errno: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        for fd in out + err { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), none = sigset_t()
        sigfillset(&defaults)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (ownProcessGroup ? POSIX_SPAWN_SETPGROUP : 0)))
        let args = argv.map { strdup($0) } + [nil]
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in args + env { free(p) } }
        var child: pid_t = 0
        let code = posix_spawnp(&child, name, &actions, &attributes, args, env)
        close(out[1])
        close(err[1])
        guard code == 0 else {
            close(out[0])
            close(err[0])
            switch code {
            case ENOENT: throw .notFound(name)
            case EACCES: throw .notExecutable(name)
            default: throw .cannotStart(name, errno: code)
            }
        }
        pid = child
        (stdout, stderr) = (out[0], err[0])
    }

    /// Passes what the program writes to `output` as it comes, until both streams close, then
    /// waits for it to end.
    public func stream(_ output: (Stream, UnsafeRawBufferPointer) -> Void) -> Termination {
        var open: [(Int32, Stream)] = [(stdout, .stdout), (stderr, .stderr)]
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
                if errno == EINTR { continue }
                break
            }
            var closed: [Int32] = []
            for (i, fd) in fds.enumerated() where fd.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fd.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffer.withUnsafeBytes { output(open[i].1, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    closed.append(fd.fd)
                }
            }
            for fd in closed { close(fd) }
            open.removeAll { closed.contains($0.0) }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED / WTERMSIG, which Swift does not import.
        if status & 0x7F == 0 { return .exited((status >> 8) & 0xFF) }
        return .signaled(status & 0x7F)
    }

    /// Sends `signal` to the program.
    public func send(_ signal: Int32) { kill(pid, signal) }

    /// Sends `signal` to the program's process group (its own, when started with `ownProcessGroup`).
    public func sendToGroup(_ signal: Int32) { kill(-pid, signal) }
}

/// Ends this process gracefully when the process that started it dies: a trial of a sweep whose
/// own process was killed would otherwise run on as an orphan. Every second the parent's pid is
/// compared with the one at start; when it changed (the orphan was adopted), `signal` is sent to
/// this process, so the usual handler stops the work and keeps the run as interrupted.
public enum OrphanWatch {
    private static let timer = Mutex<(any DispatchSourceTimer)?>(nil)

    /// Starts watching (once per process).
    public static func start(raising signal: Int32 = SIGTERM) {
        let parent = getppid()
        timer.withLock { timer in
            guard timer == nil else { return }
            let source = DispatchSource.makeTimerSource(queue: .global())
            source.schedule(deadline: .now(), repeating: 1.0)
            source.setEventHandler {
                guard getppid() != parent else { return }
                kill(getpid(), signal)  // to the process, as from outside, so its signal sources see it
                Self.timer.withLock { $0?.cancel() }
            }
            source.resume()
            timer = source
        }
    }
}
