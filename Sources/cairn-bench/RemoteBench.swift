import CairnSupport
import ArgumentParser
import Foundation
import Glibc

/// `cairn push` and `cairn clone` against `aws s3 sync` up and down, side by side in one run, on a
/// local S3 server, then the time of a push with nothing new.
struct RemoteBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Push and clone vs `aws s3 sync` up and down to a local S3 server, and a no-op push.",
        discussion: """
            Needs `aws` on PATH and a server (make test-deps installs awscli and moto). Uses the AWS_* credentials
            in the environment, or test ones when there are none (moto accepts any).
            Examples: moto_server -H 127.0.0.1 -p 5055 &
                      cairn-bench remote /tmp/s20k --endpoint http://127.0.0.1:5055
                      cairn-bench remote /tmp/peers/data/small100k --endpoint http://127.0.0.1:5055 --skip-aws
            """)

    @Argument(help: "A folder of images in class subfolders (e.g. 20,000 small PNGs).") var dataset: String
    @Option(help: "The S3 server's URL, e.g. http://127.0.0.1:5055.") var endpoint: String
    @Option(help: "Where to make the scratch repositories and download folder.") var work: String = "/tmp/cairn-bench"
    @Option(help: "Parallel requests for cairn (aws uses its default, 10).") var jobs = 16
    @Flag(help: "Leave out the `aws s3 sync` runs (e.g. for the no-op push at 100,000 items).") var skipAWS = false

    func run() throws {
        if getenv("AWS_ACCESS_KEY_ID") == nil {
            setenv("AWS_ACCESS_KEY_ID", "cairn-bench", 1)
            setenv("AWS_SECRET_ACCESS_KEY", "cairn-bench-secret", 1)
        }
        if getenv("AWS_DEFAULT_REGION") == nil { setenv("AWS_DEFAULT_REGION", "us-east-1", 1) }
        let url = endpoint
        let scratch = work + "/remote-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tag = String(getpid())
        let out = scratch + "/out"
        func aws(_ args: [String]) throws -> Double { try runChecked("/usr/bin/env", ["aws", "--endpoint-url", url] + args, output: out).seconds }
        func cairn(_ args: [String]) throws -> (Double, [String: Any]) {
            let (seconds, stdout) = try runChecked(cairnBinary, args, output: out)
            return (seconds, (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:])
        }
        _ = try aws(["s3", "mb", "s3://sync-\(tag)"])
        _ = try aws(["s3", "mb", "s3://cairn-\(tag)"])
        let images = files(under: dataset).count

        // Up.
        var syncUp = 0.0
        if !skipAWS {
            syncUp = try aws(["s3", "sync", dataset, "s3://sync-\(tag)/x", "--only-show-errors"])
            emit(["step": "aws-sync-up", "files": images, "seconds": format(syncUp, 2), "files_per_s": format(Double(images) / syncUp)])
        }
        let repo = scratch + "/a"
        _ = try cairn(["init", repo])
        _ = try cairn(["-C", repo, "import", "--labels-from-dirs", dataset])
        _ = try cairn(["-C", repo, "snapshot", "-m", "bench"])
        _ = try cairn(["-C", repo, "tag", "v1"])
        _ = try cairn(["-C", repo, "remote", "add", "origin", "s3://cairn-\(tag)/ds", "--endpoint", url, "--path-style"])
        let (push, pushed) = try cairn(["-C", repo, "push", "--json", "--jobs", String(jobs)])
        emit(["step": "cairn-push", "images": images, "objects": pushed["objectsUploaded"] ?? 0, "requests": pushed["requests"] ?? 0,
              "seconds": format(push, 2), "images_per_s": format(Double(images) / push),
              "vs_aws": skipAWS ? "-" : format(syncUp / push, 2)])
        let (noop, again) = try cairn(["-C", repo, "push", "--json"])
        emit(["step": "cairn-push-noop", "items": images, "requests": again["requests"] ?? 0, "seconds": format(noop, 2)])

        // Down.
        var syncDown = 0.0
        if !skipAWS {
            syncDown = try aws(["s3", "sync", "s3://sync-\(tag)/x", scratch + "/down", "--only-show-errors"])
            emit(["step": "aws-sync-down", "files": images, "seconds": format(syncDown, 2), "files_per_s": format(Double(images) / syncDown)])
        }
        let (clone, cloned) = try cairn(["clone", "s3://cairn-\(tag)/ds", scratch + "/b", "--endpoint", url, "--path-style", "--json",
                                         "--jobs", String(jobs)])
        emit(["step": "cairn-clone", "images": cloned["blobs"] ?? 0, "tree_objects": cloned["treeObjects"] ?? 0,
              "requests": cloned["requests"] ?? 0, "seconds": format(clone, 2), "images_per_s": format(Double(images) / clone),
              "vs_aws": skipAWS ? "-" : format(syncDown / clone, 2)])
    }
}
