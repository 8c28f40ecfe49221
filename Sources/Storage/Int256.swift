/// A 256-bit two's-complement integer: the unscaled value of a DECIMAL wider than 18 digits
/// (QuestDB's DECIMAL128 and DECIMAL256; 10^76 < 2^253). Only what decimals need: exact
/// ± and × reporting overflow, division, comparison, and decimal digits. `min` is NULL.
package struct Int256: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    package var high: Int128
    package var low: UInt128

    package init(high: Int128, low: UInt128) {
        self.high = high
        self.low = low
    }

    package init(_ value: Int64) { self.init(Int128(value)) }

    package init(integerLiteral value: Int64) { self.init(value) }

    package init(_ value: Int128) {
        high = value < 0 ? -1 : 0
        low = UInt128(truncatingIfNeeded: value)
    }

    package static let min = Int256(high: .min, low: 0)
    package static let zero = Int256(high: 0, low: 0)

    package var isNegative: Bool { high < 0 }

    /// The value as an Int128, or nil when it does not fit.
    package var int128: Int128? {
        let candidate = Int128(truncatingIfNeeded: low)
        return (candidate < 0 ? -1 : 0) == high ? candidate : nil
    }

    package static func < (a: Int256, b: Int256) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// Two's-complement negation (wraps for `min`, which callers treat as NULL).
    package var negated: Int256 {
        let low = ~self.low &+ 1
        return Int256(high: ~high &+ (low == 0 ? 1 : 0), low: low)
    }

    package func addingReportingOverflow(_ other: Int256) -> (partialValue: Int256, overflow: Bool) {
        let (low, carry) = self.low.addingReportingOverflow(other.low)
        let high = self.high &+ other.high &+ (carry ? 1 : 0)
        let result = Int256(high: high, low: low)
        return (result, isNegative == other.isNegative && result.isNegative != isNegative)
    }

    package func subtractingReportingOverflow(_ other: Int256) -> (partialValue: Int256, overflow: Bool) {
        let (low, borrow) = self.low.subtractingReportingOverflow(other.low)
        let high = self.high &- other.high &- (borrow ? 1 : 0)
        let result = Int256(high: high, low: low)
        return (result, isNegative != other.isNegative && result.isNegative != isNegative)
    }

    package func multipliedReportingOverflow(by other: Int256) -> (partialValue: Int256, overflow: Bool) {
        let negative = isNegative != other.isNegative
        guard let product = Magnitude.multiply(magnitude, other.magnitude) else { return (.zero, true) }
        return Self.signed(product, negative: negative).map { ($0, false) } ?? (.zero, true)
    }

    /// Truncated toward zero; nil when `divisor` is zero.
    package func quotientAndRemainder(dividingBy divisor: Int256) -> (quotient: Int256, remainder: Int256)? {
        guard divisor != .zero else { return nil }
        let (quotient, remainder) = Magnitude.divide(magnitude, divisor.magnitude)
        // |quotient| ≤ |self| and |remainder| < |divisor|, so both fit (min ÷ −1 aside).
        return (Self.signed(quotient, negative: isNegative != divisor.isNegative) ?? .min,
                Self.signed(remainder, negative: isNegative) ?? .min)
    }

    package var description: String {
        var digits = magnitude.decimalDigits
        if isNegative { digits.insert(UInt8(ascii: "-"), at: 0) }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Nearest double.
    package var doubleValue: Double {
        let m = magnitude
        let value = Double(m.high) * 0x1p128 + Double(m.low)
        return isNegative ? -value : value
    }

    /// Little-endian storage: 16 bytes hold an Int128 (DECIMAL128, its NULL Int128.min), 32
    /// bytes the whole value.
    package static func load(from raw: UnsafeRawPointer, width: Int) -> Int256 {
        let low = UInt128(littleEndian: raw.loadUnaligned(as: UInt128.self))
        if width == 16 {
            let value = Int128(truncatingIfNeeded: low)
            return value == .min ? .min : Int256(value)
        }
        return Int256(high: Int128(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: Int128.self)), low: low)
    }

    /// The `width` (16 or 32) bytes of `load(from:width:)`; the value must fit the width.
    package func appendBytes(width: Int, to out: inout [UInt8]) {
        if width == 16 {
            let value: Int128 = self == .min ? .min : Int128(truncatingIfNeeded: low)
            withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
            return
        }
        withUnsafeBytes(of: low.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: high.littleEndian) { out.append(contentsOf: $0) }
    }

    package var magnitude: Magnitude {
        let value = isNegative ? negated : self
        return Magnitude(high: UInt128(truncatingIfNeeded: value.high), low: value.low)
    }

    /// A magnitude with a sign; nil when it does not fit (2^255 fits only negative).
    private static func signed(_ magnitude: Magnitude, negative: Bool) -> Int256? {
        let value = Int256(high: Int128(truncatingIfNeeded: magnitude.high), low: magnitude.low)
        if magnitude.high >> 127 == 0 { return negative ? value.negated : value }
        return negative && value == .min ? .min : nil
    }

    /// An unsigned 256-bit value.
    package struct Magnitude: Sendable, Equatable, Comparable {
        package var high: UInt128
        package var low: UInt128

        package static func < (a: Magnitude, b: Magnitude) -> Bool {
            a.high != b.high ? a.high < b.high : a.low < b.low
        }

        static func multiply(_ a: Magnitude, _ b: Magnitude) -> Magnitude? {
            if a.high != 0 && b.high != 0 { return nil }
            let low = a.low.multipliedFullWidth(by: b.low)
            let (cross, crossOverflow) = a.high != 0 ? a.high.multipliedReportingOverflow(by: b.low)
                                                     : b.high.multipliedReportingOverflow(by: a.low)
            let (high, overflow) = low.high.addingReportingOverflow(cross)
            return crossOverflow || overflow ? nil : Magnitude(high: high, low: low.low)
        }

        /// (quotient, remainder); `divisor` is not zero.
        static func divide(_ dividend: Magnitude, _ divisor: Magnitude) -> (Magnitude, Magnitude) {
            if divisor.high == 0, divisor.low <= UInt128(UInt64.max) {
                let (quotient, remainder) = dividend.dividedBy(UInt64(divisor.low))
                return (quotient, Magnitude(high: 0, low: UInt128(remainder)))
            }
            if dividend.high == 0, divisor.high == 0 {
                let (quotient, remainder) = dividend.low.quotientAndRemainder(dividingBy: divisor.low)
                return (Magnitude(high: 0, low: quotient), Magnitude(high: 0, low: remainder))
            }
            // Shift and subtract, one bit at a time: only wide divisors get here.
            var quotient = Magnitude(high: 0, low: 0)
            var remainder = Magnitude(high: 0, low: 0)
            for bit in (0..<256).reversed() {
                remainder = Magnitude(high: remainder.high << 1 | remainder.low >> 127, low: remainder.low << 1 | dividend.bit(bit))
                if remainder >= divisor {
                    let (low, borrow) = remainder.low.subtractingReportingOverflow(divisor.low)
                    remainder = Magnitude(high: remainder.high &- divisor.high &- (borrow ? 1 : 0), low: low)
                    if bit >= 128 { quotient.high |= 1 << (bit - 128) } else { quotient.low |= 1 << bit }
                }
            }
            return (quotient, remainder)
        }

        private func bit(_ index: Int) -> UInt128 {
            index >= 128 ? high >> (index - 128) & 1 : low >> index & 1
        }

        /// Division by a 64-bit divisor, limb by limb from the top.
        func dividedBy(_ divisor: UInt64) -> (Magnitude, UInt64) {
            var limbs = [UInt64(truncatingIfNeeded: high >> 64), UInt64(truncatingIfNeeded: high),
                         UInt64(truncatingIfNeeded: low >> 64), UInt64(truncatingIfNeeded: low)]
            var remainder: UInt64 = 0
            for index in limbs.indices {
                (limbs[index], remainder) = divisor.dividingFullWidth((remainder, limbs[index]))
            }
            return (Magnitude(high: UInt128(limbs[0]) << 64 | UInt128(limbs[1]), low: UInt128(limbs[2]) << 64 | UInt128(limbs[3])),
                    remainder)
        }

        var isZero: Bool { high == 0 && low == 0 }

        /// ASCII digits, most significant first ("0" for zero).
        package var decimalDigits: [UInt8] {
            if high == 0 { return Array(String(low).utf8) }
            // Chunks of 19 digits from the bottom.
            var chunks: [UInt64] = []
            var rest = self
            while !rest.isZero {
                let (quotient, remainder) = rest.dividedBy(10_000_000_000_000_000_000)
                chunks.append(remainder)
                rest = quotient
            }
            var digits = Array(String(chunks.removeLast()).utf8)
            for chunk in chunks.reversed() {
                let text = Array(String(chunk).utf8)
                digits.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 19 - text.count))
                digits.append(contentsOf: text)
            }
            return digits
        }
    }
}
