// DECIMAL as PostgreSQL's binary numeric: digit count, weight, sign, display scale and
// base-10000 digits, as PostgreSQL itself encodes these values.
@testable import PostgresWire
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
