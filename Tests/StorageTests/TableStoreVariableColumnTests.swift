// Proves SYMBOL and var-size columns: dictionaries, .d/.i files, NULL versus empty, and rollback to the checkpoint on reopen.
import Storage
import Testing
import TestSupport

@Suite struct TableStoreVariableColumnTests {
    static let schema = TableSchema(
        tableID: 2, name: "events",
        columns: [
            ColumnSchema(id: 1, name: "host", type: .symbol),
            ColumnSchema(id: 2, name: "message", type: .varchar),
            ColumnSchema(id: 3, name: "payload", type: .binary),
            ColumnSchema(id: 4, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 4, partitionBy: .day)

    /// Row r: host h<r%3> (NULL every 5th), message "m<r>" (NULL every 4th, empty every 7th).
    static func batch(_ rows: Range<Int>) throws -> RowBatch {
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            if row % 5 != 4 { Array("h\(row % 3)".utf8).withUnsafeBytes { batch.setBytes(0, $0) } }
            if row % 4 != 3 {
                Array((row % 7 == 6 ? "" : "m\(row)").utf8).withUnsafeBytes { batch.setBytes(1, $0) }
            }
            [UInt8](repeating: UInt8(row % 256), count: row % 3).withUnsafeBytes { batch.setBytes(2, $0) }
            batch.setInteger(3, Int64(row) * 21_600_000_000)  // 4 rows a day
            try batch.endRow()
        }
        return batch
    }

    static func expectedMessage(_ row: Int) -> String? {
        row % 4 == 3 ? nil : (row % 7 == 6 ? "" : "m\(row)")
    }

    static func read(_ snapshot: TableSnapshot) throws -> [(host: String?, message: String?, payload: [UInt8]?)] {
        var rows: [(String?, String?, [UInt8]?)] = []
        let symbols = try #require(snapshot.symbols[1])
        for partition in snapshot.partitions {
            let hosts = try snapshot.mapColumn(1, in: partition)
            let messages = try snapshot.mapVariableColumn(2, in: partition)
            let payloads = try snapshot.mapVariableColumn(3, in: partition)
            for row in 0..<partition.rowCount {
                let key = hosts.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 4, as: Int32.self) }
                let message = messages.withValue(row: row) { $0.map { String(decoding: $0, as: UTF8.self) } }
                let payload = payloads.withValue(row: row) { $0.map { Array($0) } }
                rows.append((symbols.value(key), message, payload))
            }
        }
        return rows
    }

    static func check(_ rows: [(host: String?, message: String?, payload: [UInt8]?)], count: Int) {
        #expect(rows.count == count)
        for (row, value) in rows.enumerated() {
            #expect(value.host == (row % 5 == 4 ? nil : "h\(row % 3)"), "row \(row)")
            #expect(value.message == expectedMessage(row), "row \(row)")
            #expect(value.payload == [UInt8](repeating: UInt8(row % 256), count: row % 3), "row \(row)")
        }
    }

    @Test func valuesRoundTripThroughTheFiles() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch(0..<10), txn: 2)
        try store.apply(try Self.batch(10..<25), txn: 3)
        let snapshot = store.snapshot()
        #expect(snapshot.partitions.count == 7)
        #expect(snapshot.symbols[1]?.values == ["h0", "h1", "h2"])
        #expect(snapshot.symbols[1]?.keys["h2"] == 2)
        Self.check(try Self.read(snapshot), count: 25)
    }

    @Test func reopenRollsVariableColumnsAndDictionariesBackToTheCheckpoint() throws {
        let directory = TemporaryDirectory()
        var tableDirectory = ""
        do {
            let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
            tableDirectory = store.directory
            try store.apply(try Self.batch(0..<2), txn: 2)  // only h0, h1 so far
            try store.checkpoint()
            try store.apply(try Self.batch(2..<9), txn: 3)  // adds h2; never checkpointed
        }
        let reopened = try TableStore(directory: tableDirectory)
        #expect(reopened.snapshot().symbols[1]?.values == ["h0", "h1"])
        Self.check(try Self.read(reopened.snapshot()), count: 2)
        try reopened.apply(try Self.batch(2..<9), txn: 3)
        try reopened.checkpoint()
        let again = try TableStore(directory: tableDirectory)
        Self.check(try Self.read(again.snapshot()), count: 9)
        #expect(again.snapshot().symbols[1]?.values == ["h0", "h1", "h2"])
    }
}

@Suite struct VariableColumnDamageTests {
    @Test func damagedOffsetsAreAnErrorNotACrash() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: TableStoreVariableColumnTests.schema, txn: 1)
        try store.apply(try TableStoreVariableColumnTests.batch(0..<4), txn: 2)
        try store.checkpoint()
        let snapshot = store.snapshot()
        let partition = snapshot.partitions[0]
        let path = store.directory + "/" + partition.directoryName + "/" + ColumnFiles.offsetFileName(columnID: 2)
        var bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        bytes[8 + 7] = 0x00  // row 0's end offset loses its NULL bit and becomes huge or wrong
        bytes[8] = 0xFF
        try DurableFile.replace(path, with: bytes, io: .system)
        let error = #expect(throws: StorageError.self) { try snapshot.mapVariableColumn(2, in: partition) }
        #expect(error?.code == .corrupt && error?.path == path)
    }
}

/// A batch large enough (rows × SYMBOL columns ≥ `TableStore.parallelInterningLookups`) that its
/// columns are interned in parallel: every column gets its own dictionary, keys in first-seen
/// order, NULLs kept, exactly as one at a time.
@Suite struct ParallelInterningTests {
    static let schema = TableSchema(
        tableID: 3, name: "wide",
        columns: (1...6).map { ColumnSchema(id: UInt32($0), name: "s\($0)", type: .symbol) }
            + [ColumnSchema(id: 7, name: "ts", type: .timestamp)],
        designatedTimestamp: 7, partitionBy: .day)

    /// Column c of row r: NULL when r % (c + 7) == 0, else "c<c>v<r % (50 × (c + 1))>".
    static func value(_ column: Int, _ row: Int) -> String? {
        row % (column + 7) == 0 ? nil : "c\(column)v\(row % (50 * (column + 1)))"
    }

    @Test func largeBatchesInternEveryColumnAsOneAtATimeWould() throws {
        let rows = 20_000
        #expect(rows * 6 >= TableStore.parallelInterningLookups)
        let batch = RowBatch(schema: Self.schema)
        for row in 0..<rows {
            batch.beginRow()
            for column in 0..<6 {
                if let value = Self.value(column, row) { Array(value.utf8).withUnsafeBytes { batch.setBytes(column, $0) } }
            }
            batch.setInteger(6, Int64(row) * 1_000_000)
            try batch.endRow()
        }
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(batch, txn: 2)
        let snapshot = store.snapshot()
        for column in 0..<6 {
            let dictionary = try #require(snapshot.symbols[UInt32(column + 1)])
            var firstSeen: [String] = []
            var seen = Set<String>()
            for row in 0..<rows {
                if let value = Self.value(column, row), seen.insert(value).inserted { firstSeen.append(value) }
            }
            #expect(dictionary.values == firstSeen, "column \(column)")
            var row = 0
            for partition in snapshot.partitions {
                let keys = try snapshot.mapColumn(UInt32(column + 1), in: partition)
                for index in 0..<partition.rowCount {
                    let key = keys.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 4, as: Int32.self) }
                    #expect(dictionary.value(key) == Self.value(column, row), "column \(column) row \(row)")
                    row += 1
                }
            }
            #expect(row == rows)
        }
    }
}
