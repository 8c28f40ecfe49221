import Storage

/// Doubles as Java's `Double.toString` writes them, which QuestDB's JSON and CSV use:
/// shortest round-trip digits, plain notation for 10⁻³ ≤ |x| < 10⁷ (always with a fraction
/// digit: `1500.0`), otherwise `1.0E7` / `1.0E-4` notation.
package enum JavaDoubleText {
    package static func format(_ value: Double) -> String { format(value, description: value.magnitude.description) }

    /// A FLOAT as Java's `Float.toString` writes it (shortest digits of the 32-bit value).
    package static func format(_ value: Float) -> String {
        format(Double(value), description: value.magnitude.description)
    }

    private static func format(_ value: Double, description: String) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (digits, exponent) = decimalDigits(description)
        let sign = value < 0 ? "-" : ""
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e7 {
            // `exponent` is the position of the decimal point relative to the first digit.
            if exponent <= 0 {
                return sign + "0." + String(repeating: "0", count: -exponent) + digits
            }
            if exponent >= digits.count {
                return sign + digits + String(repeating: "0", count: exponent - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: exponent)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let first = digits.prefix(1)
        let rest = digits.dropFirst()
        return sign + first + "." + (rest.isEmpty ? "0" : rest) + "E" + String(exponent - 1)
    }

    /// The shortest round-trip significant digits of a positive finite value and the decimal
    /// exponent such that value = 0.d₁d₂… × 10^exponent.
    static func decimalDigits(_ text: String) -> (String, Int) {
        // `text` is Swift's description: the shortest round-trip form.
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var digits = ""
        var pointPosition: Int?
        for character in mantissa {
            if character == "." { pointPosition = digits.count } else { digits.append(character) }
        }
        var point = (pointPosition ?? digits.count) + exponent
        while digits.hasPrefix("0") {
            digits.removeFirst()
            point -= 1
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        return (digits.isEmpty ? "0" : digits, point)
    }
}
