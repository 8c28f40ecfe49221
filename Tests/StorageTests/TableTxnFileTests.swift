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
}
