// Proves ALTER TABLE … RESUME WAL at the storage layer: a table suspended by a failing disk
// replays its WAL records (those committed while it was suspended too) once the disk is back, from the failed txn or from a later one, while
// the other tables never stop.
import Glibc
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct ResumeWALTests {
    /// A disk whose partition directories cannot be created while `full` is set (ENOSPC).
    final class FillableDisk: Sendable {
        let full = Atomic<Bool>(false)

        var io: StorageIO {
            StorageIO(
                pwrite: StorageIO.system.pwrite, fdatasync: StorageIO.system.fdatasync, ftruncate: StorageIO.system.ftruncate,
                mkdir: { [self] path, mode in
                    if full.load(ordering: .sequentiallyConsistent), path.contains("/db/") {
                        errno = ENOSPC
                        return -1
                    }
                    return StorageIO.system.mkdir(path, mode)
                })
        }
    }

    static func open(_ directory: TemporaryDirectory, _ disk: FillableDisk) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 2)
        configuration.io = disk.io
        return try StorageEngine(layout: layout, configuration: configuration)
    }

    /// Commits `rows` (hour-partitioned: rows 0–3 in the first hour, 4–7 in the next, …) without
    /// waiting for them to be applied.
    static func commit(_ engine: StorageEngine, _ schema: TableSchema, _ rows: Range<Int>) async throws -> UInt64 {
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            batch.setInteger(0, Int64(row))
            batch.setInteger(1, Int64(row) * StorageEngineSchemaTests.hour / 4)
            try batch.endRow()
        }
        let txn = try await engine.commit(batch)
        await engine.waitUntilApplied(txn)
        return txn
    }

    @Test func aTableSuspendedByAFullDiskResumesFromTheFailedTxn() async throws {
        let directory = TemporaryDirectory()
        let disk = FillableDisk()
        let engine = try Self.open(directory, disk)
        let metrics = try await StorageEngineSchemaTests.create(engine)
        let other = try await StorageEngineSchemaTests.create(engine, "other")
        _ = try await Self.commit(engine, metrics, 0..<2)
        _ = try await Self.commit(engine, other, 0..<2)

        disk.full.store(true, ordering: .sequentiallyConsistent)
        let failed = try await Self.commit(engine, metrics, 4..<6)  // needs a new partition
        #expect(engine.suspension(ofTable: "metrics")?.contains("\(failed)") == true)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1])
        // As in QuestDB, writes are still taken into the WAL; they wait there, invisible.
        _ = try await Self.commit(engine, metrics, 2..<3)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1])
        // Another table goes on, in its existing partition.
        _ = try await Self.commit(engine, other, 2..<4)
        #expect(try StorageEngineSchemaTests.longs(engine, "other", column: "value") == [0, 1, 2, 3])

        // Still full: the resume fails the same way and the table stays suspended.
        await #expect(throws: StorageError.self) { try await engine.resumeWAL("metrics", fromTxn: nil) }
        #expect(engine.suspension(ofTable: "metrics") != nil)

        disk.full.store(false, ordering: .sequentiallyConsistent)
        try await engine.resumeWAL("metrics", fromTxn: nil)
        #expect(engine.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1, 2, 4, 5])
        _ = try await Self.commit(engine, metrics, 8..<9)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1, 2, 4, 5, 8])

        // And it survives a restart: the replayed rows were checkpointed like any others.
        try engine.checkpoint()
        let reopened = try Self.open(directory, disk)
        #expect(reopened.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.longs(reopened, "metrics", column: "value") == [0, 1, 2, 4, 5, 8])
        #expect(try StorageEngineSchemaTests.longs(reopened, "other", column: "value") == [0, 1, 2, 3])
    }

    @Test func resumingFromALaterTxnSkipsTheFailedOne() async throws {
        let directory = TemporaryDirectory()
        let disk = FillableDisk()
        let engine = try Self.open(directory, disk)
        let metrics = try await StorageEngineSchemaTests.create(engine)
        _ = try await Self.commit(engine, metrics, 0..<2)
        disk.full.store(true, ordering: .sequentiallyConsistent)
        let failed = try await Self.commit(engine, metrics, 4..<6)
        #expect(engine.suspension(ofTable: "metrics") != nil)
        disk.full.store(false, ordering: .sequentiallyConsistent)

        // Before the failed txn: already applied. After the log's end: nothing to resume from.
        await #expect(throws: StorageError.self) { try await engine.resumeWAL("metrics", fromTxn: failed - 1) }
        await #expect(throws: StorageError.self) { try await engine.resumeWAL("metrics", fromTxn: failed + 2) }
        #expect(engine.suspension(ofTable: "metrics") != nil)

        try await engine.resumeWAL("metrics", fromTxn: failed + 1)
        #expect(engine.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1])
        _ = try await Self.commit(engine, metrics, 2..<3)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1, 2])
    }

    @Test func resumingAHealthyTableChangesNothing() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, FillableDisk())
        let metrics = try await StorageEngineSchemaTests.create(engine)
        _ = try await Self.commit(engine, metrics, 0..<3)
        try await engine.resumeWAL("metrics", fromTxn: nil)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == [0, 1, 2])
        await #expect(throws: StorageError.self) { try await engine.resumeWAL("nope", fromTxn: nil) }
    }
}
