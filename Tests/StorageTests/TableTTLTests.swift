// Proves table TTL: the cutoff arithmetic (calendar months and years included), QuestDB's
// whole-partition rule, and that expired partitions are dropped through the WAL measured from
// min(now, newest row).
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct TableTTLTests {
    static let day = PartitionTime.microsPerDay

    static func micros(_ year: Int, _ month: Int, _ day: Int, hour: Int64 = 0) -> Int64 {
        PartitionTime.days(fromYear: year, month: month, day: day) * Self.day + hour * PartitionTime.microsPerHour
    }

    @Test func cutoffsCountHoursDaysWeeksExactlyAndMonthsOnTheCalendar() {
        let reference = Self.micros(2024, 3, 31, hour: 10)
        #expect(TableTTL(value: 5, unit: .hour).cutoff(from: reference) == Self.micros(2024, 3, 31, hour: 5))
        #expect(TableTTL(value: 2, unit: .day).cutoff(from: reference) == Self.micros(2024, 3, 29, hour: 10))
        #expect(TableTTL(value: 1, unit: .week).cutoff(from: reference) == Self.micros(2024, 3, 24, hour: 10))
        #expect(TableTTL(value: 1, unit: .month).cutoff(from: reference) == Self.micros(2024, 2, 29, hour: 10))
        #expect(TableTTL(value: 13, unit: .month).cutoff(from: reference) == Self.micros(2023, 2, 28, hour: 10))
        #expect(TableTTL(value: 1, unit: .year).cutoff(from: Self.micros(2024, 2, 29)) == Self.micros(2023, 2, 28))
    }

    @Test func aTTLMustBeAWholeNumberOfPartitions() {
        #expect(TableTTL(value: 48, unit: .hour).fits(.day))
        #expect(!TableTTL(value: 36, unit: .hour).fits(.day))
        #expect(TableTTL(value: 3, unit: .month).fits(.day))
        #expect(!TableTTL(value: 30, unit: .day).fits(.month))
        #expect(TableTTL(value: 12, unit: .month).fits(.year))
        #expect(!TableTTL(value: 6, unit: .month).fits(.year))
        #expect(!TableTTL(value: 1, unit: .day).fits(.none))
    }

    @Test func expiredPartitionsAreDroppedFromTheReferenceTime() async throws {
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration()
        configuration.enforcesTTL = false  // the passes are this test's own calls
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        var request = TableSchema(
            tableID: 0, name: "metrics",
            columns: [ColumnSchema(id: 1, name: "value", type: .long), ColumnSchema(id: 2, name: "ts", type: .timestamp)],
            designatedTimestamp: 2, partitionBy: .day)
        request.ttl = TableTTL(value: 2, unit: .day)
        let schema = try await engine.createTable(request)
        #expect(engine.snapshot(ofTable: "metrics")?.schema.ttl == TableTTL(value: 2, unit: .day))
        let batch = RowBatch(schema: schema)
        for (value, ts) in [(1, Self.micros(2024, 1, 1, hour: 12)), (2, Self.micros(2024, 1, 2, hour: 12)),
                            (3, Self.micros(2024, 1, 3, hour: 12)), (4, Self.micros(2024, 1, 4, hour: 6))] {
            batch.beginRow()
            batch.setInteger(0, Int64(value))
            batch.setInteger(1, ts)
            try batch.endRow()
        }
        await engine.waitUntilApplied(try await engine.commit(batch))
        // The wall clock earlier than the newest row caps the reference: nothing has expired yet.
        #expect(await engine.enforceTTL(nowMicros: Self.micros(2024, 1, 3)) == 0)
        // From the newest row (Jan 4 06:00) back 2 days is Jan 2 06:00: only Jan 1 ended before.
        #expect(await engine.enforceTTL(nowMicros: Self.micros(2030, 1, 1)) == 1)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [2, 3, 4])
        #expect(await engine.enforceTTL(nowMicros: Self.micros(2030, 1, 1)) == 0)
        // The TTL is in `_meta`: a reopened table still has it.
        try engine.checkpoint()
        let reopened = try StorageEngine(layout: layout, configuration: configuration)
        #expect(reopened.snapshot(ofTable: "metrics")?.schema.ttl == TableTTL(value: 2, unit: .day))
        #expect(try StorageEngineSchemaTests.longs(reopened, "metrics", column: "value") == [2, 3, 4])

        // A suspended table cannot drop: the pass counts the failure and says why; its drop
        // record waits in the WAL and applies when the table resumes.
        let later = RowBatch(schema: schema)
        later.beginRow()
        later.setInteger(0, Int64(5))
        later.setInteger(1, Self.micros(2024, 1, 6, hour: 12))
        try later.endRow()
        await reopened.waitUntilApplied(try await reopened.commit(later))
        try await reopened.suspendWAL("metrics", reason: "test")
        #expect(await reopened.enforceTTL(nowMicros: Self.micros(2030, 1, 1)) == 0)
        #expect(reopened.lastTTLFailure.withLock { $0 }?.hasPrefix("metrics: ") == true)
        try await reopened.resumeWAL("metrics", fromTxn: nil)
        #expect(try StorageEngineSchemaTests.longs(reopened, "metrics", column: "value") == [4, 5])
    }
}
