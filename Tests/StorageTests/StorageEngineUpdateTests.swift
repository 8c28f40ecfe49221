// Proves UPDATE through the WAL: replacement rows land on the rows they name, survive a crash
// and replay, hold other writers of the table until appended, and refuse stale positions.
import Dispatch
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct StorageEngineUpdateTests {
    typealias Schema = StorageEngineSchemaTests

    /// A replacement for `row` of part `index` (4 rows an hour, see `Schema.commit`): its
    /// timestamp kept, its value `value`.
    static func replace(_ update: inout RowUpdate, _ snapshot: TableSnapshot, part index: Int, row: Int, value: Int64) throws {
        let part = snapshot.partitions[index]
        let timestamp = try snapshot.mapColumn(2, in: part).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 8, as: Int64.self) }
        update.batch.beginRow()
        update.batch.setInteger(0, value)
        update.batch.setInteger(1, timestamp)
        try update.batch.endRow()
        update.replaces(row: row, ofPart: index, part.state)
    }

    static func update(
        _ engine: StorageEngine, _ changes: [(part: Int, row: Int, value: Int64)], staleRowCount: Bool = false
    ) async throws -> Int {
        let schema = try #require(engine.schema(named: "metrics"))
        let result: Result<Int, StorageError> = try await engine.update("metrics") { snapshot in
            var update = RowUpdate(batch: RowBatch(schema: schema))
            do {
                for change in changes { try replace(&update, snapshot, part: change.part, row: change.row, value: change.value) }
            } catch {
                return .failure(error as! StorageError)
            }
            if staleRowCount {
                var forged = RowUpdate(batch: update.batch)
                for part in update.parts {
                    var state = part.state
                    state.rowCount += 1
                    for row in part.rows { forged.replaces(row: row, ofPart: part.index, state) }
                }
                return .success(forged)
            }
            return .success(update)
        }
        return try result.get()
    }

    @Test func replacedRowsLandWhereNamedAndReplayAfterACrash() async throws {
        let directory = TemporaryDirectory()
        var expected = (0..<12).map { Int64($0) * 10 + 1 }
        do {
            let engine = try Schema.open(directory)
            let schema = try await Schema.create(engine)
            try await Schema.commit(engine, schema, 0..<12)  // 3 hourly partitions of 4 rows
            let count = try await Self.update(engine, [(0, 1, -1), (0, 3, -3), (2, 2, -10)])
            #expect(count == 3)
            expected[1] = -1
            expected[3] = -3
            expected[10] = -10
            #expect(try Schema.longs(engine, "metrics", column: "value") == expected)
            // Later writes append after the updated rows as usual.
            try await Schema.commit(engine, schema, 12..<14)
            engine.waitForApplier()
        }
        expected += [121, 131]
        // Nothing was checkpointed: the reopened engine replays the update from the WAL.
        let reopened = try Schema.open(directory)
        #expect(try Schema.longs(reopened, "metrics", column: "value") == expected)
    }

    @Test func otherWritersOfTheTableWaitUntilTheUpdateIsAppended() async throws {
        let directory = TemporaryDirectory()
        let engine = try Schema.open(directory)
        let schema = try await Schema.create(engine)
        try await Schema.commit(engine, schema, 0..<4)
        let computing = DispatchSemaphore(value: 0)
        let proceed = DispatchSemaphore(value: 0)
        let writerDone = Flag()
        async let updated: Result<Int, StorageError> = engine.update("metrics") { snapshot in
            computing.signal()
            proceed.wait()
            var update = RowUpdate(batch: RowBatch(schema: schema))
            do { try Self.replace(&update, snapshot, part: 0, row: 0, value: 99) } catch { return .failure(error as! StorageError) }
            return .success(update)
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                computing.wait()
                continuation.resume()
            }
        }
        let writer = Task {
            try await Schema.commit(engine, schema, 4..<6)
            writerDone.value.store(true, ordering: .sequentiallyConsistent)
        }
        try await Task.sleep(for: .milliseconds(300))
        let committedEarly = writerDone.value.load(ordering: .sequentiallyConsistent)
        #expect(!committedEarly, "a write to the table committed while an UPDATE held it")
        proceed.signal()
        #expect(try await updated.get() == 1)
        try await writer.value
        #expect(try Schema.longs(engine, "metrics", column: "value") == [99, 11, 21, 31, 41, 51])
    }

    @Test func anUpdateNamingAPartTheTableDoesNotHaveFailsLoudly() async throws {
        let directory = TemporaryDirectory()
        let engine = try Schema.open(directory)
        let schema = try await Schema.create(engine)
        try await Schema.commit(engine, schema, 0..<4)
        await #expect(throws: StorageError.self) { try await Self.update(engine, [(0, 1, -1)], staleRowCount: true) }
        #expect(engine.suspension(ofTable: "metrics") != nil)
    }
}

private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
