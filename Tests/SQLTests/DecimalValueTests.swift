// DECIMAL's scaled-integer arithmetic: exact text parsing with half-away-from-zero rounding,
// rescaling, precision limits, text and PostgreSQL's binary numeric form.
@testable import SQL
import Storage
import Testing

@Test(arguments: [
    ("1.10", 2, Int64(110)), ("2.345", 2, 235), ("-2.345", 2, -235), ("0.005", 2, 1), ("-0.005", 2, -1), ("0.004", 2, 0),
    ("7", 3, 7000), (" 12.5 ", 0, 13), ("+3.1", 1, 31), ("1e3", 2, 100_000), ("1.5E-2", 3, 15), (".5", 1, 5), ("5.", 0, 5),
    ("999999999999999999", 0, 999_999_999_999_999_999),
])
func decimalTextParsesExactly(text: String, scale: Int, scaled: Int64) {
    #expect(DecimalValue.parse(text, scale: scale) == scaled)
}

@Test(arguments: ["", "-", ".", "1.2.3", "abc", "1,5", "9999999999999999999"])
func badDecimalTextIsRefused(text: String) {
    #expect(DecimalValue.parse(text, scale: 2) == nil)
}

@Test func rescalingRoundsAndChecksOverflow() {
    #expect(DecimalValue.rescale(12345, from: 3, to: 1) == 123)
    #expect(DecimalValue.rescale(12355, from: 3, to: 2) == 1236)
    #expect(DecimalValue.rescale(-12355, from: 3, to: 2) == -1236)
    #expect(DecimalValue.rescale(10, from: 0, to: 18) == nil)
    #expect(DecimalValue.fits(99_999, precision: 5) && !DecimalValue.fits(100_000, precision: 5))
    #expect(DecimalValue.fromDouble(0.125, scale: 2) == 13 && DecimalValue.fromDouble(-0.125, scale: 2) == -13)
    #expect(DecimalValue.text(-5, scale: 2) == "-0.05" && DecimalValue.text(100, scale: 0) == "100" && DecimalValue.text(7, scale: 3) == "0.007")
}

