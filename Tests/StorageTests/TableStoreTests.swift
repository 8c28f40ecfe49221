// Proves in-order applies land in the right partitions, snapshots read them back, and reopening rolls back to the checkpoint.
import Storage
import Testing
import TestSupport

@Suite struct TableStoreTests {
    static let day: Int64 = 86_400_000_000
    static let schema = TableSchema(
        tableID: 1, name: "cpu",
        columns: [
            ColumnSchema(id: 1, name: "usage", type: .double),
            ColumnSchema(id: 2, name: "count", type: .long),
            ColumnSchema(id: 3, name: "ts", type: .timestamp),
        ],
        designatedTimestamp: 3, partitionBy: .day)

    static func batch(_ timestamps: [Int64]) throws -> RowBatch {
        let batch = RowBatch(schema: schema)
        for timestamp in timestamps {
            batch.beginRow()
            batch.setDouble(0, Double(timestamp) / 1e6)
            batch.setInteger(1, timestamp % 1000)
            batch.setInteger(2, timestamp)
            try batch.endRow()
        }
        return batch
    }

    static func timestamps(_ snapshot: TableSnapshot) throws -> [Int64] {
        var all: [Int64] = []
        for partition in snapshot.partitions {
            let column = try snapshot.mapColumn(3, in: partition)
            column.withUnsafeBytes { bytes in
                for row in 0..<partition.rowCount { all.append(bytes.loadUnaligned(fromByteOffset: row * 8, as: Int64.self)) }
            }
        }
        return all
    }

    @Test func inOrderAppliesSplitIntoDailyPartitions() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        let first = (0..<10).map { Int64($0) * Self.day / 4 }  // 2.5 days
        try store.apply(try Self.batch(first), txn: 2)
        let second = (10..<20).map { Int64($0) * Self.day / 4 }
        try store.apply(try Self.batch(second), txn: 3)
        let snapshot = store.snapshot()
        #expect(snapshot.appliedTxn == 3)
        #expect(snapshot.partitions.map(\.directoryName) == ["1970-01-01", "1970-01-02", "1970-01-03", "1970-01-04", "1970-01-05"])
        #expect(snapshot.partitions.map(\.rowCount) == [4, 4, 4, 4, 4])
        #expect(try Self.timestamps(snapshot) == first + second)
        let counts = try snapshot.mapColumn(2, in: snapshot.partitions[1])
        #expect(counts.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: Int64.self) } == (5 * Self.day / 4) % 1000)
        #expect(snapshot.partitions(overlapping: Self.day, 2 * Self.day).map(\.directoryName) == ["1970-01-02"])
    }

    @Test func snapshotsDoNotChangeWithLaterApplies() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch([1, 2, 3]), txn: 2)
        let before = store.snapshot()
        try store.apply(try Self.batch([4, 5]), txn: 3)
        #expect(before.rowCount == 3 && store.snapshot().rowCount == 5)
        #expect(try Self.timestamps(before) == [1, 2, 3])
    }

    @Test func binarySearchOnTheDesignatedTimestamp() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch([10, 20, 20, 30, 40]), txn: 2)
        let snapshot = store.snapshot()
        let column = try snapshot.mapColumn(3, in: snapshot.partitions[0])
        #expect(TableSnapshot.lowerBound(20, in: column) == 1)
        #expect(TableSnapshot.lowerBound(21, in: column) == 3)
        #expect(TableSnapshot.lowerBound(0, in: column) == 0)
        #expect(TableSnapshot.lowerBound(99, in: column) == 5)
    }

    @Test func reopeningKeepsCheckpointedRowsAndDropsTheRest() throws {
        let directory = TemporaryDirectory()
        var tableDirectory = ""
        do {
            let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
            tableDirectory = store.directory
            try store.apply(try Self.batch([1, 2, 3]), txn: 2)
            try store.checkpoint()
            // Applied but never checkpointed: a crash here loses it from the files (the WAL has it).
            try store.apply(try Self.batch([4, Self.day + 5]), txn: 3)
        }
        let reopened = try TableStore(directory: tableDirectory)
        #expect(reopened.state.appliedTxn == 2)
        #expect(try Self.timestamps(reopened.snapshot()) == [1, 2, 3])
        #expect(reopened.snapshot().partitions.count == 1)
        // Re-applying the same transaction after the rollback gives the same table.
        try reopened.apply(try Self.batch([4, Self.day + 5]), txn: 3)
        #expect(try Self.timestamps(reopened.snapshot()) == [1, 2, 3, 4, Self.day + 5])
    }

    @Test func outOfOrderRowsRewriteThePartitionAsANewVersion() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch([10, 20, 30]), txn: 2)
        try store.checkpoint()
        let before = store.snapshot()
        try store.apply(try Self.batch([25, 15, 20]), txn: 3)
        let after = store.snapshot()
        #expect(try Self.timestamps(after) == [10, 15, 20, 20, 25, 30])
        #expect(after.partitions.map(\.directoryName) == ["1970-01-01.1"])
        // The reader of the old version still sees it, files and all, after a checkpoint.
        try store.checkpoint()
        #expect(try Self.timestamps(before) == [10, 20, 30])
        #expect(ColumnFilesProbe.exists(store.directory + "/1970-01-01"))
        _ = consume before
        try store.apply(try Self.batch([40]), txn: 4)
        try store.checkpoint()
        #expect(!ColumnFilesProbe.exists(store.directory + "/1970-01-01"))
    }

    @Test func outOfOrderRowsCanOpenEarlierPartitions() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
        try store.apply(try Self.batch([Self.day + 1, Self.day + 2]), txn: 2)
        try store.apply(try Self.batch([3 * Self.day, 5, Self.day + 1]), txn: 3)
        let snapshot = store.snapshot()
        #expect(snapshot.partitions.map(\.directoryName) == ["1970-01-01", "1970-01-02.1", "1970-01-04"])
        #expect(try Self.timestamps(snapshot) == [5, Self.day + 1, Self.day + 1, Self.day + 2, 3 * Self.day])
    }

    @Test func aCrashAfterARewriteFallsBackToTheCheckpointedVersion() throws {
        let directory = TemporaryDirectory()
        var tableDirectory = ""
        do {
            let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
            tableDirectory = store.directory
            try store.apply(try Self.batch([10, 20, 30]), txn: 2)
            try store.checkpoint()
            try store.apply(try Self.batch([15]), txn: 3)
        }
        let reopened = try TableStore(directory: tableDirectory)
        #expect(try Self.timestamps(reopened.snapshot()) == [10, 20, 30])
        #expect(!ColumnFilesProbe.exists(tableDirectory + "/1970-01-01.1"))
        try reopened.apply(try Self.batch([15]), txn: 3)
        #expect(try Self.timestamps(reopened.snapshot()) == [10, 15, 20, 30])
    }

    @Test func aShortColumnFileIsReportedNotMisread() throws {
        let directory = TemporaryDirectory()
        var tableDirectory = ""
        do {
            let store = try TableStore.create(in: directory.path, schema: Self.schema, txn: 1)
            tableDirectory = store.directory
            try store.apply(try Self.batch([1, 2, 3]), txn: 2)
            try store.checkpoint()
        }
        let path = tableDirectory + "/1970-01-01/" + ColumnFiles.dataFileName(columnID: 2)
        try DurableFile.replace(path, with: [1, 2, 3], io: .system)
        let error = #expect(throws: StorageError.self) { try TableStore(directory: tableDirectory) }
        #expect(error?.code == .corrupt && error?.path == path)
    }
}

enum ColumnFilesProbe {
    static func exists(_ path: String) -> Bool {
        var isDirectory = false
        return DurableFile.exists(path, isDirectory: &isDirectory)
    }
}

@Suite struct TableStoreVersionTests {
    /// After a truncate (or drop partition) the same partition is created again while a reader
    /// still holds the old directory: the new one must get another name, and neither may be
    /// removed from under its users.
    @Test func aRecreatedPartitionNeverReusesADirectoryAReaderStillNeeds() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: TableStoreTests.schema, txn: 1)
        try store.apply(try TableStoreTests.batch([10, 20]), txn: 2)
        try store.checkpoint()
        let old = store.snapshot()
        try store.truncate(txn: 3)
        try store.apply(try TableStoreTests.batch([30]), txn: 4)
        try store.checkpoint()
        #expect(store.snapshot().partitions.map(\.directoryName) == ["1970-01-01.1"])
        #expect(try TableStoreTests.timestamps(old) == [10, 20])
        _ = consume old
        try store.apply(try TableStoreTests.batch([40]), txn: 5)
        try store.checkpoint()
        #expect(try TableStoreTests.timestamps(store.snapshot()) == [30, 40])
        #expect(!ColumnFilesProbe.exists(store.directory + "/1970-01-01"))
        let reopened = try TableStore(directory: store.directory)
        #expect(try TableStoreTests.timestamps(reopened.snapshot()) == [30, 40])
    }
}
