import Storage

extension DecimalValue {
    /// `-12.50` for (−1250, 2).
    package static func append(_ scaled: Int64, scale: Int, to out: inout [UInt8]) {
        if scaled < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = scaled.magnitude
        let divisor = UInt64(powers[scale])
        TextBytes.appendInteger(Int64(magnitude / divisor), to: &out)
        guard scale > 0 else { return }
        out.append(UInt8(ascii: "."))
        TextBytes.appendPadded(Int64(magnitude % divisor), width: scale, to: &out)
    }
}

/// Decimals as SQL values. Up to 18 digits a DECIMAL's value is `.integer` (× 10^scale); past
/// that it is `.text` holding its plain decimal text at its scale (`"12.50"`), so constants,
/// bind parameters and single-value conversions need no 256-bit case of their own; vectors
/// hold `Int256`s (`ColumnVector.wide`).
package enum DecimalText {
    /// The DECIMAL a number written as `text` is, as a literal `text` + `m` would be: its
    /// digits (leading zeros aside) and its fraction digits, exponent applied (`1.5E+3` is
    /// DECIMAL(4, 0)); nil when it is not a plain number or needs more than 76 digits.
    package static func literalType(_ text: String) -> SQLType? {
        var body = Substring(text.trimmingSpaces)
        if body.hasPrefix("-") || body.hasPrefix("+") { body = body.dropFirst() }
        var exponent = 0
        if let e = body.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let value = Int(body[body.index(after: e)...]), abs(value) <= 1000 else { return nil }
            exponent = value
            body = body[..<e]
        }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !body.isEmpty, parts.allSatisfy({ $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }), parts.contains(where: { !$0.isEmpty }) else {
            return nil
        }
        let integerDigits = parts[0].drop { $0 == "0" }.count
        let fractionDigits = parts.count == 2 ? parts[1].count : 0
        let scale = max(0, fractionDigits - exponent)
        // The exponent moves digits between the integer part and the fraction.
        let precision = max(1, max(0, integerDigits + exponent) + scale)
        guard precision <= ColumnType.maxDecimalPrecision else { return nil }
        return .decimal(precision: precision, scale: scale)
    }

    /// The value of `type` (a DECIMAL) written as `text`; nil when it is not a number or does
    /// not fit the precision.
    static func value(_ text: String, _ type: SQLType) -> SQLValue? {
        guard case .column(.decimal(let precision, let scale)) = type else { return nil }
        if type.isWideDecimal {
            guard let scaled = WideDecimal.parse(text, scale: scale), WideDecimal.fits(scaled, precision: precision) else { return nil }
            return .text(WideDecimal.text(scaled, scale: scale))
        }
        guard let scaled = DecimalValue.parse(text, scale: scale), DecimalValue.fits(scaled, precision: precision) else { return nil }
        return .integer(scaled)
    }

    /// A wide DECIMAL's SQL value as its scaled `Int256` (nil for NULL or a value that is not one).
    static func wide(_ value: SQLValue, _ type: SQLType) -> Int256? {
        let scale = type.decimalScale ?? 0
        switch value {
        case .text(let text): return WideDecimal.parse(text, scale: scale)
        case .integer(let number): return WideDecimal.fromInteger(Int256(number), scale: scale)
        case .real(let number): return WideDecimal.fromDouble(number, scale: scale)
        case .null, .boolean: return nil
        }
    }

    /// A wide DECIMAL's SQL value from its scaled `Int256`.
    static func sqlValue(_ scaled: Int256, _ type: SQLType) -> SQLValue {
        scaled == .min ? .null : .text(WideDecimal.text(scaled, scale: type.decimalScale ?? 0))
    }
}
