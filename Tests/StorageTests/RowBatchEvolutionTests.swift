// Row batches adopt a schema that only added columns (rows keep their values, new columns NULL) and refuse any other change; a cancelled row leaves no trace.
import Storage
import Testing

@Suite struct RowBatchEvolutionTests {
    static let schema = RowBatchTests.schema

    @Test func extendingKeepsRowsAndFillsNewColumnsWithNull() throws {
        let batch = RowBatch(schema: Self.schema)
        try RowBatchTests.fill(batch, rows: 3)
        var wider = Self.schema
        _ = try wider.addColumn(name: "extra", type: .int)
        _ = try wider.addColumn(name: "label", type: .symbol)
        wider.version += 1
        #expect(batch.extend(to: wider))
        #expect(batch.schema == wider)
        #expect(batch.column(7).fixedValue(row: 2, as: Int32.self) == Int32.min)
        #expect(batch.column(8).variableValue(row: 0) == nil)
        batch.beginRow()
        batch.setInteger(6, Int64(5_000))
        batch.setInteger(7, Int32(42))
        try batch.endRow()
        #expect(batch.rowCount == 4)
        #expect(batch.column(7).fixedValue(row: 3, as: Int32.self) == 42)
        #expect(batch.column(1).fixedValue(row: 1, as: UInt64.self) == (1.5).bitPattern)
    }

    @Test func anyOtherChangeIsRefused() throws {
        let batch = RowBatch(schema: Self.schema)
        try RowBatchTests.fill(batch, rows: 2)
        var dropped = Self.schema
        try dropped.dropColumn(named: "note")
        var renamed = Self.schema
        try renamed.renameColumn("qty", to: "quantity")
        var otherTable = Self.schema
        otherTable.tableID += 1
        for candidate in [dropped, renamed, otherTable] {
            #expect(!batch.extend(to: candidate))
            #expect(batch.schema == Self.schema)
            #expect(batch.rowCount == 2)
        }
    }

    @Test func aCancelledRowLeavesNoTrace() throws {
        let batch = RowBatch(schema: Self.schema)
        try RowBatchTests.fill(batch, rows: 2)
        // Copies: a column view shows the batch's live bytes.
        func contents() -> [[UInt8]] {
            (0..<Self.schema.columns.count).flatMap { index -> [[UInt8]] in
                let column = batch.column(index)
                return [Array(column.fixed), Array(UnsafeRawBufferPointer(column.lengths)), Array(column.data)]
            }
        }
        let before = contents()
        batch.beginRow()
        Array("X".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.setDouble(1, 9)
        batch.cancelRow()
        #expect(contents() == before)
        try RowBatchTests.fill(batch, rows: 1)
        #expect(batch.rowCount == 3)
    }
}

@Suite struct ColumnValueTextTests {
    static func parse<T>(_ text: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test func uuids() {
        let parsed = Self.parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") { ColumnValueText.uuid($0) }
        #expect(parsed?.high == 0xa0ee_bc99_9c0b_4ef8)
        #expect(parsed?.low == 0xbb6d_6bb9_bd38_0a11)
        for bad in ["", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11", "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] {
            #expect(Self.parse(bad) { ColumnValueText.uuid($0) } == nil, "\(bad)")
        }
    }

    @Test func ipv4Addresses() {
        #expect(Self.parse("192.168.1.20") { ColumnValueText.ipv4($0) } == 0xC0A8_0114)
        #expect(Self.parse("0.0.0.0") { ColumnValueText.ipv4($0) } == 0)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.", "a.b.c.d", "1.2.3.0004"] {
            #expect(Self.parse(bad) { ColumnValueText.ipv4($0) } == nil, "\(bad)")
        }
    }

    @Test func long256Words() {
        let words = Self.parse("1" + String(repeating: "0", count: 16) + "2") { ColumnValueText.long256(hexDigits: $0) }
        #expect(words?.0 == 2 && words?.1 == 0x10 && words?.2 == 0 && words?.3 == 0)
        #expect(Self.parse(String(repeating: "f", count: 65)) { ColumnValueText.long256(hexDigits: $0) } == nil)
        #expect(Self.parse("xyz") { ColumnValueText.long256(hexDigits: $0) } == nil)
    }

    @Test func geohashesTruncateToTheColumn() {
        // "u33d" = 26, 3, 3, 12 in base 32.
        let full: UInt64 = 26 << 15 | 3 << 10 | 3 << 5 | 12
        #expect(Self.parse("u33d") { ColumnValueText.geohash($0, bits: 20) } == full)
        #expect(Self.parse("u33d") { ColumnValueText.geohash($0, bits: 10) } == full >> 10)
        #expect(Self.parse("u33d") { ColumnValueText.geohash($0, bits: 7) } == full >> 13)
        #expect(Self.parse("u3") { ColumnValueText.geohash($0, bits: 20) } == nil)
        #expect(Self.parse("u3a3") { ColumnValueText.geohash($0, bits: 20) } == nil)
    }
}
