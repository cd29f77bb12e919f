// `make fuzz` passes -sanitize=fuzzer to every Swift compile, build tools included, and
// libFuzzer's runtime then needs this symbol to link. It is never called: SwiftPM links `main` to
// this tool's own entry point, so the tool behaves the same in every build.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerStub(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { 0 }
