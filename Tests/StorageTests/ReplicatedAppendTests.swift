// Proves a replica's storage path: records copied from a primary's WAL keep their txn numbers,
// follow schema changes, apply to the same rows, skip replays, refuse gaps, and client writes are
// refused by role while replication's writes are not.
import Storage
import Testing
import TestSupport

@Suite struct ReplicatedAppendTests {
    static func open(_ directory: TemporaryDirectory, role: NodeRole) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: role)
        return try StorageEngine(layout: layout, configuration: StorageConfiguration(), role: role)
    }

    /// The primary's records from `txn` on, as replication ships them.
    static func shipped(_ engine: StorageEngine, from txn: UInt64) throws -> [UInt8] {
        let reader = try WALReader(log: engine.wal, from: txn)
        var bytes: [UInt8] = []
        while try reader.next(appendingTo: &bytes) != nil {}
        return bytes
    }

    @Test func aReplicaAppliesThePrimarysRecordsWithTheSameTxns() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try Self.open(primaryDirectory, role: .primary)
        let replica = try Self.open(replicaDirectory, role: .replica)
        let schema = try await primary.createTable(StorageEngineTests.request())
        _ = try await primary.commit(try StorageEngineTests.batch(schema, 0..<50))
        let altered = try await primary.alterTable("sensors") { (schema) throws(SchemaError) in
            _ = try schema.addColumn(name: "extra", type: .long)
        }
        let last = try await primary.commit(try StorageEngineTests.batch(altered, 50..<80))

        let records = try Self.shipped(primary, from: 1)
        // Shipped in two pieces, the second overlapping the first: the replay part is skipped.
        let reader = try WALReader(log: primary.wal, from: 1)
        var first: [UInt8] = []
        _ = try reader.next(appendingTo: &first)
        _ = try reader.next(appendingTo: &first)
        #expect(try await replica.appendReplicated(first) == 2)
        #expect(try await replica.appendReplicated(records) == last)
        await replica.waitUntilApplied(last)

        #expect(replica.wal.nextTxn == primary.wal.nextTxn)
        #expect(replica.schema(named: "sensors")?.column(named: "extra") != nil)
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "sensors"))
            == (try StorageEngineTests.values(primary.snapshot(ofTable: "sensors"))))
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "sensors")) == (0..<80).map(Double.init))
    }

    /// A backlog — a replica catching up, shipped many commits at once — is applied run by run
    /// with the next run decoded while one is written (decision 0044): two tables' commits
    /// interleaved in runs of several, and a schema change among them, give the primary's rows.
    @Test func aBacklogDecodesTheNextRunWhileOneIsWritten() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try Self.open(primaryDirectory, role: .primary)
        let replica = try Self.open(replicaDirectory, role: .replica)
        var a = try await primary.createTable(StorageEngineTests.request("a"))
        let b = try await primary.createTable(StorageEngineTests.request("b"))
        var last: UInt64 = 0
        var row = 0
        for round in 0..<6 {
            for _ in 0..<3 {
                last = try await primary.commit(try StorageEngineTests.batch(a, row..<row + 40))
                row += 40
            }
            for _ in 0..<2 { last = try await primary.commit(try StorageEngineTests.batch(b, (row - 40)..<row)) }
            if round == 3 {
                a = try await primary.alterTable("a") { (schema) throws(SchemaError) in _ = try schema.addColumn(name: "extra", type: .long) }
            }
        }
        #expect(try await replica.appendReplicated(try Self.shipped(primary, from: 1)) == last)
        await replica.waitUntilApplied(last)
        #expect(replica.runsDecodedAhead > 0)
        for table in ["a", "b"] {
            #expect(try StorageEngineTests.values(replica.snapshot(ofTable: table))
                == (try StorageEngineTests.values(primary.snapshot(ofTable: table))))
        }
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "a")).count == 6 * 3 * 40)
    }

    @Test func startSyncMakesAppendedRecordsDurableWithNobodyWaiting() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try Self.open(primaryDirectory, role: .primary)
        let replica = try Self.open(replicaDirectory, role: .replica)
        let schema = try await primary.createTable(StorageEngineTests.request())
        let last = try await primary.commit(try StorageEngineTests.batch(schema, 0..<10))
        let run = try VerifiedWALRecords.verify(
            try Self.shipped(primary, from: 1), maxRecordBytes: replica.wal.configuration.maxRecordBytes,
            invalid: { offset, reason in StorageError(.corrupt, path: "test", "record at \(offset): \(reason)") })
        #expect(try replica.appendReplicatedRecords(run) == last)
        #expect(replica.wal.durableTxn < last)
        replica.wal.startSync()
        // No `waitDurable`: the round started by `startSync` alone brings the position forward.
        for _ in 0..<500 where replica.wal.durableTxn < last { try await Task.sleep(for: .milliseconds(10)) }
        #expect(replica.wal.durableTxn == last)
        // Nothing left to sync: a second call starts no round, and waiting returns at once.
        replica.wal.startSync()
        try await replica.replicatedDurable(last)
        await replica.waitUntilApplied(last)
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "sensors")) == (0..<10).map(Double.init))
    }

    @Test func clientWritesAreRefusedByRoleAndAGapIsRefused() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try Self.open(primaryDirectory, role: .primary)
        let replica = try Self.open(replicaDirectory, role: .replica)
        let error = await #expect(throws: StorageError.self) { try await replica.createTable(StorageEngineTests.request()) }
        #expect(error?.code == .readOnly)
        let schema = try await primary.createTable(StorageEngineTests.request())
        _ = try await primary.commit(try StorageEngineTests.batch(schema, 0..<5))
        // Txn 2 without txn 1: nothing is appended.
        let gap = await #expect(throws: StorageError.self) { try await replica.appendReplicated(try Self.shipped(primary, from: 2)) }
        #expect(gap?.code == .corrupt)
        #expect(replica.wal.nextTxn == 1)
        // A damaged last record: every record is verified before the first is appended.
        var damaged = try Self.shipped(primary, from: 1)
        damaged[damaged.count - 1] ^= 0x10
        let refusedDamage = await #expect(throws: StorageError.self) { try await replica.appendReplicated(damaged) }
        #expect(refusedDamage?.message.contains("invalid") == true)
        #expect(replica.wal.nextTxn == 1)
        _ = try await replica.appendReplicated(try Self.shipped(primary, from: 1))
        let replicaSchema = try #require(replica.schema(named: "sensors"))
        let refused = await #expect(throws: StorageError.self) {
            try await replica.commit(try StorageEngineTests.batch(replicaSchema, 0..<1))
        }
        #expect(refused?.code == .readOnly)
        // Promotion (later) flips the role; writes then pass.
        replica.setRole(.primary)
        _ = try await replica.commit(try StorageEngineTests.batch(replicaSchema, 5..<6))
    }

    @Test func aReaderSkipsRecordsByTheirHeadersAndGoesOnExactly() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, role: .primary)
        let schema = try await engine.createTable(StorageEngineTests.request())
        for chunk in 0..<4 { _ = try await engine.commit(try StorageEngineTests.batch(schema, chunk * 5..<(chunk + 1) * 5)) }
        let reader = try WALReader(log: engine.wal, from: 1)
        try reader.skip(through: 3)
        #expect(try reader.next()?.txn == 4)
        let error = #expect(throws: StorageError.self) { try reader.skip(through: 99) }
        #expect(error?.code == .limitExceeded)
    }

    /// Promotion: the fork point is durable in `node/epochs`, the epoch-change record is its first
    /// txn, later writes carry the new epoch, and a replica of the promoted node learns the fork
    /// point from the records it receives.
    @Test func promotionRecordsTheForkPointAndReplicasLearnIt() async throws {
        let oldDirectory = TemporaryDirectory(), promotedDirectory = TemporaryDirectory(), followerDirectory = TemporaryDirectory()
        let old = try Self.open(oldDirectory, role: .primary)
        let promoted = try Self.open(promotedDirectory, role: .replica)
        let schema = try await old.createTable(StorageEngineTests.request())
        _ = try await old.commit(try StorageEngineTests.batch(schema, 0..<5))
        try await promoted.appendReplicated(try Self.shipped(old, from: 1))
        let before = promoted.wal.nextTxn

        let error = await #expect(throws: StorageError.self) { try await promoted.promote(toEpoch: 0) }
        #expect(error?.code == .notWritable)
        let fork = try await promoted.promote(toEpoch: 1)
        #expect(fork == EpochHistory.Fork(epoch: 1, firstTxn: before))
        #expect(promoted.role == .primary)
        let txn = try await promoted.commit(try StorageEngineTests.batch(schema, 5..<8))
        let reader = try WALReader(log: promoted.wal, from: fork.firstTxn)
        let change = try #require(try reader.next())
        #expect(change.header.kind == .epochChange && change.header.epoch == 1)
        let write = try #require(try reader.next())
        #expect(write.header.txn == txn && write.header.epoch == 1)
        #expect(try EpochHistory.load(DataDirectory(root: promotedDirectory.path)).forks == [fork])

        // A follower of the promoted node records the same fork point from the stream.
        let follower = try Self.open(followerDirectory, role: .replica)
        try await follower.appendReplicated(try Self.shipped(promoted, from: 1))
        #expect(follower.epochHistory.forks == [fork])
        #expect(try EpochHistory.load(DataDirectory(root: followerDirectory.path)).forks == [fork])
        // Records of the old epoch after the fork can never be appended there.
        _ = try await old.commit(try StorageEngineTests.batch(schema, 100..<101))
        let stale = await #expect(throws: StorageError.self) {
            try await follower.appendReplicated(try Self.shipped(old, from: follower.wal.nextTxn))
        }
        #expect(stale != nil)
        // Reopened, the promoted node still writes epoch 1.
        let reopened = try StorageEngine(layout: DataDirectory(root: promotedDirectory.path), configuration: StorageConfiguration(), role: .primary)
        #expect(reopened.epochHistory.writingEpoch == 1)
    }

    @Test func epochHistoryFileIsVerified() throws {
        var history = EpochHistory()
        try history.append(.init(epoch: 1, firstTxn: 10))
        try history.append(.init(epoch: 4, firstTxn: 10))
        #expect(throws: StorageError.self) { try history.append(.init(epoch: 3, firstTxn: 20)) }
        #expect(throws: StorageError.self) { try history.append(.init(epoch: 5, firstTxn: 9)) }
        #expect(history.writingEpoch == 4)
        #expect(history.fork(after: 0)?.epoch == 1)
        #expect(history.fork(after: 1)?.epoch == 4)
        #expect(history.fork(after: 4) == nil)
        #expect(history.epoch(ofTxn: 9) == 0 && history.epoch(ofTxn: 10) == 4)
        let bytes = history.encoded()
        #expect(try EpochHistory.decode(bytes, path: "e") == history)
        for index in bytes.indices {
            var flipped = bytes
            flipped[index] ^= 0x04
            #expect(throws: StorageError.self) { try EpochHistory.decode(flipped, path: "e") }
        }
        #expect(throws: StorageError.self) { try EpochHistory.decode(Array(bytes.dropLast(3)), path: "e") }
    }

    /// Snapshot bootstrap at the storage level: a snapshot taken while the primary keeps
    /// writing installs into an empty node, which then has the same rows and continues from the
    /// snapshot's txn with the primary's later records.
    @Test func aSnapshotInstallsIntoAnEmptyNodeWhichThenContinuesFromTheWAL() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try Self.open(primaryDirectory, role: .primary)
        let schema = try await primary.createTable(StorageEngineTests.request())
        _ = try await primary.commit(try StorageEngineTests.batch(schema, 0..<40))
        _ = try await primary.promote(toEpoch: 2)
        _ = try await primary.commit(try StorageEngineTests.batch(schema, 40..<60))
        let snapshot = try primary.exportSnapshot()
        defer { snapshot.remove() }
        // Written after the snapshot: appended to the very files the snapshot linked.
        let last = try await primary.commit(try StorageEngineTests.batch(schema, 60..<90))
        await primary.waitUntilApplied(last)
        #expect(snapshot.txn < last && snapshot.history.writingEpoch == 2)
        #expect(snapshot.files.contains { $0.path.hasSuffix("/_txn") && $0.inline != nil })

        let layout = DataDirectory(root: replicaDirectory.path)
        _ = try layout.open(initialRole: .replica)
        #expect(try SnapshotImport.isEmpty(layout))
        var receiver = try SnapshotImport(layout: layout)
        for file in snapshot.files {
            let bytes = try file.inline ?? #require(try DurableFile.read(snapshot.stagedPath(of: file), maxBytes: 1 << 30))
            let exact = Array(bytes.prefix(Int(file.size)))
            try receiver.beginFile(file.path, size: file.size)
            // Split, as frames would.
            try receiver.write(Array(exact.prefix(exact.count / 2)))
            try receiver.write(Array(exact.dropFirst(exact.count / 2)))
            try receiver.endFile(crc: CRC32C.checksum(exact))
        }
        try receiver.install(txn: snapshot.txn, history: snapshot.history)
        #expect(!(try SnapshotImport.isEmpty(layout)))

        let replica = try StorageEngine(layout: layout, configuration: StorageConfiguration(), role: .replica)
        #expect(replica.wal.nextTxn == snapshot.txn + 1)
        #expect(replica.epochHistory == snapshot.history)
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "sensors")) == (0..<60).map(Double.init))
        try await replica.appendReplicated(try Self.shipped(primary, from: snapshot.txn + 1))
        await replica.waitUntilApplied(last)
        #expect(try StorageEngineTests.values(replica.snapshot(ofTable: "sensors")) == (0..<90).map(Double.init))
    }

    @Test func aSnapshotFileIsVerifiedAndItsPathMustStayInside() throws {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/b/c/d/e", "a\u{0}b"] {
            #expect(!SnapshotPath.isSafe(bad), "\(bad)")
        }
        #expect(SnapshotPath.isSafe("trades~1/2024-01-01.3/col0.d"))
        let directory = TemporaryDirectory()
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .replica)
        var receiver = try SnapshotImport(layout: layout)
        #expect(throws: StorageError.self) { try receiver.beginFile("../escape", size: 1) }
        try receiver.beginFile("t~1/_meta", size: 4)
        #expect(throws: StorageError.self) { try receiver.write([1, 2, 3, 4, 5]) }
        try receiver.write([1, 2, 3, 4])
        #expect(throws: StorageError.self) { try receiver.endFile(crc: CRC32C.checksum([1, 2, 3, 5])) }
        try receiver.beginFile("t~1/_txn", size: 2)
        try receiver.write([9])
        #expect(throws: StorageError.self) { try receiver.endFile(crc: CRC32C.checksum([9])) }
    }
}
