// Proves a row batch's SYMBOL dictionary: each distinct value once, kept across cleared rows only while used (and never into the WAL unused), undone rows take their new entries with them, format-1 WAL payloads (a value per row) still decode, damaged dictionaries are refused, and the table's keys come out in order of first use.
import Storage
import Testing
import TestSupport

@Suite struct BatchSymbolTests {
    static let schema = TableSchema(
        tableID: 5, name: "cpu",
        columns: [
            ColumnSchema(id: 1, name: "host", type: .symbol),
            ColumnSchema(id: 2, name: "region", type: .symbol),
            ColumnSchema(id: 3, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 3, partitionBy: .day)

    static func row(_ batch: RowBatch, host: String?, region: String? = "eu", ts: Int64) throws {
        batch.beginRow()
        if let host { Array(host.utf8).withUnsafeBytes { batch.setBytes(0, $0) } }
        if let region { Array(region.utf8).withUnsafeBytes { batch.setSymbol(1, $0) } }
        batch.setInteger(2, ts)
        try batch.endRow()
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    static func values(_ column: ColumnBuffer, rows: Int) -> [String?] {
        (0..<rows).map { column.variableValue(row: $0).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Entries in `column`'s dictionary, in key order.
    static func entries(_ column: ColumnBuffer) -> [String] {
        var offset = 0
        return column.lengths.map { length in
            defer { offset += Int(length) }
            return String(decoding: column.data[offset..<offset + Int(length)], as: UTF8.self)
        }
    }

    @Test func eachDistinctValueIsKeptOnce() throws {
        let batch = RowBatch(schema: Self.schema)
        let hosts: [String?] = ["b", "a", "b", nil, "c", "a", "b"]
        for (row, host) in hosts.enumerated() { try Self.row(batch, host: host, ts: Int64(row)) }
        let column = batch.column(0)
        #expect(Self.entries(column) == ["b", "a", "c"])
        #expect((0..<hosts.count).map { column.symbolKey(row: $0) } == [0, 1, 0, -1, 2, 1, 0])
        #expect(Self.values(column, rows: hosts.count) == hosts)
        #expect(Self.entries(batch.column(1)) == ["eu"])
        // Keys 4 bytes a row, plus each entry once (4 bytes of length and its bytes).
        #expect(batch.byteCount == 7 * (4 + 4 + 8) + 3 * 5 + 6)
    }

    /// Enough distinct values that the index grows several times, then more rows over the same
    /// values after a codec round trip (the decoded dictionary is indexed on first lookup).
    @Test func manyValuesSurviveGrowthAndADecodedDictionary() throws {
        let batch = RowBatch(schema: Self.schema)
        for row in 0..<5_000 { try Self.row(batch, host: "host_\(row % 1_700)", region: "r\(row % 7)", ts: Int64(row)) }
        #expect(batch.column(0).lengths.count == 1_700 && batch.column(1).lengths.count == 7)
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
        try Self.row(decoded, host: "host_1699", ts: 5_000)
        try Self.row(decoded, host: "host_new", ts: 5_001)
        let column = decoded.column(0)
        #expect(column.symbolKey(row: 5_000) == 1_699 && column.symbolKey(row: 5_001) == 1_700)
        #expect(Self.values(column, rows: 5_002) == (0..<5_000).map { "host_\($0 % 1_700)" } + ["host_1699", "host_new"])
    }

    /// A cancelled row, and a row its batch refuses at `endRow`, leave no entry behind; an entry
    /// an earlier row added stays.
    @Test func undoneRowsTakeTheirNewEntriesWithThem() throws {
        let batch = RowBatch(schema: Self.schema, maxBytes: 200)
        try Self.row(batch, host: "a", ts: 1)
        batch.beginRow()
        Array("fresh".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.cancelRow()
        #expect(Self.entries(batch.column(0)) == ["a"])
        batch.beginRow()
        Array("a".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.cancelRow()
        #expect(Self.entries(batch.column(0)) == ["a"] && batch.rowCount == 1)
        // A value too long for the batch's byte limit fails its row at endRow.
        let long = String(repeating: "x", count: 300)
        #expect(throws: StorageError.self) { try Self.row(batch, host: long, region: "new region", ts: 2) }
        #expect(Self.entries(batch.column(0)) == ["a"] && Self.entries(batch.column(1)) == ["eu"])
        try Self.row(batch, host: "b", ts: 3)
        #expect(Self.entries(batch.column(0)) == ["a", "b"] && batch.column(0).symbolKey(row: 1) == 1)
        #expect(batch.byteCount == 2 * 16 + 5 + 5 + 6)
    }

    /// Rows with `hosts` (region "eu"), timestamps from `ts`.
    static func rows(_ batch: RowBatch, _ hosts: [String], ts: Int64 = 0) throws {
        for (row, host) in hosts.enumerated() { try Self.row(batch, host: host, ts: ts + Int64(row)) }
    }

    /// The batch after an encode and decode: what the WAL keeps of it.
    static func throughTheWAL(_ batch: RowBatch) throws -> RowBatch {
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
        return decoded
    }

    /// `clearRows` keeps a dictionary the rows used (decision 0043): the same values get the same
    /// keys and the epoch stays; values the next rows leave unused are dropped before the WAL
    /// (keys renumbered, epoch changed), so a record holds only its rows' values.
    @Test func clearedRowsKeepTheirValuesAndTheWALOnlyUsedOnes() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.rows(batch, ["a", "b", "a"])
        let epoch = batch.dictionaryEpoch
        batch.clearRows()
        #expect(batch.rowCount == 0 && batch.dictionaryEpoch == epoch)
        #expect(Self.entries(batch.column(0)) == ["a", "b"] && batch.byteCount == 2 * 4 + 2 + 4 + 2)
        try Self.rows(batch, ["b", "c", "b", "a"], ts: 10)
        #expect((0..<4).map { batch.column(0).symbolKey(row: $0) } == [1, 2, 1, 0])
        batch.dropUnusedSymbolEntries()
        #expect(batch.dictionaryEpoch == epoch && Self.entries(batch.column(0)) == ["a", "b", "c"])
        batch.clearRows()
        try Self.rows(batch, ["c", "b", "c"], ts: 20)
        batch.dropUnusedSymbolEntries()
        #expect(batch.dictionaryEpoch != epoch)
        #expect(Self.entries(batch.column(0)) == ["b", "c"] && Self.entries(batch.column(1)) == ["eu"])
        #expect((0..<3).map { batch.column(0).symbolKey(row: $0) } == [1, 0, 1])
        #expect(Self.values(batch.column(0), rows: 3) == ["c", "b", "c"])
        let decoded = try Self.throughTheWAL(batch)
        #expect(Self.values(decoded.column(0), rows: 3) == ["c", "b", "c"] && Self.entries(decoded.column(0)) == ["b", "c"])
        // Fewer rows than kept values still go through the WAL (a decoder refuses more entries than rows).
        let few = RowBatch(schema: Self.schema)
        try Self.rows(few, ["a", "b", "c", "d", "e"])
        few.clearRows()
        try Self.rows(few, ["d"], ts: 30)
        few.dropUnusedSymbolEntries()
        let decodedFew = try Self.throughTheWAL(few)
        #expect(Self.values(decodedFew.column(0), rows: 1) == ["d"] && Self.entries(decodedFew.column(0)) == ["d"])
    }

    /// A dictionary is not kept when the rows cleared left much of it unused, nor after a commit
    /// that had to drop much of it: a stream of ever new values gains nothing from it.
    @Test func dictionariesOfChangingValuesAreNotKept() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.rows(batch, (0..<8).map { "h\($0)" })
        batch.clearRows()
        try Self.rows(batch, (8..<16).map { "h\($0)" })
        batch.dropUnusedSymbolEntries()
        #expect(Self.entries(batch.column(0)) == (8..<16).map { "h\($0)" })
        let epoch = batch.dictionaryEpoch
        batch.clearRows()
        #expect(batch.dictionaryEpoch != epoch && batch.column(0).lengths.isEmpty)
        #expect(Self.entries(batch.column(1)) == ["eu"])
        // Without a commit in between (a helper lane's half): kept only if the rows used ¾ of it.
        try Self.rows(batch, ["a", "b", "c", "d"])
        batch.clearRows()
        #expect(Self.entries(batch.column(0)) == ["a", "b", "c", "d"])
        try Self.rows(batch, ["a", "b"])
        let before = batch.dictionaryEpoch
        batch.clearRows()
        #expect(batch.dictionaryEpoch != before && batch.column(0).lengths.isEmpty)
    }

    /// An undone row that was the first to use a kept value leaves it unused again; one that
    /// added a value takes it away, as before.
    @Test func undoneRowsLeaveKeptValuesUnused() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.rows(batch, ["a", "b"])
        batch.clearRows()
        try Self.rows(batch, ["b"], ts: 5)
        batch.beginRow()
        Array("a".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.cancelRow()
        batch.beginRow()
        Array("b".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.cancelRow()
        batch.beginRow()
        Array("new".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.cancelRow()
        #expect(Self.entries(batch.column(0)) == ["a", "b"])
        batch.dropUnusedSymbolEntries()
        #expect(Self.entries(batch.column(0)) == ["b"] && Self.values(batch.column(0), rows: 1) == ["b"])
    }

    /// Appending another batch takes only the values its rows use, not the rest of its kept
    /// dictionary.
    @Test func appendingTakesOnlyTheValuesRowsUse() throws {
        let helper = RowBatch(schema: Self.schema)
        try Self.rows(helper, ["x", "y", "z", "y"])
        helper.clearRows()
        try Self.rows(helper, ["y", "z", "z", "y"], ts: 10)
        let main = RowBatch(schema: Self.schema)
        try Self.rows(main, ["q"])
        try main.append(contentsOf: helper)
        #expect(Self.entries(main.column(0)) == ["q", "y", "z"])
        #expect(Self.values(main.column(0), rows: 5) == ["q", "y", "z", "z", "y"])
        main.dropUnusedSymbolEntries()
        #expect(Self.entries(main.column(0)) == ["q", "y", "z"])
    }

    /// A format-1 payload — what an older version wrote to its WAL: a length per row and the
    /// bytes of every row — decodes to the same values, alone and appended to a format-2 one.
    @Test func formatOnePayloadsStillDecode() throws {
        let hosts: [String?] = ["x", nil, "y", "x"]
        var old: [UInt8] = [1]
        old += Self.le(UInt32(5))
        old += Self.le(UInt64(Self.schema.version))
        old += Self.le(UInt32(hosts.count))
        old += Self.le(UInt32(3))
        for (id, values) in [(UInt32(1), hosts), (UInt32(2), Array(repeating: "eu", count: hosts.count))] {
            old += Self.le(id)
            old += [12, 0]
            for value in values { old += Self.le(Int32(value.map { $0.utf8.count } ?? -1)) }
            let bytes = values.compactMap { $0 }.flatMap { Array($0.utf8) }
            old += Self.le(UInt64(bytes.count))
            old += bytes
        }
        old += Self.le(UInt32(3))
        old += [10, 0]
        for row in 0..<hosts.count { old += Self.le(Int64(100 + row)) }
        #expect(RowBatchCodec.tableID(of: old) == 5)
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(old, schema: Self.schema, into: decoded)
        #expect(Self.values(decoded.column(0), rows: 4) == hosts && Self.entries(decoded.column(0)) == ["x", "y"])

        let current = RowBatch(schema: Self.schema)
        try Self.row(current, host: "y", ts: 1)
        try Self.row(current, host: "z", ts: 2)
        var payload: [UInt8] = []
        RowBatchCodec.encode(current, into: &payload)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
        try RowBatchCodec.decode(old, schema: Self.schema, into: decoded, appending: true)
        #expect(Self.values(decoded.column(0), rows: 6) == ["y", "z"] + hosts)
        #expect(Self.entries(decoded.column(0)) == ["y", "z", "x"])
    }

    /// A key outside its dictionary, more entries than rows, or a negative entry length: refused.
    @Test func damagedDictionariesAreRefused() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.row(batch, host: "a", ts: 1)
        try Self.row(batch, host: "b", ts: 2)
        var payload: [UInt8] = []
        // Format 2 keeps keys as they are, at fixed offsets (format 3's narrowed keys:
        // `NarrowColumnTests`).
        RowBatchCodec.encode(batch, into: &payload, format: 2)
        // Header: format 1 + table 4 + version 8 + rows 4 + columns 4 = 21; column id 4 + type 2.
        let keys = 21 + 6, entryCount = keys + 8, firstLength = entryCount + 4
        let target = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: target)
        for (offset, value) in [(keys + 4, Int32(2)), (keys, Int32(-2)), (entryCount, Int32(3)), (firstLength, Int32(-1))] {
            var damaged = payload
            withUnsafeBytes(of: value.littleEndian) { for index in 0..<4 { damaged[offset + index] = $0[index] } }
            let error = #expect(throws: StorageError.self, "\(value) at \(offset)") {
                try RowBatchCodec.decode(damaged, schema: Self.schema, into: target)
            }
            #expect(error?.code == .corrupt)
        }
    }

    /// The table's dictionary gets values in order of first use across rows — what a row-by-row
    /// interning pass gives, so replaying the WAL assigns the same keys — also for a run of
    /// payloads decoded into one batch.
    @Test func tableKeysFollowFirstUse() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        let first = RowBatch(schema: Self.schema)
        for (row, host) in ["m", "k", "m", "z"].enumerated() { try Self.row(first, host: host, ts: Int64(row)) }
        let second = RowBatch(schema: Self.schema)
        for (row, host) in ["q", "k", "a"].enumerated() { try Self.row(second, host: host, ts: Int64(10 + row)) }
        var payloads: [[UInt8]] = [[], []]
        RowBatchCodec.encode(first, into: &payloads[0])
        RowBatchCodec.encode(second, into: &payloads[1])
        let run = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payloads[0], schema: Self.schema, into: run)
        try RowBatchCodec.decode(payloads[1], schema: Self.schema, into: run, appending: true)
        try store.apply(run, txn: 2)
        let snapshot = store.snapshot()
        #expect(snapshot.symbols[1]?.values == ["m", "k", "z", "q", "a"])
        let keys = try snapshot.mapColumn(1, in: snapshot.partitions[0])
        #expect((0..<7).map { row in keys.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 4, as: Int32.self) } }
            == [0, 1, 0, 2, 3, 1, 4])
    }
}
