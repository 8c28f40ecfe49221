import Dispatch
import Storage

/// What one scan has aggregated so far: its groups, key dictionaries and aggregate states.
struct Accumulation {
    var table: GroupTable
    var atomizers: [KeyAtomizer]
    var samples: [ColumnVector?]
    var aggregators: [Aggregator]
    var sampling: Sampling?

    /// Whether two accumulations over consecutive rows can be merged into one.
    var isMergeable: Bool {
        aggregators.allSatisfy(\.isMergeable) && (sampling?.originIsFixed ?? true)
    }
}

/// The per-batch aggregation loop, run on one scan or on several in parallel (merged after).
///
/// Unchecked Sendable: its expressions are immutable values read by every thread; the one
/// kind with shared mutable state (a compiled `Regex`) keeps a query on one thread
/// (`BoundExpression.usesRegex`).
struct Accumulator: @unchecked Sendable {
    let keys: [BoundExpression]
    let arguments: [BoundExpression?]
    let timestampIndex: Int?
    let context: QueryContext

    func run(_ source: any RowSource, remaining: BoundExpression?, into state: inout Accumulation) throws(SQLError) {
        while let batch = try source.next() {
            try context.check()
            guard var filtered = try QueryExecutor.filter(batch, remaining, firstRow: source.firstRow) else { continue }
            if let range = state.sampling?.rowRange, let timestampIndex {
                let mask = filtered.columns[timestampIndex].integers.map { range.contains($0) }
                let selected = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
                if selected == 0 { continue }
                if selected < filtered.count {
                    filtered = ColumnBatch(columns: filtered.columns.map { $0.count == 0 ? $0 : $0.filter(mask, selected: selected) }, count: selected)
                }
            }
            let evaluator = ExpressionEvaluator(batch: filtered, firstRow: source.firstRow)
            var atoms: [[Int64]] = []
            for (index, key) in keys.enumerated() {
                let vector = try evaluator.evaluate(key)
                if state.samples[index] == nil { state.samples[index] = vector.slice(0..<0) }
                atoms.append(state.atomizers[index].atoms(vector))
            }
            if var sampling = state.sampling, let timestampIndex {
                atoms.append(sampling.buckets(filtered.columns[timestampIndex].integers))
                state.sampling = sampling
            }
            let groups = state.table.groups(atoms, rows: filtered.count)
            for index in state.aggregators.indices {
                let values = try arguments[index].map { (e) throws(SQLError) in try evaluator.evaluate(e) }
                if let x = state.aggregators[index].secondArgument, let values {
                    let xs = try evaluator.evaluate(x)
                    state.aggregators[index].update(groups: groups, groupCount: state.table.count, y: values, x: xs, xType: x.type)
                } else {
                    state.aggregators[index].update(groups: groups, groupCount: state.table.count, values: values)
                }
            }
            try context.checkMemory(
                state.table.count * (state.table.width * 8 + state.aggregators.count * 24 + 16)
                    + state.aggregators.reduce(0) { $0 + $1.heldBytes })
        }
    }

    /// One scan per thread over consecutive row ranges, merged in row order.
    func runParallel(_ scans: [TableScan], initial: Accumulation) throws(SQLError) -> Accumulation {
        let shards = scans.map { Shard(scan: $0, state: initial) }
        DispatchQueue.concurrentPerform(iterations: shards.count) { index in
            let shard = shards[index]
            do throws(SQLError) {
                try run(shard.scan, remaining: nil, into: &shard.state)
            } catch {
                shard.error = error
                context.cancel()
            }
        }
        if let error = shards.compactMap(\.error).first(where: { $0.code != .cancelled }) ?? shards.compactMap(\.error).first {
            throw error
        }
        var merged = shards[0].state
        for shard in shards.dropFirst() { merge(shard.state, into: &merged) }
        return merged
    }

    /// Adds `later` (an accumulation over rows after `state`'s) into `state`.
    private func merge(_ later: Accumulation, into state: inout Accumulation) {
        let groupCount = later.table.count
        guard groupCount > 0 else { return }
        var atoms: [[Int64]] = []
        for index in keys.indices {
            let sample = later.samples[index] ?? state.samples[index]
            let vector = later.atomizers[index].vector(later.table.atoms(column: index), from: sample)
            if state.samples[index] == nil { state.samples[index] = sample }
            atoms.append(state.atomizers[index].atoms(vector))
        }
        if later.table.width > keys.count { atoms.append(later.table.atoms(column: keys.count)) }
        let mapping = state.table.width == 0 ? [Int32](repeating: 0, count: max(groupCount, 1)) : state.table.groups(atoms, rows: groupCount)
        let total = max(state.table.count, 1)
        for index in state.aggregators.indices {
            state.aggregators[index].merge(later.aggregators[index], mapping: mapping, groupCount: total)
        }
    }

    /// One thread's scan and state (a box, so each thread writes only its own).
    final class Shard: @unchecked Sendable {
        let scan: TableScan
        var state: Accumulation
        var error: SQLError?

        init(scan: TableScan, state: Accumulation) {
            self.scan = scan
            self.state = state
        }
    }
}
