import CairnCatalog
import CairnSupport
import Foundation

/// Where a PostgreSQL catalog lives and how to sign in, read the way libpq reads it: a
/// `postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DATABASE][?sslmode=MODE]` URL, then the
/// environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`), then
/// `~/.pgpass` (or `PGPASSFILE`) for the password, then the defaults (a local socket directory
/// `/var/run/postgresql`, port 5432, the login name as user and database).
///
/// ```swift
/// let location = try PostgresLocation(url: "postgresql://ada@db.example:5432/labels")
/// print(location)   // postgresql://ada@db.example:5432/labels — never the password
/// ```
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// How TLS is used, as libpq's `sslmode`: `prefer` (the default) encrypts when the server offers
    /// it, without checking its certificate, as libpq does; `verify-full` checks the certificate and
    /// the host name against the system's trust store.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    /// A host name, an IP address, or a directory holding the server's Unix socket (starts with `/`).
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Reads `url` (`postgresql://…` or `postgres://…`), filling what it leaves out from the
    /// environment, `.pgpass` and the defaults.
    /// - Throws: `CatalogError.invalidLocation` for a URL that is not a PostgreSQL one or does not parse.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://"),
              let parts = URLComponents(string: url) else {
            throw CatalogError.invalidLocation(Self.redacted(url), reason: "give postgresql://[USER@]HOST[:PORT]/DATABASE")
        }
        var tls = TLSMode.prefer
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw CatalogError.invalidLocation(Self.redacted(url), reason: "sslmode is one of "
                                                       + TLSMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                tls = mode
            default:
                throw CatalogError.invalidLocation(Self.redacted(url), reason: "unknown parameter '\(Printable.escaped(item.name))' (only sslmode is read)")
            }
        }
        if parts.queryItems == nil, let mode = environment["PGSSLMODE"].flatMap(TLSMode.init(rawValue:)) { tls = mode }
        let login = ProcessInfo.processInfo.userName
        let host = (parts.percentEncodedHost?.removingPercentEncoding).flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["PGHOST"] ?? "/var/run/postgresql"
        let port = parts.port ?? environment["PGPORT"].flatMap(Int.init) ?? 5432
        let user = parts.user.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGUSER"] ?? login
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        let database = path.isEmpty ? environment["PGDATABASE"] ?? user : path
        guard (1...65535).contains(port) else { throw CatalogError.invalidLocation(Self.redacted(url), reason: "port \(port) is out of range") }
        self.init(host: host, port: port, user: user, database: database, tls: tls)
        password = parts.password ?? environment["PGPASSWORD"] ?? Self.passwordFile(environment).flatMap(passwordFrom(pgpass:))
    }

    /// The URL without the password: what messages and `config.toml` show.
    public var description: String {
        let hostPart = host.hasPrefix("/") ? "" : (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        let query = tls == .prefer ? "" : "?sslmode=\(tls.rawValue)"
        let socket = host.hasPrefix("/") ? "?host=\(host)" : ""
        return "postgresql://\(user)@\(hostPart)/\(database)\(query.isEmpty ? socket : query)"
    }

    /// `url` with any password replaced by `***`, for messages about a URL that did not parse.
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at else { return Printable.escaped(url) }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return Printable.escaped(url) }
        return Printable.escaped(String(url[..<colon]) + ":***" + String(url[at...]))
    }

    private static func passwordFile(_ environment: [String: String]) -> String? {
        if let file = environment["PGPASSFILE"] { return file }
        return environment["HOME"].map { $0 + "/.pgpass" }
    }

    /// The password of the first line of a `.pgpass` file (`host:port:database:user:password`, `*`
    /// matching anything, `\` escaping `:` and `\`) that matches this location. libpq ignores a
    /// file others can read, and so does this.
    func passwordFrom(pgpass path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 == 0,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let hostName = host.hasPrefix("/") ? "localhost" : host
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = [""]
            var escaped = false
            for character in line {
                if escaped { fields[fields.count - 1].append(character); escaped = false }
                else if character == "\\" { escaped = true }
                else if character == ":" && fields.count < 5 { fields.append("") }
                else { fields[fields.count - 1].append(character) }
            }
            guard fields.count == 5 else { continue }
            let wanted = [hostName, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
