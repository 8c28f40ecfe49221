import Storage

/// Doubles as Java's `Double.toString` writes them, which QuestDB's JSON and CSV use:
/// shortest round-trip digits, plain notation for 10⁻³ ≤ |x| < 10⁷ (always with a fraction
/// digit: `1500.0`), otherwise `1.0E7` / `1.0E-4` notation.
package enum JavaDoubleText {
    package static func format(_ value: Double) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A FLOAT as Java's `Float.toString` writes it (shortest digits of the 32-bit value).
    package static func format(_ value: Float) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the text of `value` to `out` without a String per value (result sets format
    /// millions of them).
    package static func append(_ value: Double, to out: inout [UInt8]) {
        var shortest = ShortestDigits()
        value.magnitude.write(to: &shortest)
        shortest.withBytes { append(value, description: $0, to: &out) }
    }

    package static func append(_ value: Float, to out: inout [UInt8]) {
        var shortest = ShortestDigits()
        value.magnitude.write(to: &shortest)
        shortest.withBytes { append(Double(value), description: $0, to: &out) }
    }

    /// Swift's shortest round-trip text of a number, caught in a fixed buffer: `write(to:)`
    /// hands a stream the formatted ASCII bytes (`_writeASCII`), where `description` would
    /// build a String — a heap allocation for the usual 16–18 characters, which doubled the
    /// cost of formatting. A stream that only gets `write(_:)` still works, through a String.
    private struct ShortestDigits: TextOutputStream {
        // 32 bytes: the longest text is 24 ("2.2250738585072014e-308" and a sign).
        private var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        private var count = 0

        mutating func write(_ string: String) {
            var text = string
            text.withUTF8 { _writeASCII($0) }
        }

        mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
            let start = count
            let taken = Swift.min(buffer.count, 32 - start)
            withUnsafeMutableBytes(of: &storage) { bytes in
                for index in 0..<taken { bytes[start + index] = buffer[index] }
            }
            count += taken
        }

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            withUnsafeBytes(of: storage) { body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    private static func append(_ value: Double, description: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        if value.isNaN { return out.append(contentsOf: "NaN".utf8) }
        if value.isInfinite { return out.append(contentsOf: (value < 0 ? "-Infinity" : "Infinity").utf8) }
        if value == 0 { return out.append(contentsOf: (value.sign == .minus ? "-0.0" : "0.0").utf8) }
        // Swift's description is the shortest round-trip form; its digits and the position of
        // the decimal point (value = 0.d₁d₂… × 10^point) are read off it into a fixed buffer.
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var count = 0
            var pointPosition: Int?
            var exponent = 0
            var exponentSign = 1
            var inExponent = false
            var leadingZeros = 0
            for byte in description {
                switch byte {
                case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
                case UInt8(ascii: "-") where inExponent: exponentSign = -1
                case UInt8(ascii: "+"): break
                case UInt8(ascii: "."): pointPosition = count + leadingZeros
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if inExponent {
                        exponent = exponent * 10 + Int(byte - 48)
                    } else if count == 0 && byte == UInt8(ascii: "0") {
                        leadingZeros += 1
                    } else if count < buffer.count {
                        buffer[count] = byte
                        count += 1
                    }
                default: break
                }
            }
            var point = (pointPosition ?? count + leadingZeros) + exponentSign * exponent - leadingZeros
            while count > 1 && buffer[count - 1] == UInt8(ascii: "0") { count -= 1 }
            if count == 0 {
                buffer[0] = UInt8(ascii: "0")
                count = 1
                point = 1
            }
            let significant = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            if value < 0 { out.append(UInt8(ascii: "-")) }
            let magnitude = abs(value)
            if magnitude >= 1e-3 && magnitude < 1e7 {
                if point <= 0 {
                    out.append(contentsOf: "0.".utf8)
                    for _ in 0 ..< -point { out.append(UInt8(ascii: "0")) }
                    out.append(contentsOf: significant)
                } else if point >= count {
                    out.append(contentsOf: significant)
                    for _ in 0 ..< point - count { out.append(UInt8(ascii: "0")) }
                    out.append(contentsOf: ".0".utf8)
                } else {
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: significant[..<point]))
                    out.append(UInt8(ascii: "."))
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: significant[point...]))
                }
                return
            }
            out.append(significant[0])
            out.append(UInt8(ascii: "."))
            if count > 1 {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: significant[1...]))
            } else {
                out.append(UInt8(ascii: "0"))
            }
            out.append(UInt8(ascii: "E"))
            TextBytes.appendInteger(Int64(point - 1), to: &out)
        }
    }
}
