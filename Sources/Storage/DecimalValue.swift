/// DECIMAL(p, s) values: the number × 10^s in an Int64 (|value| < 10^p, p ≤ 18), NULL as
/// Int64.min. Pure arithmetic on that representation; conversions round half away from zero,
/// as PostgreSQL's numeric does.
package enum DecimalValue {
    /// 10^0 … 10^18.
    package static let powers: [Int64] = (0...18).map { exponent in (0..<exponent).reduce(Int64(1)) { result, _ in result * 10 } }

    package static func fits(_ scaled: Int64, precision: Int) -> Bool {
        scaled != Int64.min && scaled.magnitude < UInt64(powers[precision])
    }

    /// The nearest double (one rounding: past 2^53 the scaled value is no exact double).
    package static func toDouble(_ scaled: Int64, scale: Int) -> Double {
        guard scaled != Int64.min else { return .nan }
        if scaled.magnitude < 1 << 53 { return Double(scaled) / exactPowers[scale] }
        return WideDecimal.toDouble(Int256(scaled), scale: scale)
    }

    /// `value` × 10^scale, rounded; nil when it does not fit an Int64. The double is read as
    /// its shortest text (as PostgreSQL's and Java's conversions do): 0.285 to two digits is
    /// 0.29, where 0.285 × 100 in binary is 28.4999….
    package static func fromDouble(_ value: Double, scale: Int) -> Int64? {
        guard value.isFinite else { return nil }
        // Fast path: the binary product rounds as the text would unless it lies within a few
        // ulps of a half (the text and the double differ by under one ulp of the product).
        let product = value * exactPowers[min(scale, 22)]
        if scale <= 22, product.magnitude < 9.0e15 {
            let fraction = product - product.rounded(.down)
            if (fraction - 0.5).magnitude > 4 * product.ulp { return Int64(product.rounded(.toNearestOrAwayFromZero)) }
        }
        return WideDecimal.fromDouble(value, scale: scale).flatMap(narrow)
    }

    /// 10^0 … 10^22: the powers of ten a double holds exactly.
    static let exactPowers: [Double] = (0...22).map { exponent in (0..<exponent).reduce(1.0) { result, _ in result * 10 } }

    /// A wide value that fits an Int64 (and is not its NULL).
    package static func narrow(_ value: Int256) -> Int64? {
        value.int128.flatMap { Int64(exactly: $0) }.flatMap { $0 == Int64.min ? nil : $0 }
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
        WideDecimal.parse(text, scale: scale).flatMap(narrow)
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
