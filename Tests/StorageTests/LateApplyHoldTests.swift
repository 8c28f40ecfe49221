// Proves the applier's hold of late commits: a small run that would merge into rows already
// applied waits at the WAL's end for the commits after it, is applied at once for anyone
// waiting to see it, and on its own when the hold runs out; in-order commits never wait.
import Storage
import Testing
import TestSupport

@Suite(.timeLimit(.minutes(1))) struct LateApplyHoldTests {
    typealias Engine = StorageEngineTests

    static func open(_ directory: TemporaryDirectory, holdNanos: UInt64) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration()
        configuration.lateApplyHoldNanos = holdNanos
        return try StorageEngine(layout: layout, configuration: configuration)
    }

    /// Commits `rows` and returns once the round that saw the commit has run.
    static func commitAndSettle(_ engine: StorageEngine, _ schema: TableSchema, _ rows: Range<Int>) async throws -> UInt64 {
        let txn = try await engine.commit(try Engine.batch(schema, rows))
        engine.waitForApplier()
        return txn
    }

    static let forever: UInt64 = 3_600_000_000_000

    @Test func lateCommitsWaitForTheCommitsAfterThemUntilSomeoneWaits() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, holdNanos: Self.forever)
        let schema = try await engine.createTable(Engine.request(partitionBy: .day))
        let first = try await Self.commitAndSettle(engine, schema, 20..<40)
        #expect(engine.appliedTxn == first, "in order: applied at once")

        // Four senders' rows interleaved: each commit lands before rows already committed.
        var expected = Array(20..<40)
        var last = first
        for row in [7, 3, 41, 12, 5, 40, 19] {
            last = try await Self.commitAndSettle(engine, schema, row..<row + 1)
            expected.append(row)
            #expect(engine.appliedTxn == first, "held at the WAL's end after txn \(last)")
        }
        #expect(try Engine.values(engine.snapshot(ofTable: "sensors")) == (20..<40).map(Double.init))

        // Anyone waiting to see a held row ends the hold: every row at once, in timestamp order.
        await engine.waitUntilApplied(last)
        #expect(engine.appliedTxn == last)
        #expect(try Engine.values(engine.snapshot(ofTable: "sensors")) == expected.sorted().map(Double.init))
    }

    @Test func aHoldEndsOnItsOwn() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, holdNanos: 5_000_000)
        let schema = try await engine.createTable(Engine.request(partitionBy: .day))
        _ = try await Self.commitAndSettle(engine, schema, 10..<20)
        let late = try await Self.commitAndSettle(engine, schema, 0..<5)
        // No waiter and no later commit: only the hold's own deadline applies it.
        var polls = 0
        while engine.appliedTxn < late && polls < 10_000 {
            try await Task.sleep(for: .milliseconds(1))
            polls += 1
        }
        #expect(engine.appliedTxn == late)
        #expect(try Engine.values(engine.snapshot(ofTable: "sensors")) == (0..<5).map(Double.init) + (10..<20).map(Double.init))
    }

    @Test func aCommitOfAnotherTableOrASchemaChangeEndsTheRun() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, holdNanos: Self.forever)
        let sensors = try await engine.createTable(Engine.request(partitionBy: .day))
        let other = try await engine.createTable(Engine.request("other", partitionBy: .day))
        _ = try await Self.commitAndSettle(engine, sensors, 10..<20)
        let late = try await Self.commitAndSettle(engine, sensors, 0..<2)
        #expect(engine.appliedTxn == late - 1)
        // WAL order is apply order: the held run goes before the other table's commit.
        let next = try await Self.commitAndSettle(engine, other, 0..<3)
        #expect(engine.appliedTxn == next)
        #expect(try Engine.values(engine.snapshot(ofTable: "sensors")).count == 12)
        #expect(try Engine.values(engine.snapshot(ofTable: "other")).count == 3)
    }

    @Test func aCheckpointAppliesTheHeldRunAndReopeningFindsIt() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory, holdNanos: Self.forever)
            let schema = try await engine.createTable(Engine.request(partitionBy: .day))
            _ = try await Self.commitAndSettle(engine, schema, 10..<20)
            let late = try await Self.commitAndSettle(engine, schema, 0..<3)
            #expect(engine.appliedTxn == late - 1)
            try engine.checkpoint()
        }
        let reopened = try Self.open(directory, holdNanos: Self.forever)
        #expect(try Engine.values(reopened.snapshot(ofTable: "sensors")) == (0..<3).map(Double.init) + (10..<20).map(Double.init))
    }

    @Test func heldRowsSurviveACrashAndReplayWithoutAHold() async throws {
        let directory = TemporaryDirectory()
        do {
            let engine = try Self.open(directory, holdNanos: Self.forever)
            let schema = try await engine.createTable(Engine.request(partitionBy: .day))
            _ = try await Self.commitAndSettle(engine, schema, 10..<20)
            for row in [4, 2, 0] { _ = try await Self.commitAndSettle(engine, schema, row..<row + 1) }
            // Dropped with the run still held: it is durable in the WAL, not in the table files.
        }
        let reopened = try Self.open(directory, holdNanos: Self.forever)
        #expect(try Engine.values(reopened.snapshot(ofTable: "sensors")) == [0, 2, 4] + (10..<20).map(Double.init))
    }
}
