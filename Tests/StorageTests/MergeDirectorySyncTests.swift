// A merge of late rows writes a new part version without fsyncing the table directory: nothing
// names the part until the next checkpoint, which fsyncs the directory before `_txn` does.
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct MergeDirectorySyncTests {
    /// Records every directory fsync under `db/` (the WAL's own are not this test's concern).
    final class SyncLog: Sendable {
        let synced = Mutex<[String]>([])

        var io: StorageIO {
            StorageIO(
                pwrite: StorageIO.system.pwrite, fdatasync: StorageIO.system.fdatasync, ftruncate: StorageIO.system.ftruncate,
                syncDirectory: { [self] directory in
                    if directory.contains("/db/") { synced.withLock { $0.append(directory) } }
                    return StorageIO.system.syncDirectory(directory)
                })
        }

        func take() -> [String] {
            synced.withLock { synced in
                defer { synced = [] }
                return synced
            }
        }
    }

    @Test func aMergeSyncsNoDirectoryUntilTheCheckpoint() async throws {
        let directory = TemporaryDirectory()
        let log = SyncLog()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000)
        configuration.lateApplyHoldNanos = 0
        configuration.io = log.io
        let engine = try StorageEngine(layout: layout, configuration: configuration)
        let schema = try await engine.createTable(StorageEngineTests.request(partitionBy: .day))
        await engine.waitUntilApplied(try await engine.commit(try StorageEngineTests.batch(schema, 20..<40)))
        try engine.checkpoint()
        _ = log.take()

        // Rows before the applied ones: their part of the day is rewritten as a new version.
        await engine.waitUntilApplied(try await engine.commit(try StorageEngineTests.batch(schema, 5..<8)))
        #expect(try StorageEngineTests.values(engine.snapshot(ofTable: "sensors")) == (Array(5..<8) + Array(20..<40)).map(Double.init))
        #expect(log.take().isEmpty, "the merge fsynced a directory")

        try engine.checkpoint()
        let tableDirectory = try #require(engine.snapshot(ofTable: "sensors")).directory
        #expect(log.take().contains(tableDirectory), "the checkpoint makes the new part's name durable")
    }
}
