// DECIMAL as PostgreSQL's binary numeric: digit count, weight, sign, display scale and
// base-10000 digits, as PostgreSQL itself encodes these values.
@testable import PostgresWire
import SQL
import Storage
import Testing

@Test(arguments: [
    // (scaled, scale) → ndigits, weight, sign, dscale, base-10000 digits (PostgreSQL's own encoding of these values)
    (Int64(0), 2, [0, 0, 0, 2]), (12345, 2, [2, 0, 0, 2, 123, 4500]), (-5, 2, [1, -1, 0x4000, 2, 500]),
    (100_000_000, 0, [1, 2, 0, 0, 1]), (123_456_789_012_345_678, 9, [6, 2, 0, 9, 1, 2345, 6789, 123, 4567, 8000]),
    (1, 9, [1, -3, 0, 9, 1000]),
])
func numericBinaryMatchesPostgreSQL(scaled: Int64, scale: Int, fields: [Int]) {
    var bytes: [UInt8] = []
    PGNumeric.writeBinary(scaled, scale: scale, into: &bytes)
    let words = stride(from: 0, to: bytes.count, by: 2).map { Int(Int16(bitPattern: UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]))) }
    #expect(words == fields.map { $0 > 0x7FFF ? $0 - 0x10000 : $0 })
}

/// The wide writer encodes every narrow value as the 64-bit one does, and wide values round-trip
/// through the binary parameter decoder.
@Test(arguments: [(Int64(0), 2), (12345, 2), (-5, 2), (100_000_000, 0), (123_456_789_012_345_678, 9), (1, 9), (-999_999_999_999_999_999, 18)])
func wideNumericBinaryMatchesNarrow(scaled: Int64, scale: Int) {
    var narrow: [UInt8] = [], wide: [UInt8] = []
    PGNumeric.writeBinary(scaled, scale: scale, into: &narrow)
    PGNumeric.writeBinary(Int256(scaled), scale: scale, into: &wide)
    #expect(wide == narrow)
}

@Test(arguments: ["-1234567890123456789012345678901234567890.1234567890", "0.0000000000000000000000000001", String(repeating: "9", count: 76)])
func wideNumericBinaryRoundTrips(text: String) throws {
    let scale = text.split(separator: ".").dropFirst().first?.count ?? 0
    let value = try #require(WideDecimal.parse(text, scale: scale))
    var bytes: [UInt8] = []
    PGNumeric.writeBinary(value, scale: scale, into: &bytes)
    #expect(try PGParameters.decode(bytes, oid: 1700, format: .binary, index: 0) == .text(text))
}
