import Storage

/// GROUP BY (explicit or implicit), SAMPLE BY and LATEST ON: rows are grouped by key atoms in
/// a hash table, aggregates update per batch, then the select list is evaluated over the
/// groups (`max(x) - min(x)` works: aggregates and keys become columns of the groups).
struct AggregatePlan {
    let executor: QueryExecutor
    let select: SelectQuery
    let items: [SelectQuery.Item]
    let plan: QueryExecutor.SourcePlan
    let scope: Scope
    let predicate: BoundExpression?
    /// The prepared statement's shared plan parts (top-level statements only).
    var memo: PlanMemo? = nil

    private static let keyPrefix = "\u{1}k"
    private static let aggregatePrefix = "\u{1}a"
    private static let bucketName = "\u{1}bucket"

    var context: QueryContext { executor.context }

    func run() throws(SQLError) -> (QueryResult, Bool) {
        if let latestOn = select.latestOn { return (try latest(latestOn), false) }
        let binder = Binder(scope: scope, context: executor.bindingContext)
        let sample = select.sampleBy
        if let sample, scope.timestampIndex == nil {
            throw SQLError(.syntax, "base query does not provide designated TIMESTAMP column", at: sample.position)
        }
        let timestampIndex = scope.timestampIndex

        // Keys: explicit GROUP BY (positions and aliases allowed) or every non-aggregate item.
        var keyExpressions: [SQLExpression] = []
        if !select.groupBy.isEmpty {
            for key in select.groupBy { keyExpressions.append(try resolveGroupKey(key)) }
        } else {
            for item in items where !item.expression.containsAggregate {
                if sample != nil, isTimestampReference(item.expression, binder) { continue }
                keyExpressions.append(item.expression)
            }
        }
        let keyCanonicals = keyExpressions.map(\.canonical)

        // Aggregate calls of the select list and ORDER BY, each computed once.
        var aggregateCalls: [SQLExpression] = []
        var aggregateCanonicals: [String] = []
        for expression in items.map(\.expression) + select.orderBy.map(\.expression) + (select.having.map { [$0] } ?? []) {
            expression.visit { node in
                if case .function(let name, _, _) = node.kind, AggregateKind.isAggregate(name), !aggregateCanonicals.contains(node.canonical) {
                    aggregateCalls.append(node)
                    aggregateCanonicals.append(node.canonical)
                }
            }
        }

        let boundKeys = try keyExpressions.map { (e) throws(SQLError) in try binder.bind(e) }
        var aggregators: [Aggregator] = []
        var aggregateArguments: [BoundExpression?] = []
        for call in aggregateCalls {
            let (aggregator, argument) = try bindAggregate(call, binder)
            aggregators.append(aggregator)
            aggregateArguments.append(argument)
        }

        // Rewrite the select list over the groups' columns.
        func rewrite(_ expression: SQLExpression) -> SQLExpression {
            expression.rewritten { node in
                let canonical = node.canonical
                if let index = aggregateCanonicals.firstIndex(of: canonical), case .function = node.kind {
                    return SQLExpression(.column(qualifier: nil, name: Self.aggregatePrefix + String(index)), at: node.position)
                }
                if let index = keyCanonicals.firstIndex(of: canonical) {
                    return SQLExpression(.column(qualifier: nil, name: Self.keyPrefix + String(index)), at: node.position)
                }
                if sample != nil, isTimestampReference(node, binder) {
                    return SQLExpression(.column(qualifier: nil, name: Self.bucketName), at: node.position)
                }
                return nil
            }
        }

        var needed = Set<Int>()
        for key in boundKeys { key.collectColumns(into: &needed) }
        for argument in aggregateArguments { argument?.collectColumns(into: &needed) }
        for aggregator in aggregators { aggregator.secondArgument?.collectColumns(into: &needed) }
        predicate?.collectColumns(into: &needed)
        if let timestampIndex, sample != nil { needed.insert(timestampIndex) }

        var sampling: Sampling?
        if let sample, let timestampIndex { sampling = try Sampling(sample, timestampIndex: timestampIndex, executor: executor) }
        var intervals = timestampIndex.flatMap { predicate?.timestampIntervals($0) }
        if let range = sampling?.rowRange {
            intervals = intervals.map { BoundExpression.intersect($0, [range]) } ?? [range]
        }
        // `count()` of a whole table: the snapshot knows its row count.
        if boundKeys.isEmpty, sampling == nil, predicate == nil, !aggregators.isEmpty,
           aggregators.allSatisfy({ $0.kind == .countAll }), case .table(let snapshot, _) = plan
        {
            for index in aggregators.indices { aggregators[index].addCount(Int64(snapshot.rowCount)) }
            let columns = aggregators.indices.map { aggregators[$0].result(groupCount: 1) }
            let scopeColumns = aggregators.indices.map { Scope.Column(name: Self.aggregatePrefix + String($0), qualifier: nil, type: .long) }
            return try project(ColumnBatch(columns: columns, count: 1), scopeColumns, rewrite, bucketColumn: nil)
        }
        // Groups: the keys' vectors, SAMPLE BY's bucket starts, and the aggregators' states.
        let keyVectors: [ColumnVector]
        var bucketStarts: [Int64] = []
        let groupCount: Int
        let sampleBuckets = sampling?.fixedBuckets
        if sampling == nil || sampleBuckets != nil,
           let direct = try directAggregation(boundKeys, aggregators, aggregateArguments, intervals, sampleBuckets: sampleBuckets),
           let output = try direct.run(
               parallelism: executor.parallelism, parallelMinRows: executor.parallelMinRows, context: context, aggregators: &aggregators)
        {
            keyVectors = Array(output.keyColumns.prefix(boundKeys.count))
            if sampling != nil { bucketStarts = output.keyColumns[boundKeys.count].integers }
            groupCount = output.groupCount
        } else {
            let initial = Accumulation(
                table: GroupTable(width: boundKeys.count + (sampling == nil ? 0 : 1)),
                atomizers: boundKeys.map { KeyAtomizer(type: $0.type) }, samples: Array(repeating: nil, count: boundKeys.count),
                aggregators: aggregators, sampling: sampling)
            let work = Accumulator(
                keys: boundKeys, arguments: aggregateArguments, timestampIndex: timestampIndex, context: context)
            var state: Accumulation
            let threadSafe = !(predicate?.usesRegex ?? false) && !boundKeys.contains(where: \.usesRegex)
                && !aggregateArguments.contains { $0?.usesRegex ?? false } && !aggregators.contains { $0.secondArgument?.usesRegex ?? false }
            if let scans = try parallelScans(needed: needed, intervals: intervals, eligible: initial.isMergeable && threadSafe) {
                state = try work.runParallel(scans, initial: initial)
            } else {
                let (source, remaining) = try executor.makeSource(plan, needed: needed, intervals: intervals, predicate: predicate)
                state = initial
                try work.run(source, remaining: remaining, into: &state)
            }
            let table = state.table
            sampling = state.sampling
            aggregators = state.aggregators
            keyVectors = boundKeys.indices.map { index in
                state.atomizers[index].vector(
                    table.atoms(column: index), from: state.samples[index] ?? ColumnVector.empty(boundKeys[index].type.representation))
            }
            if sampling != nil { bucketStarts = table.atoms(column: boundKeys.count) }
            // A global aggregate over no rows still answers one row (count() = 0).
            groupCount = table.width == 0 && table.count == 0 ? 1 : table.count
        }

        var columns = keyVectors
        var scopeColumns = boundKeys.indices.map { Scope.Column(name: Self.keyPrefix + String($0), qualifier: nil, type: boundKeys[$0].type) }
        let bucketColumn = sampling == nil ? nil : columns.count
        if sampling != nil {
            columns.append(.integer(bucketStarts))
            scopeColumns.append(.init(name: Self.bucketName, qualifier: nil, type: .timestamp))
        }
        let aggregateStart = columns.count
        for index in aggregators.indices {
            columns.append(aggregators[index].result(groupCount: groupCount))
            scopeColumns.append(.init(name: Self.aggregatePrefix + String(index), qualifier: nil, type: aggregators[index].outputType))
        }
        var groups = ColumnBatch(columns: columns, count: groupCount)
        if let sampling, let bucketColumn {
            groups = try sampling.complete(
                groups, bucketColumn: bucketColumn, keyColumns: Array(0..<boundKeys.count),
                aggregateColumns: Array(aggregateStart..<columns.count), types: scopeColumns.map(\.type), context: context)
        }
        return try project(groups, scopeColumns, rewrite, bucketColumn: bucketColumn)
    }

    /// The direct plan (aggregates straight from the mapped columns) when the query has its
    /// shape; nil to run the general one. Key filters the symbol postings answer stay there.
    private func directAggregation(
        _ keys: [BoundExpression], _ aggregators: [Aggregator], _ arguments: [BoundExpression?], _ intervals: [Range<Int64>]?,
        sampleBuckets: (step: Int64, origin: Int64)?
    ) throws(SQLError) -> DirectAggregation? {
        guard case .table(let snapshot, _) = plan, let (filter, prunable) = scanFilter(snapshot, intervals) else { return nil }
        return try DirectAggregation(
            snapshot: snapshot, timestampIndex: scope.timestampIndex, keys: keys, aggregators: aggregators, arguments: arguments,
            predicate: filter, intervals: prunable ? intervals : nil, sampleBuckets: sampleBuckets)
    }

    /// What a scan of the whole table still filters once the designated timestamp's conditions
    /// are partition pruning and binary search (`prunable`), or nil when a key condition the
    /// symbol postings answer should serve the query: few rows come out of postings whatever
    /// the range, so one thread and the batch path are cheaper.
    private func scanFilter(_ snapshot: TableSnapshot, _ intervals: [Range<Int64>]?) -> (filter: BoundExpression?, prunable: Bool)? {
        let timestampIndex = scope.timestampIndex
        let prunable = timestampIndex.map { snapshot.schema.columns[$0].type == .timestamp } ?? false
        var filter = predicate
        if prunable, let timestampIndex, let intervals, let bound = predicate, bound.timestampIntervals(timestampIndex) == intervals {
            filter = bound.removingTimestampConjuncts(timestampIndex)
        }
        if executor.postings != nil, TableScan.indexedCondition(filter, snapshot) != nil { return nil }
        return (filter, prunable)
    }

    /// Table scans split in two contiguous halves of rows when the query is big enough to pay
    /// for a second thread and its aggregates can be merged; nil to run on this thread alone.
    private func parallelScans(needed: Set<Int>, intervals: [Range<Int64>]?, eligible: Bool) throws(SQLError) -> [TableScan]? {
        guard eligible, executor.parallelism > 1, case .table(let snapshot, _) = plan,
              let (scanPredicate, prunable) = scanFilter(snapshot, intervals)
        else { return nil }
        let work = try TableScan.plan(snapshot, intervals: prunable ? intervals : nil)
        guard work.reduce(0, { $0 + $1.rows.count }) >= executor.parallelMinRows else { return nil }
        return TableScan.split(work, parts: executor.parallelism).map { part in
            TableScan(
                snapshot: snapshot, needed: needed.sorted(), work: part, predicate: scanPredicate, batchRows: QueryExecutor.batchRows,
                postings: executor.postings)
        }
    }

    /// Evaluates the rewritten select list (and ORDER BY) over the groups.
    private func project(
        _ groups: ColumnBatch, _ scopeColumns: [Scope.Column], _ rewrite: (SQLExpression) -> SQLExpression, bucketColumn: Int?
    ) throws(SQLError) -> (QueryResult, Bool) {
        let groupScope = Scope(columns: scopeColumns, timestampIndex: bucketColumn)
        let binder = Binder(scope: groupScope, context: executor.bindingContext)
        var groups = groups
        if let having = select.having {
            let condition = try binder.bindPredicate(rewrite(having))
            groups = try QueryExecutor.filter(groups, condition, firstRow: 0) ?? groups.slice(0..<0)
        }
        let names = QueryExecutor.outputNames(items)
        var bound: [BoundExpression] = []
        for item in items {
            do {
                bound.append(try binder.bind(rewrite(item.expression)))
            } catch let error where error.code == .undefinedColumn {
                throw SQLError(.syntax, "column must appear in GROUP BY clause or be used in an aggregate function", at: item.expression.position)
            }
        }
        let (orderKeys, hidden) = try executor.orderPlan(select.orderBy, names: names, listCount: bound.count) { (e) throws(SQLError) in
            try binder.bind(rewrite(e))
        }
        let evaluator = ExpressionEvaluator(batch: groups)
        var vectors: [ColumnVector] = []
        for expression in bound + hidden { vectors.append(try evaluator.evaluate(expression)) }
        var columns = zip(names, bound).map { QueryResult.Column(name: $0, type: $1.type == .null ? .string : $1.type) }
        for (index, expression) in hidden.enumerated() { columns.append(.init(name: "\u{1}order\(index)", type: expression.type)) }
        let timestampIndex = bucketColumn.flatMap { bucket in
            bound.firstIndex { if case .column(let index, _) = $0 { index == bucket } else { false } }
        }
        let result = QueryResult(columns: columns, batch: ColumnBatch(columns: vectors, count: groups.count), timestampIndex: timestampIndex)
        return (try QueryExecutor.finish(result, keys: orderKeys, hiddenCount: hidden.count), true)
    }

    private func isTimestampReference(_ expression: SQLExpression, _ binder: Binder) -> Bool {
        guard case .column(let qualifier, let name) = expression.kind, let timestampIndex = scope.timestampIndex else { return false }
        return (try? scope.resolve(qualifier, name, at: 0)) == timestampIndex
    }

    private func resolveGroupKey(_ key: SQLExpression) throws(SQLError) -> SQLExpression {
        switch key.kind {
        case .integer(let text):
            guard let position = Int(text), position >= 1, position <= items.count else {
                throw SQLError(.syntax, "GROUP BY position \(text) is not in select list", at: key.position)
            }
            return items[position - 1].expression
        case .column(nil, let name):
            if (try? scope.resolve(nil, name, at: 0)) == nil,
               let item = items.first(where: { $0.alias?.lowercased() == name.lowercased() })
            {
                return item.expression
            }
            return key
        default:
            return key
        }
    }

    private func bindAggregate(_ call: SQLExpression, _ binder: Binder) throws(SQLError) -> (Aggregator, BoundExpression?) {
        guard case .function(let name, let arguments, let distinct) = call.kind else { preconditionFailure("not an aggregate call") }
        let isStar = arguments.count == 1 && { if case .star = arguments[0].kind { return true } else { return false } }()
        guard let kind = AggregateKind(name: name, argumentCount: isStar ? 0 : arguments.count, distinct: distinct) else {
            throw SQLError(.undefinedFunction, "unknown function name: \(name)", at: call.position)
        }
        for argument in arguments where argument.containsAggregate {
            throw SQLError(.syntax, "aggregate functions cannot be nested", at: argument.position)
        }
        if kind == .countAll { return (Aggregator(kind: .countAll, inputType: .long), nil) }
        let expected = kind == .approxPercentile ? 2...3 : kind == .stringAgg || kind.isBivariate ? 2...2 : 1...1
        guard expected.contains(arguments.count) else {
            let text = expected.count == 1 ? "\(expected.lowerBound)" : "\(expected.lowerBound)…\(expected.upperBound)"
            throw SQLError(.syntax, "wrong number of arguments for function `\(name)`; expected: \(text), provided: \(arguments.count)", at: call.position)
        }
        var argument = try binder.bind(arguments[0])
        // A DECIMAL is summed, compared and counted exactly (its scaled integers); the
        // statistics read it as a double.
        if argument.type.isDecimal, ![.count, .countDistinct, .sum, .min, .max, .first, .last, .stringAgg].contains(kind) {
            argument = try binder.coerce(argument, to: .double, at: arguments[0].position)
        }
        guard Aggregator.accepts(kind, argument.type) else {
            throw SQLError(.typeMismatch, "\(name)() does not accept \(argument.type)", at: arguments[0].position)
        }
        var aggregator = Aggregator(kind: kind, inputType: argument.type)
        if kind.isBivariate {
            var x = try binder.bind(arguments[1])
            if x.type.isDecimal { x = try binder.coerce(x, to: .double, at: arguments[1].position) }
            guard Aggregator.accepts(kind, x.type) else {
                throw SQLError(.typeMismatch, "\(name)() does not accept \(x.type)", at: arguments[1].position)
            }
            aggregator.secondArgument = x
        }
        if kind == .approxPercentile {
            let value = try binder.bind(arguments[1]).constantValue
            let p: Double? = switch value {
            case .real(let number)?: number
            case .integer(let number)?: Double(number)
            default: nil
            }
            guard let p, p >= 0, p <= 1 else {
                throw SQLError(.invalidValue, "percentile must be a constant between 0.0 and 1.0", at: arguments[1].position)
            }
            aggregator.percentile = p
        }
        if kind == .stringAgg {
            guard case .text(let separator)? = try binder.bind(arguments[1]).constantValue else {
                throw SQLError(.invalidValue, "string_agg separator must be a constant string", at: arguments[1].position)
            }
            aggregator.separator = separator
        }
        return (aggregator, argument)
    }

    /// LATEST ON ts PARTITION BY keys: the last row (by the designated timestamp) of each key,
    /// as `last()` of every column grouped by the keys, ordered by timestamp.
    private func latest(_ latestOn: LatestOn) throws(SQLError) -> QueryResult {
        guard let timestampIndex = scope.timestampIndex else {
            throw SQLError(.syntax, "LATEST ON requires a designated timestamp", at: select.position)
        }
        let memoKey = memo == nil ? nil : PlanMemo.SchemaKey(plan)
        if let memoKey, case .latest(let known)? = memo?.plan(for: memoKey) {
            var needed = known.needed
            predicate?.collectColumns(into: &needed)
            return try latestRows(known.keys, needed: needed, boundItems: known.boundItems, names: known.names, timestampIndex: timestampIndex)
        }
        let binder = Binder(scope: scope, context: executor.bindingContext)
        if case .column = latestOn.timestamp.kind {
            let index = try binder.bind(latestOn.timestamp)
            guard case .column(timestampIndex, _) = index else {
                throw SQLError(.syntax, "LATEST ON must name the designated timestamp", at: latestOn.timestamp.position)
            }
        }
        if items.contains(where: { $0.expression.containsAggregate }) {
            throw SQLError(.unsupported, "aggregates with LATEST ON are not supported; wrap the LATEST ON query in a subquery", at: select.position)
        }
        let keys = try latestOn.partitionBy.map { (e) throws(SQLError) in try binder.bind(e) }
        var needed = Set<Int>([timestampIndex])
        // Bound once: the select list is evaluated over the latest rows with the same scope.
        let boundItems = try items.map { (item) throws(SQLError) in try binder.bind(item.expression) }
        for item in boundItems { item.collectColumns(into: &needed) }
        for key in keys { key.collectColumns(into: &needed) }
        for order in select.orderBy { (try? binder.bind(order.expression))?.collectColumns(into: &needed) }
        let names = QueryExecutor.outputNames(items)
        if let memoKey, Self.remembersLatest(items, latestOn, select.orderBy) {
            let point = pointPlan(keys: keys, boundItems: boundItems, names: names, timestampIndex: timestampIndex)
            memo?.remember(.latest(.init(keys: keys, boundItems: boundItems, needed: needed, names: names, point: point)), for: memoKey)
        }
        predicate?.collectColumns(into: &needed)
        return try latestRows(keys, needed: needed, boundItems: boundItems, names: names, timestampIndex: timestampIndex)
    }

    /// The point-lookup form of this LATEST ON (`PlanMemo.PointPlan`), if it is one: told by
    /// this execution's bound WHERE; each later execution checks its own.
    private func pointPlan(
        keys: [BoundExpression], boundItems: [BoundExpression], names: [String], timestampIndex: Int
    ) -> PlanMemo.PointPlan? {
        guard select.orderBy.isEmpty, select.limit == nil, !select.distinct, select.having == nil, select.groupBy.isEmpty,
              select.sampleBy == nil, keys.count == 1, case .column(let keyColumn, .symbol) = keys[0], case .table = plan,
              let predicate, QueryExecutor.isPointCondition(predicate, column: keyColumn)
        else { return nil }
        var outputs: [Int] = []
        var timestampOutput: Int?
        for (index, bound) in boundItems.enumerated() {
            guard case .column(let column, _) = bound else { return nil }
            if column == timestampIndex, timestampOutput == nil { timestampOutput = index }
            outputs.append(column)
        }
        return PlanMemo.PointPlan(
            keyColumn: keyColumn, outputs: outputs,
            columns: zip(names, boundItems).map { .init(name: $0, type: $1.type == .null ? .string : $1.type) },
            timestampOutput: timestampOutput, needed: Set(outputs + [keyColumn]).sorted())
    }

    /// Whether a LATEST ON's bound parts may be remembered: every item, key and ORDER BY term
    /// a plain column, bound by the schema alone.
    private static func remembersLatest(_ items: [SelectQuery.Item], _ latestOn: LatestOn, _ orderBy: [OrderItem]) -> Bool {
        func plain(_ expression: SQLExpression) -> Bool {
            if case .column = expression.kind { true } else { false }
        }
        return items.allSatisfy { plain($0.expression) } && latestOn.partitionBy.allSatisfy(plain) && orderBy.allSatisfy { plain($0.expression) }
            && plain(latestOn.timestamp)
    }

    /// The latest rows of each key, projected: `needed` the columns to read.
    private func latestRows(
        _ keys: [BoundExpression], needed: Set<Int>, boundItems: [BoundExpression], names: [String], timestampIndex: Int
    ) throws(SQLError) -> QueryResult {
        let intervals = predicate?.timestampIntervals(timestampIndex)
        if keys.count == 1, case .column(let keyIndex, .symbol) = keys[0], case .table(let snapshot, _) = plan {
            let rows = try latestBySymbol(
                keyIndex: keyIndex, snapshot: snapshot, needed: needed, intervals: intervals, timestampIndex: timestampIndex)
            return try projectLatest(rows, boundItems, names: names, timestampIndex: timestampIndex)
        }
        let (source, remaining) = try executor.makeSource(plan, needed: needed, intervals: intervals, predicate: predicate)
        let columns = needed.sorted()
        var aggregators = columns.map { Aggregator(kind: .last, inputType: scope.columns[$0].type) }
        var table = GroupTable(width: keys.count)
        var atomizers = keys.map { KeyAtomizer(type: $0.type) }
        while let batch = try source.next() {
            try context.check()
            guard let filtered = try QueryExecutor.filter(batch, remaining, firstRow: source.firstRow) else { continue }
            let evaluator = ExpressionEvaluator(batch: filtered, firstRow: source.firstRow)
            var atoms: [[Int64]] = []
            for (index, key) in keys.enumerated() { atoms.append(atomizers[index].atoms(try evaluator.evaluate(key))) }
            let groups = table.groups(atoms, rows: filtered.count)
            for (position, column) in columns.enumerated() {
                aggregators[position].update(groups: groups, groupCount: table.count, values: filtered.columns[column])
            }
            try context.checkMemory(table.count * (columns.count * 24 + 16))
        }
        let groupCount = keys.isEmpty ? min(table.count, 1) : table.count
        var vectors = scope.columns.map { ColumnVector.nulls($0.type, count: groupCount) }
        for (position, column) in columns.enumerated() { vectors[column] = aggregators[position].result(groupCount: groupCount) }
        return try projectLatest(ColumnBatch(columns: vectors, count: groupCount), boundItems, names: names, timestampIndex: timestampIndex)
    }

    /// The latest row of each key of one SYMBOL column: a backward scan, newest partition first,
    /// that stops once every key of the dictionary has been seen — then only the key column is
    /// read further back, in case a NULL key is older (its row is then read alone).
    private func latestBySymbol(
        keyIndex: Int, snapshot: TableSnapshot, needed: Set<Int>, intervals: [Range<Int64>]?, timestampIndex: Int
    ) throws(SQLError) -> ColumnBatch {
        let (source, remaining) = try executor.makeSource(plan, needed: needed, intervals: intervals, predicate: predicate, reverse: true)
        guard let scan = source as? TableScan else { preconditionFailure("a table plan gives a table scan") }
        let dictionary = snapshot.symbols[snapshot.schema.columns[keyIndex].id] ?? .empty
        let keyCount = dictionary.values.count
        // `WHERE key = 'a'` / `key IN (…)`: only those keys can appear, so the scan stops
        // once each has been seen (the latest row of one host reads one batch, not the table).
        var wanted = keyCount
        var nullPossible = true
        if let allowed = predicate.flatMap({ Self.allowedSymbols($0, column: keyIndex) }) {
            wanted = Set(allowed).filter { dictionary.keys[$0] != nil }.count
            nullPossible = false
        }
        var found = 0
        var nullSeen = false
        var picked: [ColumnBatch] = []
        var seen: [Bool] = []
        if remaining == nil, let fromPostings = try scan.latestPerKey(column: keyIndex, keyCount: keyCount) {
            picked = fromPostings  // the scan is then exhausted: the loop below does not run
        } else {
            seen = [Bool](repeating: false, count: keyCount + 1)
        }
        while nullPossible || found < wanted, let batch = try scan.next() {
            try context.check()
            guard let filtered = try QueryExecutor.filter(batch, remaining, firstRow: scan.firstRow) else { continue }
            guard case .symbol(let keys, _) = filtered.columns[keyIndex] else { continue }
            var rows: [Int] = []
            for row in stride(from: keys.count - 1, through: 0, by: -1) {
                let slot = Int(keys[row]) + 1
                guard slot < seen.count, !seen[slot] else { continue }
                seen[slot] = true
                if slot == 0 { nullSeen = true } else { found += 1 }
                rows.append(row)
            }
            if !rows.isEmpty {
                // In key-only mode the batch lacks the other columns: read the row alone.
                picked.append(scan.keyOnlyColumn == nil ? filtered.gather(rows) : scan.readRows(rows.map { scan.lastRows[$0] }))
            }
            if found == keyCount {
                if nullSeen { break }
                if remaining == nil, !scan.hasPredicate {
                    // Only an older NULL key can still matter: search the raw key column for it.
                    if let row = try scan.newestNullSymbolRow(column: keyIndex) { picked.append(row) }
                    break
                }
                scan.keyOnlyColumn = keyIndex
            }
        }
        var all = picked.first ?? ColumnBatch(columns: scope.columns.map { ColumnVector.empty($0.type.representation) }, count: 0)
        for batch in picked.dropFirst() {
            for index in all.columns.indices where needed.contains(index) { all.columns[index].append(batch.columns[index]) }
            all.count += batch.count
        }
        for index in all.columns.indices where !needed.contains(index) { all.columns[index] = ColumnVector.nulls(scope.columns[index].type, count: all.count) }
        return all
    }

    /// The symbol values a predicate lets column `column` take (`= 'a'`, `IN ('a', 'b')`, in any
    /// AND-ed term), or nil when it does not restrict the column to constants.
    static func allowedSymbols(_ predicate: BoundExpression, column: Int) -> [String]? {
        switch predicate {
        case .and(let left, let right):
            return allowedSymbols(left, column: column) ?? allowedSymbols(right, column: column)
        case .comparison(.equal, .column(column, _), .constant(.text(let value), _)),
             .comparison(.equal, .constant(.text(let value), _), .column(column, _)):
            return [value]
        case .inList(.column(column, _), let values, negated: false):
            var texts: [String] = []
            for value in values {
                guard case .text(let text) = value else { return nil }
                texts.append(text)
            }
            return texts
        default:
            return nil
        }
    }

    /// The select list over the latest rows (ordered by timestamp), with the source's names.
    /// `boundItems`: the select list bound over the source's scope (the latest rows have its columns).
    private func projectLatest(
        _ rows: ColumnBatch, _ boundItems: [BoundExpression], names: [String], timestampIndex: Int
    ) throws(SQLError) -> QueryResult {
        var ordered = rows
        if rows.count > 1 {
            let latestRows = QueryResult(
                columns: scope.columns.map { .init(name: $0.name, type: $0.type) }, batch: rows, timestampIndex: timestampIndex)
            ordered = try RowOperations.sort(latestRows, [.init(column: timestampIndex, descending: false)]).batch
        }
        let evaluator = ExpressionEvaluator(batch: ordered)
        var outputs: [ColumnVector] = []
        var types: [SQLType] = []
        var outputTimestamp: Int?
        for (index, bound) in boundItems.enumerated() {
            if case .column(timestampIndex, _) = bound { outputTimestamp = outputTimestamp ?? index }
            outputs.append(try evaluator.evaluate(bound))
            types.append(bound.type == .null ? .string : bound.type)
        }
        return QueryResult(
            columns: zip(names, types).map { .init(name: $0, type: $1) }, batch: ColumnBatch(columns: outputs, count: ordered.count),
            timestampIndex: outputTimestamp)
    }
}
