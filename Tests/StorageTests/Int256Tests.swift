// Proves the 256-bit integers under wide DECIMALs: arithmetic agrees with Int128 wherever Int128
// holds the operands and the result, overflow is reported past 2^255, and decimal text, storage
// bytes and rescaling are exact at the edges of 76 digits.
import Storage
import Testing

@Suite struct Int256Tests {
    /// A deterministic spread of Int128 values: small, near powers of two and ten, extremes.
    static let samples: [Int128] = {
        var values: [Int128] = [0, 1, -1, 2, -2, 7, -7, 10, 99, -100, Int128(Int64.max), Int128(Int64.min), Int128(UInt64.max),
                                Int128.max / 3, Int128.min / 5, Int128.max, Int128.min + 1]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<60 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let high = Int128(Int64(bitPattern: state)) << Int((state >> 58) + 2)
            values.append(high ^ Int128(state >> 7))
        }
        return values
    }()

    @Test func arithmeticAgreesWithInt128() {
        for a in Self.samples {
            for b in Self.samples {
                let x = Int256(a), y = Int256(b)
                let (sum, sumOverflow) = a.addingReportingOverflow(b)
                if !sumOverflow { #expect(x.addingReportingOverflow(y) == (Int256(sum), false)) }
                let (difference, differenceOverflow) = a.subtractingReportingOverflow(b)
                if !differenceOverflow { #expect(x.subtractingReportingOverflow(y) == (Int256(difference), false)) }
                let (product, productOverflow) = a.multipliedReportingOverflow(by: b)
                if !productOverflow { #expect(x.multipliedReportingOverflow(by: y) == (Int256(product), false), "\(a) × \(b)") }
                if b != 0, !(a == .min && b == -1) {
                    let (quotient, remainder) = a.quotientAndRemainder(dividingBy: b)
                    let wide = x.quotientAndRemainder(dividingBy: y)
                    #expect(wide?.quotient == Int256(quotient) && wide?.remainder == Int256(remainder), "\(a) ÷ \(b)")
                }
                #expect((x < y) == (a < b))
                #expect(x.description == a.description)
            }
        }
    }

    @Test func wideOperandsAndOverflow() throws {
        let ten76 = WideDecimal.powers[76]
        #expect(ten76.description == "1" + String(repeating: "0", count: 76))
        // (10^76)/(10^38) through the bit-by-bit path; its remainder with an odd divisor.
        let (quotient, remainder) = try #require(ten76.quotientAndRemainder(dividingBy: WideDecimal.powers[38]))
        #expect(quotient == WideDecimal.powers[38] && remainder == .zero)
        let odd = WideDecimal.powers[40].addingReportingOverflow(7).partialValue
        let split = try #require(ten76.quotientAndRemainder(dividingBy: odd))
        let back = split.quotient.multipliedReportingOverflow(by: odd).partialValue.addingReportingOverflow(split.remainder).partialValue
        #expect(back == ten76 && split.remainder < odd && !split.remainder.isNegative)
        // 10^76 × 10 passes 2^255; 2^254 × 2 reaches it; the negative edge −2^255 is `min`.
        #expect(ten76.multipliedReportingOverflow(by: 10).overflow)
        let half = Int256(high: Int128(1) << 126, low: 0)
        #expect(half.multipliedReportingOverflow(by: 2).overflow)
        #expect(half.negated.multipliedReportingOverflow(by: 2) == (.min, false))
        #expect(Int256(high: .max, low: .max).addingReportingOverflow(1).overflow)
        #expect(Int256.min.subtractingReportingOverflow(1).overflow)
        #expect(ten76.negated.description == "-1" + String(repeating: "0", count: 76))
        #expect(Int256(-5).quotientAndRemainder(dividingBy: .zero) == nil)
    }

    @Test func storageBytesRoundTripAtBothWidths() {
        for value in [Int256(0), Int256(-1), Int256(Int128.max), Int256(Int128.min + 1), Int256.min] {
            var bytes: [UInt8] = []
            value.appendBytes(width: 16, to: &bytes)
            #expect(bytes.count == 16 && bytes.withUnsafeBytes { Int256.load(from: $0.baseAddress!, width: 16) } == value)
        }
        for value in [WideDecimal.powers[76].negated, WideDecimal.powers[76], Int256.min, Int256(-3)] {
            var bytes: [UInt8] = []
            value.appendBytes(width: 32, to: &bytes)
            #expect(bytes.count == 32 && bytes.withUnsafeBytes { Int256.load(from: $0.baseAddress!, width: 32) } == value)
        }
    }

    /// (text, scale, expected scaled value's text or nil)
    @Test(arguments: [
        ("12.345", 2, "1235"), ("-12.345", 2, "-1235"), ("0.5", 0, "1"), ("-0.5", 0, "-1"), ("0.49", 0, "0"),
        ("1e3", 1, "10000"), ("1.5E-2", 3, "15"), ("  7 ", 2, "700"), ("+3", 0, "3"),
        (String(repeating: "9", count: 76), 0, String(repeating: "9", count: 76)),
        ("1" + String(repeating: "0", count: 76), 1, nil), ("abc", 0, nil), ("", 0, nil), ("1.2.3", 0, nil), ("1e", 0, nil),
    ] as [(String, Int, String?)])
    func parsesDecimalText(text: String, scale: Int, expected: String?) {
        #expect(WideDecimal.parse(text, scale: scale)?.description == expected)
    }

    /// DECIMAL's fast double conversion rounds exactly as reading the double's shortest text,
    /// including values written to sit on a half (0.285, 1.005, 2.675 …).
    @Test func fastDoubleConversionAgreesWithText() {
        var state: UInt64 = 42
        var values: [Double] = [0.285, 1.005, 2.675, 0.125, -0.5, 1e15 + 0.5, 8.345, -1234.5675]
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let digits = Double(state >> 40) / 1000  // three decimals, often ending in 5
            values.append((state & 1 == 0 ? digits : -digits) * [1, 0.1, 0.01, 10][Int(state >> 62)])
        }
        for value in values {
            for scale in [0, 1, 2, 3, 6] {
                let text = WideDecimal.fromDouble(value, scale: scale).flatMap(DecimalValue.narrow)
                #expect(DecimalValue.fromDouble(value, scale: scale) == text, "\(value) at scale \(scale)")
            }
        }
    }

    /// A wide decimal becomes the double nearest its value, by the fast path or the text.
    @Test func wideDecimalsBecomeTheNearestDouble() {
        var state: UInt64 = 7
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let digits = Int64(bitPattern: state) >> Int64(state % 40)
            let scale = Int(state >> 59) % 20
            let value = Int256(digits)
            #expect(WideDecimal.toDouble(value, scale: scale) == Double(WideDecimal.text(value, scale: scale)), "\(digits) at \(scale)")
        }
    }

    @Test func textRescalingAndDoubles() throws {
        let value = try #require(WideDecimal.parse("-1234567890123456789012345.678", scale: 3))
        #expect(WideDecimal.text(value, scale: 3) == "-1234567890123456789012345.678")
        #expect(WideDecimal.text(Int256(5), scale: 4) == "0.0005")
        #expect(WideDecimal.text(Int256(-5), scale: 1) == "-0.5")
        #expect(WideDecimal.rescale(value, from: 3, to: 1).map { WideDecimal.text($0, scale: 1) } == "-1234567890123456789012345.7")
        #expect(WideDecimal.rescale(Int256(-25), from: 1, to: 0) == Int256(-3))
        #expect(WideDecimal.rescale(Int256(24), from: 1, to: 0) == Int256(2))
        #expect(WideDecimal.rescale(WideDecimal.powers[70], from: 0, to: 7) == nil)
        #expect(WideDecimal.truncated(Int256(-29), scale: 1) == Int256(-2))
        #expect(WideDecimal.fits(WideDecimal.powers[38].subtractingReportingOverflow(1).partialValue, precision: 38))
        #expect(!WideDecimal.fits(WideDecimal.powers[38], precision: 38))
        #expect(!WideDecimal.fits(.min, precision: 76))
        // Doubles are read as their shortest text, as PostgreSQL and Java convert them.
        #expect(WideDecimal.fromDouble(0.285, scale: 2) == Int256(29))
        #expect(WideDecimal.fromDouble(1e30, scale: 2)?.description == "1" + String(repeating: "0", count: 32))
        #expect(WideDecimal.fromDouble(.nan, scale: 2) == nil)
        #expect(DecimalValue.fromDouble(0.285, scale: 2) == 29)
        #expect(WideDecimal.toDouble(value, scale: 3) == -1234567890123456789012345.678)
    }
}
