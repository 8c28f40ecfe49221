// Proves a column type change at the storage layer (decision 0021): every part of every
// partition converts under a new column id at the same place, writes continue in the new type,
// the change survives a restart, replays when it could not be applied (no converter), and a
// conversion interrupted half-way by the disk starts over cleanly on RESUME WAL.
import Glibc
import Storage
import Synchronization
import Testing
import TestSupport

@Suite struct ColumnTypeChangeTests {
    /// LONG → VARCHAR as decimal text; 21 becomes NULL (a value "CAST refuses").
    struct DecimalText: ColumnConverter {
        func convert(
            _ column: ColumnSchema, rows: Range<Int>, of partition: TableSnapshot.Partition, in snapshot: TableSnapshot,
            into batch: RowBatch
        ) throws(StorageError) {
            let mapped = try snapshot.mapColumn(column.id, in: partition)
            mapped.withUnsafeBytes { bytes in
                for row in rows {
                    let value = bytes.loadUnaligned(fromByteOffset: row * 8, as: Int64.self)
                    batch.beginRow()
                    if value == 21 {
                        batch.setNull(0)
                    } else {
                        Array(String(value).utf8).withUnsafeBytes { batch.setBytes(0, $0) }
                    }
                    try? batch.endRow()
                }
            }
        }
    }

    /// A disk that refuses to create the new column's files in the second partition while `failing`.
    final class FlakyDisk: Sendable {
        let failing = Atomic<Bool>(false)

        var io: StorageIO {
            StorageIO(
                pwrite: StorageIO.system.pwrite, fdatasync: StorageIO.system.fdatasync, ftruncate: StorageIO.system.ftruncate,
                create: { [self] path, flags, mode in
                    if failing.load(ordering: .sequentiallyConsistent), path.contains("T01"), path.contains("/col3.") {
                        errno = EIO
                        return -1
                    }
                    return StorageIO.system.create(path, flags, mode)
                })
        }
    }

    static func open(_ directory: TemporaryDirectory, converter: (any ColumnConverter)? = DecimalText(), io: StorageIO = .system) throws -> StorageEngine {
        let layout = DataDirectory(root: directory.path)
        _ = try layout.open(initialRole: .standalone)
        var configuration = StorageConfiguration(checkpointEveryTxns: 1_000)
        configuration.columnConverter = converter
        configuration.io = io
        return try StorageEngine(layout: layout, configuration: configuration)
    }

    /// `value` of rows 0..<10 as the converter writes them (row × 10 + 1, 21 → NULL).
    static let converted: [String?] = (0..<10).map { $0 == 2 ? nil : String($0 * 10 + 1) }

    @Test func everyPartConvertsAndWritesContinueInTheNewType() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<10)  // three hour partitions
        let changed = try await engine.changeColumnType("metrics", column: "VALUE", to: .varchar)

        #expect(changed.columns.map(\.name) == ["value", "ts"])
        #expect(changed.columns[0].type == .varchar && changed.columns[0].id != schema.columns[0].id)
        #expect(try StorageEngineSchemaTests.strings(engine, "metrics", column: "value") == Self.converted)
        // A batch of the old schema is refused; one of the new schema appends in the new type.
        await #expect(throws: StorageError.self) { try await StorageEngineSchemaTests.commit(engine, schema, 10..<11) }
        try await StorageEngineSchemaTests.commit(engine, changed, 10..<12)
        #expect(try StorageEngineSchemaTests.strings(engine, "metrics", column: "value") == Self.converted + ["v10", "v11"])

        try engine.checkpoint()
        let reopened = try Self.open(directory)
        #expect(reopened.schema(named: "metrics") == changed)
        #expect(try StorageEngineSchemaTests.strings(reopened, "metrics", column: "value") == Self.converted + ["v10", "v11"])
    }

    @Test func theSameTypeAndTheDesignatedTimestampAreRefused() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory)
        _ = try await StorageEngineSchemaTests.create(engine)
        await #expect(throws: StorageError.self) { _ = try await engine.changeColumnType("metrics", column: "value", to: .long) }
        await #expect(throws: StorageError.self) { _ = try await engine.changeColumnType("metrics", column: "ts", to: .long) }
        await #expect(throws: StorageError.self) { _ = try await engine.changeColumnType("metrics", column: "nope", to: .long) }
        #expect(engine.schema(named: "metrics")?.version == 1)
    }

    @Test func withoutAConverterTheTableIsSuspendedAndTheChangeReplaysOnOpen() async throws {
        let directory = TemporaryDirectory()
        let engine = try Self.open(directory, converter: nil)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<10)
        await #expect(throws: StorageError.self) { _ = try await engine.changeColumnType("metrics", column: "value", to: .varchar) }
        #expect(engine.suspension(ofTable: "metrics")?.contains("converter") == true)
        try engine.checkpoint()

        // A process that can convert replays the change from the WAL.
        let reopened = try Self.open(directory)
        #expect(reopened.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.strings(reopened, "metrics", column: "value") == Self.converted)
    }

    @Test func aConversionInterruptedByTheDiskStartsOverOnResume() async throws {
        let directory = TemporaryDirectory()
        let disk = FlakyDisk()
        let engine = try Self.open(directory, io: disk.io)
        let schema = try await StorageEngineSchemaTests.create(engine)
        try await StorageEngineSchemaTests.commit(engine, schema, 0..<10)

        disk.failing.store(true, ordering: .sequentiallyConsistent)
        await #expect(throws: StorageError.self) { _ = try await engine.changeColumnType("metrics", column: "value", to: .varchar) }
        #expect(engine.suspension(ofTable: "metrics") != nil)
        // The first partition's new files were written before the failure; readers still see
        // the table as it was.
        #expect(try StorageEngineSchemaTests.longs(engine, "metrics", column: "value") == (0..<10).map { Int64($0 * 10 + 1) })

        disk.failing.store(false, ordering: .sequentiallyConsistent)
        try await engine.resumeWAL("metrics", fromTxn: nil)
        #expect(engine.suspension(ofTable: "metrics") == nil)
        #expect(try StorageEngineSchemaTests.strings(engine, "metrics", column: "value") == Self.converted)
    }
}
