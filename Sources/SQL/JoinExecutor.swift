import Storage

/// Joins over materialised inputs: INNER and LEFT by hashing the equality conditions between
/// the sides (other conditions filter the pairs), CROSS, and the time-series joins — ASOF
/// (the right row at or before each left row's timestamp, per key) and LT (strictly before),
/// with an optional TOLERANCE. The result keeps the left side's designated timestamp.
struct JoinExecutor {
    let executor: QueryExecutor

    var context: QueryContext { executor.context }

    /// `filter`: WHERE conjuncts over the joined rows. Each input is offered those it can
    /// check alone without changing the result: the left input for every join but SPLICE
    /// (a left row's pairs depend on it alone), the right input only for INNER and CROSS
    /// (LEFT pads, ASOF and LT pick a right row among all of them). The WHERE itself still
    /// runs on the joined rows.
    /// `columns`: the column names the statement reads (nil: all), for the inputs' scans.
    func run(_ join: Join, filter: [SQLExpression] = [], columns: Set<String>? = nil) throws(SQLError) -> (QueryResult, [String?]) {
        let leftFilter = join.kind == .splice ? [] : filter
        let rightFilter = join.kind == .inner || join.kind == .cross ? filter : []
        let (left, leftQualifiers) = try executor.materialize(join.left, filter: leftFilter, columns: join.lateral ? nil : columns)
        if join.lateral { return try lateral(join, left, leftQualifiers) }
        let (right, rightQualifiers) = try executor.materialize(
            join.right, filter: rightFilter, within: Self.asOfWindow(join, left), columns: columns)
        return try run(join, left: (left, leftQualifiers), right: (right, rightQualifiers))
    }

    /// `join` over inputs already in memory (its own sources are not read).
    func run(
        _ join: Join, left: (QueryResult, [String?]), right: (QueryResult, [String?])
    ) throws(SQLError) -> (QueryResult, [String?]) {
        let (left, leftQualifiers) = left
        let (right, rightQualifiers) = right
        let leftCount = left.columns.count
        var scopeColumns: [Scope.Column] = []
        for (index, column) in left.columns.enumerated() {
            scopeColumns.append(.init(name: column.name, qualifier: leftQualifiers[index], type: column.type))
        }
        for (index, column) in right.columns.enumerated() {
            scopeColumns.append(.init(name: column.name, qualifier: rightQualifiers[index], type: column.type))
        }
        let scope = Scope(columns: scopeColumns, timestampIndex: left.timestampIndex)
        let binder = Binder(scope: scope, context: executor.bindingContext)

        // Equalities between one side and the other become hash keys; the rest filters pairs.
        var keyPairs: [(BoundExpression, BoundExpression)] = []
        var residual: BoundExpression?
        if !join.sharedColumns.isEmpty {
            for name in join.sharedColumns {
                let l = try Scope(columns: Array(scopeColumns.prefix(leftCount)), timestampIndex: nil).resolve(nil, name, at: join.position)
                let r = try Scope(columns: Array(scopeColumns.dropFirst(leftCount)), timestampIndex: nil).resolve(nil, name, at: join.position)
                let bound = try binder.comparison(
                    .equal, .column(l, scopeColumns[l].type), .column(leftCount + r, scopeColumns[leftCount + r].type), at: join.position)
                guard case .comparison(_, let a, let b) = bound else { continue }
                keyPairs.append((a, b))
            }
        } else if let condition = join.condition {
            for conjunct in try binder.bindPredicate(condition).conjuncts {
                if case .comparison(.equal, let a, let b) = conjunct, let pair = Self.sides(a, b, leftCount: leftCount) {
                    keyPairs.append(pair)
                } else {
                    residual = residual.map { .and($0, conjunct) } ?? conjunct
                }
            }
        }
        var (leftRows, rightRows): ([Int], [Int])
        switch join.kind {
        case .cross:
            try context.checkMemory(left.rowCount * right.rowCount * 16)
            leftRows = (0..<left.rowCount).flatMap { Array(repeating: $0, count: right.rowCount) }
            rightRows = (0..<left.rowCount).flatMap { _ in Array(0..<right.rowCount) }
        case .inner, .left:
            (leftRows, rightRows) = try hashPairs(
                left, right, leftCount: leftCount, keyPairs: keyPairs, keepUnmatched: join.kind == .left)
        case .splice:
            guard let leftTime = left.timestampIndex, let rightTime = right.timestampIndex else {
                throw SQLError(.syntax, "SPLICE JOIN needs a designated timestamp on both sides", at: join.position)
            }
            (leftRows, rightRows) = try splicePairs(left, right, leftCount: leftCount, keyPairs: keyPairs, times: (leftTime, rightTime))
        case .asOf, .lessThan:
            guard let leftTime = left.timestampIndex, let rightTime = right.timestampIndex else {
                throw SQLError(.syntax, "ASOF and LT joins need a designated timestamp on both sides", at: join.position)
            }
            (leftRows, rightRows) = try asOfPairs(
                left, right, leftCount: leftCount, keyPairs: keyPairs, times: (leftTime, rightTime), strict: join.kind == .lessThan,
                tolerance: join.toleranceMicros)
        }
        return try finish(join, left, right, leftRows, rightRows, residual: residual, scopeColumns: scopeColumns)
    }

    /// For ASOF and LT: the right side's rows that can pair with a left row lie at or before
    /// the last left timestamp (and, with a TOLERANCE, no earlier than the first left one
    /// minus it); nil for other joins or when the left side has no designated timestamp.
    static func asOfWindow(_ join: Join, _ left: QueryResult) -> Range<Int64>? {
        guard join.kind == .asOf || join.kind == .lessThan, let time = left.timestampIndex,
              case .integer(let values) = left.batch.columns[time]
        else { return nil }
        let present = values.lazy.filter { $0 != Int64.min }
        guard let last = present.max(), let first = present.min() else { return 0..<0 }
        let lower = join.toleranceMicros.map { tolerance in
            let (value, overflow) = first.subtractingReportingOverflow(tolerance)
            return overflow ? Int64.min : value
        } ?? Int64.min
        return lower..<(last == Int64.max ? last : last + 1)
    }

    /// The pairs as rows, filtered by the conditions that were not hash keys (a LEFT join keeps
    /// a row of NULLs for a left row whose every pair failed).
    private func finish(
        _ join: Join, _ left: QueryResult, _ right: QueryResult, _ leftRows: [Int], _ rightRows: [Int], residual: BoundExpression?,
        scopeColumns: [Scope.Column]
    ) throws(SQLError) -> (QueryResult, [String?]) {
        var batch = Self.combine(left, right, leftRows, rightRows)
        if let residual {
            let mask = try ExpressionEvaluator(batch: batch).evaluate(residual).booleans
            if join.kind == .left {
                // A left row whose every pair failed keeps one row with NULLs on the right.
                var kept = Set<Int>()
                var rows: [(Int, Int)] = []
                for (index, keep) in mask.enumerated() where keep && rightRows[index] >= 0 {
                    rows.append((leftRows[index], rightRows[index]))
                    kept.insert(leftRows[index])
                }
                for row in 0..<left.rowCount where !kept.contains(row) { rows.append((row, -1)) }
                rows.sort { $0.0 < $1.0 }
                batch = Self.combine(left, right, rows.map(\.0), rows.map(\.1))
            } else {
                let selected = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
                batch = ColumnBatch(columns: batch.columns.map { $0.filter(mask, selected: selected) }, count: selected)
            }
        }
        try context.checkMemory(batch.columns.reduce(0) { $0 + $1.approximateBytes })
        let result = QueryResult(
            columns: scopeColumns.map { .init(name: $0.name, type: $0.type) }, batch: batch,
            // SPLICE rows of the right side have no left timestamp: no designated one.
            timestampIndex: join.kind == .splice ? nil : left.timestampIndex)
        return (result, scopeColumns.map(\.qualifier))
    }

    /// `JOIN LATERAL (subquery)`: the subquery runs once per left row with that row's columns
    /// visible to it (as a correlated subquery's outer columns), its rows paired with the row.
    /// ON filters the pairs; LEFT keeps a row of NULLs for a left row left without any.
    private func lateral(_ join: Join, _ left: QueryResult, _ leftQualifiers: [String?]) throws(SQLError) -> (QueryResult, [String?]) {
        guard case .subquery(let query, let alias, _) = join.right else {
            throw SQLError(.syntax, "LATERAL requires a subquery", at: join.position)
        }
        let outerColumns = left.columns.enumerated().map { Scope.Column(name: $1.name, qualifier: leftQualifiers[$0], type: $1.type) }
        func run(_ values: [SQLValue]) throws(SQLError) -> QueryResult {
            var inner = executor
            inner.outer = Array(zip(outerColumns, values)) + executor.outer
            return try inner.run(query)
        }
        // The subquery's rows for all left rows, appended in place (no copy per left row).
        var shape: QueryResult?
        var rightColumns: [ColumnVector] = []
        var rightCount = 0
        var leftRows: [Int] = [], rightRows: [Int] = []
        var bytes = 0
        for row in 0..<left.rowCount {
            try context.check()
            let result = try run(left.columns.indices.map { left.value(row: row, column: $0) })
            let base = rightCount
            if shape == nil {
                shape = result
                rightColumns = result.batch.columns
            } else if result.rowCount > 0 {
                for column in rightColumns.indices { rightColumns[column].append(result.batch.columns[column]) }
            }
            rightCount += result.rowCount
            if result.rowCount == 0, join.kind == .left {
                leftRows.append(row)
                rightRows.append(-1)
            }
            for offset in 0..<result.rowCount {
                leftRows.append(row)
                rightRows.append(base + offset)
            }
            bytes += result.batch.columns.reduce(0) { $0 + $1.approximateBytes }
            try context.checkMemory(bytes)
        }
        if shape == nil {
            // No left rows: the subquery run with NULLs still gives the result's columns.
            shape = try run(outerColumns.map { _ in .null })
            rightColumns = shape!.batch.columns.map { $0.gather([]) }
        }
        let rightResult = QueryResult(
            columns: shape!.columns, batch: ColumnBatch(columns: rightColumns, count: rightCount), timestampIndex: nil)
        var scopeColumns = outerColumns
        for column in rightResult.columns { scopeColumns.append(.init(name: column.name, qualifier: alias, type: column.type)) }
        var residual: BoundExpression?
        if let condition = join.condition {
            let binder = Binder(scope: Scope(columns: scopeColumns, timestampIndex: left.timestampIndex), context: executor.bindingContext)
            residual = try binder.bindPredicate(condition)
        }
        return try finish(join, left, rightResult, leftRows, rightRows, residual: residual, scopeColumns: scopeColumns)
    }

    /// (left-side expression, right-side expression) when each reads only one side.
    private static func sides(_ a: BoundExpression, _ b: BoundExpression, leftCount: Int) -> (BoundExpression, BoundExpression)? {
        func side(_ e: BoundExpression) -> Bool? {
            var columns = Set<Int>()
            e.collectColumns(into: &columns)
            if columns.isEmpty { return nil }
            if columns.allSatisfy({ $0 < leftCount }) { return true }
            if columns.allSatisfy({ $0 >= leftCount }) { return false }
            return nil
        }
        switch (side(a), side(b)) {
        case (true?, false?): return (a, b)
        case (false?, true?): return (b, a)
        default: return nil
        }
    }

    /// Key atoms of each side, from one atomizer per key so both sides share text ids
    /// (symbols are compared as text: the sides may have different dictionaries).
    private func keyAtoms(_ left: QueryResult, _ right: QueryResult, leftCount: Int, keyPairs: [(BoundExpression, BoundExpression)])
        throws(SQLError) -> (left: [[Int64]], right: [[Int64]])
    {
        let leftBatch = ColumnBatch(
            columns: left.batch.columns + right.columns.map { _ in ColumnVector.boolean([]) }, count: left.rowCount)
        let rightBatch = ColumnBatch(
            columns: left.columns.map { _ in ColumnVector.boolean([]) } + right.batch.columns, count: right.rowCount)
        var leftAtoms: [[Int64]] = [], rightAtoms: [[Int64]] = []
        for (l, r) in keyPairs {
            var atomizer = KeyAtomizer(type: l.type)
            let lv = try ExpressionEvaluator(batch: leftBatch).evaluate(l)
            let rv = try ExpressionEvaluator(batch: rightBatch).evaluate(r)
            leftAtoms.append(atomizer.atoms(Self.comparable(lv)))
            rightAtoms.append(atomizer.atoms(Self.comparable(rv)))
        }
        return (leftAtoms, rightAtoms)
    }

    private static func comparable(_ vector: ColumnVector) -> ColumnVector {
        if case .symbol = vector { return .text(vector.asText) }
        return vector
    }

    /// Matching (left, right) row pairs; `keepUnmatched` (LEFT JOIN) adds (row, −1) for left
    /// rows without a match.
    private func hashPairs(
        _ left: QueryResult, _ right: QueryResult, leftCount: Int, keyPairs: [(BoundExpression, BoundExpression)], keepUnmatched: Bool
    ) throws(SQLError) -> ([Int], [Int]) {
        let (leftAtoms, rightAtoms) = try keyAtoms(left, right, leftCount: leftCount, keyPairs: keyPairs)
        var table = GroupTable(width: keyPairs.count)
        let rightGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: right.rowCount) : table.groups(rightAtoms, rows: right.rowCount)
        let groupCount = keyPairs.isEmpty ? 1 : table.count
        var rowsOfGroup = [[Int]](repeating: [], count: groupCount)
        for (row, group) in rightGroups.enumerated() { rowsOfGroup[Int(group)].append(row) }
        let leftGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: left.rowCount) : table.groups(leftAtoms, rows: left.rowCount)
        var leftRows: [Int] = [], rightRows: [Int] = []
        let nullKeys = Self.nullRows(leftAtoms, rows: left.rowCount)
        for (row, group) in leftGroups.enumerated() {
            // NULL keys never match (SQL), and groups past the right side's are left-only keys.
            let matches = Int(group) < groupCount && !nullKeys[row] ? rowsOfGroup[Int(group)] : []
            if matches.isEmpty {
                if keepUnmatched {
                    leftRows.append(row)
                    rightRows.append(-1)
                }
            } else {
                for match in matches {
                    leftRows.append(row)
                    rightRows.append(match)
                }
            }
            if leftRows.count & 0xFFFF == 0 { try context.checkMemory(leftRows.count * 16) }
        }
        return (leftRows, rightRows)
    }

    /// Rows whose key has a NULL part (text atoms use −1 for NULL; numbers their sentinel).
    private static func nullRows(_ atoms: [[Int64]], rows: Int) -> [Bool] {
        var nulls = [Bool](repeating: false, count: rows)
        for column in atoms {
            for row in 0..<rows where column[row] == -1 || column[row] == Int64.min { nulls[row] = true }
        }
        return nulls
    }

    private func asOfPairs(
        _ left: QueryResult, _ right: QueryResult, leftCount: Int, keyPairs: [(BoundExpression, BoundExpression)],
        times: (Int, Int), strict: Bool, tolerance: Int64?
    ) throws(SQLError) -> ([Int], [Int]) {
        let (leftAtoms, rightAtoms) = try keyAtoms(left, right, leftCount: leftCount, keyPairs: keyPairs)
        var table = GroupTable(width: keyPairs.count)
        let rightGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: right.rowCount) : table.groups(rightAtoms, rows: right.rowCount)
        let groupCount = keyPairs.isEmpty ? 1 : table.count
        let rightTimes = right.batch.columns[times.1].integers
        var rowsOfGroup = [[Int]](repeating: [], count: groupCount)
        for (row, group) in rightGroups.enumerated() { rowsOfGroup[Int(group)].append(row) }
        for group in rowsOfGroup.indices { rowsOfGroup[group].sort { rightTimes[$0] != rightTimes[$1] ? rightTimes[$0] < rightTimes[$1] : $0 < $1 } }
        let leftGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: left.rowCount) : table.groups(leftAtoms, rows: left.rowCount)
        let leftTimes = left.batch.columns[times.0].integers
        var rightRows = [Int](repeating: -1, count: left.rowCount)
        for (row, group) in leftGroups.enumerated() where Int(group) < groupCount {
            let candidates = rowsOfGroup[Int(group)]
            let time = leftTimes[row]
            // Last candidate with time ≤ (or <) the left row's.
            var low = 0, high = candidates.count
            while low < high {
                let middle = (low + high) / 2
                let t = rightTimes[candidates[middle]]
                if strict ? t < time : t <= time { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { continue }
            let match = candidates[low - 1]
            if let tolerance, time - rightTimes[match] > tolerance { continue }
            rightRows[row] = match
        }
        return (Array(0..<left.rowCount), rightRows)
    }

    /// SPLICE JOIN: both sides merged in time order, each row paired with the other side's
    /// prevailing row of its key (the last at or before its time; rows of one instant see each
    /// other), or NULLs before the other side's first row. Rows of one instant: left ones first.
    private func splicePairs(
        _ left: QueryResult, _ right: QueryResult, leftCount: Int, keyPairs: [(BoundExpression, BoundExpression)], times: (Int, Int)
    ) throws(SQLError) -> ([Int], [Int]) {
        let (leftAtoms, rightAtoms) = try keyAtoms(left, right, leftCount: leftCount, keyPairs: keyPairs)
        var table = GroupTable(width: keyPairs.count)
        let leftGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: left.rowCount) : table.groups(leftAtoms, rows: left.rowCount)
        let rightGroups = keyPairs.isEmpty ? [Int32](repeating: 0, count: right.rowCount) : table.groups(rightAtoms, rows: right.rowCount)
        let groupCount = keyPairs.isEmpty ? 1 : table.count
        let leftTimes = left.batch.columns[times.0].integers, rightTimes = right.batch.columns[times.1].integers
        // Events: row ≥ 0 a left row, ~row a right row; by time, left before right, then row order.
        var events = Array(0..<left.rowCount) + (0..<right.rowCount).map { ~$0 }
        func time(_ event: Int) -> Int64 { event >= 0 ? leftTimes[event] : rightTimes[~event] }
        events.sort { a, b in
            let (ta, tb) = (time(a), time(b))
            if ta != tb { return ta < tb }
            if (a >= 0) != (b >= 0) { return a >= 0 }
            return a >= 0 ? a < b : ~a < ~b
        }
        try context.checkMemory(events.count * 24)
        var lastLeft = [Int](repeating: -1, count: groupCount), lastRight = [Int](repeating: -1, count: groupCount)
        var leftRows: [Int] = [], rightRows: [Int] = []
        leftRows.reserveCapacity(events.count)
        rightRows.reserveCapacity(events.count)
        var start = 0
        while start < events.count {
            // One instant at a time: its rows become prevailing before any of them is paired.
            var end = start
            while end < events.count, time(events[end]) == time(events[start]) { end += 1 }
            for event in events[start..<end] {
                if event >= 0 { lastLeft[Int(leftGroups[event])] = event } else { lastRight[Int(rightGroups[~event])] = ~event }
            }
            for event in events[start..<end] {
                if event >= 0 {
                    leftRows.append(event)
                    rightRows.append(lastRight[Int(leftGroups[event])])
                } else {
                    leftRows.append(lastLeft[Int(rightGroups[~event])])
                    rightRows.append(~event)
                }
            }
            start = end
        }
        return (leftRows, rightRows)
    }

    /// Left rows next to right rows (−1: NULLs of that side; only SPLICE has them on the left).
    static func combine(_ left: QueryResult, _ right: QueryResult, _ leftRows: [Int], _ rightRows: [Int]) -> ColumnBatch {
        let leftNulls = leftRows.contains { $0 < 0 }
        var columns = left.batch.columns.enumerated().map { index, vector in
            leftNulls ? vector.gather(nullable: leftRows, type: left.columns[index].type) : vector.gather(leftRows)
        }
        for (index, vector) in right.batch.columns.enumerated() {
            columns.append(vector.gather(nullable: rightRows, type: right.columns[index].type))
        }
        return ColumnBatch(columns: columns, count: leftRows.count)
    }
}
