import CairnFuzz
import Foundation
import Glibc

// libFuzzer entry points. Build: swift build --scratch-path .build-fuzz --product cairn-fuzz
// -Xswiftc -sanitize=fuzzer,address -Xlinker --export-dynamic; run:
// CAIRN_FUZZ_TARGET=png .build-fuzz/debug/cairn-fuzz CORPUS (`make fuzz` does both for every
// target). SwiftPM links executables with main = cairn_fuzz_main, so that function hands over to
// libFuzzer's driver, found at run time so that an ordinary (unsanitized) build still links.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTargets.run(target, data.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}

private typealias Driver = @convention(c) (
    UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("cairn_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "LLVMFuzzerRunDriver") else {
        FileHandle.standardError.write(Data("cairn-fuzz: not built with -sanitize=fuzzer; use `make fuzz`\n".utf8))
        return 2
    }
    let driver = unsafeBitCast(symbol, to: Driver.self)
    var argc = argc
    var argv = argv
    return driver(&argc, &argv) { fuzzOneInput($0, $1) }
}
