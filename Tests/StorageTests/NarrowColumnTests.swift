// Proves WAL batch format 3's narrowed integer columns (decision 0034): the narrowest code that
// holds a column's span is chosen, NULLs take the escape code, every value of every narrowable
// type survives the payload codec exactly (alone, appended, as pieces), format-2 payloads still
// decode, and damaged code widths or keys are refused.
import Storage
import Testing
import TestSupport

@Suite struct NarrowColumnTests {
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }

    static func roundTrip<T: FixedWidthInteger & SignedInteger>(_ values: [T]) -> (NarrowPlan, [T]) {
        let raw = bytes(values)
        let width = MemoryLayout<T>.size
        let plan = raw.withUnsafeBytes { NarrowPlan.choose($0, width: width) }
        guard plan.codeWidth > 0 else { return (plan, values) }
        // One byte of offset: codes and values need not be aligned.
        var codes = [UInt8](repeating: 0, count: 1 + values.count * plan.codeWidth)
        raw.withUnsafeBytes { source in codes.withUnsafeMutableBytes { plan.narrow(source, width: width, into: $0.baseAddress! + 1) } }
        var widened = [UInt8](repeating: 0, count: 1 + raw.count)
        codes.withUnsafeBytes { source in
            widened.withUnsafeMutableBytes {
                plan.widen(UnsafeRawBufferPointer(rebasing: source[1...]), count: values.count, width: width, into: $0.baseAddress! + 1)
            }
        }
        let back = (0..<values.count).map { index in
            widened.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: 1 + index * width, as: T.self)) }
        }
        return (plan, back)
    }

    static let longCases: [(values: [Int64], codeWidth: Int)] = [
        ([0, 100, 58, 2], 1),
        ([-5, 249], 1),  // span 254: the widest a byte holds beside the escape
        ([-5, 250], 2),  // span 255 would collide with the escape
        ([Int64.min, 7, Int64.min, 9], 1),  // NULLs do not widen
        ([Int64.min, Int64.min], 1),  // only NULLs
        ([1_451_606_400_000_000, 1_451_606_500_000_000], 4),  // 100 s of µs timestamps
        ([0, 65_534], 2), ([0, 65_535], 4),
        ([0, 4_294_967_294], 4), ([0, 4_294_967_295], 0),
        ([Int64.min + 1, Int64.max], 0), ([Int64.max, Int64.max], 1), ([Int64.min + 1], 1),
    ]

    @Test(arguments: longCases)
    func longColumnsTakeTheNarrowestCodeThatHoldsTheirSpan(values: [Int64], codeWidth: Int) {
        let (plan, back) = Self.roundTrip(values)
        #expect(plan.codeWidth == codeWidth)
        #expect(back == values)
    }

    @Test func narrowerTypesNeverGetCodesAsWideAsThemselves() {
        #expect(Self.roundTrip([Int32(-1), 998]).0.codeWidth == 2, "SYMBOL keys of a 1 000-entry dictionary")
        #expect(Self.roundTrip([Int32(-1), 200]).0.codeWidth == 1)
        #expect(Self.roundTrip([Int32.min, 3, Int32.max]).0.codeWidth == 0)
        #expect(Self.roundTrip([Int32(0), 70_000]).0.codeWidth == 0, "a 4-byte code is no narrower than an INT")
        #expect(Self.roundTrip([Int16(0), 254]) == (NarrowPlan(codeWidth: 1, base: 0), [0, 254]))
        #expect(Self.roundTrip([Int16(0), 255]).0.codeWidth == 0)
        #expect(Self.roundTrip([Int16.min, -3, Int16.min]) == (NarrowPlan(codeWidth: 1, base: -3), [Int16.min, -3, Int16.min]))
        #expect(Self.roundTrip([Int64]()).0 == .raw)
    }

    /// Seeded random columns of every width and span: always exact.
    @Test func randomColumnsRoundTrip() {
        var random = SplitMix64(seed: 34)
        for _ in 0..<300 {
            let count = Int(random.next() % 40) + 1
            let span = UInt64(1) << (random.next() % 64)
            let base = Int64(bitPattern: random.next())
            let longs = (0..<count).map { _ in random.next() % 5 == 0 ? Int64.min : base &+ Int64(bitPattern: random.next() % span) }
            #expect(Self.roundTrip(longs).1 == longs)
            let ints = longs.map { Int32(truncatingIfNeeded: $0) }
            #expect(Self.roundTrip(ints).1 == ints)
            let shorts = longs.map { Int16(truncatingIfNeeded: $0) }
            #expect(Self.roundTrip(shorts).1 == shorts)
        }
    }

    // MARK: The payload codec

    static let schema = TableSchema(
        tableID: 8, name: "wide",
        columns: [
            ColumnSchema(id: 1, name: "host", type: .symbol),
            ColumnSchema(id: 2, name: "s", type: .short),
            ColumnSchema(id: 3, name: "c", type: .char),
            ColumnSchema(id: 4, name: "i", type: .int),
            ColumnSchema(id: 5, name: "ip", type: .ipv4),
            ColumnSchema(id: 6, name: "l", type: .long),
            ColumnSchema(id: 7, name: "d", type: .date),
            ColumnSchema(id: 8, name: "g", type: .geohash(bits: 20)),
            ColumnSchema(id: 9, name: "f", type: .double),
            ColumnSchema(id: 10, name: "b", type: .byte),
            ColumnSchema(id: 11, name: "ns", type: .timestampNanos),
            ColumnSchema(id: 12, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 12, partitionBy: .day, version: 2)

    /// Rows with small values, NULLs and (when `extremes`) each type's full range.
    static func fill(_ batch: RowBatch, rows: Range<Int>, extremes: Bool) throws {
        for row in rows {
            batch.beginRow()
            if row % 4 != 3 { Array("host_\(row % 9)".utf8).withUnsafeBytes { batch.setBytes(0, $0) } }
            batch.setInteger(1, extremes && row % 2 == 0 ? Int16.max : Int16(row % 50))
            batch.setInteger(2, UInt16(65 + row % 20))
            if row % 5 != 1 { batch.setInteger(3, extremes && row == 0 ? Int32.max : Int32(row - 10)) }
            batch.setInteger(4, UInt32(0x7F00_0001) + UInt32(row % 3))
            if row % 3 != 2 { batch.setInteger(5, extremes && row % 7 == 0 ? Int64.max - Int64(row) : Int64(row % 101)) }
            batch.setInteger(6, Int64(1_700_000_000_000) + Int64(row) * 1_000)
            batch.setInteger(7, Int32(row * 31))
            batch.setDouble(8, Double(row) / 3)
            batch.setInteger(9, Int8(truncatingIfNeeded: row))
            batch.setInteger(10, Int64(1_700_000_000_000_000_000) + Int64(row))
            batch.setInteger(11, Int64(1_451_606_400_000_000) + Int64(row / 3) * 10_000_000)
            try batch.endRow()
        }
    }

    static func expectSame(_ got: RowBatch, _ want: RowBatch) {
        #expect(got.rowCount == want.rowCount)
        for index in schema.columns.indices {
            let (a, b) = (got.column(index), want.column(index))
            if a.isSymbol {
                #expect((0..<got.rowCount).map { a.variableValue(row: $0) } == (0..<want.rowCount).map { b.variableValue(row: $0) })
            } else {
                #expect(Array(a.fixed) == Array(b.fixed), "\(schema.columns[index].name)")
            }
        }
        #expect(got.minTimestamp == want.minTimestamp && got.maxTimestamp == want.maxTimestamp)
    }

    @Test(arguments: [false, true])
    func everyNarrowableTypeSurvivesThePayload(extremes: Bool) throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 0..<300, extremes: extremes)
        var current: [UInt8] = [], older: [UInt8] = []
        RowBatchCodec.encode(batch, into: &current)
        RowBatchCodec.encode(batch, into: &older, format: 2)
        #expect(current[0] == 3 && older[0] == 2)
        // Full-range columns stay as they are (one byte more); the others still narrow.
        #expect(current.count < older.count / (extremes ? 1 : 2), "\(current.count) bytes against \(older.count)")
        for payload in [current, older] {
            let decoded = RowBatch(schema: Self.schema)
            try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
            Self.expectSame(decoded, batch)
        }
        // What the WAL writes (pieces) is the encoded payload.
        let joined = try RowBatchCodec.pieces([batch]).withBuffers { (buffers) throws(StorageError) in buffers.flatMap { Array($0) } }
        #expect(joined == current)
    }

    /// A run of commits decoded into one batch: format 3 after format 2 (a WAL written across an
    /// upgrade) and after itself, each batch with its own plans.
    @Test func formatsMixInOneRun() throws {
        let first = RowBatch(schema: Self.schema), second = RowBatch(schema: Self.schema), both = RowBatch(schema: Self.schema)
        try Self.fill(first, rows: 0..<40, extremes: false)
        try Self.fill(second, rows: 40..<90, extremes: true)
        try Self.fill(both, rows: 0..<40, extremes: false)
        try Self.fill(both, rows: 40..<90, extremes: true)
        for formats in [(UInt8(2), UInt8(3)), (3, 2), (3, 3)] {
            var a: [UInt8] = [], b: [UInt8] = []
            RowBatchCodec.encode(first, into: &a, format: formats.0)
            RowBatchCodec.encode(second, into: &b, format: formats.1)
            let run = RowBatch(schema: Self.schema)
            try RowBatchCodec.decode(a, schema: Self.schema, into: run)
            try RowBatchCodec.decode(b, schema: Self.schema, into: run, appending: true)
            Self.expectSame(run, both)
        }
    }

    @Test func emptyBatchesEncodeAndDecode() throws {
        let empty = RowBatch(schema: Self.schema)
        var payload: [UInt8] = []
        RowBatchCodec.encode(empty, into: &payload)
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
        #expect(decoded.rowCount == 0)
    }

    /// Every truncation, a code width the column cannot have, and a widened SYMBOL key outside
    /// its dictionary (decoded alone or appended): refused as corrupt, never misread or trapped on.
    @Test func damagedNarrowColumnsAreRefused() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 0..<6, extremes: false)
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        let target = RowBatch(schema: Self.schema)
        for length in 0..<payload.count {
            #expect(throws: StorageError.self, "length \(length)") {
                try RowBatchCodec.decode(Array(payload[..<length]), schema: Self.schema, into: target)
            }
        }
        // Header 21 bytes, then the SYMBOL column: id 4, type 2, code width 1, base 8, keys.
        let keyWidth = 21 + 6, base = keyWidth + 1
        #expect(payload[keyWidth] == 1, "six rows, three hosts and a NULL: one byte a key")
        for (offset, bytes) in [(keyWidth, [UInt8(3)]), (keyWidth, [4]), (keyWidth, [8]), (base, Self.bytes([Int64(2)])),
                                (base, Self.bytes([Int64(-3)]))] {
            var damaged = payload
            damaged.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            let error = #expect(throws: StorageError.self, "\(bytes) at \(offset)") {
                try RowBatchCodec.decode(damaged, schema: Self.schema, into: target)
            }
            #expect(error?.code == .corrupt)
            // Appended after a payload's rows (the applier's runs): refused the same way.
            try RowBatchCodec.decode(payload, schema: Self.schema, into: target)
            let appended = #expect(throws: StorageError.self, "\(bytes) at \(offset), appended") {
                try RowBatchCodec.decode(damaged, schema: Self.schema, into: target, appending: true)
            }
            #expect(appended?.code == .corrupt)
        }
    }
}
