import Dispatch
import Storage
import Synchronization

/// GROUP BY straight from the mapped column files, for the shape most time-series dashboards
/// ask: keys that are a SYMBOL column and/or a fixed-width time bucket of the designated
/// timestamp (`date_trunc`, `timestamp_floor`), `count`/`sum`/`avg`/`min`/`max` of LONG, INT or
/// DOUBLE columns, and a filter of `column <op> constant` conjuncts. The general path copies every
/// value into a vector, atomizes keys and hashes groups batch by batch; here a group is a slot
/// — its time bucket's first slot + symbol key + 1, slot 0 taking the rows the filter drops —
/// and each aggregate is one tight loop over the mapped bytes into per-slot arrays. Rows are split over the executor's threads like the
/// general path's parallel scans and merged in row order, so sums add up in the same order.
///
/// Groups come out by time bucket (first seen first), then by symbol key (the dictionary's
/// order): GROUP BY has no order of its own; ORDER BY sorts after.
struct DirectAggregation {
    enum Key {
        /// A SYMBOL column; `slots` = dictionary size + 1 per bucket (the first is NULL).
        case symbol(column: Int, slots: Int, table: SymbolTable)
        /// `timestamp_floor(unit, ts, origin)` of the designated timestamp, for units of fixed length.
        case bucket(column: Int, step: Int64, origin: Int64)
    }

    /// A fixed-width column as stored, and how its values read.
    enum Width {
        case long, int, double

        init?(_ type: SQLType) {
            switch type {
            case .column(.long), .column(.timestamp), .column(.date): self = .long
            case .column(.int): self = .int
            case .column(.double): self = .double
            default: return nil
            }
        }
    }

    /// One AND-ed `column <op> constant` of the filter; rows where the column is NULL fail it.
    struct Condition {
        let column: Int
        let width: Width
        let op: ComparisonOperator
        let integer: Int64
        let real: Double
    }

    struct Aggregate {
        let kind: AggregateKind
        /// Nil for `count(*)`.
        let column: Int?
        let width: Width
    }

    let snapshot: TableSnapshot
    let keys: [Key]
    let aggregates: [Aggregate]
    let conditions: [Condition]
    let work: [TableScan.WorkItem]

    /// Most slots (buckets × symbol keys) one shard may hold, also bounded by the query's
    /// memory cap; a dictionary larger than this leaves the query to the general path (it
    /// hashes only the groups that occur).
    static let maxSlots = 1 << 22
    /// Slots any query may take whatever its row count, before sparseness is judged.
    static let sparseFloor = 1 << 16
    /// Rows per step of the loops: slot and mask buffers stay in the L1 cache.
    static let chunkRows = 4096

    /// The plan for a query of the supported shape, nil otherwise.
    init?(
        snapshot: TableSnapshot, timestampIndex: Int?, keys boundKeys: [BoundExpression], aggregators: [Aggregator],
        arguments: [BoundExpression?], predicate: BoundExpression?, intervals: [Range<Int64>]?,
        sampleBuckets: (step: Int64, origin: Int64)? = nil
    ) throws(SQLError) {
        guard boundKeys.count <= 2, !aggregators.isEmpty else { return nil }
        var keys: [Key] = []
        for key in boundKeys {
            switch key {
            case .column(let column, .column(.symbol)):
                let table = snapshot.symbols[snapshot.schema.columns[column].id] ?? .empty
                keys.append(.symbol(column: column, slots: table.values.count + 1, table: table))
            case .function(.timestampFloor(let unit, let count, let origin), let arguments, _):
                guard case .column(let column, .column(.timestamp))? = arguments.first, column == timestampIndex,
                      let micros = unit.fixedMicros, unit != .week, count > 0
                else { return nil }
                let (step, overflow) = micros.multipliedReportingOverflow(by: count)
                guard !overflow else { return nil }
                keys.append(.bucket(column: column, step: step, origin: origin))
            default:
                return nil
            }
        }
        // SAMPLE BY's buckets come last, after the query's own keys.
        if let sampleBuckets {
            guard let timestampIndex, snapshot.schema.columns[timestampIndex].type == .timestamp else { return nil }
            keys.append(.bucket(column: timestampIndex, step: sampleBuckets.step, origin: sampleBuckets.origin))
        }
        // One key of each kind at most: a slot is bucket × symbol.
        guard keys.filter({ if case .symbol = $0 { true } else { false } }).count <= 1,
              keys.filter({ if case .bucket = $0 { true } else { false } }).count <= 1
        else { return nil }
        let symbolSlots = keys.lazy.compactMap { if case .symbol(_, let slots, _) = $0 { slots } else { nil } }.first ?? 1
        guard symbolSlots <= Self.maxSlots else { return nil }

        var aggregates: [Aggregate] = []
        for (aggregator, argument) in zip(aggregators, arguments) {
            guard aggregator.secondArgument == nil else { return nil }
            switch aggregator.kind {
            case .countAll:
                aggregates.append(Aggregate(kind: .countAll, column: nil, width: .long))
            case .count, .sum, .avg, .min, .max:
                guard case .column(let column, let type)? = argument, let width = Width(type),
                      type == aggregator.inputType
                else { return nil }
                // TIMESTAMP and DATE read as LONG, but only their count, min and max are taken here.
                if (aggregator.kind == .sum || aggregator.kind == .avg) && type != .long && width == .long { return nil }
                aggregates.append(Aggregate(kind: aggregator.kind, column: column, width: width))
            default:
                return nil
            }
        }

        var conditions: [Condition] = []
        for conjunct in predicate?.conjuncts ?? [] {
            guard let condition = Self.condition(conjunct) else { return nil }
            conditions.append(condition)
        }
        self.snapshot = snapshot
        self.keys = keys
        self.aggregates = aggregates
        self.conditions = conditions
        self.work = try TableScan.plan(snapshot, intervals: intervals)
    }

    /// `column <op> constant` (either way round; an integer column may come cast to LONG, as
    /// fractional constants bind), or nil.
    private static func condition(_ conjunct: BoundExpression) -> Condition? {
        guard case .comparison(var op, var left, var right) = conjunct else { return nil }
        if right.constantValue == nil {
            swap(&left, &right)
            switch op {
            case .less: op = .greater
            case .lessOrEqual: op = .greaterOrEqual
            case .greater: op = .less
            case .greaterOrEqual: op = .lessOrEqual
            case .equal, .notEqual: break
            }
        }
        var column: (Int, SQLType)?
        switch left {
        case .column(let index, let type): column = (index, type)
        case .cast(.column(let index, let type), to: .long, _) where type == .long || type == .int: column = (index, type)
        default: return nil
        }
        guard let (index, type) = column, let width = Width(type) else { return nil }
        switch (width, right.constantValue) {
        case (.long, .integer(let value)?), (.int, .integer(let value)?):
            // NULL is the type's minimum: a comparison with it is never true.
            guard value != Int64.min else { return nil }
            return Condition(column: index, width: width, op: op, integer: value, real: 0)
        case (.double, .real(let value)?) where !value.isNaN:
            return Condition(column: index, width: width, op: op, integer: 0, real: value)
        default:
            return nil
        }
    }

    // MARK: Running

    /// The groups: one vector per key (in the query's key order), the aggregates loaded into
    /// `aggregators`, and the number of groups.
    struct Output {
        var keyColumns: [ColumnVector]
        var groupCount: Int
    }

    /// Nil when the groups would need more slots than the memory cap allows (sparse buckets ×
    /// keys): the general path then hashes only the groups that occur.
    func run(parallelism: Int, parallelMinRows: Int, context: QueryContext, aggregators: inout [Aggregator]) throws(SQLError) -> Output? {
        let total = work.reduce(0) { $0 + $1.rows.count }
        let parts = parallelism > 1 && total >= parallelMinRows ? TableScan.split(work, parts: parallelism) : [work]
        // Every shard holds its slots' states: the query's memory cap bounds them all together.
        let bytesPerSlot = 8 * (1 + 3 * aggregates.count)
        let slotLimit = Swift.min(Self.maxSlots, context.maxResultBytes / (bytesPerSlot * parts.count))
        if bucketKey == nil && 1 + symbolSlots > slotLimit { return nil }
        let shards = parts.map { Shard(work: $0, plan: self, slotLimit: slotLimit) }
        if shards.count == 1 {
            guard try run(shards[0], context: context, overflow: nil) else { return nil }
        } else {
            let overflow = Overflow()
            DispatchQueue.concurrentPerform(iterations: shards.count) { index in
                do throws(SQLError) {
                    if try !run(shards[index], context: context, overflow: overflow) { overflow.raise() }
                } catch {
                    shards[index].error = error
                    context.cancel()
                }
            }
            if let error = shards.compactMap(\.error).first(where: { $0.code != .cancelled }) ?? shards.compactMap(\.error).first {
                throw error
            }
            if overflow.isRaised { return nil }
        }
        for shard in shards.dropFirst() { guard merge(shard, into: shards[0]) else { return nil } }
        return finish(shards[0], aggregators: &aggregators)
    }

    private var symbolSlots: Int {
        for key in keys { if case .symbol(_, let slots, _) = key { return slots } }
        return 1
    }

    private var bucketKey: (column: Int, step: Int64, origin: Int64)? {
        for key in keys { if case .bucket(let column, let step, let origin) = key { return (column, step, origin) } }
        return nil
    }

    private var symbolColumn: Int? {
        for key in keys { if case .symbol(let column, _, _) = key { return column } }
        return nil
    }

    /// How rows reach their slots' states. Slot 0 takes the rows the filter drops, so the
    /// loops need no branch for them; its states are never read.
    private enum Mode {
        /// Keys vary row by row (a SYMBOL key): each row updates its slot in memory.
        case scatter
        /// Long runs of rows share a slot (time buckets only): a run's state stays in registers,
        /// as updating one memory cell row after row waits on the previous store.
        case runs
        /// No keys: slot 1 or (dropped) 0. Values of dropped rows are replaced by the update's
        /// identity, so the loop has no branch and integer loops vectorize.
        case single
    }

    private var mode: Mode { keys.isEmpty ? .single : symbolColumn == nil ? .runs : .scatter }

    /// One thread's states: per slot the rows grouped there, and per aggregate the NULLs met
    /// (its count is rows − NULLs) and the running total or extreme.
    final class Shard: @unchecked Sendable {
        let work: [TableScan.WorkItem]
        let symbolSlots: Int
        let kinds: [AggregateKind]
        let slotLimit: Int
        /// Rows the shard has taken so far (merged: of both shards).
        var rowsSeen = 0
        var rows: [Int64] = []
        var nulls: [[Int64]]
        var integers: [[Int64]]
        var reals: [[Double]]
        /// Bucket starts in order of first appearance, and each one's first slot.
        var buckets: [Int64] = []
        var bucketBase: [Int64: Int] = [:]
        var error: SQLError?

        init(work: [TableScan.WorkItem], plan: DirectAggregation, slotLimit: Int) {
            self.work = work
            self.slotLimit = slotLimit
            self.symbolSlots = plan.symbolSlots
            kinds = plan.aggregates.map(\.kind)
            nulls = Array(repeating: [], count: kinds.count)
            integers = Array(repeating: [], count: kinds.count)
            reals = Array(repeating: [], count: kinds.count)
            // Slot 0 (dropped rows), then the key slots when there are no buckets.
            grow(to: plan.bucketKey == nil ? 1 + symbolSlots : 1)
        }

        /// The first slot of bucket `start`, adding the bucket's slots when it is new; nil past `slotLimit`.
        func base(of start: Int64) -> Int? {
            if let base = bucketBase[start] { return base }
            let base = rows.count
            // Sparse groups (say per-second buckets of hosts that report every 10 s) would make
            // most slots empty: past 8 slots per row the general path, which hashes only groups
            // that occur, is the better plan.
            guard base + symbolSlots <= Swift.min(slotLimit, Swift.max(DirectAggregation.sparseFloor, 8 * rowsSeen)) else { return nil }
            buckets.append(start)
            bucketBase[start] = base
            grow(to: base + symbolSlots)
            return base
        }

        private func grow(to slots: Int) {
            let extra = slots - rows.count
            guard extra > 0 else { return }
            rows.append(contentsOf: repeatElement(0, count: extra))
            for (index, kind) in kinds.enumerated() {
                nulls[index].append(contentsOf: repeatElement(0, count: extra))
                // min/max start from the far end, so the first value always replaces it.
                integers[index].append(contentsOf: repeatElement(kind == .min ? .max : kind == .max ? .min : 0, count: extra))
                reals[index].append(contentsOf: repeatElement(kind == .min ? .infinity : kind == .max ? -.infinity : 0, count: extra))
            }
        }
    }

    /// Raised by the shard whose slots would pass the limit; the others stop at their next chunk.
    final class Overflow: Sendable {
        private let raised = Atomic<Bool>(false)
        func raise() { raised.store(true, ordering: .relaxed) }
        var isRaised: Bool { raised.load(ordering: .relaxed) }
    }

    /// False when the shard's slots would pass its limit (or another shard's did).
    private func run(_ shard: Shard, context: QueryContext, overflow: Overflow?) throws(SQLError) -> Bool {
        let slots = UnsafeMutableBufferPointer<Int32>.allocate(capacity: Self.chunkRows)
        defer { slots.deallocate() }
        for (partition, rows) in shard.work {
            let mapped = try mapColumns(partition)
            var start = rows.lowerBound
            while start < rows.upperBound {
                try context.check()
                if overflow?.isRaised == true { return false }
                let chunk = start..<min(rows.upperBound, start + Self.chunkRows)
                let chunkSlots = UnsafeMutableBufferPointer(rebasing: slots[0..<chunk.count])
                shard.rowsSeen += chunk.count
                guard try assignSlots(chunk, mapped, shard, chunkSlots) else { return false }
                for condition in conditions { filter(chunk, condition, mapped[condition.column]!, chunkSlots) }
                shard.rows.withUnsafeMutableBufferPointer { rows in
                    switch mode {
                    case .scatter: for slot in chunkSlots { rows[Int(slot)] += 1 }
                    case .runs: Self.runs(chunkSlots, rows) { total, _ in total += 1 }
                    case .single:
                        var kept: Int64 = 0
                        for slot in chunkSlots { kept &+= Int64(slot) }
                        rows[1] += kept
                    }
                }
                for (index, aggregate) in aggregates.enumerated() {
                    // count(*) is the slot's row count, taken at the end.
                    guard let column = aggregate.column else { continue }
                    accumulate(chunk, aggregate, index, mapped[column]!, shard, chunkSlots)
                }
                start = chunk.upperBound
            }
        }
        return true
    }

    private func mapColumns(_ partition: TableSnapshot.Partition) throws(SQLError) -> [Int: MappedColumn] {
        var columns = Set<Int>()
        for key in keys {
            switch key {
            case .symbol(let column, _, _), .bucket(let column, _, _): columns.insert(column)
            }
        }
        for aggregate in aggregates { if let column = aggregate.column { columns.insert(column) } }
        for condition in conditions { columns.insert(condition.column) }
        var mapped: [Int: MappedColumn] = [:]
        do {
            for column in columns { mapped[column] = try snapshot.mapColumn(snapshot.schema.columns[column].id, in: partition) }
        } catch {
            throw TableScan.storageError(error)
        }
        return mapped
    }

    /// Each row's slot from its keys; false when a new bucket would pass the shard's slot limit.
    private func assignSlots(
        _ chunk: Range<Int>, _ mapped: [Int: MappedColumn], _ shard: Shard, _ slots: UnsafeMutableBufferPointer<Int32>
    ) throws(SQLError) -> Bool {
        // Without buckets the key slots start at 1; with them, at each bucket's base.
        let offset: Int32 = bucketKey == nil ? 1 : 0
        if let symbolColumn {
            let limit = Int32(shard.symbolSlots - 1)
            let bad = mapped[symbolColumn]!.withUnsafeBytes { bytes -> Bool in
                let keys = Self.typedValues(UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 4)...]), Int32.self)
                var bad: UInt32 = 0
                for row in 0..<chunk.count {
                    let slot = keys[row] &+ 1
                    // −1 (NULL) … limit − 1 is slot 0 … limit; anything else wraps above limit.
                    bad |= UInt32(bitPattern: slot) > UInt32(limit) ? 1 : 0
                    slots[row] = slot &+ offset
                }
                return bad != 0
            }
            if bad { throw SQLError(.storage, "a SYMBOL key outside the dictionary of its snapshot") }
        } else {
            slots.update(repeating: offset)
        }
        guard let (column, step, origin) = bucketKey else { return true }
        // Rows are in time order within a part: a bucket holds runs of them.
        var low = Int64.max, high = Int64.min, base = 0
        let fits = mapped[column]!.withUnsafeBytes { bytes -> Bool in
            let timestamps = Self.typedValues(UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 8)...]), Int64.self)
            for row in 0..<chunk.count {
                let ts = timestamps[row]
                if ts < low || ts >= high {
                    let start = TimeArithmetic.floor(ts, .microsecond, count: step, origin: origin)
                    guard let first = shard.base(of: start) else { return false }
                    base = first
                    low = start == Int64.min ? ts : start
                    let (end, overflow) = start.addingReportingOverflow(step)
                    high = start == Int64.min ? ts &+ 1 : overflow ? Int64.max : end
                }
                slots[row] = Int32(base) &+ slots[row]
            }
            return true
        }
        return fits
    }

    /// Sends rows failing `condition` to slot 0.
    private func filter(_ chunk: Range<Int>, _ condition: Condition, _ column: MappedColumn, _ slots: UnsafeMutableBufferPointer<Int32>) {
        column.withUnsafeBytes { bytes in
            switch condition.width {
            case .long:
                Self.filterLoop(bytes, Int64.self, chunk, slots, condition.op, condition.integer)
            case .int:
                Self.filterLoop(bytes, Int32.self, chunk, slots, condition.op, condition.integer)
            case .double:
                let values = UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 8)...])
                let constant = condition.real
                switch condition.op {
                case .equal: Self.keep(values, Double.self, slots) { $0 == constant }
                case .notEqual: Self.keep(values, Double.self, slots) { !$0.isNaN && $0 != constant }
                case .less: Self.keep(values, Double.self, slots) { $0 < constant }
                case .lessOrEqual: Self.keep(values, Double.self, slots) { $0 <= constant }
                case .greater: Self.keep(values, Double.self, slots) { $0 > constant }
                case .greaterOrEqual: Self.keep(values, Double.self, slots) { $0 >= constant }
                }
            }
        }
    }

    private static func filterLoop<T: FixedWidthInteger>(
        _ bytes: UnsafeRawBufferPointer, _: T.Type, _ chunk: Range<Int>, _ slots: UnsafeMutableBufferPointer<Int32>,
        _ op: ComparisonOperator, _ constant: Int64
    ) {
        let values = UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * MemoryLayout<T>.size)...])
        // One branch-free comparison per operator. NULL is the type's minimum: `>`, `>=` and
        // `=` exclude it by a bound above it; `<` and `<=` become one unsigned range check
        // starting just above it. (An INT column's constant may lie below INT's range.)
        let null = Int64(T.min)
        let start = null &+ 1
        let span = UInt64(bitPattern: constant &- start)
        switch op {
        case .equal where constant > null: keep(values, T.self, slots) { Int64($0) == constant }
        case .less where constant > null: keep(values, T.self, slots) { UInt64(bitPattern: Int64($0) &- start) < span }
        case .lessOrEqual where constant > null: keep(values, T.self, slots) { UInt64(bitPattern: Int64($0) &- start) <= span }
        case .equal, .less, .lessOrEqual: slots.update(repeating: 0)
        case .notEqual: keep(values, T.self, slots) { ((Int64($0) != constant ? 1 : 0) & (Int64($0) != null ? 1 : 0)) != 0 }
        case .greater:
            let bound = Swift.max(constant, null)
            keep(values, T.self, slots) { Int64($0) > bound }
        case .greaterOrEqual:
            let bound = Swift.max(constant, start)
            keep(values, T.self, slots) { Int64($0) >= bound }
        }
    }

    @inline(__always)
    private static func keep<T>(_ values: UnsafeRawBufferPointer, _: T.Type, _ slots: UnsafeMutableBufferPointer<Int32>, passes: (T) -> Bool) {
        // Branch-free: the select vectorizes, a branch per row would not.
        let typed = typedValues(values, T.self)
        for row in 0..<slots.count { slots[row] = passes(typed[row]) ? slots[row] : 0 }
    }

    /// One aggregate over a chunk: one pass updating the states, and a second counting NULLs
    /// per slot only when the chunk has any (nearly none do).
    private func accumulate(
        _ chunk: Range<Int>, _ aggregate: Aggregate, _ index: Int, _ column: MappedColumn, _ shard: Shard,
        _ slots: UnsafeMutableBufferPointer<Int32>
    ) {
        let mode = self.mode
        column.withUnsafeBytes { bytes in
            shard.nulls[index].withUnsafeMutableBufferPointer { nulls in
                switch aggregate.width {
                case .long:
                    let values = UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 8)...])
                    shard.integers[index].withUnsafeMutableBufferPointer { state in
                        Self.integerLoop(aggregate.kind, mode, values, Int64.self, null: Int64.min, slots, nulls, state)
                    }
                case .int:
                    let values = UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 4)...])
                    shard.integers[index].withUnsafeMutableBufferPointer { state in
                        Self.integerLoop(aggregate.kind, mode, values, Int32.self, null: Int32.min, slots, nulls, state)
                    }
                case .double:
                    let values = UnsafeRawBufferPointer(rebasing: bytes[(chunk.lowerBound * 8)...])
                    shard.reals[index].withUnsafeMutableBufferPointer { state in
                        Self.realLoop(aggregate.kind, mode, values, slots, nulls, state)
                    }
                }
            }
        }
    }

    private static func integerLoop<T: FixedWidthInteger>(
        _ kind: AggregateKind, _ mode: Mode, _ values: UnsafeRawBufferPointer, _: T.Type, null: T,
        _ slots: UnsafeMutableBufferPointer<Int32>, _ nulls: UnsafeMutableBufferPointer<Int64>, _ state: UnsafeMutableBufferPointer<Int64>
    ) {
        // One loop per kind, so nothing but the update itself runs per row.
        let hasNull: Bool
        switch kind {
        case .sum, .avg:
            hasNull = update(mode, values, T.self, slots, state, identity: 0, isNull: { $0 == null }) { $0 &+= Int64($1) }
        case .min:
            hasNull = update(mode, values, T.self, slots, state, identity: .max, isNull: { $0 == null }) { $0 = Swift.min($0, Int64($1)) }
        case .max:
            hasNull = update(mode, values, T.self, slots, state, identity: .min, isNull: { $0 == null }) { $0 = Swift.max($0, Int64($1)) }
        default:
            hasNull = anyNull(values, T.self, slots.count) { $0 == null }
        }
        if hasNull { countNulls(values, T.self, slots, nulls) { $0 == null } }
    }

    private static func realLoop(
        _ kind: AggregateKind, _ mode: Mode, _ values: UnsafeRawBufferPointer, _ slots: UnsafeMutableBufferPointer<Int32>,
        _ nulls: UnsafeMutableBufferPointer<Int64>, _ state: UnsafeMutableBufferPointer<Double>
    ) {
        let hasNull: Bool
        switch kind {
        case .sum, .avg:
            hasNull = update(mode, values, Double.self, slots, state, identity: 0, isNull: { $0.isNaN }) { $0 += $1 }
        case .min:
            hasNull = update(mode, values, Double.self, slots, state, identity: .infinity, isNull: { $0.isNaN }) { $0 = $1 < $0 ? $1 : $0 }
        case .max:
            hasNull = update(mode, values, Double.self, slots, state, identity: -.infinity, isNull: { $0.isNaN }) { $0 = $1 > $0 ? $1 : $0 }
        default:
            hasNull = anyNull(values, Double.self, slots.count) { $0.isNaN }
        }
        if hasNull { countNulls(values, Double.self, slots, nulls) { $0.isNaN } }
    }

    /// Whether any of the chunk's values is NULL (a branch-free pass).
    @inline(__always)
    private static func anyNull<T>(_ values: UnsafeRawBufferPointer, _: T.Type, _ count: Int, isNull: (T) -> Bool) -> Bool {
        let typed = typedValues(values, T.self)
        var found = 0
        // `|`, not `||`: no branch per row, so the loop vectorizes.
        for row in 0..<count { found |= isNull(typed[row]) ? 1 : 0 }
        return found != 0
    }

    /// The column's values as `T`s: column files are arrays of their type from a page-aligned
    /// mapping, and chunks start at whole values, so the pointer is aligned.
    @inline(__always)
    private static func typedValues<T>(_ values: UnsafeRawBufferPointer, _: T.Type) -> UnsafePointer<T> {
        values.baseAddress!.assumingMemoryBound(to: T.self)
    }

    @inline(__always)
    private static func countNulls<T>(
        _ values: UnsafeRawBufferPointer, _: T.Type, _ slots: UnsafeMutableBufferPointer<Int32>, _ nulls: UnsafeMutableBufferPointer<Int64>,
        isNull: (T) -> Bool
    ) {
        let typed = typedValues(values, T.self)
        for row in 0..<slots.count where isNull(typed[row]) { nulls[Int(slots[row])] += 1 }
    }

    /// Applies `combine(&state, value)` for every row in its slot, in row order (so double sums
    /// round exactly as a row-by-row loop does), in one pass: a NULL — or a row dropped in
    /// `.single` mode — combines the update's identity instead, which changes nothing (x + 0,
    /// min with its type's maximum). Returns whether a NULL was met; the caller then counts
    /// them per slot (rare: most chunks have none).
    @inline(__always)
    private static func update<T, S>(
        _ mode: Mode, _ values: UnsafeRawBufferPointer, _: T.Type, _ slots: UnsafeMutableBufferPointer<Int32>,
        _ state: UnsafeMutableBufferPointer<S>, identity: T, isNull: (T) -> Bool, _ combine: (inout S, T) -> Void
    ) -> Bool {
        let typed = typedValues(values, T.self)
        var found = 0
        switch mode {
        case .scatter:
            for row in 0..<slots.count {
                let value = typed[row]
                let null = isNull(value)
                found |= null ? 1 : 0
                combine(&state[Int(slots[row])], null ? identity : value)
            }
        case .runs:
            runs(slots, state) { local, row in
                let value = typed[row]
                let null = isNull(value)
                found |= null ? 1 : 0
                combine(&local, null ? identity : value)
            }
        case .single:
            var local = state[1]
            for row in 0..<slots.count {
                let value = typed[row]
                let null = isNull(value)
                found |= null ? 1 : 0
                combine(&local, null || slots[row] == 0 ? identity : value)
            }
            state[1] = local
        }
        return found != 0
    }

    /// Calls `body(&state, row)` for every row, keeping the state of a run of rows in one slot
    /// in a register and storing it when the slot changes.
    @inline(__always)
    private static func runs<S>(_ slots: UnsafeMutableBufferPointer<Int32>, _ state: UnsafeMutableBufferPointer<S>, _ body: (inout S, Int) -> Void) {
        guard !slots.isEmpty else { return }
        var current = Int(slots[0])
        var local = state[current]
        for row in 0..<slots.count {
            let slot = Int(slots[row])
            if slot != current {
                state[current] = local
                current = slot
                local = state[slot]
            }
            body(&local, row)
        }
        state[current] = local
    }

    // MARK: Merging and results

    /// Adds `later` (a shard over rows after `merged`'s) into `merged`.
    /// False when the union of buckets would pass the slot limit.
    private func merge(_ later: Shard, into merged: Shard) -> Bool {
        merged.rowsSeen += later.rowsSeen
        let slotsPerBucket = merged.symbolSlots
        var mapping: [(from: Int, to: Int)] = []
        if bucketKey == nil {
            mapping = [(1, 1)]
        } else {
            for start in later.buckets {
                guard let base = merged.base(of: start) else { return false }
                mapping.append((later.bucketBase[start]!, base))
            }
        }
        for (from, to) in mapping {
            for offset in 0..<slotsPerBucket {
                let source = from + offset, target = to + offset
                guard later.rows[source] > 0 else { continue }
                merged.rows[target] += later.rows[source]
                for (index, aggregate) in aggregates.enumerated() {
                    merged.nulls[index][target] += later.nulls[index][source]
                    // Sentinels (0, ±∞, Int64 extremes) make an empty side harmless.
                    switch (aggregate.kind, aggregate.width) {
                    case (.sum, .double), (.avg, .double): merged.reals[index][target] += later.reals[index][source]
                    case (.sum, _), (.avg, _): merged.integers[index][target] &+= later.integers[index][source]
                    case (.min, .double): merged.reals[index][target] = Swift.min(merged.reals[index][target], later.reals[index][source])
                    case (.max, .double): merged.reals[index][target] = Swift.max(merged.reals[index][target], later.reals[index][source])
                    case (.min, _): merged.integers[index][target] = Swift.min(merged.integers[index][target], later.integers[index][source])
                    case (.max, _): merged.integers[index][target] = Swift.max(merged.integers[index][target], later.integers[index][source])
                    default: break
                    }
                }
            }
        }
        return true
    }

    /// The occupied slots as groups: key vectors, and each aggregator loaded with its states.
    private func finish(_ shard: Shard, aggregators: inout [Aggregator]) -> Output {
        var occupied: [Int] = []
        var symbolKeys: [Int32] = []
        var bucketOf: [Int64] = []
        let bases = bucketKey == nil ? [(Int64.min, 1)] : shard.buckets.map { ($0, shard.bucketBase[$0]!) }
        for (start, base) in bases {
            for offset in 0..<shard.symbolSlots where shard.rows[base + offset] > 0 {
                occupied.append(base + offset)
                symbolKeys.append(Int32(offset) - 1)
                bucketOf.append(start)
            }
        }
        // A global aggregate answers one row even over no rows (count() = 0).
        if keys.isEmpty && occupied.isEmpty { occupied = [1] }
        var keyColumns: [ColumnVector] = []
        for key in keys {
            switch key {
            case .symbol(_, _, let table): keyColumns.append(.symbol(symbolKeys, table))
            case .bucket: keyColumns.append(.integer(bucketOf))
            }
        }
        for (index, aggregate) in aggregates.enumerated() {
            let counts = occupied.map { shard.rows[$0] - (aggregate.column == nil ? 0 : shard.nulls[index][$0]) }
            aggregators[index].load(
                counts: counts,
                integers: aggregate.width == .double ? [] : occupied.map { shard.integers[index][$0] },
                reals: aggregate.width == .double ? occupied.map { shard.reals[index][$0] } : [])
        }
        return Output(keyColumns: keyColumns, groupCount: occupied.count)
    }
}
