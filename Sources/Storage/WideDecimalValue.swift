/// DECIMAL(p, s) values with 19 ≤ p ≤ 76: the number × 10^s in an `Int256`, NULL as
/// `Int256.min`. The same rules as `DecimalValue` (round half away from zero on rescaling
/// and conversion; exact or nothing), on the wide representation.
package enum WideDecimal {
    /// 10^0 … 10^76.
    package static let powers: [Int256] = {
        var powers = [Int256(1)]
        for _ in 1...ColumnType.maxDecimalPrecision {
            powers.append(powers.last!.multipliedReportingOverflow(by: Int256(10)).partialValue)
        }
        return powers
    }()

    package static func fits(_ scaled: Int256, precision: Int) -> Bool {
        scaled != .min && scaled.magnitude < powers[precision].magnitude
    }

    package static func toDouble(_ scaled: Int256, scale: Int) -> Double {
        guard scaled != .min else { return .nan }
        // An integer below 2^53 and a power of ten up to 10^22 are exact doubles, so their
        // quotient is rounded once, exactly. Otherwise through the text (dividing two rounded
        // doubles would round twice).
        if scale <= 22, let small = scaled.int128, small.magnitude < 1 << 53 {
            return Double(small) / DecimalValue.exactPowers[scale]
        }
        return Double(text(scaled, scale: scale)) ?? scaled.doubleValue
    }

    /// `value` × 10^scale, rounded; nil when not finite or too large. The double is read as its
    /// shortest text, as `DecimalValue.fromDouble` explains.
    package static func fromDouble(_ value: Double, scale: Int) -> Int256? {
        guard value.isFinite else { return nil }
        return parse(String(value), scale: scale)
    }

    /// An integer × 10^scale (nil on overflow).
    package static func fromInteger(_ value: Int256, scale: Int) -> Int256? {
        let (product, overflow) = value.multipliedReportingOverflow(by: powers[scale])
        return overflow || product == .min ? nil : product
    }

    /// Moved from one scale to another (rounded half away from zero when it shrinks).
    package static func rescale(_ scaled: Int256, from: Int, to: Int) -> Int256? {
        if from == to { return scaled }
        if to > from { return fromInteger(scaled, scale: to - from) }
        let (quotient, remainder) = scaled.quotientAndRemainder(dividingBy: powers[from - to])!
        // Half away from zero: 2 × |remainder| ≥ divisor (|remainder| < 10^76, so doubling fits).
        let half = remainder.magnitude
        let twice = Int256.Magnitude(high: half.high << 1 | half.low >> 127, low: half.low << 1)
        guard !(twice < powers[from - to].magnitude) else { return quotient }
        return quotient.addingReportingOverflow(scaled.isNegative ? -1 : 1).partialValue
    }

    /// The integer part (toward zero).
    package static func truncated(_ scaled: Int256, scale: Int) -> Int256 {
        scale == 0 ? scaled : scaled.quotientAndRemainder(dividingBy: powers[scale])!.quotient
    }

    /// Plain decimal text (`-12.50`, `0.05`, `7`) or exponent forms, × 10^scale rounded; nil
    /// when it is not a number or needs more than 76 digits.
    package static func parse(_ text: String, scale: Int) -> Int256? {
        let bytes = Array(text.utf8)
        var start = 0, end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        var index = start
        var negative = false
        if index < end, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var seenPoint = false
        var exponent = 0
        while index < end {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                digits.append(byte - 48)
                if seenPoint { fractionDigits += 1 }
            } else if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                guard let value = Int(String(decoding: bytes[(index + 1)..<end], as: UTF8.self)), abs(value) < 1000 else { return nil }
                exponent = value
                break
            } else {
                return nil
            }
            index += 1
        }
        guard !digits.isEmpty else { return nil }
        // The value is digits × 10^(exponent − fractionDigits); keep `scale` fraction digits.
        let shift = scale + exponent - fractionDigits
        var roundUp = false
        if shift < 0 {
            let keep = digits.count + shift
            roundUp = keep >= 0 && digits[keep] >= 5
            digits.removeSubrange(max(keep, 0)...)
        }
        var value = Int256.zero
        for digit in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: Int256(10))
            let (sum, o2) = shifted.addingReportingOverflow(Int256(Int64(digit)))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        if shift > 0 {
            guard shift <= ColumnType.maxDecimalPrecision, let padded = fromInteger(value, scale: shift) else { return nil }
            value = padded
        }
        if roundUp {
            let (sum, overflow) = value.addingReportingOverflow(Int256(1))
            guard !overflow else { return nil }
            value = sum
        }
        return negative ? value.negated : value
    }

    /// `-12.50` for (−1250, 2).
    package static func text(_ scaled: Int256, scale: Int) -> String {
        var out: [UInt8] = []
        append(scaled, scale: scale, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    package static func append(_ scaled: Int256, scale: Int, to out: inout [UInt8]) {
        if scaled.isNegative { out.append(UInt8(ascii: "-")) }
        let digits = scaled.magnitude.decimalDigits
        guard scale > 0 else { return out.append(contentsOf: digits) }
        if digits.count > scale {
            out.append(contentsOf: digits[..<(digits.count - scale)])
        } else {
            out.append(UInt8(ascii: "0"))
        }
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, scale - digits.count)))
        out.append(contentsOf: digits.suffix(scale))
    }
}
