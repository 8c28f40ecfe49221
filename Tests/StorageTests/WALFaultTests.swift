// Proves the WAL under injected I/O errors: a failed fsync fails every waiting commit and stops the log; a failed write leaves no partial record; nothing unacknowledged is ever reported committed.
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct WALFaultTests {
    static func open(_ directory: String, _ faults: FaultInjectingIO) throws -> WriteAheadLog {
        try WriteAheadLog(
            directory: directory, configuration: WALConfiguration(segmentSizeBytes: 4_096, maxRecordBytes: 1 << 16),
            io: faults.io)
    }

    @Test func aFailedFsyncFailsTheWaitingCommitsAndStopsTheLog() async throws {
        let directory = TemporaryDirectory()
        let faults = FaultInjectingIO([.init(at: 4, only: .fdatasync)])
        let log = try Self.open(directory.path, faults)
        for index in 1...3 { _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(index)) }
        let error = await #expect(throws: StorageError.self) {
            _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(4))
        }
        #expect(error?.code == .io && error?.errno == EIO)
        // Never retry-then-ack: the log refuses further writes until a restart.
        let next = await #expect(throws: StorageError.self) {
            _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(5))
        }
        #expect(next?.code == .notWritable)
        #expect(log.durableTxn == 3)
        let reopened = try WriteAheadLogTests.open(directory.path)
        #expect(try WriteAheadLogTests.readAll(reopened).prefix(3).map(\.txn) == [1, 2, 3])
    }

    @Test func aFailedWriteLeavesNoPartialRecordAndTheLogGoesOn() async throws {
        let directory = TemporaryDirectory()
        let faults = FaultInjectingIO([.init(at: 3, only: .pwrite, errno: ENOSPC, partialBytes: 20)])
        let log = try Self.open(directory.path, faults)
        var acknowledged: [UInt64] = []
        for index in 1...6 {
            do {
                acknowledged.append(try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(index)).txn)
            } catch {
                #expect(error.code == .io && error.errno == ENOSPC)
            }
        }
        #expect(faults.injected == 1)
        #expect(acknowledged == [1, 2, 3, 4, 5], "the failed append took no txn number")
        let reopened = try WriteAheadLogTests.open(directory.path)
        #expect(reopened.truncatedBytesAtOpen == 0)
        #expect(try WriteAheadLogTests.readAll(reopened).map(\.txn) == acknowledged)
    }

    @Test func aWriteThatCannotBeCutOffStopsTheLog() async throws {
        let directory = TemporaryDirectory()
        let faults = FaultInjectingIO([
            .init(at: 3, only: .pwrite, partialBytes: 10), .init(at: 1, only: .ftruncate),
        ])
        let log = try Self.open(directory.path, faults)
        _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(1))
        await #expect(throws: StorageError.self) {
            _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(2))
        }
        let error = await #expect(throws: StorageError.self) {
            _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(3))
        }
        #expect(error?.code == .notWritable)
        // The torn bytes are cut at the next open: only the acknowledged record remains.
        let reopened = try WriteAheadLogTests.open(directory.path)
        #expect(try WriteAheadLogTests.readAll(reopened).map(\.txn) == [1])
    }

    /// SQLite's I/O-error loop: fail the Nth write-path call for every N a workload makes;
    /// each time, exactly the acknowledged commits are durable after reopening.
    @Test func failingEveryCallInTurnNeverLosesAnAcknowledgedCommit() async throws {
        let probe = FaultInjectingIO()
        do {
            let directory = TemporaryDirectory()
            let log = try Self.open(directory.path, probe)
            for index in 1...12 { _ = try await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(index)) }
        }
        let total = probe.calls
        #expect(total > 12)
        for failing in 1...total {
            let directory = TemporaryDirectory()
            let faults = FaultInjectingIO([.init(at: failing, partialBytes: 7)])
            var acknowledged: [UInt64] = []
            do {
                let log = try Self.open(directory.path, faults)
                for index in 1...12 {
                    if let txn = try? await log.commit(kind: .opaque, epoch: 0, payload: WriteAheadLogTests.payload(index)).txn {
                        acknowledged.append(txn)
                    }
                }
            }
            let reopened = try WriteAheadLogTests.open(directory.path)
            let durable = try WriteAheadLogTests.readAll(reopened).map(\.txn)
            #expect(acknowledged.allSatisfy(durable.contains), "failing call \(failing): acknowledged \(acknowledged), found \(durable)")
            #expect(durable == Array(1...UInt64(durable.count)), "failing call \(failing): txns not dense: \(durable)")
        }
    }
}
