// Proves row batches fill NULLs, track timestamp order, enforce their byte limit, and survive the WAL payload codec exactly.
import Storage
import Testing
import TestSupport

@Suite struct RowBatchTests {
    static let schema = TableSchema(
        tableID: 3, name: "trades",
        columns: [
            ColumnSchema(id: 1, name: "sym", type: .symbol),
            ColumnSchema(id: 2, name: "price", type: .double),
            ColumnSchema(id: 3, name: "qty", type: .long),
            ColumnSchema(id: 4, name: "note", type: .varchar),
            ColumnSchema(id: 5, name: "flag", type: .boolean),
            ColumnSchema(id: 6, name: "id", type: .uuid),
            ColumnSchema(id: 7, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 7, partitionBy: .day, version: 4)

    static func fill(_ batch: RowBatch, rows: Int, from first: Int = 0, timestamps: [Int64]? = nil) throws {
        for row in first..<first + rows {
            batch.beginRow()
            Array("S\(row % 3)".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
            batch.setDouble(1, Double(row) * 1.5)
            if row % 2 == 0 { batch.setInteger(2, Int64(row)) }
            if row % 3 != 0 { Array("note \(row)".utf8).withUnsafeBytes { batch.setBytes(3, $0) } }
            batch.setInteger(4, UInt8(row % 2))
            [UInt8](repeating: UInt8(row), count: 16).withUnsafeBytes { batch.setFixedBytes(5, $0) }
            batch.setInteger(6, timestamps?[row - first] ?? Int64(1_000 + row))
            try batch.endRow()
        }
    }

    @Test func unsetColumnsGetTheirNull() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 4)
        #expect(batch.rowCount == 4)
        #expect(batch.column(2).fixedValue(row: 1, as: Int64.self) == Int64.min)
        #expect(batch.column(2).fixedValue(row: 2, as: Int64.self) == 2)
        #expect(batch.column(3).variableValue(row: 0) == nil)
        #expect(batch.column(3).variableValue(row: 1).map { Array($0) } == Array("note 1".utf8))
        #expect(batch.column(0).variableValue(row: 2).map { Array($0) } == Array("S2".utf8))
    }

    @Test func timestampOrderIsTracked() throws {
        let ordered = RowBatch(schema: Self.schema)
        try Self.fill(ordered, rows: 3, timestamps: [5, 5, 9])
        #expect(ordered.isOrderedByTimestamp && ordered.minTimestamp == 5 && ordered.maxTimestamp == 9)
        let unordered = RowBatch(schema: Self.schema)
        try Self.fill(unordered, rows: 3, timestamps: [5, 3, 9])
        #expect(!unordered.isOrderedByTimestamp && unordered.minTimestamp == 3)
    }

    @Test func theByteLimitDropsTheRowThatCrossesIt() throws {
        let batch = RowBatch(schema: Self.schema, maxBytes: 300)
        let error = #expect(throws: StorageError.self) { try Self.fill(batch, rows: 100) }
        #expect(error?.code == .limitExceeded)
        #expect(batch.byteCount <= 300 && batch.rowCount > 0)
        let kept = batch.rowCount
        #expect(batch.column(1).fixed.count == kept * 8)
        #expect(batch.column(3).lengths.count == kept)
    }

    /// Two halves appended give the batch of all rows: values, byte count, timestamp range
    /// and order; past the byte limit nothing changes.
    @Test func appendingABatchJoinsItsRowsAfterOurs() throws {
        let timestamps: [Int64] = [10, 11, 12, 13, 14, 12, 15, 16, 17, 18]
        let whole = RowBatch(schema: Self.schema)
        try Self.fill(whole, rows: 10, timestamps: timestamps)
        let head = RowBatch(schema: Self.schema)
        try Self.fill(head, rows: 4, timestamps: Array(timestamps[..<4]))
        let tail = RowBatch(schema: Self.schema)
        try Self.fill(tail, rows: 6, from: 4, timestamps: Array(timestamps[4...]))
        #expect(head.isOrderedByTimestamp && tail.isOrderedByTimestamp == false)
        try head.append(contentsOf: tail)
        #expect(head.rowCount == 10 && head.byteCount == whole.byteCount)
        #expect((0..<Self.schema.columns.count).allSatisfy { head.column($0) == whole.column($0) })
        #expect(!head.isOrderedByTimestamp && head.minTimestamp == 10 && head.maxTimestamp == 18)
        // Ordered halves stay ordered only when the second starts at or after the first's end.
        let early = RowBatch(schema: Self.schema), late = RowBatch(schema: Self.schema)
        try Self.fill(early, rows: 2, timestamps: [5, 7])
        try Self.fill(late, rows: 2, timestamps: [7, 8])
        try early.append(contentsOf: late)
        #expect(early.isOrderedByTimestamp)
        try late.append(contentsOf: early)
        #expect(!late.isOrderedByTimestamp && late.minTimestamp == 5)
        let small = RowBatch(schema: Self.schema, maxBytes: whole.byteCount + 10)
        try Self.fill(small, rows: 1)
        let error = #expect(throws: StorageError.self) { try small.append(contentsOf: whole) }
        #expect(error?.code == .limitExceeded && small.rowCount == 1)
    }

    @Test func resetReusesTheBatch() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 10)
        batch.reset()
        #expect(batch.rowCount == 0 && batch.byteCount == 0)
        try Self.fill(batch, rows: 2)
        #expect(batch.rowCount == 2)
    }

    @Test func thePayloadCodecRoundTrips() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 50, timestamps: (0..<50).map { Int64(($0 * 7) % 13) })
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        #expect(RowBatchCodec.tableID(of: payload) == 3)
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payload, schema: Self.schema, into: decoded)
        #expect(decoded.rowCount == 50)
        for index in Self.schema.columns.indices { #expect(decoded.column(index) == batch.column(index)) }
        #expect(decoded.minTimestamp == batch.minTimestamp && decoded.isOrderedByTimestamp == batch.isOrderedByTimestamp)
    }

    /// The applier decodes a run of one table's commits into one batch: the same rows, values
    /// and timestamp order as one batch holding them all.
    @Test func payloadsDecodeOneAfterAnother() throws {
        let timestamps = (0..<30).map { Int64(1_000 + $0 * 10) }
        // A later commit first, then an earlier one (two senders).
        let payloads = try [20..<30, 0..<20].map { part in
            let piece = RowBatch(schema: Self.schema)
            try Self.fill(piece, rows: part.count, timestamps: Array(timestamps[part]))
            var payload: [UInt8] = []
            RowBatchCodec.encode(piece, into: &payload)
            return payload
        }
        let decoded = RowBatch(schema: Self.schema)
        try RowBatchCodec.decode(payloads[0], schema: Self.schema, into: decoded)
        #expect(decoded.isOrderedByTimestamp)
        try RowBatchCodec.decode(payloads[1], schema: Self.schema, into: decoded, appending: true)
        #expect(decoded.rowCount == 30)
        #expect(!decoded.isOrderedByTimestamp, "the second payload starts before the first ends")
        #expect(decoded.minTimestamp == 1_000 && decoded.maxTimestamp == 1_290)
        let expected = RowBatch(schema: Self.schema)
        try Self.fill(expected, rows: 10, timestamps: Array(timestamps[20...]))
        let second = RowBatch(schema: Self.schema)
        try Self.fill(second, rows: 20, timestamps: Array(timestamps[..<20]))
        for index in Self.schema.columns.indices {
            let (got, first, then) = (decoded.column(index), expected.column(index), second.column(index))
            if got.isSymbol || got.isLengthPrefixed {
                // Values row by row: a SYMBOL column keeps each distinct value once across both.
                #expect((0..<30).map { got.variableValue(row: $0) }
                    == (0..<10).map { first.variableValue(row: $0) } + (0..<20).map { then.variableValue(row: $0) })
            } else {
                #expect(Array(got.fixed) == Array(first.fixed) + Array(then.fixed))
            }
        }
        #expect(decoded.column(0).lengths.count == 3, "S0, S1 and S2 once each")
        // Decoding without appending starts over.
        try RowBatchCodec.decode(payloads[1], schema: Self.schema, into: decoded)
        #expect(decoded.rowCount == 20 && decoded.isOrderedByTimestamp)
    }

    /// What the WAL writes from the batches' own memory is byte for byte the encoded payload:
    /// one batch and a group, a 1-row batch (all small fields, copied) and a large one (its
    /// columns referenced).
    @Test(arguments: [1, 3, 200])
    func payloadPiecesAreTheEncodedBytes(rows: Int) throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: rows)
        var other = Self.schema
        other.tableID = 9
        other.name = "quotes"
        let second = RowBatch(schema: other)
        try Self.fill(second, rows: rows + 7)
        var single: [UInt8] = []
        RowBatchCodec.encode(batch, into: &single)
        var group: [UInt8] = []
        RowBatchCodec.encodeGroup([batch, second], into: &group)
        // Fresh, then reusing a headers array that held another payload (the WAL's pool).
        var reused = [UInt8](repeating: 0xA5, count: 4096)
        for (batches, expected) in [([batch], single), ([batch, second], group), ([batch], single)] {
            var reusing = RowBatchCodec.pieces(batches, reusing: &reused)
            #expect(reused.isEmpty)
            for pieces in [RowBatchCodec.pieces(batches), reusing] {
                #expect(pieces.count == expected.count)
                let joined = try pieces.withBuffers { (buffers) throws(StorageError) in buffers.flatMap { Array($0) } }
                #expect(joined == expected)
            }
            reused = reusing.takeHeaders()
            #expect(reusing.count == 0 && reused.isEmpty && reused.capacity > 0)
        }
        #expect(RowBatchCodec.members(ofGroup: group)?.count == 2)
    }

    @Test func damagedPayloadsAreRefusedNeverMisread() throws {
        let batch = RowBatch(schema: Self.schema)
        try Self.fill(batch, rows: 5)
        var payload: [UInt8] = []
        RowBatchCodec.encode(batch, into: &payload)
        let target = RowBatch(schema: Self.schema)
        for length in 0..<payload.count {
            #expect(throws: StorageError.self, "length \(length)") {
                try RowBatchCodec.decode(Array(payload[..<length]), schema: Self.schema, into: target)
            }
        }
        var newer = Self.schema
        newer.version += 1
        #expect(throws: StorageError.self) { try RowBatchCodec.decode(payload, schema: newer, into: target) }
        #expect(throws: StorageError.self) { try RowBatchCodec.decode(payload + [0], schema: Self.schema, into: target) }
    }
}

@Suite struct DoubleArrayTests {
    static let schema = TableSchema(
        tableID: 4, name: "arrays",
        columns: [ColumnSchema(id: 1, name: "m", type: .doubleArray(dimensions: 2)), ColumnSchema(id: 2, name: "ts", type: .timestamp)],
        designatedTimestamp: 2, partitionBy: .day)

    @Test func arraysAreStoredAndReadBack() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        let batch = RowBatch(schema: Self.schema)
        let matrix = DoubleArrayValue.encode(shape: [2, 3], values: [1, 2, 3, 4, 5, .nan])
        batch.beginRow()
        matrix.withUnsafeBytes { batch.setBytes(0, $0) }
        batch.setInteger(1, Int64(1))
        try batch.endRow()
        batch.beginRow()
        batch.setInteger(1, Int64(2))
        try batch.endRow()
        try store.apply(batch, txn: 2)
        let snapshot = store.snapshot()
        let column = try snapshot.mapVariableColumn(1, in: snapshot.partitions[0])
        let decoded = column.withValue(row: 0) { $0.flatMap { DoubleArrayValue.decode($0, dimensions: 2) } }
        #expect(decoded?.shape == [2, 3])
        #expect(decoded?.values.prefix(5) == [1, 2, 3, 4, 5] && decoded?.values.last?.isNaN == true)
        #expect(column.withValue(row: 1) { $0 == nil })
    }

    static let invalid: [[UInt8]] = [
        [], [1], [2, 1, 0, 0, 0], [3] + [UInt8](repeating: 0, count: 12),
        Array(DoubleArrayValue.encode(shape: [1, 2], values: [1, 2]).dropLast()),
    ]

    @Test(arguments: invalid)
    func invalidEncodingsFailTheRow(bytes: [UInt8]) {
        let batch = RowBatch(schema: Self.schema)
        batch.beginRow()
        bytes.withUnsafeBytes { batch.setBytes(0, $0) }
        batch.setInteger(1, Int64(1))
        #expect(throws: StorageError.self) { try batch.endRow() }
        #expect(batch.rowCount == 0)
    }
}

@Suite struct PayloadHeaderPoolTests {
    private func array(capacity: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        return bytes
    }

    @Test func keepsOnlyLargeArraysAndOnlyAFew() {
        let pool = PayloadHeaderPool()
        #expect(pool.take().capacity == 0)
        pool.give(array(capacity: 64 << 10))  // small: the heap serves it warm
        #expect(pool.take().capacity == 0)
        pool.give(array(capacity: PayloadHeaderPool.largest * 2))  // huge: not pinned
        #expect(pool.take().capacity == 0)
        for _ in 0..<(PayloadHeaderPool.kept + 2) { pool.give(array(capacity: PayloadHeaderPool.smallest)) }
        var taken: [[UInt8]] = []
        for _ in 0..<(PayloadHeaderPool.kept + 2) { taken.append(pool.take()) }
        #expect(taken.filter { $0.capacity >= PayloadHeaderPool.smallest }.count == PayloadHeaderPool.kept)
    }
}
