// The wire protocols' parsers under libFuzzer (RELIABILITY §5.1). `make fuzz` builds this
// target with `-D SUNDIAL_FUZZ -sanitize=fuzzer,address` in its own build directory and lets
// libFuzzer mutate inputs for the parser `FUZZ_TARGET` names (`ilp`, the default, or `pg`); a
// plain build makes a replayer that runs the same check over files (a corpus, or a crash
// libFuzzer saved): `FUZZ_TARGET=pg WireFuzz FILE...`, with no sanitizer toolchain needed.
//
// Each check: any bytes are taken without a trap or a memory error, and the answer is the same
// whether the bytes come whole, cut at two bytes the input picks, or one at a time.
#if canImport(Glibc)
import Glibc
#endif

/// The check of the target `FUZZ_TARGET` names.
let check: @Sendable (UnsafeRawBufferPointer) -> Void = {
    switch getenv("FUZZ_TARGET").map({ String(cString: $0) }) ?? "ilp" {
    case "ilp": return ILPTarget.check
    case "pg": return PGTarget.check
    case let other:
        print("unknown FUZZ_TARGET \(other) (ilp, pg)")
        exit(2)
    }
}()

/// Runs `answer` whole, cut at two bytes the input picks and (for short inputs) a byte at a
/// time, and traps when the answers differ.
func requireSameAnswer(_ bytes: UnsafeRawBufferPointer, _ answer: ([Int]) -> [String]) {
    let whole = answer([])
    if bytes.count >= 2 {
        let cuts = [Int(bytes[0]) % (bytes.count + 1), Int(bytes[1]) % (bytes.count + 1)].sorted()
        let split = answer(cuts)
        precondition(split == whole, "cut at \(cuts) changed the answer:\n\(whole)\n\(split)")
    }
    if bytes.count <= 256 {
        let trickle = answer(Array(0..<bytes.count))
        precondition(trickle == whole, "a byte at a time changed the answer:\n\(whole)\n\(trickle)")
    }
}

#if SUNDIAL_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

// SwiftPM links `main` to `<Module>_main`: libFuzzer's driver takes over from there.
@_cdecl("WireFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = check  // an unknown target stops here, before libFuzzer starts
    var count = argc, vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in
        check(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
}
#else
/// Replays files through the same check: `[FUZZ_TARGET=…] WireFuzz FILE...`.
@main
struct Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                print("cannot open \(path)")
                exit(2)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let read = fread(&chunk, 1, chunk.count, file)
                if read <= 0 { break }
                bytes += chunk[0..<read]
            }
            fclose(file)
            bytes.withUnsafeBytes { check($0) }
            print("\(path): ok (\(bytes.count) bytes)")
        }
    }
}
#endif
