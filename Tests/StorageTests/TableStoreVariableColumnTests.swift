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

/// An append of at least `TableStore.parallelWriteBytes` of fixed-width and SYMBOL column bytes
/// writes its columns on two threads: every file gets the bytes one thread would have written,
/// a var-size column beside them keeps its own order, and a failed write fails the apply.
@Suite struct ParallelColumnWriteTests {
    static let schema = TableSchema(
        tableID: 4, name: "wide",
        columns: (1...8).map { ColumnSchema(id: UInt32($0), name: "l\($0)", type: .long) }
            + [ColumnSchema(id: 9, name: "tag", type: .symbol), ColumnSchema(id: 10, name: "note", type: .varchar),
               ColumnSchema(id: 11, name: "small", type: .short), ColumnSchema(id: 12, name: "ts", type: .timestamp)],
        designatedTimestamp: 12, partitionBy: .day)

    /// Rows 6 s apart: 14 400 a day, so one apply of many appends to several partitions.
    static func batch(rows: Int, firstRow: Int = 0) throws -> RowBatch {
        let batch = RowBatch(schema: schema)
        for row in firstRow..<(firstRow + rows) {
            batch.beginRow()
            for column in 0..<8 { batch.setInteger(column, Int64(row) * Int64(column + 1) - 7) }
            Array("t\(row % 13)".utf8).withUnsafeBytes { batch.setBytes(8, $0) }
            if row % 5 != 0 { Array("n\(row)".utf8).withUnsafeBytes { batch.setBytes(9, $0) } }
            batch.setInteger(10, Int16(truncatingIfNeeded: row))
            batch.setInteger(11, Int64(row) * 6_000_000)  // 14 400 rows a day
            try batch.endRow()
        }
        return batch
    }

    @Test func largeAppendsWriteEveryColumnAsOneThreadWould() throws {
        let rows = 30_000
        // 8 LONGs, a timestamp, SYMBOL keys and a SHORT: 78 bytes a row; each of the first two
        // days' appends is past the threshold, the third's (1 200 rows) is not.
        #expect(14_400 * 78 >= TableStore.parallelWriteBytes && 1_200 * 78 < TableStore.parallelWriteBytes)
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch(rows: rows), txn: 2)
        // A second, small apply goes on where the parallel one ended (serial path).
        try store.apply(try Self.batch(rows: 10, firstRow: rows), txn: 3)
        let snapshot = store.snapshot()
        #expect(snapshot.partitions.count == 3)
        let tags = try #require(snapshot.symbols[9])
        var row = 0
        for partition in snapshot.partitions {
            let longs = try (1...8).map { try snapshot.mapColumn(UInt32($0), in: partition) }
            let keys = try snapshot.mapColumn(9, in: partition)
            let smalls = try snapshot.mapColumn(11, in: partition)
            let notes = try snapshot.mapVariableColumn(10, in: partition)
            for index in 0..<partition.rowCount {
                for (column, file) in longs.enumerated() {
                    let value = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 8, as: Int64.self) }
                    #expect(value == Int64(row) * Int64(column + 1) - 7, "column \(column) row \(row)")
                }
                let key = keys.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 4, as: Int32.self) }
                #expect(tags.value(key) == "t\(row % 13)", "row \(row)")
                let small = smalls.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 2, as: Int16.self) }
                #expect(small == Int16(truncatingIfNeeded: row), "row \(row)")
                let note = notes.withValue(row: index) { $0.map { String(decoding: $0, as: UTF8.self) } }
                #expect(note == (row % 5 == 0 ? nil : "n\(row)"), "row \(row)")
                row += 1
            }
        }
        #expect(row == rows + 10)
    }

    @Test func aFailedWriteOnEitherThreadFailsTheApply() throws {
        // The pwrites creating the table come first: count them, then fail the apply's 1st,
        // 6th and 11th (the halves are written at once, so either thread may meet the fault).
        let counter = FaultInjectingIO([.init(at: Int.max, only: .pwrite)])
        _ = try TableStore.create(in: TemporaryDirectory().path, schema: Self.schema, txn: 1, io: counter.io)
        let creating = counter.calls
        for failing in [1, 6, 11] {
            let faults = FaultInjectingIO([.init(at: creating + failing, only: .pwrite)])
            let directory = TemporaryDirectory()
            let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1, io: faults.io)
            let error = #expect(throws: StorageError.self) { try store.apply(try Self.batch(rows: 30_000), txn: 2) }
            #expect(error?.code == .io, "write \(failing)")
            #expect(faults.injected == 1)
        }
    }
}
