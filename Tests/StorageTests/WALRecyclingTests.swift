// Proves that purged WAL segments reused as new ones (decision 0030) never let a record of
// their former life pass for a current one: not to readers, not to recovery after a crash.
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WALRecyclingTests {
    static func open(_ directory: String, recycled: Int = 4, segmentSize: Int = 300) throws -> WriteAheadLog {
        try WriteAheadLog(
            directory: directory,
            configuration: WALConfiguration(segmentSizeBytes: segmentSize, maxRecordBytes: 1 << 16, recycledSegments: recycled))
    }

    static func spares(_ directory: String) throws -> [String] {
        try WALSegmentFiles.spares(directory)
    }

    static func inode(_ path: String) -> UInt {
        var info = stat()
        return stat(path, &info) == 0 ? UInt(info.st_ino) : 0
    }

    @Test func purgedSegmentsBecomeSparesThatNewSegmentsReuse() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path)
        for index in 1...40 { try await WriteAheadLogTests.commit(log, index) }
        let before = log.segments
        #expect(before.count >= 6)
        let inodes = before.prefix(5).map { Self.inode($0.path) }
        try log.purge(through: before[4].lastTxn)
        // Four of the five purged segments are kept (the newest), the oldest deleted.
        #expect(log.spareCount == 4)
        #expect(try Self.spares(directory.path).count == 4)
        #expect(Self.inode(before[0].path) == 0)
        // New segments take the spares, oldest first, until none is left.
        for index in 41...120 { try await WriteAheadLogTests.commit(log, index) }
        #expect(try log.spareCount == 0 && Self.spares(directory.path).isEmpty)
        let reused = log.segments.map { Self.inode($0.path) }.filter { inodes[1...].contains($0) }
        #expect(reused.count == 4, "the spares' files should now be segments")
        // Every record from the purge on reads back as written, through reused files.
        let records = try WriteAheadLogTests.readAll(log, from: before[5].firstTxn)
        #expect(records.map(\.txn) == Array(before[5].firstTxn...120))
        #expect(records.map(\.payload) == (Int(before[5].firstTxn)...120).map(WriteAheadLogTests.payload))
        // Sealed reused segments are exactly their records; the current one once cut (at a
        // graceful shutdown).
        for segment in log.segments.dropLast() { #expect(WriteAheadLogTests.fileSize(segment.path) == segment.sizeBytes) }
        try log.cutReusedTail()
        #expect(WriteAheadLogTests.fileSize(log.segments.last!.path) == log.segments.last!.sizeBytes)
        try await WriteAheadLogTests.commit(log, 121)
        #expect(try WriteAheadLogTests.readAll(log, from: 121).map(\.payload) == [WriteAheadLogTests.payload(121)])
    }

    @Test func noSparesAreKeptWhenRecyclingIsOff() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path, recycled: 0)
        for index in 1...40 { try await WriteAheadLogTests.commit(log, index) }
        try log.purge(through: log.segments[3].lastTxn)
        #expect(try log.spareCount == 0 && Self.spares(directory.path).isEmpty)
    }

    /// A log of 60 records in 300-byte segments, closed cleanly, and a copy of its first
    /// segment's bytes: the former life a reused file would carry.
    static func closedLog(_ directory: String) async throws -> (last: WALSegmentInfo, former: [UInt8]) {
        let log = try Self.open(directory)
        for index in 1...60 { try await WriteAheadLogTests.commit(log, index) }
        let former = try #require(try DurableFile.read(log.segments[0].path, maxBytes: 1 << 20))
        return (log.segments.last!, former)
    }

    static func append(_ bytes: ArraySlice<UInt8>, to path: String) {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// What a crash leaves in a reused segment: its former records after the new ones, the
    /// first of them starting where the new records end or cut anywhere. Recovery ends the
    /// segment where they begin (cutting a partial one as a torn tail), and appends go on.
    @Test(arguments: [0, 5, 41])
    func aReusedSegmentsFormerRecordsAreNotTakenForNewOnes(cutInto: Int) async throws {
        let directory = TemporaryDirectory()
        let (last, former) = try await Self.closedLog(directory.path)
        let stale = former[(WALSegmentHeader.size + cutInto)...]
        Self.append(stale, to: last.path)
        let reopened = try Self.open(directory.path)
        #expect(reopened.nextTxn == 61)
        #expect(reopened.truncatedBytesAtOpen == (cutInto == 0 ? 0 : stale.count))
        try await WriteAheadLogTests.commit(reopened, 61)
        let tail = try WriteAheadLogTests.readAll(reopened, from: last.firstTxn)
        #expect(tail.map(\.txn) == Array(last.firstTxn...61))
        #expect(tail.map(\.payload) == (Int(last.firstTxn)...61).map(WriteAheadLogTests.payload))
    }

    /// A spare renamed to the next segment's name, then a crash before its new header reached
    /// the disk: nothing in it was ever synced, so it is a torn tail, not damage.
    @Test func aReusedSegmentWhoseNewHeaderWasLostIsATornTail() async throws {
        let directory = TemporaryDirectory()
        let (_, former) = try await Self.closedLog(directory.path)
        let renamed = directory.appending(WALSegmentFiles.name(firstTxn: 61))
        try DurableFile.replace(renamed, with: former, io: .system)
        let reopened = try Self.open(directory.path)
        #expect(reopened.nextTxn == 61 && reopened.truncatedBytesAtOpen == former.count)
        #expect(WriteAheadLogTests.fileSize(renamed) == -1)
        try await WriteAheadLogTests.commit(reopened, 61)
        #expect(try WriteAheadLogTests.readAll(reopened, from: 61).map(\.payload) == [WriteAheadLogTests.payload(61)])
    }

    /// A reader still inside a segment when it is purged and reused meets new records where it
    /// expected old ones: it is told its records were purged, as a reader that had not opened
    /// the segment yet would be — never handed a record of the new life, never "damage".
    @Test func aReaderInsideAReusedSegmentLearnsItWasPurged() async throws {
        let directory = TemporaryDirectory()
        let log = try Self.open(directory.path)
        for index in 1...40 { try await WriteAheadLogTests.commit(log, index) }
        let reader = try WALReader(log: log, from: 1)
        #expect(try reader.next()?.txn == 1)
        try log.purge(through: log.segments[3].lastTxn)
        for index in 41...120 { try await WriteAheadLogTests.commit(log, index) }
        var txns: [UInt64] = []
        let error = #expect(throws: StorageError.self) { while let record = try reader.next() { txns.append(record.txn) } }
        #expect(error?.code == .limitExceeded)
        #expect(txns == Array(UInt64(2)..<UInt64(2 + txns.count)), "whatever it read before must be the old records, in order")
    }

    /// Spares left by an earlier run are deleted at open: after a restore or a resync their
    /// former records could carry txns the log reaches again.
    @Test func sparesOfAnEarlierRunAreDeletedAtOpen() async throws {
        let directory = TemporaryDirectory()
        do {
            let log = try Self.open(directory.path)
            for index in 1...40 { try await WriteAheadLogTests.commit(log, index) }
            try log.purge(through: log.segments[3].lastTxn)
            #expect(log.spareCount == 4)
        }
        let reopened = try Self.open(directory.path)
        #expect(try reopened.spareCount == 0 && Self.spares(directory.path).isEmpty)
        #expect(reopened.nextTxn == 41)
    }
}
