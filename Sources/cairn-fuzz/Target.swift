import Foundation

/// The target this run fuzzes, from `CAIRN_FUZZ_TARGET` (see `FuzzTargets.names`).
let target = ProcessInfo.processInfo.environment["CAIRN_FUZZ_TARGET"] ?? "png"
