// Proves ALTER TABLE … SQUASH PARTITIONS at the storage layer: partitions that late rows split
// into parts (decision 0013) become one part each, with the same rows in the same order, and
// stay so after a restart.
import Storage
import Testing
import TestSupport

@Suite struct SquashPartitionsTests {
    static func open(_ directory: TemporaryDirectory) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000)
        configuration.outOfOrder = OutOfOrderPolicy(splitMinRows: 2, squashFanIn: 64, maxParts: 64)
        return try StorageEngine(layout: layout, configuration: configuration)
    }

    static func commit(_ engine: StorageEngine, _ schema: TableSchema, _ timestamps: [Int64]) async throws {
        let batch = RowBatch(schema: schema)
        for timestamp in timestamps {
            batch.beginRow()
            batch.setInteger(0, timestamp)
            batch.setInteger(1, timestamp)
            try batch.endRow()
        }
        await engine.waitUntilApplied(try await engine.commit(batch))
    }

    @Test func splitPartitionsBecomeOnePartEach() async throws {
        let directory = TemporaryDirectory()
        var engine = try Self.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        // Ten rows in each of hours 0 and 1, then a late row inside each hour: each splits its
        // partition (eight rows before it, two after).
        let minute: Int64 = 60_000_000
        try await Self.commit(engine, schema, (0..<20).map { Int64($0) * 6 * minute })
        try await Self.commit(engine, schema, [7 * 6 * minute + 1, 60 * minute + 7 * 6 * minute + 1])
        let parts = { (engine: StorageEngine) throws -> Int in try #require(engine.snapshot(ofTable: "metrics")).partitions.count }
        let before = try StorageEngineSchemaTests.longs(engine, "metrics", column: "ts")
        #expect(before == before.sorted() && before.count == 22)
        #expect(try parts(engine) > 2)

        try await engine.squashPartitions("metrics")
        #expect(try parts(engine) == 2)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "ts") == before)

        try engine.checkpoint()
        engine = try Self.open(directory)
        #expect(try parts(engine) == 2)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "ts") == before)
    }
}
