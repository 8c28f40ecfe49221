// Proves late rows near the end of a large partition split its tail off into a new part instead of rewriting the partition, that parts stay few and ordered, that older snapshots keep reading the shortened part, and that a reopen cuts the stale tail.
import Storage
import Testing
import TestSupport

@Suite struct TableStoreSplitTests {
    typealias Store = TableStoreTests

    static func size(_ path: String) -> Int {
        var isDirectory = false
        guard DurableFile.exists(path, isDirectory: &isDirectory),
              let bytes = try? DurableFile.read(path, maxBytes: 1 << 30) else { return -1 }
        return bytes.count
    }

    @Test func lateRowsNearTheEndSplitTheTailOffAndLeaveThePrefixInPlace() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        store.outOfOrder = OutOfOrderPolicy(splitMinRows: 100, maxParts: 4)
        let initial = (0..<1000).map { Int64($0) * 1000 }
        try store.apply(try Store.batch(initial), txn: 2)
        try store.checkpoint()
        let before = store.snapshot()
        try store.apply(try Store.batch([995_500, 990_500]), txn: 3)
        let after = store.snapshot()
        #expect(after.partitions.map(\.directoryName) == ["1970-01-01", "1970-01-01+990500"])
        #expect(after.partitions.map(\.rowCount) == [991, 11])
        #expect(try Store.timestamps(after) == (initial + [995_500, 990_500]).sorted())
        // Nothing rewrote the prefix: no new version of the first part exists.
        #expect(!ColumnFilesProbe.exists(store.directory + "/1970-01-01.1"))
        // The reader from before the split still reads all 1000 rows from the same files.
        try store.checkpoint()
        #expect(try Store.timestamps(before) == initial)
        // Rows after the end of the last part append to it; the first part's stale tail is cut on reopen.
        try store.apply(try Store.batch([999_999]), txn: 4)
        try store.checkpoint()
        let reopened = try TableStore(directory: store.directory)
        #expect(reopened.snapshot().partitions.map(\.rowCount) == [991, 12])
        #expect(try Store.timestamps(reopened.snapshot()) == (initial + [995_500, 990_500, 999_999]).sorted())
        #expect(Self.size(store.directory + "/1970-01-01/" + ColumnFiles.dataFileName(columnID: 3)) == 991 * 8)
    }

    @Test func smallPrefixesAreRewrittenNotSplit() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        store.outOfOrder = OutOfOrderPolicy(splitMinRows: 100, maxParts: 4)
        try store.apply(try Store.batch((0..<1000).map { Int64($0) * 1000 }), txn: 2)
        // The earliest late row has 10 rows before it and 990 after: splitting would copy as much.
        try store.apply(try Store.batch([9_500]), txn: 3)
        #expect(store.snapshot().partitions.map(\.directoryName) == ["1970-01-01.1"])
        #expect(store.snapshot().partitions.map(\.rowCount) == [1001])
    }

    /// 1000 rows, then `rounds` rounds of two senders a batch apart: one batch lands after the
    /// end, the next just before it. `check` sees the store after each round; the rows must
    /// always be the model's, also after a reopen at the end.
    static func lateStream(
        _ policy: OutOfOrderPolicy, rounds: Int, check: (TableStore, Int) throws -> Void
    ) throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        store.outOfOrder = policy
        var model = (0..<1000).map { Int64($0) * 1000 }
        var txn: UInt64 = 2
        try store.apply(try Store.batch(model), txn: txn)
        for round in 0..<rounds {
            let end = model.max()!
            for batch in [(1...20).map { end + 2_000 + Int64($0) * 100 }, (1...20).map { end + Int64($0) * 100 - 50 }] {
                txn += 1
                try store.apply(try Store.batch(batch), txn: txn)
                model += batch
            }
            if round % 7 == 6 { try store.checkpoint() }
            #expect(try Store.timestamps(store.snapshot()) == model.sorted(), "round \(round)")
            try check(store, round)
        }
        try store.checkpoint()
        let reopened = try TableStore(directory: store.directory)
        #expect(try Store.timestamps(reopened.snapshot()) == model.sorted())
    }

    @Test func aStreamOfLateBatchesKeepsAtMostMaxParts() throws {
        var mostParts = 0
        try Self.lateStream(OutOfOrderPolicy(splitMinRows: 10, maxParts: 4), rounds: 60) { store, _ in
            mostParts = max(mostParts, store.snapshot().partitions.count)
        }
        #expect(mostParts == 4, "the stream must have split the partition up to the cap")
    }

    @Test func sizeTiersSquashNeighbouringPartsWithoutACap() throws {
        var mostParts = 0
        let policy = OutOfOrderPolicy(splitMinRows: 10, squashFanIn: 3, maxParts: 1_000)
        try Self.lateStream(policy, rounds: 150) { store, round in
            let partitions = store.snapshot().partitions
            mostParts = max(mostParts, partitions.count)
            // No run of three neighbours in one tier survives a squash.
            let tiers = partitions.map { policy.tier($0.state.rowCount) }
            #expect(!zip(tiers, zip(tiers.dropFirst(), tiers.dropFirst(2))).contains { $0 == $1.0 && $1.0 == $1.1 }, "round \(round): \(tiers)")
        }
        // 150 late batches, yet the parts stay logarithmically few.
        #expect(mostParts > 2 && mostParts <= 14, "\(mostParts) parts")
    }

    @Test func lateRowsForAnEarlierPartitionSplitOnlyThePartTheyFallIn() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        store.outOfOrder = OutOfOrderPolicy(splitMinRows: 10, maxParts: 8)
        let day = Store.day
        var model = (0..<100).map { Int64($0) * 1000 } + [day + 1]
        try store.apply(try Store.batch(model), txn: 2)
        try store.apply(try Store.batch([95_500]), txn: 3)  // splits day 1
        try store.apply(try Store.batch([50_500, 97_500]), txn: 4)  // splits the first part; the second (5 rows before 97 500) is rewritten
        model += [95_500, 50_500, 97_500]
        let snapshot = store.snapshot()
        #expect(snapshot.partitions.map(\.directoryName) == ["1970-01-01", "1970-01-01+50500", "1970-01-01+95500.1", "1970-01-02"])
        #expect(try Store.timestamps(snapshot) == model.sorted())
        #expect(snapshot.partitions(overlapping: 0, day).count == 3)
    }
}
