/// Case folding and search for SQL names and keywords, which are nearly always ASCII:
/// `String.lowercased()` and `String.contains` go through Unicode tables and allocate, and
/// showed up in point-query profiles (per column name, per statement). Non-ASCII text falls
/// back to the Unicode rules, so results never differ from `lowercased()`.
package enum ASCIICase {
    /// `text.lowercased()`, without allocating when `text` has no upper-case letter.
    package static func lowercased(_ text: String) -> String {
        var needsWork = false
        for byte in text.utf8 {
            if byte >= 0x80 { return text.lowercased() }
            if byte >= 0x41 && byte <= 0x5A { needsWork = true }
        }
        guard needsWork else { return text }
        return String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Whether `text` contains `needle` ignoring ASCII case; `needle` must be lower-case ASCII.
    package static func contains(_ text: String, _ needle: String) -> Bool {
        var text = text
        var needle = needle
        return text.withUTF8 { haystack in
            needle.withUTF8 { pattern in contains(haystack, pattern) }
        }
    }

    private static func contains(_ haystack: UnsafeBufferPointer<UInt8>, _ pattern: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = pattern.first else { return true }
        guard haystack.count >= pattern.count else { return false }
        var start = 0
        let last = haystack.count - pattern.count
        while start <= last {
            if fold(haystack[start]) == first {
                var matched = 1
                while matched < pattern.count, fold(haystack[start + matched]) == pattern[matched] { matched += 1 }
                if matched == pattern.count { return true }
            }
            start += 1
        }
        return false
    }

    @inline(__always) private static func fold(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
}
