import Foundation
import Testing

extension Tag {
    /// Suites that start servers (S3), kill processes, race many processes or drive a terminal:
    /// most of the suite's wall time.
    @Tag public static var slow: Self
}

/// Whether slow suites run: always, unless `CAIRN_SKIP_SLOW` is set. `CAIRN_SKIP_SLOW=1 swift test`
/// leaves them out while working; `make test` and CI run everything.
///
/// ```swift
/// @Suite(.serialized, .tags(.slow), .enabled(if: Slow.enabled)) struct CrashTests { … }
/// ```
public enum Slow {
    public static let enabled = ProcessInfo.processInfo.environment["CAIRN_SKIP_SLOW"] == nil
}
