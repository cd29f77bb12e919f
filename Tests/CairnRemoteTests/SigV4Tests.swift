import CairnTestSupport
import Crypto
import Foundation
import Testing

@testable import CairnRemote
import CairnStore

/// Cairn's SigV4 signer against botocore's (pip `botocore`): the same request signed by both
/// must carry the same Authorization header.
struct SigV4Tests {
    struct Case: Encodable {
        var method: String, url: String, headers: [String: String], body: String, region: String
        var key: String, secret: String, token: String?, time: String
    }

    /// Keys as boto3 puts them in a URL: everything but unreserved characters, '/' and '~' escaped.
    static let keys = [
        "objects/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "tags.json", "a b/c+d=e&f",
        "ünïcödé/日本語.png", "weird!*'()[];:@$,?#%.txt", "~tilde/..dots/x", "",
    ]

    func cases() -> [(Case, [(String, String)], String)] {
        var out: [(Case, [(String, String)], String)] = []
        let queries: [[(String, String)]] = [
            [], [("list-type", "2"), ("prefix", "objects/ab"), ("continuation-token", "1/2+3=")],
            [("uploads", "")], [("partNumber", "3"), ("uploadId", "x~y z")],
        ]
        for (i, key) in Self.keys.enumerated() {
            for (j, query) in queries.enumerated() {
                let method = ["GET", "PUT", "HEAD", "DELETE", "POST"][(i + j) % 5]
                let body = method == "PUT" || method == "POST" ? "hello \(i) \(j)" : ""
                let token: String? = (i + j) % 3 == 0 ? "FQoGZXIvYXdzE//token+with/slashes==" : nil
                let host = j % 2 == 0 ? "127.0.0.1:9000" : "bucket.s3.eu-west-1.amazonaws.com"
                let path = (j % 2 == 0 ? "/bucket" : "") + "/" + SigV4Signer.encodePath(key)
                let queryText = SigV4Signer.canonicalQuery(query)
                let scheme = j % 2 == 0 ? "http" : "https"
                var headers = ["host": host]
                if !body.isEmpty { headers["content-type"] = "application/octet-stream" }
                if j == 3 { headers["range"] = "bytes=0-  9" }
                let c = Case(
                    method: method, url: "\(scheme)://\(host)\(path)\(queryText.isEmpty ? "" : "?" + queryText)", headers: headers,
                    body: body, region: j % 2 == 0 ? "us-east-1" : "eu-west-1", key: "AKIDEXAMPLE\(i)",
                    secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\(j)", token: token, time: "2026112\(i % 10)T0\(j)3045Z")
                out.append((c, query, path))
            }
        }
        return out
    }

    @Test func matchesBotocore() throws {
        let dir = try TemporaryDirectory("cairn-sigv4")
        defer { dir.remove() }
        let table = cases()
        let casesPath = dir.appending("cases.json")
        try JSONEncoder().encode(table.map(\.0)).write(to: URL(fileURLWithPath: casesPath))
        let script = Fixtures.packageRoot + "/Tests/S3/sigv4_botocore.py"
        let result = CLI.shell("python3 \(script) \(casesPath)")
        try #require(result.status == 0, "botocore is needed (make test installs it): \(result.output)")
        let expected = result.output.split(separator: "\n").map(String.init)
        try #require(expected.count == table.count)
        for ((c, query, path), theirs) in zip(table, expected) {
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
            formatter.timeZone = TimeZone(identifier: "UTC")
            let date = try #require(formatter.date(from: c.time))
            let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: c.key, secretAccessKey: c.secret, sessionToken: c.token),
                                     region: c.region)
            let payload = SHA256.hash(data: Data(c.body.utf8)).hexString
            let ours = signer.sign(method: c.method, path: path, query: query, headers: c.headers.map { ($0.key, $0.value) },
                                   payloadHash: payload, date: date).first { $0.0 == "authorization" }?.1
            #expect(ours == theirs, "\(c.method) \(c.url)")
        }
    }

    /// The example in `SigV4Signer`'s documentation, as written there.
    @Test func theDocumentedExampleSigns() {
        let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"), region: "us-east-1")
        let added = signer.sign(method: "GET", path: "/bucket/key", query: [], headers: [("host", "s3.amazonaws.com")],
                                payloadHash: SigV4Signer.emptyPayloadHash, date: Date())
        #expect(added.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "authorization"])
    }

    @Test func credentialsNeverShowTheSecret() throws {
        let creds = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s3cr3t", sessionToken: "t0k3n")
        #expect(!"\(creds)".contains("s3cr3t") && !"\(creds)".contains("t0k3n"))
        #expect(!String(reflecting: S3Error.credentialsRefused(code: "InvalidAccessKeyId", message: "x")).contains("s3cr3t"))
    }

    @Test func credentialChainOrder() throws {
        let dir = try TemporaryDirectory("cairn-creds")
        defer { dir.remove() }
        let file = dir.appending("credentials")
        try "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n[profile team]\naws_access_key_id=TEAM\naws_secret_access_key=teamsecret\naws_session_token = tok\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": file, "HOME": dir.path]
        #expect(try AWSCredentials.standard(environment: env).accessKeyID == "DEF")
        #expect(try AWSCredentials.standard(environment: env.merging(["AWS_PROFILE": "team"]) { $1 })
            == AWSCredentials(accessKeyID: "TEAM", secretAccessKey: "teamsecret", sessionToken: "tok"))
        #expect(try AWSCredentials.standard(environment: env.merging(["AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "e"]) { $1 })
            .accessKeyID == "ENV")
        #expect(throws: S3Error.self) { try AWSCredentials.standard(environment: ["HOME": dir.path, "AWS_PROFILE": "nobody"]) }
    }

    @Test func xmlEntitiesAndURLs() throws {
        #expect(XMLScan.value("Key", in: "<Key>a &amp; b &lt;c&gt; &#x263A;&#65;</Key>") == "a & b <c> ☺A")
        let location = try S3Location(url: "s3://my-bucket/some/prefix/", endpoint: "http://127.0.0.1:9000", pathStyle: true)
        #expect(location.prefix == "some/prefix" && location.key("x") == "some/prefix/x")
        #expect(location.base().url == "http://127.0.0.1:9000" && location.base().pathPrefix == "/my-bucket")
        let aws = try S3Location(url: "s3://my-bucket", region: "eu-west-1")
        #expect(aws.base().host == "my-bucket.s3.eu-west-1.amazonaws.com")
        #expect(throws: S3Error.self) { try S3Location(url: "s3://UPPER/x") }
        #expect(throws: S3Error.self) { try S3Location(url: "http://bucket/x") }
        #expect(throws: S3Error.self) { try S3Location(url: "s3://bucket", endpoint: "localhost:9000") }
    }
}
