/// DECIMAL(p, s) values: the number × 10^s in an Int64 (|value| < 10^p, p ≤ 18), NULL as
/// Int64.min. Pure arithmetic on that representation; conversions round half away from zero,
/// as PostgreSQL's numeric does.
package enum DecimalValue {
    /// 10^0 … 10^18.
    package static let powers: [Int64] = (0...18).map { exponent in (0..<exponent).reduce(Int64(1)) { result, _ in result * 10 } }

    package static func fits(_ scaled: Int64, precision: Int) -> Bool {
        scaled != Int64.min && scaled.magnitude < UInt64(powers[precision])
    }

    package static func toDouble(_ scaled: Int64, scale: Int) -> Double {
        scaled == Int64.min ? .nan : Double(scaled) / Double(powers[scale])
    }

    /// `value` × 10^scale, rounded; nil when it does not fit an Int64.
    package static func fromDouble(_ value: Double, scale: Int) -> Int64? {
        guard value.isFinite else { return nil }
        let scaled = (value * Double(powers[scale])).rounded(.toNearestOrAwayFromZero)
        guard scaled > -9.2e18, scaled < 9.2e18 else { return nil }
        return Int64(scaled)
    }

    /// An integer × 10^scale; nil on overflow.
    package static func fromInteger(_ value: Int64, scale: Int) -> Int64? {
        let (product, overflow) = value.multipliedReportingOverflow(by: powers[scale])
        return overflow || product == Int64.min ? nil : product
    }

    /// A scaled value moved from one scale to another (rounded when scale shrinks); nil on overflow.
    package static func rescale(_ scaled: Int64, from: Int, to: Int) -> Int64? {
        if from == to { return scaled }
        if to > from { return fromInteger(scaled, scale: to - from) }
        let divisor = powers[from - to]
        let (quotient, remainder) = scaled.quotientAndRemainder(dividingBy: divisor)
        // Half away from zero.
        if remainder.magnitude * 2 >= UInt64(divisor) { return quotient + (scaled < 0 ? -1 : 1) }
        return quotient
    }

    /// The integer part (truncated toward zero, as a cast to an integer type does).
    package static func truncated(_ scaled: Int64, scale: Int) -> Int64 { scaled / powers[scale] }

    /// Plain decimal text (`-12.50`, `0.05`, `7`), or `1e3`/`1.5E-2` forms, × 10^scale rounded;
    /// nil when it is not a number or does not fit an Int64.
    package static func parse(_ text: String, scale: Int) -> Int64? {
        var digits: [UInt8] = []
        var fractionDigits = 0
        var negative = false
        var seenPoint = false
        let bytes = Array(text.utf8)
        var start = 0, end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        var index = start
        if index < end, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        while index < end {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                digits.append(byte - 48)
                if seenPoint { fractionDigits += 1 }
            } else if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                // Exponent forms go through a double (exact for what fits 18 digits).
                return Double(String(decoding: bytes[start..<end], as: UTF8.self)).flatMap { fromDouble($0, scale: scale) }
            } else {
                return nil
            }
            index += 1
        }
        guard !digits.isEmpty else { return nil }
        // Keep `scale` fraction digits; the next one rounds (half away from zero).
        let keep = digits.count - fractionDigits + scale
        var roundUp = false
        if keep < digits.count {
            roundUp = keep >= 0 && digits[keep] >= 5
            digits.removeSubrange(max(keep, 0)...)
        }
        var value: Int64 = 0
        for digit in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = shifted.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        // Fewer fraction digits than the scale: pad.
        let missing = scale - fractionDigits
        if missing > 0 {
            guard let padded = fromInteger(value, scale: missing) else { return nil }
            value = padded
        }
        if roundUp {
            let (sum, overflow) = value.addingReportingOverflow(1)
            guard !overflow else { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    /// `-12.50` for (−1250, 2). (Result sets write it into bytes: `DecimalValue.append`.)
    package static func text(_ scaled: Int64, scale: Int) -> String {
        let magnitude = scaled.magnitude
        let divisor = UInt64(powers[scale])
        let fraction = String(magnitude % divisor)
        return (scaled < 0 ? "-" : "") + String(magnitude / divisor)
            + (scale > 0 ? "." + String(repeating: "0", count: scale - fraction.count) + fraction : "")
    }
}
