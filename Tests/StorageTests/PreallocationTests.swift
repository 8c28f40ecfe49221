// Proves column files are allocated ahead of bulk appends (decision 0046) and give the blocks
// back when closed or cut at recovery, with contents and lengths exactly as written; small
// appends allocate nothing ahead; new WAL segments are allocated whole and sealed to their records.
#if canImport(Glibc)
import Glibc
#endif
import Storage
import Testing
import TestSupport

@Suite struct PreallocationTests {
    typealias Store = TableStoreTests

    /// Applies `count` commits of `rows` rows each after `first` rows; returns their timestamps.
    static func apply(_ store: TableStore, commits count: Int, rows: Int, after first: Int, txn: UInt64) throws -> [Int64] {
        var all: [Int64] = []
        for commit in 0..<count {
            let start = first + commit * rows
            let timestamps = (start..<(start + rows)).map { Int64($0) * 1_000 }
            try store.apply(try Store.batch(timestamps), txn: txn + UInt64(commit))
            all += timestamps
        }
        return all
    }

    /// Bytes the `usage` column's file holds past its length (rounded up to 4 KiB), and its length.
    static func usageFile(_ store: TableStore) -> (pastEnd: Int, size: Int) {
        var info = stat()
        stat(store.directory + "/1970-01-01/" + ColumnFiles.dataFileName(columnID: 1), &info)
        let size = Int(info.st_size)
        return (max(0, Int(info.st_blocks) * 512 - (size + 4_095) / 4_096 * 4_096), size)
    }

    /// Whether the file system under `directory` allocates ahead (`fallocate`).
    static func allocatesAhead(_ directory: String) -> Bool {
        DirectWriteTests.probe(directory) { StorageIO.system.preallocate?($0, 0, 4_096) == 0 }
    }

    @Test func stepsAreEightAppendsBetweenQuarterAndTwoMebibytes() {
        #expect(ColumnFiles.preallocationStep(appending: 16 << 10) == 256 << 10)
        #expect(ColumnFiles.preallocationStep(appending: 65_536) == 512 << 10)
        #expect(ColumnFiles.preallocationStep(appending: 80_000) == 1 << 20)
        #expect(ColumnFiles.preallocationStep(appending: 1 << 20) == 2 << 20)
    }

    /// 10 000-row commits (80 KB a column, a 1 MiB step): the file holds blocks ahead while
    /// appended to, none once the checkpoint closes it, and reads back what was written.
    @Test func bulkAppendsHoldBlocksAheadUntilTheFileCloses() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        let written = try Self.apply(store, commits: 30, rows: 10_000, after: 0, txn: 2)
        let open = Self.usageFile(store)
        #expect(open.size == 300_000 * 8)
        if Self.allocatesAhead(directory.path) {
            // Crossing 2 MiB allocated up to 4 MiB.
            #expect(open.pastEnd == (4 << 20) - (open.size + 4_095) / 4_096 * 4_096, "\(open.pastEnd) bytes ahead")
        }
        try store.checkpoint()
        #expect(Self.usageFile(store).pastEnd == 0)
        #expect(Self.usageFile(store).size == 300_000 * 8)
        let reopened = try TableStore(directory: store.directory)
        #expect(try Store.timestamps(reopened.snapshot()) == written)
        #expect(try DirectWriteTests.usageReadsBack(reopened, rows: 300_000))
    }

    /// Appends after the checkpoint, then a crash (reopen without one): recovery cuts the file
    /// back to the checkpoint and frees what was allocated ahead.
    @Test func recoveryFreesWhatACrashLeftAllocatedAhead() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        let kept = try Self.apply(store, commits: 30, rows: 10_000, after: 0, txn: 2)
        try store.checkpoint()
        _ = try Self.apply(store, commits: 15, rows: 10_000, after: 300_000, txn: 32)
        if Self.allocatesAhead(directory.path) { #expect(Self.usageFile(store).pastEnd > 0) }
        let reopened = try TableStore(directory: store.directory)
        #expect(Self.usageFile(reopened) == (0, 300_000 * 8))
        #expect(try Store.timestamps(reopened.snapshot()) == kept)
    }

    /// A file system that refuses to allocate ahead (`EOPNOTSUPP`), or a disk too full for it
    /// (`ENOSPC`): the appends go on as before, only the hint is lost.
    @Test func aRefusedAllocationOnlyLosesTheHint() throws {
        for refusal in [EOPNOTSUPP, ENOSPC] {
            let directory = TemporaryDirectory()
            var io = StorageIO.system
            let asked = PlainMutex(0)
            io.preallocate = { _, _, _ in
                asked.withLock { $0 += 1 }
                errno = refusal
                return -1
            }
            let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1, io: io)
            let written = try Self.apply(store, commits: 30, rows: 10_000, after: 0, txn: 2)
            #expect(asked.withLock { $0 } > 0)
            #expect(Self.usageFile(store) == (0, 300_000 * 8))
            try store.checkpoint()
            #expect(try Store.timestamps(TableStore(directory: store.directory).snapshot()) == written)
        }
    }

    /// Commits of 1 000 rows (8 KB a column) allocate nothing ahead, though they cross chunks.
    @Test func smallAppendsAllocateNothingAhead() throws {
        let directory = TemporaryDirectory()
        let store = try TableStore.create(in: directory.path, schema: Store.schema, txn: 1)
        let written = try Self.apply(store, commits: 300, rows: 1_000, after: 0, txn: 2)
        #expect(Self.usageFile(store) == (0, 300_000 * 8))
        #expect(try Store.timestamps(store.snapshot()) == written)
    }

    /// Bytes the file at `path` holds past its length rounded up to 4 KiB.
    static func pastEnd(_ path: String) -> Int {
        var info = stat()
        stat(path, &info)
        return max(0, Int(info.st_blocks) * 512 - (Int(info.st_size) + 4_095) / 4_096 * 4_096)
    }

    /// A new WAL segment gets its blocks when created; sealing cuts what it did not fill.
    @Test func newWALSegmentsAreAllocatedWholeAndSealedToTheirRecords() async throws {
        let directory = TemporaryDirectory()
        let log = try WALRecyclingTests.open(directory.path, recycled: 0, segmentSize: 16 << 10)
        var index = 1
        while log.segments.count < 2 {
            try await WriteAheadLogTests.commit(log, index)
            index += 1
        }
        let (sealed, current) = (log.segments[0], log.segments[1])
        #expect(WriteAheadLogTests.fileSize(sealed.path) == sealed.sizeBytes)
        #expect(Self.pastEnd(sealed.path) == 0)
        if Self.allocatesAhead(directory.path) {
            #expect(Self.pastEnd(current.path) >= (16 << 10) - 4_096, "\(Self.pastEnd(current.path)) bytes ahead")
        }
        #expect(try WriteAheadLogTests.readAll(log).map(\.payload) == (1..<index).map(WriteAheadLogTests.payload))
        try log.cutReusedTail()
        #expect(Self.pastEnd(current.path) == 0)
    }
}
