import CairnStore
import CairnRemote
import Foundation
import Synchronization

/// A local S3-compatible server for tests: `moto_server` (pip `moto[server]`) on a free port of
/// 127.0.0.1, started here and stopped by `stop()`; optionally behind a proxy that fails a share
/// of requests (`Tests/S3/fault_proxy.py`).
public final class S3TestServer: Sendable {
    public let port: Int
    public let directory: TemporaryDirectory
    /// The server's process and any proxies' (`faultyProxy` adds them from any thread).
    private let pids = Mutex<[pid_t]>([])

    /// `http://127.0.0.1:PORT` of the server itself.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Credentials the server accepts (moto takes any unless told to check).
    public static let environment = ["AWS_ACCESS_KEY_ID": "cairn-test", "AWS_SECRET_ACCESS_KEY": "cairn-test-secret",
                                     "AWS_DEFAULT_REGION": "us-east-1"]

    /// Starts moto; `environment` is added to the server's (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    public init(environment extra: [String: String] = [:]) throws {
        directory = try TemporaryDirectory("cairn-moto")
        port = Self.freePort()
        let server = try Self.spawn(["moto_server", "-H", "127.0.0.1", "-p", String(port)], log: directory.appending("moto.log"),
                                    environment: extra)
        pids.withLock { $0.append(server) }
        guard Self.waitForPort(port, seconds: 30) else {
            stop()
            throw S3Error.unreachable(endpoint: endpoint, reason: "moto_server did not start (pip install 'moto[server]')")
        }
    }

    /// Starts a fault-injecting proxy in front of the server (`environment` selects its other modes,
    /// see `Tests/S3/fault_proxy.py`); returns its endpoint.
    public func faultyProxy(failureRate: Double, seed: Int, environment: [String: String] = [:]) throws -> String {
        let proxyPort = Self.freePort()
        let script = Fixtures.packageRoot + "/Tests/S3/fault_proxy.py"
        let proxy = try Self.spawn(["python3", script, String(proxyPort), String(port), String(failureRate), String(seed)],
                                   log: directory.appending("proxy-\(proxyPort).log"), environment: environment)
        pids.withLock { $0.append(proxy) }
        guard Self.waitForPort(proxyPort, seconds: 20) else {
            throw S3Error.unreachable(endpoint: "127.0.0.1:\(proxyPort)", reason: "the fault proxy did not start")
        }
        return "http://127.0.0.1:\(proxyPort)"
    }

    /// What the fault proxies printed (their counts, once stopped).
    public func proxyLog() -> String {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix("proxy-") }
            .compactMap { try? String(contentsOfFile: directory.appending($0), encoding: .utf8) }.joined()
    }

    /// Runs `aws s3 ARGS` (pip `awscli`) against the server, returning its status and output.
    /// (Tests run on Swift's concurrency pool, where waiting on Cairn's async client could starve it.)
    @discardableResult
    public func aws(_ args: String) -> (status: Int32, output: String) {
        CLI.shell("AWS_ACCESS_KEY_ID=cairn-test AWS_SECRET_ACCESS_KEY=cairn-test-secret AWS_DEFAULT_REGION=us-east-1 "
                  + "aws --endpoint-url \(endpoint) s3 \(args) 2>&1")
    }

    /// Makes a bucket.
    public func createBucket(_ name: String) throws {
        let result = aws("mb s3://\(name)")
        guard result.status == 0 else { throw S3Error.http(status: 0, code: "", message: result.output, operation: "create bucket \(name)") }
    }

    /// Stops the server and proxies and removes their files.
    public func stop() {
        // SIGTERM first (the proxy prints its counts), SIGKILL after a second: moto ignores SIGTERM.
        let running = pids.withLock { pids in
            defer { pids = [] }
            return pids
        }
        for pid in running.reversed() {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            var reaped = false
            for _ in 0..<20 where !reaped {
                reaped = waitpid(pid, &status, WNOHANG) == pid
                if !reaped { usleep(50_000) }
            }
            if !reaped {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            }
        }
        directory.remove()
    }

    deinit { if pids.withLock({ !$0.isEmpty }) { stop() } }

    // MARK: Processes and ports

    static func spawn(_ words: [String], log: String, environment extra: [String: String] = [:]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let env = ProcessInfo.processInfo.environment.merging(extra) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = words.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, words[0], &actions, nil, argv, envp)
        guard rc == 0 else { throw S3Error.unreachable(endpoint: words[0], reason: "cannot start \(words[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// A port nothing listens on (the kernel's pick for an ephemeral bind).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func waitForPort(_ port: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            close(fd)
            if ok { return true }
            usleep(100_000)
        }
        return false
    }
}
