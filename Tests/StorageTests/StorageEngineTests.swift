// Proves the storage engine end to end: create, commit through the WAL, apply, read, and replay after a crash without a checkpoint.
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct StorageEngineTests {
    static let hour: Int64 = 3_600_000_000

    static func request(_ name: String = "sensors", partitionBy: PartitionBy = .hour) -> TableSchema {
        TableSchema(
            tableID: 0, name: name,
            columns: [
                ColumnSchema(id: 1, name: "value", type: .double),
                ColumnSchema(id: 2, name: "ts", type: .timestamp),
            ],
            designatedTimestamp: 2, partitionBy: partitionBy)
    }

    static func open(_ directory: TemporaryDirectory, checkpointEvery: Int = 256) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        return try StorageEngine(layout: layout, configuration: StorageConfiguration(checkpointEveryTxns: checkpointEvery))
    }

    static func batch(_ schema: TableSchema, _ rows: Range<Int>) throws -> RowBatch {
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            batch.setDouble(0, Double(row))
            batch.setInteger(1, Int64(row) * hour / 10)
            try batch.endRow()
        }
        return batch
    }

    static func values(_ snapshot: TableSnapshot?) throws -> [Double] {
        guard let snapshot else { return [] }
        var values: [Double] = []
        for partition in snapshot.partitions {
            let column = try snapshot.mapColumn(1, in: partition)
            column.withUnsafeBytes { bytes in
                for row in 0..<partition.rowCount {
                    values.append(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: row * 8, as: UInt64.self)))
                }
            }
        }
        return values
    }

    @Test func commitsBecomeVisibleAfterApply() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await engine.createTable(Self.request())
        #expect(schema.tableID == 1 && schema.version == 1)
        var last: UInt64 = 0
        for chunk in 0..<5 { last = try await engine.commit(try Self.batch(schema, chunk * 20..<(chunk + 1) * 20)) }
        await engine.waitUntilApplied(last)
        let snapshot = engine.snapshot(ofTable: "SENSORS")
        #expect(snapshot?.appliedTxn == last)
        #expect(try Self.values(snapshot) == (0..<100).map(Double.init))
        #expect(snapshot?.partitions.count == 10)
    }

    /// Writes spread over many partitions keep a column file open per partition and column
    /// until the next checkpoint; past `maxOpenColumnFiles` the checkpoint comes early
    /// (here, long before its transaction count), closing them.
    @Test func manyOpenColumnFilesBringTheCheckpointForward() async throws {
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000_000)
        configuration.maxOpenColumnFiles = 200
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        let schema = try await engine.createTable(Self.request())
        var last: UInt64 = 0
        // 10 rows an hour: each 100-row commit opens 10 partitions, 2 files each.
        let commits = configuration.maxOpenColumnFiles / 20 + 5
        // Each applied before the next: commits the applier found waiting together would be one
        // run, and a run that ended past the limit would checkpoint at the last txn.
        for chunk in 0..<commits {
            last = try await engine.commit(try Self.batch(schema, chunk * 100..<(chunk + 1) * 100))
            await engine.waitUntilApplied(last)
        }
        let snapshot = try #require(engine.snapshot(ofTable: "sensors"))
        #expect(snapshot.partitions.count == commits * 10)
        let checkpointed = try TableTxnFile(path: snapshot.directory + "/_txn").state.appliedTxn
        #expect(checkpointed > schema.version && checkpointed < last, "checkpointed at txn \(checkpointed) of \(last)")
    }

    /// A checkpoint's fsyncs write the column data applied since the last one, so that data
    /// brings it forward too — whatever the WAL's own size (its narrowed columns are smaller
    /// than the column files: 16 bytes a row here against 2–3 in the WAL).
    @Test func appliedColumnBytesBringTheCheckpointForward() async throws {
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000_000)
        configuration.checkpointEveryColumnBytes = 16 * 1_000
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        let schema = try await engine.createTable(Self.request(partitionBy: .year))
        var last: UInt64 = 0
        var checkpoints: Set<UInt64> = []
        for chunk in 0..<10 {
            last = try await engine.commit(try Self.batch(schema, chunk * 300..<(chunk + 1) * 300))
            await engine.waitUntilApplied(last)
            let directory = try #require(engine.snapshot(ofTable: "sensors")).directory
            checkpoints.insert(try TableTxnFile(path: directory + "/_txn").state.appliedTxn)
        }
        // 4 800 bytes a commit: a checkpoint after every fourth (19 200 ≥ 16 000), none between.
        #expect(checkpoints.count >= 3, "checkpointed at \(checkpoints.sorted()) of \(last)")
        #expect(!checkpoints.contains(last - 1) || !checkpoints.contains(last - 2), "not after every commit")
    }

    /// Column appends hand each 1 MiB chunk they complete to writeback (decision 0035): whole,
    /// aligned chunks of the column files, each once, and none of a partial chunk.
    @Test func completedColumnChunksGoToWriteback() async throws {
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        let hints = Mutex<[(offset: Int, length: Int)]>([])
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000_000)
        configuration.io.startWriteback = { _, offset, length in hints.withLock { $0.append((offset, length)) } }
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        let schema = try await engine.createTable(Self.request(partitionBy: .year))
        // 8 bytes a row in each of two columns, all in one partition: 300 000 rows = 2.29 MiB
        // a file, in commits of 50 000 rows (390 KiB) that end mid-chunk.
        var last: UInt64 = 0
        for chunk in 0..<6 {
            let batch = RowBatch(schema: schema)
            for row in chunk * 50_000..<(chunk + 1) * 50_000 {
                batch.beginRow()
                batch.setDouble(0, Double(row))
                batch.setInteger(1, Int64(row))
                try batch.endRow()
            }
            last = try await engine.commit(batch)
        }
        await engine.waitUntilApplied(last)
        let seen = hints.withLock { $0 }
        let chunk = 1 << 20
        #expect(seen.allSatisfy { $0.offset % chunk == 0 && $0.length % chunk == 0 && $0.length > 0 })
        // Per file, chunks 0 and 1 are complete (2.29 MiB written): two files, two chunks each.
        #expect(seen.reduce(0) { $0 + $1.length } == 2 * 2 * chunk, "\(seen)")
        #expect(Set(seen.map(\.offset)) == [0, chunk])
    }

    @Test func everyCommittedRowSurvivesACrashWithoutCheckpoint() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory, checkpointEvery: 7)
            let schema = try await engine.createTable(Self.request())
            var last: UInt64 = 0
            for chunk in 0..<30 { last = try await engine.commit(try Self.batch(schema, chunk * 3..<(chunk + 1) * 3)) }
            await engine.waitUntilApplied(last)
            engine.waitForApplier()
            // Dropped without a final checkpoint: files hold a prefix, the WAL holds everything.
        }
        let reopened = try Self.open(directory)
        #expect(try Self.values(reopened.snapshot(ofTable: "sensors")) == (0..<90).map(Double.init))
        // And the table keeps taking writes after the replay.
        let schema = try #require(reopened.schema(named: "sensors"))
        let txn = try await reopened.commit(try Self.batch(schema, 90..<95))
        await reopened.waitUntilApplied(txn)
        #expect(try Self.values(reopened.snapshot(ofTable: "sensors")).count == 95)
    }

    /// Replay applies the run of one table's commits as one batch: commits that reached the WAL
    /// out of time order (two senders) become one in-order append, with every row in place.
    @Test func replayAppliesARunOfOneTablesCommitsAsOneBatch() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory, checkpointEvery: 1_000)
            let schema = try await engine.createTable(Self.request(partitionBy: .day))
            var last: UInt64 = 0
            for pair in 0..<10 {
                // Each later chunk commits before the earlier one.
                last = try await engine.commit(try Self.batch(schema, (pair * 2 + 1) * 5..<(pair * 2 + 2) * 5))
                last = try await engine.commit(try Self.batch(schema, pair * 2 * 5..<(pair * 2 + 1) * 5))
            }
            await engine.waitUntilApplied(last)
            engine.waitForApplier()
            #expect(try Self.values(engine.snapshot(ofTable: "sensors")) == (0..<100).map(Double.init))
        }
        let reopened = try Self.open(directory)
        let snapshot = try #require(reopened.snapshot(ofTable: "sensors"))
        #expect(try Self.values(snapshot) == (0..<100).map(Double.init))
        // One append into a fresh partition: no rewritten version, no split part.
        #expect(snapshot.partitions.map(\.directoryName) == ["1970-01-01"])
    }

    @Test func aCheckpointedEngineReopensWithoutReplay() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory)
            let schema = try await engine.createTable(Self.request())
            _ = try await engine.commit(try Self.batch(schema, 0..<10))
            try engine.checkpoint()
        }
        let reopened = try Self.open(directory)
        #expect(try Self.values(reopened.snapshot(ofTable: "sensors")) == (0..<10).map(Double.init))
        #expect(reopened.appliedTxn == 2)
    }

    @Test func tableNamesAreUniqueIgnoringCase() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        _ = try await engine.createTable(Self.request("Trades"))
        let error = await #expect(throws: StorageError.self) { try await engine.createTable(Self.request("trades")) }
        #expect(error?.message == "table already exists [table=trades]")
        let second = try await engine.createTable(Self.request("quotes"))
        #expect(second.tableID == 2)
    }

    @Test func outOfOrderCommitsAreMergedInTimestampOrder() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await engine.createTable(Self.request())
        _ = try await engine.commit(try Self.batch(schema, 10..<20))
        let txn = try await engine.commit(try Self.batch(schema, 0..<15))
        await engine.waitUntilApplied(txn)
        #expect(engine.suspension(ofTable: "sensors") == nil)
        let values = try Self.values(engine.snapshot(ofTable: "sensors"))
        var expected: [Double] = (0..<10).map(Double.init)
        for value in 10..<15 { expected += [Double(value), Double(value)] }
        expected += (15..<20).map(Double.init)
        #expect(values == expected)
    }

    @Test func unsupportedWritesAreRefusedBeforeTheWAL() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await engine.createTable(Self.request())
        _ = try await engine.commit(try Self.batch(schema, 10..<20))
        let nextTxn = engine.wal.nextTxn
        var invalid = Self.request("bad/name")
        invalid.partitionBy = .day
        await #expect(throws: StorageError.self) { try await engine.createTable(invalid) }
        #expect(engine.wal.nextTxn == nextTxn)
    }
}

@Suite struct StorageEngineRetentionTests {
    static func open(_ directory: TemporaryDirectory) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        let wal = WALConfiguration(segmentSizeBytes: 512)
        return try StorageEngine(layout: layout, configuration: StorageConfiguration(wal: wal, checkpointEveryTxns: 4))
    }

    @Test func checkpointsPurgeTheWALAndReopenStillFindsEverything() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory)
            let schema = try await engine.createTable(StorageEngineTests.request())
            var last: UInt64 = 0
            for chunk in 0..<40 { last = try await engine.commit(try StorageEngineTests.batch(schema, chunk * 2..<(chunk + 1) * 2)) }
            await engine.waitUntilApplied(last)
            try engine.checkpoint()
            #expect(engine.wal.segments.first!.firstTxn > 1, "old segments should be purged")
            engine.waitForApplier()
        }
        let reopened = try Self.open(directory)
        #expect(try StorageEngineTests.values(reopened.snapshot(ofTable: "sensors")) == (0..<80).map(Double.init))
    }

    @Test func aReplicationHoldKeepsTheWAL() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        engine.holdWAL(after: 0)
        let schema = try await engine.createTable(StorageEngineTests.request())
        var last: UInt64 = 0
        for chunk in 0..<40 { last = try await engine.commit(try StorageEngineTests.batch(schema, chunk..<chunk + 1)) }
        await engine.waitUntilApplied(last)
        try engine.checkpoint()
        #expect(engine.wal.segments.first!.firstTxn == 1)
        engine.holdWAL(after: nil)
        try engine.checkpoint()
        try engine.checkpoint()
        #expect(engine.wal.segments.first!.firstTxn > 1)
    }
}

@Suite struct StorageEngineDamageTests {
    @Test func aDamagedTableIsReportedAndRefusesWritesWhileOthersServe() async throws {
        let directory = TemporaryDirectory()
        var metaPath = ""
        do {
            let engine = try StorageEngineTests.open(directory)
            let broken = try await engine.createTable(StorageEngineTests.request("broken"))
            let healthy = try await engine.createTable(StorageEngineTests.request("healthy"))
            _ = try await engine.commit(try StorageEngineTests.batch(broken, 0..<5))
            let txn = try await engine.commit(try StorageEngineTests.batch(healthy, 0..<5))
            await engine.waitUntilApplied(txn)
            metaPath = directory.path + "/db/" + TableStore.directoryName(for: broken) + "/_meta"
            engine.waitForApplier()
        }
        var bytes = try #require(try DurableFile.read(metaPath, maxBytes: 1 << 20))
        bytes[10] ^= 0x40
        try DurableFile.replace(metaPath, with: bytes, io: .system)

        let engine = try StorageEngineTests.open(directory)
        #expect(engine.damagedTables.map(\.name) == ["broken"])
        #expect(engine.damagedTables.first?.reason.contains(metaPath) == true)
        #expect(try StorageEngineTests.values(engine.snapshot(ofTable: "healthy")) == (0..<5).map(Double.init))
        let error = await #expect(throws: StorageError.self) {
            try await engine.createTable(StorageEngineTests.request("BROKEN"))
        }
        #expect(error?.message.contains("is damaged and refuses writes") == true)
        let next = try await engine.createTable(StorageEngineTests.request("fresh"))
        #expect(next.tableID == 3)
    }
}
