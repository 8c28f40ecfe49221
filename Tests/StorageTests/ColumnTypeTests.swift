// Proves every column type has a stable persistent encoding, QuestDB's name, and a NULL sentinel of its width.
import Storage
import Testing

@Suite struct ColumnTypeTests {
    static let all: [ColumnType] = [
        .boolean, .byte, .short, .char, .int, .long, .float, .double, .date, .timestamp, .timestampNanos, .symbol,
        .varchar, .string, .uuid, .ipv4, .long256, .binary, .geohash(bits: 1), .geohash(bits: 20),
        .geohash(bits: 60), .doubleArray(dimensions: 1), .doubleArray(dimensions: 3),
        .decimal(precision: 1, scale: 0), .decimal(precision: 10, scale: 2), .decimal(precision: 18, scale: 18),
        .decimal(precision: 19, scale: 0), .decimal(precision: 38, scale: 10), .decimal(precision: 76, scale: 76),
    ]

    @Test(arguments: all)
    func encodingRoundTrips(type: ColumnType) {
        let encoded = type.encoded
        #expect(ColumnType(tag: encoded.tag, parameter: encoded.parameter) == type)
    }

    @Test(arguments: all)
    func nullSentinelsFillExactlyOneValue(type: ColumnType) {
        #expect(type.nullBytes.count == (type.fixedWidthBytes ?? 0))
    }

    @Test func namesAndWidthsFollowQuestDB() {
        #expect(ColumnType.timestampNanos.description == "TIMESTAMP_NS")
        #expect(ColumnType.ipv4.description == "IPv4")
        #expect(ColumnType.geohash(bits: 20).description == "GEOHASH(4c)")
        #expect(ColumnType.geohash(bits: 7).description == "GEOHASH(7b)")
        #expect(ColumnType.doubleArray(dimensions: 2).description == "DOUBLE[][]")
        #expect(ColumnType.geohash(bits: 7).fixedWidthBytes == 1)
        #expect(ColumnType.geohash(bits: 8).fixedWidthBytes == 2)
        #expect(ColumnType.geohash(bits: 32).fixedWidthBytes == 8)
        #expect(ColumnType.symbol.nullBytes == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(ColumnType.long.nullBytes == [0, 0, 0, 0, 0, 0, 0, 0x80])
        #expect(ColumnType.decimal(precision: 10, scale: 2).description == "DECIMAL(10,2)")
        #expect(ColumnType.decimal(precision: 10, scale: 2).fixedWidthBytes == 8)
        // Past 18 digits QuestDB's DECIMAL128 (16 bytes) and DECIMAL256 (32), NULL their minimum.
        #expect(ColumnType.decimal(precision: 19, scale: 2).fixedWidthBytes == 16)
        #expect(ColumnType.decimal(precision: 38, scale: 0).fixedWidthBytes == 16)
        #expect(ColumnType.decimal(precision: 39, scale: 0).fixedWidthBytes == 32)
        #expect(ColumnType.decimal(precision: 76, scale: 76).fixedWidthBytes == 32)
        #expect(ColumnType.decimal(precision: 20, scale: 0).nullBytes == [UInt8](repeating: 0, count: 15) + [0x80])
        #expect(ColumnType.decimal(precision: 40, scale: 0).nullBytes == [UInt8](repeating: 0, count: 31) + [0x80])
        #expect(ColumnType(tag: 108, parameter: 76) == .decimal(precision: 76, scale: 76))
        #expect(ColumnType(tag: 51, parameter: 0) == .decimal(precision: 19, scale: 0))
    }

    /// (33…108: DECIMAL with precision tag − 32; a scale above the precision or a precision
    /// above 76 is no type.)
    @Test(arguments: [(UInt8(0), UInt8(0)), (1, 1), (19, 0), (19, 61), (20, 0), (21, 0), (255, 0), (34, 3), (109, 0), (32, 0), (60, 29)])
    func unknownEncodingsAreRefused(tag: UInt8, parameter: UInt8) {
        #expect(ColumnType(tag: tag, parameter: parameter) == nil)
    }
}
