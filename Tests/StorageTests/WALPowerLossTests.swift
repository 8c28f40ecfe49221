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

    /// The same with purges between rounds of commits, so new segments reuse purged ones
    /// (decision 0030): a cut may undo writes into a reused file (its former records return)
    /// and renames either way; every acknowledged commit past the purges survives, and no
    /// former record passes for a current one.
    @Test func everyCutKeepsEveryAcknowledgedCommitInReusedSegments() async throws {
        let configuration = WALConfiguration(segmentSizeBytes: 3_000, recycledSegments: 3)
        func run(_ log: WriteAheadLog) async -> (acknowledged: [UInt64: [UInt8]], purgedThrough: UInt64) {
            var acknowledged: [UInt64: [UInt8]] = [:]
            var purgedThrough: UInt64 = 0
            for round in 0..<3 {
                acknowledged.merge(await Self.workload(log)) { $1 }
                guard round < 2, log.durableTxn > 6 else { continue }
                // Whatever a failing purge did (some files renamed or removed), the next open
                // may drop everything up to here (`obsoleteThrough`, as the engine passes).
                purgedThrough = log.durableTxn - 6
                _ = try? log.purge(through: purgedThrough)
            }
            return (acknowledged, purgedThrough)
        }
        let probe = PowerLossIO()
        do {
            let directory = TemporaryDirectory(inMemory: true)
            let log = try WriteAheadLog(directory: directory.path, configuration: configuration, io: probe.io)
            let (_, purgedThrough) = await run(log)
            #expect(purgedThrough > 0 && log.spareCount < 3, "the workload should purge and reuse segments")
        }
        let total = probe.operations
        var random = SplitMix64(seed: 7)
        for cutAfter in 0...total {
            for image in 0..<2 {
                let directory = TemporaryDirectory(inMemory: true)
                let power = PowerLossIO(cutAfter: cutAfter)
                var outcome: (acknowledged: [UInt64: [UInt8]], purgedThrough: UInt64) = ([:], 0)
                do {
                    let log = try WriteAheadLog(directory: directory.path, configuration: configuration, io: power.io)
                    outcome = await run(log)
                    power.cut(using: &random)
                    withExtendedLifetime(log) {}
                }
                let reopened = try WriteAheadLog(
                    directory: directory.path, configuration: configuration, obsoleteThrough: outcome.purgedThrough)
                let label = "cut after \(cutAfter) of \(total) operations, image \(image)"
                let first = reopened.segments.first?.firstTxn ?? reopened.nextTxn
                let survivors = try WriteAheadLogTests.readAll(reopened, from: first)
                #expect(survivors.map(\.txn) == (0..<survivors.count).map { first + UInt64($0) }, "\(label): txns not dense")
                let found = Dictionary(uniqueKeysWithValues: survivors.map { ($0.txn, $0.payload) })
                for (txn, payload) in outcome.acknowledged where txn > outcome.purgedThrough {
                    #expect(found[txn] == payload, "\(label): acknowledged txn \(txn) lost or changed")
                }
                _ = try await reopened.commit(kind: .opaque, epoch: 0, payload: [1, 2, 3])
            }
        }
    }
}
