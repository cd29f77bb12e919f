/// What every error type of Cairn's libraries adopts: a message that says what went wrong and what
/// to do about it (its `description`, one line, safe to print), and the exit status a command that
/// fails with it ends with. The command line prints any `CairnError` as `cairn: error: MESSAGE`
/// and exits with its status; any other error is a bug and is printed with its type.
///
/// ```swift
/// enum ExportError: CairnError {
///     case exists(String)
///     var description: String { switch self { case .exists(let path): "\(path) exists; pass --force" } }
/// }
/// ```
public protocol CairnError: Error, Sendable, CustomStringConvertible {
    /// The process exit status for this error: 1 unless the type says otherwise.
    var exitStatus: Int32 { get }
}

extension CairnError {
    public var exitStatus: Int32 { 1 }
}
