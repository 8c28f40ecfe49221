import Storage

/// Values as text written straight into a byte buffer: the paths that format whole result
/// sets (`/exec` JSON) pay no String per value. The String forms (`TimestampText`,
/// `JSONText`) are built on these, so there is one implementation of each format.
package enum TextBytes {
    /// How many decimal digits `magnitude` has (1 for zero).
    package static func digitCount(_ magnitude: UInt64) -> Int {
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// An integer in decimal.
    package static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        var magnitude = value.magnitude
        let digits = digitCount(magnitude)
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var at = start + digits - 1
        repeat {
            out[at] = UInt8(48 + magnitude % 10)
            magnitude /= 10
            at -= 1
        } while magnitude > 0
    }

    /// `value` zero-padded to `width` digits (a sign before them when negative).
    static func appendPadded(_ value: Int64, width: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let digits = digitCount(value.magnitude)
        for _ in digits..<max(width, digits) { out.append(UInt8(ascii: "0")) }
        appendInteger(Int64(bitPattern: value.magnitude), to: &out)
    }

    /// ISO-8601 `yyyy-MM-ddTHH:mm:ss.fffZ` with `fractionDigits` digits of `perSecond` units.
    package static func appendTimestamp(_ value: Int64, fractionDigits: Int, perSecond: Int64, to out: inout [UInt8]) {
        let perDay = perSecond * 86_400
        var days = value / perDay
        var within = value % perDay
        if within < 0 {
            within += perDay
            days -= 1
        }
        let date = PartitionTime.civil(fromDays: days)
        let seconds = within / perSecond
        appendPadded(Int64(date.year), width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(Int64(date.month), width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendPadded(Int64(date.day), width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendPadded(seconds / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(seconds / 60 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendPadded(seconds % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendPadded(within % perSecond, width: fractionDigits, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// A JSON string literal, escaped as RFC 8259 requires (quotes, backslashes, control bytes).
    package static func appendJSONQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for (index, byte) in bytes.enumerated() {
                let escape: (UInt8, UInt8)? = switch byte {
                case UInt8(ascii: "\""): (UInt8(ascii: "\\"), UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): (UInt8(ascii: "\\"), UInt8(ascii: "\\"))
                case UInt8(ascii: "\n"): (UInt8(ascii: "\\"), UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): (UInt8(ascii: "\\"), UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): (UInt8(ascii: "\\"), UInt8(ascii: "t"))
                default: nil
                }
                guard escape != nil || byte < 0x20 || byte == 0x7F else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                if let (a, b) = escape {
                    out.append(a)
                    out.append(b)
                } else {
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
