// Proves structural changes through the WAL: add/drop/rename columns, rename, truncate and drop tables, also across a crash and replay.
import Storage
import Testing
import TestSupport

@Suite struct StorageEngineSchemaTests {
    static let hour: Int64 = 3_600_000_000

    static func open(_ directory: TemporaryDirectory) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        return try StorageEngine(layout: layout, configuration: StorageConfiguration(checkpointEveryTxns: 1_000))
    }

    static func create(_ engine: StorageEngine, _ name: String = "metrics") async throws -> TableSchema {
        try await engine.createTable(TableSchema(
            tableID: 0, name: name,
            columns: [ColumnSchema(id: 1, name: "value", type: .long), ColumnSchema(id: 2, name: "ts", type: .timestamp)],
            designatedTimestamp: 2, partitionBy: .hour))
    }

    /// Commits `rows` rows; every column is filled by position from `value(row, column)`.
    @discardableResult
    static func commit(_ engine: StorageEngine, _ schema: TableSchema, _ rows: Range<Int>) async throws -> UInt64 {
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            for (position, column) in schema.columns.enumerated() {
                switch column.type {
                case .timestamp: batch.setInteger(position, Int64(row) * hour / 4)
                case .long: batch.setInteger(position, Int64(row) * 10 + Int64(column.id))
                case .varchar: Array("v\(row)".utf8).withUnsafeBytes { batch.setBytes(position, $0) }
                default: batch.setNull(position)
                }
            }
            try batch.endRow()
        }
        let txn = try await engine.commit(batch)
        await engine.waitUntilApplied(txn)
        return txn
    }

    static func longs(_ engine: StorageEngine, _ table: String, column name: String) throws -> [Int64] {
        let snapshot = try #require(engine.snapshot(ofTable: table))
        let column = try #require(snapshot.schema.column(named: name))
        var values: [Int64] = []
        for partition in snapshot.partitions {
            let mapped = try snapshot.mapColumn(column.id, in: partition)
            mapped.withUnsafeBytes { bytes in
                for row in 0..<partition.rowCount { values.append(bytes.loadUnaligned(fromByteOffset: row * 8, as: Int64.self)) }
            }
        }
        return values
    }

    static func strings(_ engine: StorageEngine, _ table: String, column name: String) throws -> [String?] {
        let snapshot = try #require(engine.snapshot(ofTable: table))
        let column = try #require(snapshot.schema.column(named: name))
        var values: [String?] = []
        for partition in snapshot.partitions {
            let mapped = try snapshot.mapVariableColumn(column.id, in: partition)
            for row in 0..<partition.rowCount {
                values.append(mapped.withValue(row: row) { $0.map { String(decoding: $0, as: UTF8.self) } })
            }
        }
        return values
    }

    @Test func addedColumnsReadNullForOldRows() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await Self.create(engine)
        try await Self.commit(engine, schema, 0..<6)
        let altered = try await engine.alterTable("METRICS") { schema throws(SchemaError) in
            try schema.addColumn(name: "extra", type: .long)
            try schema.addColumn(name: "label", type: .varchar)
        }
        #expect(altered.version == 2 && altered.columns.map(\.name) == ["value", "ts", "extra", "label"])
        try await Self.commit(engine, altered, 6..<9)
        #expect(try Self.longs(engine, "metrics", column: "extra") == [Int64](repeating: .min, count: 6) + [63, 73, 83])
        #expect(try Self.strings(engine, "metrics", column: "label") == [String?](repeating: nil, count: 6) + ["v6", "v7", "v8"])
        // A batch built against the old schema is refused, not misapplied.
        await #expect(throws: StorageError.self) { try await Self.commit(engine, schema, 9..<10) }
    }

    @Test func renamesAndDropsKeepTheData() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await Self.create(engine)
        try await Self.commit(engine, schema, 0..<3)
        _ = try await engine.alterTable("metrics") { schema throws(SchemaError) in
            try schema.renameColumn("value", to: "reading")
            schema.name = "readings"
        }
        #expect(engine.schema(named: "metrics") == nil)
        #expect(try Self.longs(engine, "readings", column: "reading") == [1, 11, 21])
        let dropped = try await engine.alterTable("readings") { schema throws(SchemaError) in
            try schema.dropColumn(named: "reading")
            try schema.addColumn(name: "reading", type: .long)
        }
        #expect(dropped.column(named: "reading")?.id == 3)
        #expect(try Self.longs(engine, "readings", column: "reading") == [.min, .min, .min])
    }

    @Test func invalidChangesAreRefusedBeforeTheWAL() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        _ = try await Self.create(engine)
        _ = try await Self.create(engine, "other")
        let next = engine.wal.nextTxn
        await #expect(throws: StorageError.self) {
            try await engine.alterTable("metrics") { schema throws(SchemaError) in try schema.dropColumn(named: "ts") }
        }
        await #expect(throws: StorageError.self) {
            try await engine.alterTable("metrics") { schema throws(SchemaError) in try schema.addColumn(name: "VALUE", type: .int) }
        }
        await #expect(throws: StorageError.self) {
            try await engine.alterTable("metrics") { schema throws(SchemaError) in schema.name = "OTHER" }
        }
        await #expect(throws: StorageError.self) {
            try await engine.alterTable("metrics") { schema throws(SchemaError) in schema.columns[0].type = .double }
        }
        await #expect(throws: StorageError.self) { try await engine.truncateTable("missing") }
        #expect(engine.wal.nextTxn == next)
        #expect(engine.schema(named: "metrics")?.version == 1)
    }

    @Test func truncateEmptiesAndDropRemoves() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await Self.create(engine)
        try await Self.commit(engine, schema, 0..<10)
        try await engine.truncateTable("metrics")
        #expect(engine.snapshot(ofTable: "metrics")?.rowCount == 0)
        try await Self.commit(engine, schema, 20..<22)
        #expect(try Self.longs(engine, "metrics", column: "value") == [201, 211])
        try await engine.dropTable("metrics")
        #expect(engine.schema(named: "metrics") == nil && engine.snapshot(ofTable: "metrics") == nil)
        let again = try await Self.create(engine)
        #expect(again.tableID == 2)
        #expect(engine.snapshot(ofTable: "metrics")?.rowCount == 0)
    }

    @Test func schemaChangesReplayAfterACrash() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory)
            let schema = try await Self.create(engine)
            try await Self.commit(engine, schema, 0..<4)
            let altered = try await engine.alterTable("metrics") { schema throws(SchemaError) in
                try schema.addColumn(name: "extra", type: .long)
            }
            try await Self.commit(engine, altered, 4..<8)
            let doomed = try await Self.create(engine, "doomed")
            try await Self.commit(engine, doomed, 0..<2)
            try await engine.dropTable("doomed")
            try await Self.commit(engine, altered, 8..<10)
            engine.waitForApplier()
        }
        let reopened = try Self.open(directory)
        #expect(try Self.longs(reopened, "metrics", column: "value") == (0..<10).map { Int64($0) * 10 + 1 })
        #expect(try Self.longs(reopened, "metrics", column: "extra") == [.min, .min, .min, .min] + (4..<10).map { Int64($0) * 10 + 3 })
        #expect(reopened.schema(named: "doomed") == nil)
    }
}

@Suite struct StorageEnginePartitionTests {
    @Test func dropPartitionsByPredicateKeepsTheRest() async throws {
        let directory = TemporaryDirectory()
        let engine = try StorageEngineSchemaTests.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<12)  // 4 rows an hour: 3 partitions
        let dropped = try await engine.dropPartitions("metrics") { $0 < StorageEngineSchemaTests.hour }
        #expect(dropped == 1)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == (4..<12).map { Int64($0) * 10 + 1 })
        // Dropping the newest partition moves the table's end back: later rows append again.
        let last = try await engine.dropPartitions("metrics") { $0 >= 2 * StorageEngineSchemaTests.hour }
        #expect(last == 1)
        try await StorageEngineSchemaTests.commit(engine, schema, 8..<9)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == (4..<9).map { Int64($0) * 10 + 1 })
        #expect(try await engine.dropPartitions("metrics") { _ in false } == 0)
    }

    @Test func writersWaitForASlowApplierInsteadOfRunningAhead() async throws {
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        let engine = try StorageEngine(layout: layout, configuration: StorageConfiguration(maxApplyLagTxns: 2))
        let schema = try await StorageEngineSchemaTests.create(engine)
        for chunk in 0..<30 {
            let batch = RowBatch(schema: schema)
            batch.beginRow()
            batch.setInteger(0, Int64(chunk))
            batch.setInteger(1, Int64(chunk))
            try batch.endRow()
            let txn = try await engine.commit(batch)
            #expect(engine.appliedTxn + 3 >= txn, "apply fell \(txn - engine.appliedTxn) behind")
        }
    }
}

@Suite struct RowBatchLimitTests {
    @Test func anOversizedValueFailsItsRowOnly() throws {
        let schema = TableSchema(
            tableID: 1, name: "t",
            columns: [ColumnSchema(id: 1, name: "text", type: .varchar), ColumnSchema(id: 2, name: "n", type: .long)],
            designatedTimestamp: nil, partitionBy: .none)
        let batch = RowBatch(schema: schema, maxValueBytes: 8)
        batch.beginRow()
        Array("short".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.setInteger(1, Int64(1))
        try batch.endRow()
        batch.beginRow()
        Array("much too long".utf8).withUnsafeBytes { batch.setBytes(0, $0) }
        batch.setInteger(1, Int64(2))
        let error = #expect(throws: StorageError.self) { try batch.endRow() }
        #expect(error?.message == "a value of column text exceeds 8 bytes")
        #expect(batch.rowCount == 1 && batch.column(1).fixed.count == 8)
        batch.beginRow()
        batch.setInteger(1, Int64(3))
        try batch.endRow()
        #expect(batch.rowCount == 2 && batch.column(0).variableValue(row: 1) == nil)
    }
}

@Suite struct StorageEngineConcurrencyTests {
    @Test func batchesRacingASchemaChangeAreEitherAppliedOrRefusedNeverSuspendTheTable() async throws {
        let directory = TemporaryDirectory()
        let engine = try StorageEngineSchemaTests.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        let accepted = await withTaskGroup(of: Int.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    var accepted = 0
                    for index in 0..<25 {
                        let batch = RowBatch(schema: schema)
                        batch.beginRow()
                        batch.setInteger(0, Int64(writer * 1_000 + index))
                        batch.setInteger(1, Int64(index))
                        try? batch.endRow()
                        if (try? await engine.commit(batch)) != nil { accepted += 1 }
                    }
                    return accepted
                }
            }
            group.addTask {
                _ = try? await engine.alterTable("metrics") { schema throws(SchemaError) in
                    try schema.addColumn(name: "late", type: .double)
                }
                return 0
            }
            var total = 0
            for await count in group { total += count }
            return total
        }
        await engine.waitUntilApplied(engine.wal.committedTxn)
        #expect(engine.suspension(ofTable: "metrics") == nil)
        #expect(engine.schema(named: "metrics")?.version == 2)
        #expect(engine.snapshot(ofTable: "metrics")?.rowCount == accepted)
        #expect(accepted > 0)
    }
}
