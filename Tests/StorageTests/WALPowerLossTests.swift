// Simulated power loss (RELIABILITY §5.2) for the WAL: cut power after every N-th write-path operation, lose or tear any unsynced write, and check every acknowledged commit survives exactly while nothing unacknowledged shows up damaged.
import Storage
import Testing
import TestSupport

@Suite struct WALPowerLossTests {
    /// Concurrent committers (so group commit rounds cover several records) with large and
    /// small records (so writes span several sectors) over small segments (roll-overs).
    static func workload(_ log: WriteAheadLog) async -> [UInt64: [UInt8]] {
        await withTaskGroup(of: [(UInt64, [UInt8])].self) { group in
            for writer in 0..<3 {
                group.addTask {
                    var acknowledged: [(UInt64, [UInt8])] = []
                    for index in 0..<8 {
                        let payload = [UInt8](repeating: UInt8(writer * 16 + index), count: (index % 3) * 700 + 10)
                        guard let position = try? await log.commit(kind: .opaque, epoch: 0, payload: payload) else {
                            return acknowledged
                        }
                        acknowledged.append((position.txn, payload))
                    }
                    return acknowledged
                }
            }
            var all: [UInt64: [UInt8]] = [:]
            for await acknowledged in group { for (txn, payload) in acknowledged { all[txn] = payload } }
            return all
        }
    }

    @Test func everyCutKeepsEveryAcknowledgedCommit() async throws {
        let probe = PowerLossIO()
        do {
            let directory = TemporaryDirectory(inMemory: true)
            let log = try WriteAheadLog(
                directory: directory.path, configuration: WALConfiguration(segmentSizeBytes: 3_000), io: probe.io)
            _ = await Self.workload(log)
        }
        let total = probe.operations
        #expect(total > 20)
        var random = SplitMix64(seed: 42)
        for cutAfter in 0...total {
            for image in 0..<4 {
                let directory = TemporaryDirectory(inMemory: true)
                let power = PowerLossIO(cutAfter: cutAfter)
                var acknowledged: [UInt64: [UInt8]] = [:]
                do {
                    let log = try WriteAheadLog(
                        directory: directory.path, configuration: WALConfiguration(segmentSizeBytes: 3_000), io: power.io)
                    acknowledged = await Self.workload(log)
                    // Power fails while the files are still open (the undo writes through them).
                    power.cut(using: &random)
                    withExtendedLifetime(log) {}
                }
                let reopened = try WriteAheadLog(directory: directory.path, configuration: WALConfiguration(segmentSizeBytes: 3_000))
                let survivors = try WriteAheadLogTests.readAll(reopened)
                let label = "cut after \(cutAfter) operations, image \(image)"
                #expect(survivors.map(\.txn) == (0..<survivors.count).map { UInt64($0 + 1) }, "\(label): txns not dense")
                let found = Dictionary(uniqueKeysWithValues: survivors.map { ($0.txn, $0.payload) })
                for (txn, payload) in acknowledged {
                    #expect(found[txn] == payload, "\(label): acknowledged txn \(txn) lost or changed")
                }
                // And the log takes writes again after the crash.
                _ = try await reopened.commit(kind: .opaque, epoch: 0, payload: [1, 2, 3])
            }
        }
    }
}
