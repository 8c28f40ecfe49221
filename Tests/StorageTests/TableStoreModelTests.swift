// Model-based test: random in-order, out-of-order and duplicate batches must leave the table equal to a simple in-memory model, also after a crash and replay.
import Storage
import Testing
import TestSupport

@Suite struct TableStoreModelTests {
    typealias Row = ModelRow

    static func schema(dedup: Bool) -> TableSchema {
        TableSchema(
            tableID: 9, name: "model",
            columns: ModelRow.columns,
            designatedTimestamp: 4, partitionBy: .hour, dedupKeys: dedup ? [4, 1] : [])
    }

    static let hour: Int64 = 3_600_000_000

    static func randomBatch(_ random: inout SplitMix64, counter: inout Int64, maxTimestamp: Int64) -> [Row] {
        let count = Int.random(in: 1...40, using: &random)
        let mode = Int.random(in: 0..<3, using: &random)  // 0 in order after the end, 1 anywhere, 2 narrow window (duplicates)
        var rows: [Row] = []
        var ts = max(0, maxTimestamp) + Int64.random(in: 0...hour, using: &random)
        for _ in 0..<count {
            switch mode {
            case 0: ts += Int64.random(in: 0...(hour / 4), using: &random)
            case 1: ts = Int64.random(in: 0...(20 * hour), using: &random)
            default: ts = Int64.random(in: 0...5, using: &random) * hour / 2
            }
            counter += 1
            let sym = Int.random(in: 0..<5, using: &random)
            let note = Int.random(in: 0..<6, using: &random)
            rows.append(Row(
                ts: ts, sym: sym == 4 ? nil : "s\(sym)", value: counter,
                note: note == 5 ? nil : String(repeating: "n", count: note)))
        }
        return rows
    }

    static func batch(_ rows: [Row], schema: TableSchema) throws -> RowBatch {
        try ModelRow.batch(rows, schema: schema)
    }

    /// The model: append, replace duplicates (with dedup), then a stable sort by timestamp.
    static func apply(_ rows: [Row], to model: inout [Row], dedup: Bool) {
        for row in rows {
            if dedup { model.removeAll { $0.ts == row.ts && $0.sym == row.sym } }
            model.append(row)
        }
        model = ModelRow.sortedByTime(model)
    }

    static func read(_ snapshot: TableSnapshot) throws -> [Row] {
        try ModelRow.read(snapshot)
    }

    /// The default policy (parts this small are always rewritten) and one that splits and
    /// squashes parts of a few rows, so both out-of-order paths meet every batch shape.
    static let policies = [OutOfOrderPolicy(), OutOfOrderPolicy(splitMinRows: 2, squashFanIn: 2, maxParts: 3)]

    @Test(arguments: [(false, UInt64(1)), (true, 2), (false, 3), (true, 4)], policies)
    func randomBatchesMatchTheModel(run: (dedup: Bool, seed: UInt64), policy: OutOfOrderPolicy) throws {
        let (dedup, seed) = run
        let schema = Self.schema(dedup: dedup)
        var random = SplitMix64(seed: seed)
        var counter: Int64 = 0
        var model: [Row] = []
        var checkpointedModel: [Row] = []
        var sinceCheckpoint: [[Row]] = []
        let directory = TemporaryDirectory()
        var tableDirectory = ""
        var txn: UInt64 = 1
        do {
            let store = try TableStore.create(in: directory.path, schema: schema, txn: txn)
            store.outOfOrder = policy
            tableDirectory = store.directory
            for step in 0..<60 {
                let rows = Self.randomBatch(&random, counter: &counter, maxTimestamp: model.last?.ts ?? 0)
                txn += 1
                try store.apply(try Self.batch(rows, schema: schema), txn: txn)
                Self.apply(rows, to: &model, dedup: dedup)
                sinceCheckpoint.append(rows)
                let actual = try Self.read(store.snapshot())
                #expect(actual == model, "after step \(step)")
                if actual != model { return }
                if step % 13 == 12 {
                    try store.checkpoint()
                    checkpointedModel = model
                    sinceCheckpoint = []
                }
            }
        }
        // Crash: everything since the last checkpoint is gone from the files; replaying it restores the table.
        let reopened = try TableStore(directory: tableDirectory)
        reopened.outOfOrder = policy
        #expect(try Self.read(reopened.snapshot()) == checkpointedModel)
        var replayTxn = reopened.state.appliedTxn
        for rows in sinceCheckpoint {
            replayTxn += 1
            try reopened.apply(try Self.batch(rows, schema: schema), txn: replayTxn)
        }
        #expect(try Self.read(reopened.snapshot()) == model)
    }
}
