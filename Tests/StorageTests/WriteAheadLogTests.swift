// Proves the WAL's dense txn numbering, segment roll-over, group commit, readers, and recovery from torn tails and damage.
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WriteAheadLogTests {
    static func open(
        _ directory: String, mode: WALConfiguration.CommitMode = .sync, segmentSize: Int = 1 << 20
    ) throws -> WriteAheadLog {
        try WriteAheadLog(
            directory: directory,
            configuration: WALConfiguration(commitMode: mode, segmentSizeBytes: segmentSize, maxRecordBytes: 1 << 16))
    }

    static func payload(_ index: Int) -> [UInt8] {
        Array("record \(index) ".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: index % 37)
    }

    @discardableResult
    static func commit(_ log: WriteAheadLog, _ index: Int, epoch: UInt64 = 0) async throws -> WALPosition {
        try await log.commit(kind: .opaque, epoch: epoch, payload: payload(index))
    }

    static func readAll(_ log: WriteAheadLog, from txn: UInt64 = 1) throws -> [WALRecord] {
        let reader = try WALReader(log: log, from: txn)
        var records: [WALRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : -1
    }

    @Test func commitsAreDenseDurableAndSurviveReopen() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try Self.open(directory.path)
            for index in 1...10 {
                let position = try await Self.commit(log, index)
                #expect(position.txn == UInt64(index))
            }
            #expect(log.durableTxn == 10 && log.committedTxn == 10 && log.nextTxn == 11)
        }
        let reopened = try Self.open(directory.path)
        #expect(reopened.nextTxn == 11 && reopened.truncatedBytesAtOpen == 0)
        let records = try Self.readAll(reopened)
        #expect(records.map(\.txn) == Array(1...10))
        #expect(records.map(\.payload) == (1...10).map(Self.payload))
        #expect(try Self.readAll(reopened, from: 7).map(\.txn) == [7, 8, 9, 10])
        #expect(try Self.readAll(reopened, from: 11).isEmpty)
    }

    @Test func segmentsRollOverAndReadersCrossThem() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try Self.open(directory.path, segmentSize: 300)
            for index in 1...60 { try await Self.commit(log, index) }
            #expect(log.segments.count > 5)
            for (earlier, later) in zip(log.segments, log.segments.dropFirst()) {
                #expect(later.firstTxn == earlier.lastTxn + 1)
            }
        }
        let reopened = try Self.open(directory.path, segmentSize: 300)
        #expect(try Self.readAll(reopened).map(\.txn) == Array(1...60))
        try await Self.commit(reopened, 61)
        #expect(try Self.readAll(reopened, from: 55).map(\.txn) == Array(55...61))
    }

    @Test func aTornTailIsCutAtEveryByte() async throws {
        let source = TemporaryDirectory()
        var lastRecordStart = 0
        do {
            let log = try Self.open(source.path)
            for index in 1...4 { try await Self.commit(log, index) }
            lastRecordStart = log.segments[0].sizeBytes
            try await Self.commit(log, 5)
        }
        let segmentPath = source.appending(WALSegmentFiles.name(firstTxn: 1))
        let full = try #require(try DurableFile.read(segmentPath, maxBytes: 1 << 20))
        for cut in lastRecordStart..<full.count {
            let directory = TemporaryDirectory()
            let path = directory.appending(WALSegmentFiles.name(firstTxn: 1))
            try DurableFile.replace(path, with: Array(full[..<cut]), io: .system)
            let log = try Self.open(directory.path)
            #expect(log.nextTxn == 5, "cut at \(cut)")
            #expect(log.truncatedBytesAtOpen == cut - lastRecordStart)
            #expect(Self.fileSize(path) == lastRecordStart)
            // The log continues where the torn record was.
            try await Self.commit(log, 50)
            #expect(try Self.readAll(log).map(\.payload).last == Self.payload(50))
        }
    }

    @Test func zeroesAfterTheLastRecordAreCut() async throws {
        let directory = TemporaryDirectory()
        let path = directory.appending(WALSegmentFiles.name(firstTxn: 1))
        do {
            let log = try Self.open(directory.path)
            for index in 1...3 { try await Self.commit(log, index) }
        }
        let bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        try DurableFile.replace(path, with: bytes + [UInt8](repeating: 0, count: 4096), io: .system)
        let log = try Self.open(directory.path)
        #expect(log.nextTxn == 4 && log.truncatedBytesAtOpen == 4096)
    }

    @Test(arguments: [2, 4])
    func aDamagedRecordWithValidRecordsAfterItIsRefused(damagedTxn: Int) async throws {
        let directory = TemporaryDirectory()
        var starts: [Int] = []
        do {
            let log = try Self.open(directory.path)
            for index in 1...5 {
                starts.append(log.segments.last?.sizeBytes ?? WALSegmentHeader.size)
                try await Self.commit(log, index)
            }
        }
        let path = directory.appending(WALSegmentFiles.name(firstTxn: 1))
        var bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        bytes[starts[damagedTxn - 1] + WALRecordHeader.size + 2] ^= 0x10
        try DurableFile.replace(path, with: bytes, io: .system)
        let error = #expect(throws: StorageError.self) { try Self.open(directory.path) }
        #expect(error?.code == .corrupt)
        #expect(error?.path == path)
        #expect(error?.message.contains("txn \(damagedTxn) expected") == true)
    }

    @Test func damageInAnEarlierSegmentIsRefused() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try Self.open(directory.path, segmentSize: 300)
            for index in 1...30 { try await Self.commit(log, index) }
        }
        let first = directory.appending(WALSegmentFiles.name(firstTxn: 1))
        var bytes = try #require(try DurableFile.read(first, maxBytes: 1 << 20))
        bytes[bytes.count - 3] ^= 0x01
        try DurableFile.replace(first, with: bytes, io: .system)
        let error = #expect(throws: StorageError.self) { try Self.open(directory.path, segmentSize: 300) }
        #expect(error?.code == .corrupt && error?.path == first)
    }

    @Test func aMissingMiddleSegmentIsRefused() async throws {
        let directory = TemporaryDirectory()
        var segments: [WALSegmentInfo] = []
        do {
            let log = try Self.open(directory.path, segmentSize: 300)
            for index in 1...30 { try await Self.commit(log, index) }
            segments = log.segments
        }
        #expect(unlink(segments[1].path) == 0)
        let error = #expect(throws: StorageError.self) { try Self.open(directory.path, segmentSize: 300) }
        #expect(error?.message.contains("transactions are missing") == true)
    }

    @Test func purgedSegmentsThatComeBackAfterAPowerLossAreDroppedAgain() async throws {
        let directory = TemporaryDirectory()
        var segments: [WALSegmentInfo] = []
        do {
            let log = try Self.open(directory.path, segmentSize: 300)
            for index in 1...30 { try await Self.commit(log, index) }
            segments = log.segments
        }
        #expect(segments.count >= 4)
        // A purge of segments 0 and 1 whose directory fsync never happened: 0 came back, 1 did not.
        #expect(unlink(segments[1].path) == 0)
        let log = try WriteAheadLog(
            directory: directory.path, configuration: WALConfiguration(segmentSizeBytes: 300, maxRecordBytes: 1 << 16),
            obsoleteThrough: segments[1].lastTxn)
        #expect(log.segments.first?.firstTxn == segments[2].firstTxn)
        #expect(Self.fileSize(segments[0].path) == -1)
        #expect(try Self.readAll(log, from: segments[2].firstTxn).count == 30 - Int(segments[2].firstTxn) + 1)
    }

    @Test func anUnfinishedNewSegmentIsRemoved() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try Self.open(directory.path)
            for index in 1...3 { try await Self.commit(log, index) }
        }
        let stray = directory.appending(WALSegmentFiles.name(firstTxn: 4))
        try DurableFile.replace(stray, with: [0x53, 0x44], io: .system)
        let log = try Self.open(directory.path)
        #expect(log.nextTxn == 4 && log.segments.count == 1)
        #expect(Self.fileSize(stray) == -1)
    }

    @Test func purgedTransactionsAreReportedToReaders() async throws {
        let directory = TemporaryDirectory()
        var segments: [WALSegmentInfo] = []
        do {
            let log = try Self.open(directory.path, segmentSize: 300)
            for index in 1...30 { try await Self.commit(log, index) }
            segments = log.segments
        }
        #expect(unlink(segments[0].path) == 0)
        let log = try Self.open(directory.path, segmentSize: 300)
        let error = #expect(throws: StorageError.self) { try WALReader(log: log, from: 1) }
        #expect(error?.code == .limitExceeded)
        #expect(try Self.readAll(log, from: segments[1].firstTxn).first?.txn == segments[1].firstTxn)
    }

    @Test func concurrentCommittersShareFsyncs() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path)
        let txns = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for writer in 0..<8 {
                group.addTask {
                    var mine: [UInt64] = []
                    for index in 0..<50 { mine.append(try await Self.commit(log, writer * 100 + index).txn) }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await mine in group { all += mine }
            return all
        }
        #expect(txns.sorted() == Array(1...400))
        #expect(log.durableTxn == 400)
        #expect(log.syncRounds < 400, "group commit should merge fsyncs (\(log.syncRounds) rounds)")
    }

    @Test func asyncCommitsBecomeDurableInTheBackground() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path, mode: .async)
        for index in 1...20 { try await Self.commit(log, index) }
        #expect(log.committedTxn == 20)
        for _ in 0..<500 where log.durableTxn < 20 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(log.durableTxn == 20)
    }

    @Test func readersWaitForNewCommits() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path)
        try await Self.commit(log, 1)
        let waiter = Task { await log.waitForCommit(beyond: 1) }
        try await Self.commit(log, 2)
        await waiter.value
        #expect(try Self.readAll(log, from: 2).map(\.txn) == [2])
    }

    @Test func oversizedRecordsAreRefused() throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path)
        let big = [UInt8](repeating: 1, count: (1 << 16) + 1)
        let error = #expect(throws: StorageError.self) {
            try big.withUnsafeBytes { raw in
                try Result { () throws(StorageError) in try log.append(kind: .opaque, epoch: 0, payload: raw) }.get()
            }
        }
        #expect(error?.code == .limitExceeded)
        #expect(log.nextTxn == 1)
    }
}

@Suite struct WriteAheadLogPurgeTests {
    @Test func purgeRemovesOnlyWholeSealedSegments() async throws {
        let directory = TemporaryDirectory()
        let log = try WriteAheadLogTests.open(directory.path, segmentSize: 300)
        for index in 1...40 { try await WriteAheadLogTests.commit(log, index) }
        let segments = log.segments
        let reader = try WALReader(log: log, from: 1)
        let cut = segments[2].lastTxn
        let freed = try log.purge(through: cut + 1)  // segment 3 holds txns past cut+1 and stays
        #expect(freed == segments[0...2].reduce(0) { $0 + $1.sizeBytes })
        #expect(log.segments.first?.firstTxn == cut + 1)
        #expect(try WriteAheadLogTests.readAll(log, from: cut + 1).count == 40 - Int(cut))
        // A reader that still needed purged records reads what it holds open, then says so.
        var seen = 0
        let error = #expect(throws: StorageError.self) { while try reader.next() != nil { seen += 1 } }
        #expect(error?.code == .limitExceeded)
        #expect(seen == Int(segments[0].lastTxn))
        #expect(try log.purge(through: 1_000) > 0)
        #expect(log.segments.count == 1)
        let reopened = try WriteAheadLogTests.open(directory.path, segmentSize: 300)
        #expect(reopened.nextTxn == 41)
    }
}

@Suite struct WALTornTailTests {
    /// Power loss can persist later unsynced writes before earlier ones: a damaged record
    /// followed by valid records that were never behind a completed fsync is a torn tail.
    @Test func unsyncedRecordsAfterADamagedOneAreATornTail() throws {
        let directory = TemporaryDirectory()
        var starts: [Int] = []
        do {
            let log = try WriteAheadLogTests.open(directory.path, mode: .nosync)
            for index in 1...5 {
                starts.append(log.segments.last?.sizeBytes ?? WALSegmentHeader.size)
                _ = try WriteAheadLogTests.payload(index).withUnsafeBytes { raw in
                    try Result { () throws(StorageError) in try log.append(kind: .opaque, epoch: 0, payload: raw) }.get()
                }
            }
        }
        let path = directory.appending(WALSegmentFiles.name(firstTxn: 1))
        var bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        bytes[starts[2] + WALRecordHeader.size + 1] ^= 0x08
        try DurableFile.replace(path, with: bytes, io: .system)
        let log = try WriteAheadLogTests.open(directory.path)
        #expect(log.nextTxn == 3)
        #expect(log.truncatedBytesAtOpen == bytes.count - starts[2])
    }
}
