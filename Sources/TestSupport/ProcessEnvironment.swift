#if canImport(Glibc)
import Glibc
#endif

/// Environment knobs for long test campaigns (longer sweeps than `swift test` runs by default).
package enum ProcessEnvironment {
    /// The variable's value as a positive integer; `nil` when unset or not one.
    package static func integer(_ name: String) -> Int? {
        guard let raw = getenv(name), let value = Int(String(cString: raw)), value > 0 else { return nil }
        return value
    }
}
