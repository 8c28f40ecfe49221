// Proves DETACH/ATTACH PARTITION at the storage layer (decision 0022): a detached partition
// leaves the table into `<name>.detached/`, comes back from `<name>.attachable` with columns
// added meanwhile reading NULL, survives restarts on both sides of the trip, and is refused
// when it is not the partition the record names, when the table has that partition again, or
// when nothing is there to attach.
import Glibc
import Storage
import Testing
import TestSupport

@Suite struct PartitionDetachTests {
    static func tableDirectory(_ directory: TemporaryDirectory, _ engine: StorageEngine) throws -> String {
        let schema = try #require(engine.schema(named: "metrics"))
        return directory.path + "/db/" + TableStore.directoryName(for: schema)
    }

    static func exists(_ path: String) -> Bool {
        var isDirectory = false
        return DurableFile.exists(path, isDirectory: &isDirectory)
    }

    static let hourOne = StorageEngineSchemaTests.hour

    @Test func aDetachedPartitionLeavesAndComesBackFromAttachable() async throws {
        let directory = TemporaryDirectory()
        var engine = try StorageEngineSchemaTests.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<12)  // hours 0, 1, 2: four rows each
        let all = (0..<12).map { Int64($0 * 10 + 1) }

        #expect(try await engine.detachPartitions("metrics") { $0 == Self.hourOne } == 1)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == Array(all[0..<4] + all[8..<12]))
        let table = try Self.tableDirectory(directory, engine)
        #expect(Self.exists(table + "/1970-01-01T01.detached/_detached"))
        // A second DETACH of the same period waits until the first copy is moved away.
        try await StorageEngineSchemaTests.commit(engine, schema, 5..<6)
        await #expect(throws: StorageError.self) { try await engine.detachPartitions("metrics") { $0 == Self.hourOne } }
        try await engine.dropPartitions("metrics") { $0 == Self.hourOne }

        // The detached copy survives a restart (it is not a leftover of an unfinished write).
        try engine.checkpoint()
        engine = try StorageEngineSchemaTests.open(directory)
        #expect(Self.exists(table + "/1970-01-01T01.detached/_detached"))

        // ATTACH wants the operator's `.attachable`; then the rows come back in time order,
        // and a column added meanwhile reads NULL for them.
        await #expect(throws: StorageError.self) { try await engine.attachPartitions("metrics", timestamps: [Self.hourOne]) }
        _ = try await engine.alterTable("metrics") { schema throws(SchemaError) in try schema.addColumn(name: "extra", type: .long) }
        #expect(rename(table + "/1970-01-01T01.detached", table + "/1970-01-01T01.attachable") == 0)
        try await engine.attachPartitions("metrics", timestamps: [Self.hourOne])
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == all)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "extra").filter { $0 != Int64.min }.isEmpty)
        #expect(!Self.exists(table + "/1970-01-01T01.attachable"))
        // Attached rows take writes like any others, and everything survives a restart.
        try await StorageEngineSchemaTests.commit(engine, try #require(engine.schema(named: "metrics")), 12..<13)
        try engine.checkpoint()
        engine = try StorageEngineSchemaTests.open(directory)
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == all + [121])
    }

    @Test func attachRefusesAPartitionTheTableHasAndAForeignCopy() async throws {
        let directory = TemporaryDirectory()
        let engine = try StorageEngineSchemaTests.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<12)
        try await engine.detachPartitions("metrics") { $0 == Self.hourOne }
        let table = try Self.tableDirectory(directory, engine)
        #expect(rename(table + "/1970-01-01T01.detached", table + "/1970-01-01T01.attachable") == 0)

        // Rows written into that hour meanwhile: the table has the partition again.
        try await StorageEngineSchemaTests.commit(engine, schema, 5..<6)
        await #expect(throws: StorageError.self) { try await engine.attachPartitions("metrics", timestamps: [Self.hourOne]) }
        try await engine.dropPartitions("metrics") { $0 == Self.hourOne }

        // A damaged manifest is refused before anything is written.
        let manifest = table + "/1970-01-01T01.attachable/_detached"
        let original = try #require(try DurableFile.read(manifest, maxBytes: 1 << 20))
        try DurableFile.replace(manifest, with: original.map { $0 == UInt8(ascii: "4") ? UInt8(ascii: "5") : $0 }, io: .system)
        await #expect(throws: StorageError.self) { try await engine.attachPartitions("metrics", timestamps: [Self.hourOne]) }
        #expect(engine.suspension(ofTable: "metrics") == nil)
        try DurableFile.replace(manifest, with: original, io: .system)
        try await engine.attachPartitions("metrics", timestamps: [Self.hourOne])
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value").count == 12)

        // Nothing to attach at all.
        await #expect(throws: StorageError.self) { try await engine.attachPartitions("metrics", timestamps: [5 * Self.hourOne]) }
    }

    @Test func aDetachRecordRoundTripsThroughTheWAL() throws {
        let identity = DetachedPartition.Identity(timestamp: 3_600_000_000, rowCount: 42, digest: 0xDEAD_BEEF)
        for change in [SchemaChange.detachPartitions(tableID: 7, timestamps: [1, 2]), .attachPartitions(tableID: 7, partitions: [identity])] {
            #expect(try SchemaChange.decode(change.encoded(), txn: 1) == change)
        }
        var truncated = SchemaChange.attachPartitions(tableID: 7, partitions: [identity]).encoded()
        truncated.removeLast()
        #expect(throws: StorageError.self) { try SchemaChange.decode(truncated, txn: 1) }
    }
}

@Suite struct ReplicatedDetachTests {
    static func table(_ directory: TemporaryDirectory, _ engine: StorageEngine) throws -> String {
        try PartitionDetachTests.tableDirectory(directory, engine)
    }

    /// A replica detaches its own copy, attaches it back without an `.attachable` of its own,
    /// and refuses (suspending the table, saying what it needs) when its copy is gone — until
    /// the copy is put in place and the table resumes.
    @Test func replicasAttachTheirOwnCopyOrSayWhatTheyNeed() async throws {
        let primaryDirectory = TemporaryDirectory(), replicaDirectory = TemporaryDirectory()
        let primary = try ReplicatedAppendTests.open(primaryDirectory, role: .primary)
        let replica = try ReplicatedAppendTests.open(replicaDirectory, role: .replica)
        func ship() async throws {
            let last = try await replica.appendReplicated(try ReplicatedAppendTests.shipped(primary, from: replica.wal.nextTxn))
            await replica.waitUntilApplied(last)
        }
        let schema = try await StorageEngineSchemaTests.create(primary)
        try await StorageEngineSchemaTests.commit(primary, schema, 0..<12)
        let all = (0..<12).map { Int64($0 * 10 + 1) }
        let hourOne = PartitionDetachTests.hourOne, hourTwo = 2 * PartitionDetachTests.hourOne
        try await primary.detachPartitions("metrics") { $0 == hourOne || $0 == hourTwo }
        try await ship()
        #expect(try StorageEngineSchemaTests.longs(replica, "metrics", column: "value") == Array(all[0..<4]))
        let primaryTable = try Self.table(primaryDirectory, primary), replicaTable = try Self.table(replicaDirectory, replica)
        for hour in ["01", "02"] {
            #expect(PartitionDetachTests.exists("\(replicaTable)/1970-01-01T\(hour).detached/_detached"))
            #expect(rename("\(primaryTable)/1970-01-01T\(hour).detached", "\(primaryTable)/1970-01-01T\(hour).attachable") == 0)
        }

        // Hour 1: the replica attaches the copy its own DETACH kept.
        try await primary.attachPartitions("metrics", timestamps: [hourOne])
        try await ship()
        #expect(replica.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.longs(replica, "metrics", column: "value") == Array(all[0..<8]))

        // Hour 2: the replica's copy was archived away; it suspends the table naming the file.
        let archived = replicaDirectory.path + "/archived"
        #expect(rename("\(replicaTable)/1970-01-01T02.detached", archived) == 0)
        try await primary.attachPartitions("metrics", timestamps: [hourTwo])
        try await ship()
        let reason = try #require(replica.suspension(ofTable: "metrics"))
        #expect(reason.contains("1970-01-01T02.attachable"))
        #expect(rename(archived, "\(replicaTable)/1970-01-01T02.attachable") == 0)
        try await replica.resumeWAL("metrics", fromTxn: nil)
        #expect(try StorageEngineSchemaTests.longs(replica, "metrics", column: "value") == all)
        #expect(try StorageEngineSchemaTests.longs(primary, "metrics", column: "value") == all)
    }
}
