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
        append(value, description: value.magnitude.description, to: &out)
    }

    package static func append(_ value: Float, to out: inout [UInt8]) {
        append(Double(value), description: value.magnitude.description, to: &out)
    }

    private static func append(_ value: Double, description: String, to out: inout [UInt8]) {
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
            for byte in description.utf8 {
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
