import Storage

/// Window functions over materialised rows: partitions by key atoms, rows ordered within each
/// partition, then one typed pass per function — ranks, offsets (`lag`, `lead`) and values
/// at frame edges as gathers, and `sum`/`avg`/`count` from prefix sums over the frame.
struct WindowFunction {
    enum Kind: Equatable {
        case rowNumber, rank, denseRank, lag, lead, firstValue, lastValue, sum, avg, count, min, max
    }

    let kind: Kind
    /// The function's value argument (absent for ranks and `count(*)`).
    let argument: BoundExpression?
    let offset: Int
    let defaultValue: BoundExpression?
    let partitionBy: [BoundExpression]
    let orderBy: [(BoundExpression, descending: Bool)]
    let frame: WindowFrame?
    /// `IGNORE NULLS` (lag, lead, first_value, last_value): NULL values are skipped.
    var ignoreNulls = false

    var type: SQLType {
        switch kind {
        case .rowNumber, .rank, .denseRank, .count: .long
        case .avg: .double
        case .sum: argument?.type.representation == .integer ? .long : .double
        case .lag, .lead, .firstValue, .lastValue, .min, .max: argument?.type == .null ? .string : argument?.type ?? .string
        }
    }

    static func kind(_ name: String) -> Kind? {
        switch name {
        case "row_number": .rowNumber
        case "rank": .rank
        case "dense_rank": .denseRank
        case "lag": .lag
        case "lead": .lead
        case "first_value": .firstValue
        case "last_value": .lastValue
        case "sum": .sum
        case "avg": .avg
        case "count": .count
        case "min": .min
        case "max": .max
        default: nil
        }
    }

    /// The function's value for every row of `batch`.
    func evaluate(_ batch: ColumnBatch) throws(SQLError) -> ColumnVector {
        let evaluator = ExpressionEvaluator(batch: batch)
        let rows = batch.count
        var atomizers = partitionBy.map { KeyAtomizer(type: $0.type) }
        var atoms: [[Int64]] = []
        for (index, key) in partitionBy.enumerated() { atoms.append(atomizers[index].atoms(try evaluator.evaluate(key))) }
        var table = GroupTable(width: partitionBy.count)
        let groups = table.groups(atoms, rows: rows)
        var keys: [ColumnVector] = []
        for (key, _) in orderBy { keys.append(try evaluator.evaluate(key)) }
        let keyTypes = orderBy.map(\.0.type)
        let descending = orderBy.map(\.descending)
        // Rows by partition, then the ORDER BY keys, then arrival.
        func compare(_ a: Int, _ b: Int) -> Int {
            for (index, vector) in keys.enumerated() {
                let order = Self.compare(vector, keyTypes[index], a, b)
                if order != 0 { return descending[index] ? -order : order }
            }
            return 0
        }
        var order = Array(0..<rows)
        order.sort { a, b in
            if groups[a] != groups[b] { return groups[a] < groups[b] }
            let c = compare(a, b)
            return c != 0 ? c < 0 : a < b
        }
        let values = try argument.map { (e) throws(SQLError) in try evaluator.evaluate(e) }
        var source = [Int](repeating: -1, count: rows)
        var integers = [Int64](repeating: 0, count: rows)
        var reals = [Double](repeating: .nan, count: rows)
        var start = 0
        while start < rows {
            var end = start
            while end < rows, groups[order[end]] == groups[order[start]] { end += 1 }
            let partition = Array(order[start..<end])
            // Peers share ORDER BY keys; the default frame (with ORDER BY) ends at the last peer.
            var lastPeer = [Int](repeating: 0, count: partition.count)
            var firstPeer = [Int](repeating: 0, count: partition.count)
            var runStart = 0
            for position in 0..<partition.count {
                if position > 0, keys.isEmpty || compare(partition[position - 1], partition[position]) != 0 { runStart = position }
                firstPeer[position] = runStart
            }
            var runEnd = partition.count - 1
            for position in stride(from: partition.count - 1, through: 0, by: -1) {
                if position < partition.count - 1, !keys.isEmpty, compare(partition[position + 1], partition[position]) != 0 {
                    runEnd = position
                }
                lastPeer[position] = keys.isEmpty ? partition.count - 1 : runEnd
            }
            let frames = Frames(
                spec: frame, defaultEnd: orderBy.isEmpty ? nil : lastPeer, firstPeer: firstPeer, lastPeer: lastPeer,
                keys: rangeKeys(keys.first, partition))
            fill(partition, frames: frames, values: values, source: &source, integers: &integers, reals: &reals)
            start = end
        }
        return try output(values: values, source: source, integers: integers, reals: reals, batch: batch)
    }

    /// For a RANGE frame with offsets: the partition's ORDER BY key values in partition order,
    /// negated when the order is descending (so they ascend either way), and which are NULL.
    private func rangeKeys(_ key: ColumnVector?, _ partition: [Int]) -> Frames.Keys? {
        guard let frame, frame.unit == .range, frame.start.hasOffset || frame.end.hasOffset, let key else { return nil }
        let descending = orderBy[0].descending
        let nulls = key.nullMask(orderBy[0].0.type)
        let isNull = partition.map { nulls[$0] }
        switch key {
        case .integer(let values):
            return .integers(partition.map { descending ? 0 &- values[$0] : values[$0] }, isNull: isNull)
        case .real(let values):
            return .reals(partition.map { descending ? -values[$0] : values[$0] }, isNull: isNull)
        default:
            return nil
        }
    }

    private func fill(
        _ partition: [Int], frames: Frames, values: ColumnVector?, source: inout [Int], integers: inout [Int64], reals: inout [Double]
    ) {
        let count = partition.count
        let firstPeer = frames.firstPeer
        // IGNORE NULLS: the positions holding a value, ascending.
        let valued: [Int]? = ignoreNulls ? {
            let nulls = values?.nullMask(argument?.type ?? .long)
            return (0..<count).filter { !(nulls?[partition[$0]] ?? false) }
        }() : nil
        switch kind {
        case .rowNumber:
            for (position, row) in partition.enumerated() { integers[row] = Int64(position + 1) }
        case .rank:
            for (position, row) in partition.enumerated() { integers[row] = Int64(firstPeer[position] + 1) }
        case .denseRank:
            var rank: Int64 = 0
            for (position, row) in partition.enumerated() {
                if position == 0 || firstPeer[position] == position { rank += 1 }
                integers[row] = rank
            }
        case .lag, .lead:
            for (position, row) in partition.enumerated() {
                var target = kind == .lag ? position - offset : position + offset
                if let valued, offset > 0 {
                    // The offset-th valued position before (lag) or after (lead) this one.
                    let before = valued.partitioningIndex { $0 >= position }
                    let through = valued.partitioningIndex { $0 > position }
                    let index = kind == .lag ? before - offset : through + offset - 1
                    target = index >= 0 && index < valued.count ? valued[index] : -1
                }
                source[row] = target >= 0 && target < count ? partition[target] : -1
            }
        case .firstValue, .lastValue:
            for (position, row) in partition.enumerated() {
                guard var range = frames.range(position) else { continue }
                if frames.excludesCurrentRow {
                    // The current row leaves a gap only inside; at an edge the frame shrinks.
                    if range.lowerBound == position, range.upperBound == position { continue }
                    if range.lowerBound == position { range = (position + 1)...range.upperBound }
                    if range.upperBound == position { range = range.lowerBound...(position - 1) }
                }
                guard let valued else {
                    source[row] = partition[kind == .firstValue ? range.lowerBound : range.upperBound]
                    continue
                }
                let skip = frames.excludesCurrentRow ? position : -1
                var index = kind == .firstValue
                    ? valued.partitioningIndex { $0 >= range.lowerBound } : valued.partitioningIndex { $0 > range.upperBound } - 1
                if index >= 0, index < valued.count, valued[index] == skip { index += kind == .firstValue ? 1 : -1 }
                if index >= 0, index < valued.count, range.contains(valued[index]) { source[row] = partition[valued[index]] }
            }
        case .sum, .avg, .count, .min, .max:
            aggregate(partition, frames: frames, values: values, integers: &integers, reals: &reals)
        }
    }

    private func aggregate(_ partition: [Int], frames: Frames, values: ColumnVector?, integers: inout [Int64], reals: inout [Double]) {
        let count = partition.count
        let argumentType = argument?.type ?? .long
        let isInteger = argumentType.representation == .integer
        let nulls = values?.nullMask(argumentType)
        let allReals = values?.reals ?? []
        let allIntegers = isInteger ? values?.integers ?? [] : []
        let input: [Double] = allReals.isEmpty ? [] : partition.map { allReals[$0] }
        let inputIntegers: [Int64] = allIntegers.isEmpty ? [] : partition.map { allIntegers[$0] }
        // Prefix sums and counts of non-NULL values, so any frame costs O(1).
        var sums = [Double](repeating: 0, count: count + 1)
        var integerSums = [Int64](repeating: 0, count: count + 1)
        var present = [Int](repeating: 0, count: count + 1)
        for position in 0..<count {
            let isNull = nulls?[partition[position]] ?? false
            sums[position + 1] = sums[position] + (isNull || input.isEmpty ? 0 : input[position])
            integerSums[position + 1] = integerSums[position] &+ (isNull || inputIntegers.isEmpty ? 0 : inputIntegers[position])
            present[position + 1] = present[position] + (isNull ? 0 : 1)
        }
        for (position, row) in partition.enumerated() {
            let frame = frames.range(position)
            // EXCLUDE CURRENT ROW: the row's own contribution comes off the frame's totals.
            let excluded = frames.excludesCurrentRow && frame?.contains(position) == true ? position : nil
            let rows = (frame?.count ?? 0) - (excluded == nil ? 0 : 1)
            guard let range = frame, rows > 0 else {
                if kind == .count { integers[row] = 0 } else { integers[row] = argumentType.integerNull }
                continue
            }
            var n = present[range.upperBound + 1] - present[range.lowerBound]
            var realTotal = sums[range.upperBound + 1] - sums[range.lowerBound]
            var integerTotal = integerSums[range.upperBound + 1] &- integerSums[range.lowerBound]
            if let excluded {
                n -= present[excluded + 1] - present[excluded]
                realTotal -= sums[excluded + 1] - sums[excluded]
                integerTotal = integerTotal &- (integerSums[excluded + 1] &- integerSums[excluded])
            }
            switch kind {
            case .count:
                integers[row] = Int64(values == nil ? rows : n)
            case .sum where isInteger:
                integers[row] = n == 0 ? Int64.min : integerTotal
            case .sum:
                reals[row] = n == 0 ? .nan : realTotal
            case .avg:
                reals[row] = n == 0 ? .nan : (isInteger ? Double(integerTotal) : realTotal) / Double(n)
            default:
                // min / max: a scan of the frame.
                var best: Int?
                for p in range where p != excluded && !(nulls?[partition[p]] ?? false) {
                    guard let current = best else { best = p; continue }
                    let better = isInteger
                        ? (kind == .max ? inputIntegers[p] > inputIntegers[current] : inputIntegers[p] < inputIntegers[current])
                        : (kind == .max ? input[p] > input[current] : input[p] < input[current])
                    if better { best = p }
                }
                if isInteger { integers[row] = best.map { inputIntegers[$0] } ?? argumentType.integerNull } else { reals[row] = best.map { input[$0] } ?? .nan }
            }
        }
    }

    private func output(values: ColumnVector?, source: [Int], integers: [Int64], reals: [Double], batch: ColumnBatch) throws(SQLError) -> ColumnVector {
        switch kind {
        case .rowNumber, .rank, .denseRank, .count: return .integer(integers)
        case .lag, .lead, .firstValue, .lastValue:
            guard let values else { return .nulls(type, count: source.count) }
            var gathered = values.gather(nullable: source, type: type)
            if let defaultValue, source.contains(-1) {
                let fallback = try ExpressionEvaluator(batch: batch).evaluate(defaultValue)
                gathered = gathered.merging(fallback, where: source.map { $0 < 0 }, type: type)
            }
            return gathered
        case .sum, .min, .max:
            return type.representation == .integer ? .integer(integers) : .real(reals)
        case .avg: return .real(reals)
        }
    }

    private static func compare(_ vector: ColumnVector, _ type: SQLType, _ a: Int, _ b: Int) -> Int {
        switch vector {
        case .integer(let v): return v[a] == v[b] ? 0 : v[a] < v[b] ? -1 : 1
        case .real(let v):
            let x = v[a], y = v[b]
            return x == y || (x.isNaN && y.isNaN) ? 0 : (x.isNaN || x < y) ? -1 : 1
        case .boolean(let v): return v[a] == v[b] ? 0 : v[a] ? 1 : -1
        case .text(let v):
            switch (v[a], v[b]) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?): return x == y ? 0 : x < y ? -1 : 1
            }
        case .symbol(let keys, let table):
            let x = table.value(keys[a]), y = table.value(keys[b])
            return x == y ? 0 : (x ?? "") < (y ?? "") || x == nil ? -1 : 1
        case .wide(let v): return v[a] == v[b] ? 0 : v[a] < v[b] ? -1 : 1
        }
    }
}
