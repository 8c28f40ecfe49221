// Batches of several tables committed as one transaction: visible together, replayed together
// after a crash, and refused together when one of them is stale.
import Storage
import Testing
import TestSupport

@Suite struct StorageEngineGroupCommitTests {
    typealias Base = StorageEngineTests

    @Test func severalTablesCommitAsOneTransactionAndReplayAsOne() async throws {
        let directory = TemporaryDirectory()
        var txn: UInt64?
        do {
            let engine = try Base.open(directory)
            let a = try await engine.createTable(Base.request("a"))
            let b = try await engine.createTable(Base.request("b"))
            let before = engine.wal.committedTxn
            txn = try await engine.commit(all: [try Base.batch(a, 0..<5), try Base.batch(b, 10..<13), RowBatch(schema: a)])
            #expect(txn == before + 1)
            await engine.waitUntilApplied(txn!)
            #expect(try Base.values(engine.snapshot(ofTable: "a")) == [0, 1, 2, 3, 4])
            #expect(try Base.values(engine.snapshot(ofTable: "b")) == [10, 11, 12])
            #expect(try await engine.commit(all: [RowBatch(schema: a)]) == nil)
        }
        // Reopen without a checkpoint: the group replays from the WAL.
        let engine = try Base.open(directory)
        engine.waitForApplier()
        #expect(try Base.values(engine.snapshot(ofTable: "a")) == [0, 1, 2, 3, 4])
        #expect(try Base.values(engine.snapshot(ofTable: "b")) == [10, 11, 12])
    }

    @Test func oneStaleBatchRefusesTheWholeGroup() async throws {
        let directory = TemporaryDirectory()
        let engine = try Base.open(directory)
        let a = try await engine.createTable(Base.request("a"))
        let b = try await engine.createTable(Base.request("b"))
        let staleB = try Base.batch(b, 0..<2)
        _ = try await engine.alterTable("b") { (schema) throws(SchemaError) in _ = try schema.addColumn(name: "extra", type: .int) }
        let error = await #expect(throws: StorageError.self) {
            try await engine.commit(all: [try Base.batch(a, 0..<3), staleB])
        }
        #expect(error?.code == .schemaChanged && error?.path == "b")
        engine.waitForApplier()
        #expect(try Base.values(engine.snapshot(ofTable: "a")) == [])
        #expect(try Base.values(engine.snapshot(ofTable: "b")) == [])
        let twice = await #expect(throws: StorageError.self) {
            try await engine.commit(all: [try Base.batch(a, 0..<1), try Base.batch(a, 1..<2)])
        }
        #expect(twice?.message == "one transaction holds one batch per table")
    }
}
