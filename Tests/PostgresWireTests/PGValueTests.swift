// Proves value encodings: DataRow text and binary per type (timestamps as µs since 2000,
// NULLs, arrays, UUIDs) and bind parameter decoding with PostgreSQL's error classes.
import NIOCore
import PostgresWire
import SQL
import Storage
import Testing

@Suite struct PGValueTests {
    /// The cells of the single DataRow `writer` writes for `result`.
    func cells(_ result: QueryResult, formats: [PGFormat]) -> [[UInt8]?] {
        var buffer = ByteBuffer()
        PGRowWriter(columns: result.columns, formats: formats).write(result, rows: 0..<result.rowCount, into: &buffer)
        #expect(buffer.readInteger(as: UInt8.self) == UInt8(ascii: "D"))
        let length = Int(buffer.readInteger(as: Int32.self)!)
        #expect(length == buffer.readableBytes + 4)
        let count = Int(buffer.readInteger(as: Int16.self)!)
        return (0..<count).map { _ in
            let size = Int(buffer.readInteger(as: Int32.self)!)
            return size < 0 ? nil : buffer.readBytes(length: size)
        }
    }

    static let row = QueryResult(
        columns: [("b", .boolean), ("s", .short), ("i", .int), ("l", .long), ("f", .float), ("d", .double), ("t", .timestamp),
                  ("dt", .date), ("u", .uuid), ("v", .varchar), ("n", .long), ("nan", .double), ("arr", .doubleArray(dimensions: 2))],
        rows: [[.boolean(true), .integer(-2), .integer(70_000), .integer(1 << 40), .real(1.5), .real(0.1),
                .integer(1_696_154_400_000_001), .integer(1_696_154_400_123), .text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                .text("vär"), .null, .real(.nan), .text("[[1.0,2.0],[3.0,4.0]]")]])

    @Test func textFormatMatchesQuestDB() {
        let text = cells(Self.row, formats: []).map { $0.map { String(decoding: $0, as: UTF8.self) } }
        #expect(text == ["t", "-2", "70000", "1099511627776", "1.5", "0.1", "2023-10-01 10:00:00.000001", "2023-10-01 10:00:00.123",
                         "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "vär", nil, nil, "{{1.0,2.0},{3.0,4.0}}"])
    }

    @Test func binaryFormatIsPostgreSQLs() {
        let binary = cells(Self.row, formats: [.binary])
        func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        #expect(binary[0] == [1])
        #expect(binary[1] == be(Int16(-2)))
        #expect(binary[2] == be(Int32(70_000)))
        #expect(binary[3] == be(Int64(1 << 40)))
        #expect(binary[4] == be(Float(1.5).bitPattern))
        #expect(binary[5] == be(Double(0.1).bitPattern))
        // µs since 2000-01-01.
        #expect(binary[6] == be(Int64(1_696_154_400_000_001 - 946_684_800_000_000)))
        #expect(binary[7] == be(Int64(1_696_154_400_123_000 - 946_684_800_000_000)))
        #expect(binary[8] == [0xA0, 0xEE, 0xBC, 0x99, 0x9C, 0x0B, 0x4E, 0xF8, 0xBB, 0x6D, 0x6B, 0xB9, 0xBD, 0x38, 0x0A, 0x11])
        #expect(binary[9] == Array("vär".utf8))
        #expect(binary[10] == nil && binary[11] == nil)
        let array = binary[12]!
        // ndim 2, no nulls, float8 elements, dims (2, lb 1) × 2, then 4 × (len 8, value).
        #expect(Array(array.prefix(28)) == be(Int32(2)) + be(Int32(0)) + be(Int32(701)) + be(Int32(2)) + be(Int32(1)) + be(Int32(2)) + be(Int32(1)))
        #expect(array.count == 28 + 4 * 12 && Array(array[28..<40]) == be(Int32(8)) + be(Double(1).bitPattern))
    }

    @Test func anUnreadPlaceholderColumnIsSentAsNull() {
        var result = QueryResult(columns: [("x", .long)], rows: [])
        result.batch.count = 1  // one row whose only column was never materialised
        #expect(cells(result, formats: [.binary]) == [nil])
    }

    /// Cells larger than a store's first allocation and results of several passes: every row's
    /// cells come out whole, in both formats (the stores start small and grow).
    @Test func largeCellsAndManyRowsEncodeWhole() {
        let rowCount = PGRowWriter.rowsPerPass + 904
        let rows: [[SQLValue]] = (0..<rowCount).map { row in
            [.integer(Int64(row) * 1_000_003), row % 7 == 0 ? .null : .text(String(repeating: Character(UnicodeScalar(65 + row % 26)!), count: 1 + row % 1500))]
        }
        let result = QueryResult(columns: [("l", .long), ("v", .varchar)], rows: rows)
        for format in [PGFormat.text, .binary] {
            var buffer = ByteBuffer()
            PGRowWriter(columns: result.columns, formats: [format]).write(result, rows: 0..<rowCount, into: &buffer)
            for row in 0..<rowCount {
                #expect(buffer.readInteger(as: UInt8.self) == UInt8(ascii: "D"))
                _ = buffer.readInteger(as: Int32.self)
                #expect(buffer.readInteger(as: Int16.self) == 2)
                let size = Int(buffer.readInteger(as: Int32.self)!)
                let long = buffer.readBytes(length: size)!
                let expected = Int64(row) * 1_000_003
                if format == .binary {
                    #expect(long == withUnsafeBytes(of: expected.bigEndian) { Array($0) })
                } else {
                    #expect(String(decoding: long, as: UTF8.self) == String(expected))
                }
                let textSize = Int(buffer.readInteger(as: Int32.self)!)
                if row % 7 == 0 {
                    #expect(textSize == -1)
                } else {
                    #expect(textSize == 1 + row % 1500)
                    #expect(buffer.readBytes(length: textSize) == Array(repeating: UInt8(65 + row % 26), count: 1 + row % 1500))
                }
            }
            #expect(buffer.readableBytes == 0)
        }
    }

    /// A one-row write (a point query's answer, cells in one shared store) gives exactly the
    /// bytes of that row in a many-row pass (a store per column, SYMBOL dictionaries encoded
    /// once) — including two SYMBOL columns whose dictionaries have the same size.
    @Test func oneRowEncodesAsInAManyRowPass() {
        let count = 9
        var result = QueryResult(
            columns: [("a", .varchar), ("b", .varchar), ("l", .long), ("t", .timestamp), ("d", .double)],
            rows: (0..<count).map { row in
                [.null, .null, row == 4 ? .null : .integer(Int64(row) * -77), .integer(1_700_000_000_000_000 + Int64(row)), .real(Double(row) / 3)]
            })
        result.batch.columns[0] = .symbol((0..<count).map { Int32($0 % 3) }, SymbolTable(values: ["x", "yy", "zzz"]))
        result.batch.columns[1] = .symbol((0..<count).map { $0 == 2 ? -1 : Int32(2 - $0 % 3) }, SymbolTable(values: ["p", "qq", "rrr"]))
        for formats in [[], [PGFormat.binary]] {
            var together = ByteBuffer()
            PGRowWriter(columns: result.columns, formats: formats).write(result, rows: 0..<count, into: &together)
            var apart = ByteBuffer()
            let reused = PGRowWriter(columns: result.columns, formats: formats)
            for row in 0..<count { reused.write(result, rows: row..<(row + 1), into: &apart) }
            #expect(together == apart)
        }
        var one = QueryResult(columns: [("a", .varchar), ("b", .varchar), ("l", .long)], rows: [[.null, .null, .integer(-7)]])
        one.batch.columns[0] = .symbol([0], SymbolTable(values: ["x", "yy", "zzz"]))
        one.batch.columns[1] = .symbol([2], SymbolTable(values: ["p", "qq", "rrr"]))
        #expect(cells(one, formats: []).map { $0.map { String(decoding: $0, as: UTF8.self) } } == ["x", "rrr", "-7"])
    }

    @Test func timestampsBeforeTheEpochAndDescriptions() {
        #expect(PGTimestamp.text(-1) == "1969-12-31 23:59:59.999999")
        #expect(PGTimestamp.text(0) == "1970-01-01 00:00:00.000000")
        #expect(PGTimestamp.text(951_782_400_000_000) == "2000-02-29 00:00:00.000000")
        let writer = PGRowWriter(columns: Self.row.columns, formats: [.binary, .text])
        let description = writer.description(of: Self.row.columns)
        #expect(description.map(\.type.oid) == [16, 21, 23, 20, 700, 701, 1114, 1114, 2950, 1043, 20, 701, 1022])
        #expect(description.map(\.format) == [.binary] + Array(repeating: .text, count: 12))
    }

    @Test func parametersDecodeByTypeAndFormat() throws {
        func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        #expect(try PGParameters.decode(be(Int32(-7)), oid: 23, format: .binary, index: 0) == .integer(-7))
        #expect(try PGParameters.decode(be(Int16(3)), oid: 21, format: .binary, index: 0) == .integer(3))
        #expect(try PGParameters.decode(be(Double(2.5).bitPattern), oid: 701, format: .binary, index: 0) == .real(2.5))
        #expect(try PGParameters.decode(be(Int64(0)), oid: 1114, format: .binary, index: 0) == .integer(946_684_800_000_000))
        #expect(try PGParameters.decode([1], oid: 16, format: .binary, index: 0) == .boolean(true))
        #expect(try PGParameters.decode(Array("t".utf8), oid: 16, format: .text, index: 0) == .boolean(true))
        #expect(try PGParameters.decode(Array(" 42 ".utf8), oid: 20, format: .text, index: 0) == .integer(42))
        #expect(try PGParameters.decode(Array("x".utf8), oid: 0, format: .text, index: 0) == .text("x"))
        #expect(try PGParameters.decode(nil, oid: 23, format: .binary, index: 0) == .null)
        // numeric 12.5: 2 digits, weight 0, positive, scale 1: [12, 5000]. Numerics stay exact
        // text, so a DECIMAL column gets every digit.
        #expect(try PGParameters.decode(be(Int16(2)) + be(Int16(0)) + be(Int16(0)) + be(Int16(1)) + be(Int16(12)) + be(Int16(5000)),
                                        oid: 1700, format: .binary, index: 0) == .text("12.5"))
        // −1234567890123456789012.34000: weight 5, scale 5, digits [12, 3456, 7890, 1234, 5678, 9012, 3400, 0100]
        // (the display scale cuts the last digit group).
        let wide = [12, 3456, 7890, 1234, 5678, 9012, 3400, 100].reduce(be(Int16(8)) + be(Int16(5)) + be(UInt16(0x4000)) + be(Int16(5))) { $0 + be(Int16($1)) }
        #expect(try PGParameters.decode(wide, oid: 1700, format: .binary, index: 0) == .text("-1234567890123456789012.34000"))
        // 0.00005 (weight −2, one digit 5000, scale 5) and zero (no digits, scale 2).
        #expect(try PGParameters.decode(be(Int16(1)) + be(Int16(-2)) + be(Int16(0)) + be(Int16(5)) + be(Int16(5000)),
                                        oid: 1700, format: .binary, index: 0) == .text("0.00005"))
        #expect(try PGParameters.decode(be(Int16(0)) + be(Int16(0)) + be(Int16(0)) + be(Int16(2)), oid: 1700, format: .binary, index: 0) == .text("0.00"))
        #expect(try PGParameters.decode(Array(" 1.50 ".utf8), oid: 1700, format: .text, index: 0) == .text("1.50"))
        // A numeric parameter is the DECIMAL its digits make; unknown until its value is.
        let decimal = { (p: Int, s: Int) in SQLType.column(.decimal(precision: p, scale: s)) }
        #expect(PGType.executionType(ofParameter: 1700, value: .text("1.5")) == decimal(2, 1))
        #expect(PGType.executionType(ofParameter: 1700, value: .text("-0.001")) == decimal(3, 3))
        #expect(PGType.executionType(ofParameter: 1700, value: .text("1.5E+3")) == decimal(4, 0))
        #expect(PGType.executionType(ofParameter: 1700, value: .text("1E-3")) == decimal(3, 3))
        #expect(PGType.executionType(ofParameter: 1700, value: .text("00012.50")) == decimal(4, 2))
        #expect(PGType.executionType(ofParameter: 1700, value: .text("NaN")) == decimal(76, 38))
        #expect(PGType.executionType(ofParameter: 1700, value: .text(String(repeating: "9", count: 77))) == decimal(76, 38))
        #expect(PGType.executionType(ofParameter: 701, value: .real(1)) == .double)
        let array = be(Int32(1)) + be(Int32(0)) + be(Int32(701)) + be(Int32(2)) + be(Int32(1))
            + be(Int32(8)) + be(Double(1.5).bitPattern) + be(Int32(8)) + be(Double(-2).bitPattern)
        #expect(try PGParameters.decode(array, oid: 1022, format: .binary, index: 0) == .text("[1.5,-2.0]"))
    }

    @Test(arguments: [
        ([0, 1] as [UInt8], Int32(23), PGFormat.binary, "08P01"), ([0, 0, 0, 0, 1], 23, .binary, "22P03"),
        (Array("abc".utf8), 23, .text, "22P02"), (Array("maybe".utf8), 16, .text, "22P02"), ([0xFF], 25, .text, "22021"),
        ([1, 2, 3, 4], 600, .binary, "0A000"),
    ])
    func badParametersFailWithPostgreSQLsCodes(_ bytes: [UInt8], _ oid: Int32, _ format: PGFormat, _ state: String) {
        #expect(throws: PGProtocolError.self) { try PGParameters.decode(bytes, oid: oid, format: format, index: 0) }
        do {
            _ = try PGParameters.decode(bytes, oid: oid, format: format, index: 0)
        } catch {
            #expect(error.sqlState == state && !error.fatal)
        }
    }
}
