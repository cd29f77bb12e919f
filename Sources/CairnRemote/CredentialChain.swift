import CairnStore
import Foundation

extension AWSCredentials {
    /// Credentials from the standard places, in AWS's order: `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, then the profile `AWS_PROFILE` (default
    /// `default`) in `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`). Never the repository.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AWSCredentials {
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let home = environment["HOME"] ?? NSHomeDirectory()
        let path = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let tried = ["AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "profile \(profile) in \(path)"]
        guard FileManager.default.fileExists(atPath: path) else { throw S3Error.noCredentials(tried: tried) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw S3Error.badCredentialsFile(path: path, reason: "cannot read it")
        }
        let section = parseINI(text)[profile] ?? [:]
        guard let key = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else {
            throw S3Error.noCredentials(tried: tried)
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: section["aws_session_token"])
    }

    /// `[section]` then `name = value` lines; `#` and `;` start comments.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let name = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            sections[current, default: [:]][name] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return sections
    }
}
