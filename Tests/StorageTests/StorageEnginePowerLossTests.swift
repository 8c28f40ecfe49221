// Simulated power loss for the whole storage engine (WAL, column files, symbol dictionaries, _txn): after a cut at any point, reopening shows exactly a prefix of the committed batches that includes every acknowledged one.
import Storage
import Testing
import TestSupport

@Suite struct StorageEnginePowerLossTests {
    typealias Row = ModelRow

    static let hour: Int64 = 3_600_000_000
    static let request = TableSchema(
        tableID: 0, name: "power",
        columns: ModelRow.columns, designatedTimestamp: 4, partitionBy: .hour)

    /// 24 batches: mostly in order, some reaching up to three hours back (partition rewrites).
    static func batches() -> [[Row]] {
        var random = SplitMix64(seed: 99)
        var value: Int64 = 0
        var end: Int64 = 0
        return (0..<24).map { _ in
            (0..<Int.random(in: 1...12, using: &random)).map { _ in
                value += 1
                end += Int64.random(in: 0...(hour / 3), using: &random)
                let late = Int.random(in: 0..<10, using: &random) < 3
                let ts = late ? max(0, end - Int64.random(in: 0...(3 * hour), using: &random)) : end
                let sym = Int.random(in: 0..<4, using: &random)
                return Row(ts: ts, sym: sym == 3 ? nil : "s\(sym)", value: value, note: value % 5 == 0 ? nil : "n\(value)")
            }
        }
    }

    static func model(_ batches: ArraySlice<[Row]>) -> [Row] {
        ModelRow.sortedByTime(batches.flatMap { $0 })
    }

    static func configuration(_ io: StorageIO) -> StorageConfiguration {
        var configuration = StorageConfiguration(wal: WALConfiguration(segmentSizeBytes: 8_192), checkpointEveryTxns: 3)
        configuration.io = io
        // Parts of a few rows: late batches split and squash partitions under the cuts too.
        configuration.outOfOrder = OutOfOrderPolicy(splitMinRows: 3, squashFanIn: 2, maxParts: 3)
        return configuration
    }

    /// Commits the batches in order until one fails; returns how many were acknowledged.
    static func run(_ engine: StorageEngine, _ batches: [[Row]]) async -> Int {
        guard let schema = try? await engine.createTable(request) else { return 0 }
        var acknowledged = 0
        for rows in batches {
            guard let batch = try? ModelRow.batch(rows, schema: schema), let txn = try? await engine.commit(batch) else { break }
            await engine.waitUntilApplied(txn)
            acknowledged += 1
        }
        return acknowledged
    }

    static func read(_ engine: StorageEngine) throws -> [Row] {
        try engine.snapshot(ofTable: "power").map(ModelRow.read) ?? []
    }

    @Test func everyCutLeavesExactlyACommittedPrefix() async throws {
        let batches = Self.batches()
        try await Self.sweepCuts(seed: 7, steps: batches.count, run: { engine in await Self.run(engine, batches) }, uncut: { engine in
            // The cuts must meet split parts, not only rewrites.
            #expect(engine.snapshot(ofTable: "power")?.partitions.contains { $0.state.isSplit } == true)
        }) { engine, acknowledged, label in
            let rows = try Self.read(engine)
            let prefix = (acknowledged...batches.count).first { Self.model(batches[..<$0]) == rows }
            #expect(prefix != nil, "\(label): \(acknowledged) acknowledged, table has \(rows.count) rows matching no committed prefix")
        }
    }

    /// Runs a workload of `steps` steps (`run`: how many were acknowledged) once without a cut
    /// (all must be; then `uncut` looks at the result) to count its write-path operations, then again for
    /// each cut point: power fails after that many operations, `images` random disk images
    /// each, and `check` sees the reopened engine with the number of acknowledged steps.
    /// About 250 cut points × 2 images per `swift test` (≥ 500 cuts per workload; with two
    /// workloads RELIABILITY §6.1 D3's CI size of 1 000); `SUNDIAL_POWER_CUT_STEP=1` cuts after
    /// every operation and `SUNDIAL_POWER_CUT_IMAGES=n` takes n images (the campaigns in
    /// Docs/reliability.md).
    static func sweepCuts(
        seed: UInt64, steps: Int, run: (StorageEngine) async -> Int, uncut: (StorageEngine) throws -> Void,
        check: (_ engine: StorageEngine, _ acknowledged: Int, _ label: String) throws -> Void
    ) async throws {
        let probe = PowerLossIO()
        do {
            let directory = TemporaryDirectory(inMemory: true)
            let layout = DataDirectory(root: directory.path)
            let opened = try layout.open(initialRole: .standalone)
            let engine = try StorageEngine(layout: layout, configuration: Self.configuration(probe.io))
            #expect(await run(engine) == steps)
            engine.waitForApplier()
            try uncut(engine)
            withExtendedLifetime(opened) {}
        }
        let total = probe.operations
        #expect(total > 100)
        var random = SplitMix64(seed: seed)
        let step = ProcessEnvironment.integer("SUNDIAL_POWER_CUT_STEP") ?? max(1, total / 250)
        let images = ProcessEnvironment.integer("SUNDIAL_POWER_CUT_IMAGES") ?? 2
        var cuts = 0
        for cutAfter in stride(from: 0, through: total, by: step) {
            for image in 0..<images {
                cuts += 1
                let directory = TemporaryDirectory(inMemory: true)
                let layout = DataDirectory(root: directory.path)
                let power = PowerLossIO(cutAfter: cutAfter)
                var acknowledged = 0
                do {
                    let opened = try layout.open(initialRole: .standalone)
                    let engine = try StorageEngine(layout: layout, configuration: Self.configuration(power.io))
                    acknowledged = await run(engine)
                    engine.waitForApplier()
                    power.cut(using: &random)
                    withExtendedLifetime(opened) {}
                }
                let opened = try layout.open(initialRole: .standalone)
                let engine = try StorageEngine(layout: layout, configuration: StorageConfiguration())
                try check(engine, acknowledged, "cut after \(cutAfter) of \(total) operations, image \(image)")
                withExtendedLifetime(opened) {}
            }
        }
        if step > 1 { #expect(cuts >= 500) }
    }
}

@Suite struct StorageEngineCompoundCrashTests {
    /// A second power cut while the first crash is being recovered (replay and its checkpoint)
    /// must still end in a committed prefix with every acknowledged batch.
    @Test func aCrashDuringRecoveryIsSurvivedToo() async throws {
        typealias Cuts = StorageEnginePowerLossTests
        let batches = Cuts.batches()
        var random = SplitMix64(seed: 11)
        for cutAfter in stride(from: 40, through: 400, by: 45) {
            let directory = TemporaryDirectory(inMemory: true)
            let layout = DataDirectory(root: directory.path)
            var acknowledged = 0
            do {
                let first = PowerLossIO(cutAfter: cutAfter)
                let opened = try layout.open(initialRole: .standalone)
                let engine = try StorageEngine(layout: layout, configuration: Cuts.configuration(first.io))
                acknowledged = await Cuts.run(engine, batches)
                engine.waitForApplier()
                first.cut(using: &random)
                withExtendedLifetime(opened) {}
            }
            for secondCut in [1, 5, 20] {
                let second = PowerLossIO(cutAfter: secondCut)
                let opened = try layout.open(initialRole: .standalone)
                // Recovery itself may fail once the power is gone: that is the point.
                if let engine = try? StorageEngine(layout: layout, configuration: Cuts.configuration(second.io)) {
                    engine.waitForApplier()
                }
                second.cut(using: &random)
                withExtendedLifetime(opened) {}
            }
            let opened = try layout.open(initialRole: .standalone)
            let engine = try StorageEngine(layout: layout, configuration: StorageConfiguration())
            let rows = try Cuts.read(engine)
            let prefix = (acknowledged...batches.count).first { Cuts.model(batches[..<$0]) == rows }
            #expect(prefix != nil, "first cut after \(cutAfter): \(acknowledged) acknowledged, \(rows.count) rows match no prefix")
            withExtendedLifetime(opened) {}
        }
    }
}
