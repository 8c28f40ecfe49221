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
            fill(partition, firstPeer: firstPeer, lastPeer: lastPeer, values: values, source: &source, integers: &integers, reals: &reals)
            start = end
        }
        return try output(values: values, source: source, integers: integers, reals: reals, batch: batch)
    }

    /// The frame of `position` in a partition of `count` rows: positions [start, end].
    private func frame(_ position: Int, _ count: Int, lastPeer: Int) -> ClosedRange<Int>? {
        guard let frame else {
            return orderBy.isEmpty ? 0...(count - 1) : 0...lastPeer
        }
        func resolve(_ bound: WindowFrame.Bound) -> Int {
            switch bound {
            case .unboundedPreceding: 0
            case .preceding(let n): position - n
            case .currentRow: position
            case .following(let n): position + n
            case .unboundedFollowing: count - 1
            }
        }
        let low = max(0, resolve(frame.start)), high = min(count - 1, resolve(frame.end))
        return low <= high ? low...high : nil
    }

    private func fill(
        _ partition: [Int], firstPeer: [Int], lastPeer: [Int], values: ColumnVector?, source: inout [Int], integers: inout [Int64],
        reals: inout [Double]
    ) {
        let count = partition.count
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
                let target = kind == .lag ? position - offset : position + offset
                source[row] = target >= 0 && target < count ? partition[target] : -1
            }
        case .firstValue, .lastValue:
            for (position, row) in partition.enumerated() {
                guard let range = frame(position, count, lastPeer: lastPeer[position]) else { continue }
                source[row] = partition[kind == .firstValue ? range.lowerBound : range.upperBound]
            }
        case .sum, .avg, .count, .min, .max:
            aggregate(partition, lastPeer: lastPeer, values: values, integers: &integers, reals: &reals)
        }
    }

    private func aggregate(_ partition: [Int], lastPeer: [Int], values: ColumnVector?, integers: inout [Int64], reals: inout [Double]) {
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
            guard let range = frame(position, count, lastPeer: lastPeer[position]) else {
                if kind == .count { integers[row] = 0 } else { integers[row] = argumentType.integerNull }
                continue
            }
            let n = present[range.upperBound + 1] - present[range.lowerBound]
            switch kind {
            case .count:
                integers[row] = Int64(values == nil ? range.count : n)
            case .sum where isInteger:
                integers[row] = n == 0 ? Int64.min : integerSums[range.upperBound + 1] &- integerSums[range.lowerBound]
            case .sum:
                reals[row] = n == 0 ? .nan : sums[range.upperBound + 1] - sums[range.lowerBound]
            case .avg:
                let total = isInteger ? Double(integerSums[range.upperBound + 1] &- integerSums[range.lowerBound])
                    : sums[range.upperBound + 1] - sums[range.lowerBound]
                reals[row] = n == 0 ? .nan : total / Double(n)
            default:
                // min / max: a scan of the frame.
                var best: Int?
                for p in range where !(nulls?[partition[p]] ?? false) {
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
        }
    }
}
