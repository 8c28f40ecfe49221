// Proves _txn keeps the last completed state across A/B slots: a torn or damaged newest slot falls back to the previous one.
import Storage
import Testing
import TestSupport

@Suite struct TableTxnFileTests {
    static func state(_ applied: UInt64, partitions: Int = 3) -> TableTxnState {
        var state = TableTxnState()
        state.appliedTxn = applied
        state.schemaVersion = 2
        state.minTimestamp = 1_000
        state.maxTimestamp = 9_000 + Int64(applied)
        state.partitions = (0..<partitions).map { PartitionState(timestamp: Int64($0) * 86_400_000_000, rowCount: UInt64($0 + 1) * applied) }
        if partitions > 0 { state.partitions.append(PartitionState(timestamp: 0, rowCount: 7, version: 2, splitAt: 5_000)) }
        state.symbolCounts = [4: UInt32(applied), 9: 2]
        return state
    }

    static func withoutSequence(_ state: TableTxnState) -> TableTxnState {
        var copy = state
        copy.sequence = 0
        return copy
    }

    @Test func writesAlternateSlotsAndReopenFindsTheNewest() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("_txn")
        do {
            let file = try TableTxnFile(path: path, creatingWith: Self.state(0))
            for applied in 1...5 { try file.write(Self.state(UInt64(applied))) }
            #expect(file.state.sequence == 6)
        }
        let reopened = try TableTxnFile(path: path)
        #expect(Self.withoutSequence(reopened.state) == Self.state(5))
    }

    @Test func damageToTheNewestSlotFallsBackToThePreviousState() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("_txn")
        do {
            let file = try TableTxnFile(path: path, creatingWith: Self.state(0))
            try file.write(Self.state(1))  // slot B
            try file.write(Self.state(2))  // slot A
        }
        let bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        // Every single-byte corruption inside the newest slot's record leaves the older state readable.
        let slotBytes = 4 + 8 * 5 + 4 + 3 * 20 + 4 + 2 * 8 + 4
        for offset in 16..<(16 + slotBytes) {
            var damaged = bytes
            damaged[offset] ^= 0x20
            try DurableFile.replace(path, with: damaged, io: .system)
            let file = try TableTxnFile(path: path)
            #expect(file.state.appliedTxn == 1, "damage at byte \(offset)")
        }
    }

    @Test func aDamagedHeaderOrBothSlotsAreRefused() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("_txn")
        do {
            let file = try TableTxnFile(path: path, creatingWith: Self.state(0))
            try file.write(Self.state(1))
        }
        let bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        for offset in 0..<16 {
            var damaged = bytes
            damaged[offset] ^= 0x01
            try DurableFile.replace(path, with: damaged, io: .system)
            #expect(throws: StorageError.self, "header byte \(offset)") { try TableTxnFile(path: path) }
        }
        var both = bytes
        both[16 + 10] ^= 0x01
        both[16 + 4096 + 10] ^= 0x01
        try DurableFile.replace(path, with: both, io: .system)
        let error = #expect(throws: StorageError.self) { try TableTxnFile(path: path) }
        #expect(error?.code == .corrupt)
    }

    @Test func aStateLargerThanTheSlotGrowsTheFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("_txn")
        do {
            let file = try TableTxnFile(path: path, creatingWith: Self.state(0))
            try file.write(Self.state(1, partitions: 1_000))
            try file.write(Self.state(2, partitions: 1_001))
        }
        let reopened = try TableTxnFile(path: path)
        #expect(Self.withoutSequence(reopened.state) == Self.state(2, partitions: 1_001))
    }

    @Test func aMissingFileIsAnErrorUnlessCreating() {
        let directory = TemporaryDirectory()
        #expect(throws: StorageError.self) { try TableTxnFile(path: directory.appending("_txn")) }
    }

    /// A `_txn` written by format 1 (no split parts) opens, and its first write upgrades the file.
    @Test func aFormatOneFileOpensAndIsUpgradedByTheNextWrite() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("_txn")
        func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        var body = le(UInt64(4)) + le(UInt64(17)) + le(UInt64(2)) + le(Int64(10)) + le(Int64(20))
        body += le(UInt32(1)) + le(Int64(0)) + le(UInt64(3)) + le(UInt32(1))
        body += le(UInt32(0))
        var slot = le(UInt32(body.count)) + body
        slot += le(CRC32C.checksum(slot))
        let capacity = 128
        var header = le(TableTxnFile.magic) + le(UInt16(1)) + le(UInt16(0)) + le(UInt32(capacity))
        header += le(CRC32C.checksum(header))
        let image = header + slot + [UInt8](repeating: 0, count: 2 * capacity - slot.count)
        try DurableFile.replace(path, with: image, io: .system)
        let file = try TableTxnFile(path: path)
        #expect(file.state.appliedTxn == 17)
        #expect(file.state.partitions == [PartitionState(timestamp: 0, rowCount: 3, version: 1)])
        var next = file.state
        next.partitions.append(PartitionState(timestamp: 0, rowCount: 2, splitAt: 9))
        try file.write(next)
        let reopened = try TableTxnFile(path: path)
        #expect(reopened.state.partitions == next.partitions)
        let bytes = try #require(try DurableFile.read(path, maxBytes: 1 << 20))
        #expect(bytes[4] == UInt8(TableTxnFile.formatVersion))
    }
}
