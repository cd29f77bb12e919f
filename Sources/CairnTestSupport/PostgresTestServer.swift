import Foundation
import Synchronization

/// A PostgreSQL server for tests: the one `CAIRN_TEST_POSTGRES` names (a URL whose user may create
/// databases), or else a throwaway cluster started here from Debian's PostgreSQL (`initdb` and
/// `postgres` from /usr/lib/postgresql/VERSION/bin) in a temporary directory, on a free port of
/// 127.0.0.1, trusting local sign-ins, and stopped when the test process exits. As root it runs as
/// the `postgres` user Debian's package creates (PostgreSQL refuses to run as root).
///
/// ```swift
/// let url = try PostgresTestServer.url()   // postgresql://cairn@127.0.0.1:PORT/postgres?sslmode=disable
/// ```
public enum PostgresTestServer {
    /// The server's URL, starting the throwaway cluster on first use.
    /// - Throws: `Failure` when no server is named and none can be started (PostgreSQL not installed).
    public static func url() throws -> String {
        if let named = ProcessInfo.processInfo.environment["CAIRN_TEST_POSTGRES"], !named.isEmpty { return named }
        return try cluster.withLock { cluster in
            if let cluster { return try cluster.get() }
            let started = Result { try start() }
            cluster = started
            return try started.get()
        }
    }

    /// A new, empty database on the server (made with `psql`, which Debian's PostgreSQL brings);
    /// returns its URL and a function that drops it.
    public static func database() throws -> (url: String, drop: @Sendable () -> Void) {
        let server = try url()
        let name = "cairn_e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let made = CLI.shell("psql '\(server)' -v ON_ERROR_STOP=1 -qc 'CREATE DATABASE \(name)' 2>&1")
        guard made.status == 0 else { throw Failure(description: "cannot create a test database: \(made.output)") }
        guard var parts = URLComponents(string: server) else { throw Failure(description: "malformed server URL") }
        parts.path = "/" + name
        return (parts.string ?? server, { _ = CLI.shell("psql '\(server)' -qc 'DROP DATABASE IF EXISTS \(name) WITH (FORCE)' >/dev/null 2>&1") })
    }

    /// The cluster's data and socket directory and its server process, if one was started.
    nonisolated(unsafe) private static var running: (directory: String, command: String, pid: pid_t)?
    private static let cluster = Mutex<Result<String, any Error>?>(nil)

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private static func binaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let version = versions.last else {
            throw Failure(description: "PostgreSQL is not installed (apt-get install postgresql), and CAIRN_TEST_POSTGRES names no server")
        }
        return "\(root)/\(version)/bin"
    }

    private static func start() throws -> String {
        let bin = try binaries()
        let base = FileManager.default.temporaryDirectory.path + "/cairn-pg-\(UUID().uuidString.prefix(8))"
        let data = base + "/data"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let asRoot = geteuid() == 0
        let prefix = asRoot ? "runuser -u postgres -- " : ""
        if asRoot {
            guard CLI.shell("id -u postgres").status == 0 else {
                throw Failure(description: "running as root, and there is no postgres user to run the test cluster as (apt-get install postgresql)")
            }
            _ = CLI.shell("chown postgres '\(base)'")
        }
        let initdb = CLI.shell("\(prefix)'\(bin)/initdb' -D '\(data)' -U cairn --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync 2>&1")
        guard initdb.status == 0 else { throw Failure(description: "initdb failed: \(initdb.output)") }
        let port = S3TestServer.freePort()
        // fsync off: a throwaway cluster trades crash safety for speed (each test makes and drops a database).
        var words = ["\(bin)/postgres", "-D", data, "-p", String(port), "-k", base, "-c", "listen_addresses=127.0.0.1",
                     "-c", "fsync=off", "-c", "max_connections=200"]
        if asRoot { words = ["runuser", "-u", "postgres", "--"] + words }
        let pid: pid_t
        do {
            pid = try S3TestServer.spawn(words, log: base + "/server.log")
        } catch {
            throw Failure(description: "cannot start postgres: \(error)")
        }
        running = (base, "\(prefix)'\(bin)/pg_ctl' stop -D '\(data)' -m fast", pid)
        atexit { PostgresTestServer.stop() }
        guard S3TestServer.waitForPort(port, seconds: 30) else {
            let log = (try? String(contentsOfFile: base + "/server.log", encoding: .utf8)) ?? ""
            stop()
            throw Failure(description: "postgres did not start: \(log)")
        }
        return "postgresql://cairn@127.0.0.1:\(port)/postgres?sslmode=disable"
    }

    /// Stops the throwaway cluster (`pg_ctl stop -m fast`: clients are disconnected) and removes its files.
    static func stop() {
        guard let (directory, command, pid) = running else { return }
        running = nil
        _ = CLI.shell(command + " >/dev/null 2>&1")
        var status: Int32 = 0
        for _ in 0..<100 where waitpid(pid, &status, WNOHANG) != pid { usleep(50_000) }
        if waitpid(pid, &status, WNOHANG) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
