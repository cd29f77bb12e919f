import CairnSupport
import Foundation
import Synchronization

/// What one run of the `cairn` binary did.
public struct CommandResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let stdoutData: Data

    public var description: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }

    /// Decodes stdout as JSON.
    public func json<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: stdoutData)
    }

    /// stdout parsed as a JSON object.
    public func jsonObject() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: stdoutData) as? [String: Any] ?? [:]
    }
}

/// Runs the built `cairn` executable, the way a user would.
public enum CLI {
    /// The `cairn` binary next to the running test bundle (or `$CAIRN_BIN`).
    public static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["CAIRN_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Test bundles may live in a subdirectory (`X.xctest/...`); walk up until `cairn` is found.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("cairn").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return "cairn"
    }()

    /// Runs `cairn ARGS` in `directory`, feeding `stdin`, and waits for it.
    @discardableResult
    public static func run(_ arguments: [String], in directory: String? = nil, stdin: Data? = nil,
                           environment: [String: String] = [:]) throws -> CommandResult {
        let (process, outPipe, errPipe) = try start(arguments, in: directory, stdin: stdin, environment: environment)
        // Read both pipes concurrently so a full pipe never blocks the child.
        let errData = LockedData()
        let errThread = Thread { errData.set(errPipe.fileHandleForReading.readDataToEndOfFile()) }
        errThread.start()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.isSet { usleep(1000) }
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                             stderr: String(decoding: errData.value, as: UTF8.self), stdoutData: out)
    }

    /// The environment commands run in: this process's, with `$USER` set as for a logged-in user
    /// (commands that record a person ask for one when it is unset).
    public static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        if env["USER"] == nil { env["USER"] = "cairn-test" }
        return env
    }

    /// Runs a shell command (for test set-up such as `mount`), returning its exit status and output.
    @discardableResult
    public static func shell(_ command: String) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

private final class LockedData: Sendable {
    private let state = Mutex<Data?>(nil)
    func set(_ d: Data) { state.withLock { $0 = d } }
    var isSet: Bool { state.withLock { $0 != nil } }
    var value: Data { state.withLock { $0 ?? Data() } }
}

extension CLI {
    /// Starts `cairn ARGS` without waiting: its stdin is fed `stdin` and closed; stdout and stderr
    /// are pipes for the caller to read.
    public static func start(_ arguments: [String], in directory: String? = nil, stdin: Data? = nil,
                             environment: [String: String] = [:]) throws -> (process: Process, stdout: Pipe, stderr: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = CLI.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        return (process, out, err)
    }
}

/// The deterministic generator randomized tests use, so a seed reproduces a run exactly.
public typealias SeededGenerator = SplitMix64
