import Storage

extension QueryExecutor {
    /// One SELECT: source → filter → (latest | aggregate | project) → distinct → order → limit.
    /// `memo`: the prepared statement's shared plan parts, for the statement itself only
    /// (never a subquery or a rewritten query: they are other selects).
    func runSelect(_ select: SelectQuery, memo: PlanMemo? = nil) throws(SQLError) -> QueryResult {
        // The WHERE goes with the FROM so a join can filter its inputs early (it is still
        // applied below, to the joined rows).
        let plan = try sourcePlan(
            select.from, filter: select.whereClause?.conjuncts.filter(\.isPushable) ?? [], columns: Self.referencedColumns(select))
        if let memo, select.latestOn != nil, let result = try runPoint(select, plan, memo) { return result }
        let scope = plan.scope
        let items = try expandStars(select.items, scope)
        let binder = Binder(scope: scope, context: bindingContext)
        var predicate = try select.whereClause.map { (e) throws(SQLError) in try binder.bindPredicate(e) }
        if case .constant(.boolean(true), _)? = predicate { predicate = nil }

        let aggregating = select.sampleBy != nil || !select.groupBy.isEmpty || items.contains { $0.expression.containsAggregate }
            || select.latestOn != nil || items.contains { $0.expression.aggregatesInWindows }
        var result: QueryResult
        var orderHandled = false
        if items.contains(where: { $0.expression.containsWindow }) {
            if aggregating { return try run(Self.windowsOverGroups(select, items)) }
            (result, orderHandled) = (try windowProjection(select, items, plan, scope, binder, predicate), true)
        } else if aggregating {
            (result, orderHandled) = try AggregatePlan(
                executor: self, select: select, items: items, plan: plan, scope: scope, predicate: predicate, memo: memo
            ).run()
        } else {
            (result, orderHandled) = try projection(select, items, plan, scope, binder, predicate, memo: memo)
        }
        if select.distinct { result = RowOperations.distinct(result) }
        if !orderHandled, !select.orderBy.isEmpty {
            result = try RowOperations.sort(result, try outputOrder(select.orderBy, result, at: select.position))
        }
        if let limit = select.limit { result = try applyLimit(limit, result) }
        return result
    }

    /// A remembered point lookup (`PlanMemo.PointPlan`) run for this execution: the WHERE
    /// bound with this execution's parameters, the key's newest row read through its
    /// postings. Nil — the general path then runs — when none is remembered, this execution's
    /// WHERE does not bind to the key equal to a value, or the table has no postings cache.
    /// `inPlace`: also nil when the lookup would build postings or visit more than
    /// `inPlacePartitions` partitions (decision 0041).
    func runPoint(_ select: SelectQuery, _ plan: SourcePlan, _ memo: PlanMemo, inPlace: Bool = false) throws(SQLError) -> QueryResult? {
        guard let key = PlanMemo.SchemaKey(plan), case .latest(let known)? = memo.plan(for: key), let point = known.point,
              case .table(let snapshot, _) = plan, let condition = select.whereClause
        else { return nil }
        let predicate = try Binder(scope: plan.scope, context: bindingContext).bindPredicate(condition)
        guard Self.isPointCondition(predicate, column: point.keyColumn) else { return nil }
        let keyCount = snapshot.symbols[snapshot.schema.columns[point.keyColumn].id]?.values.count ?? 0
        let scan = try TableScan(
            snapshot: snapshot, needed: point.needed, intervals: nil, predicate: predicate, reverse: true, batchRows: Self.batchRows,
            postings: postings)
        let bound = inPlace ? TableScan.LookupBound(partitions: Self.inPlacePartitions) : nil
        guard let found = try scan.latestPerKey(column: point.keyColumn, keyCount: keyCount, bound: bound) else { return nil }
        let row = found.first
        let vectors = point.outputs.indices.map { index in
            row?.columns[point.outputs[index]] ?? .empty(point.columns[index].type.representation)
        }
        return QueryResult(
            columns: point.columns, batch: ColumnBatch(columns: vectors, count: row?.count ?? 0), timestampIndex: point.timestampOutput)
    }

    /// Most partitions a point lookup visits where it is called (an event loop) before it
    /// gives the statement to a worker instead.
    static let inPlacePartitions = 64

    /// `runPoint` for a statement that has a point lookup remembered, run where it is called:
    /// nil when it is not one, or it would do more than a bounded amount of in-memory work
    /// (decision 0041) — the caller then runs it on a worker.
    func runPointInPlace(_ query: SQLQuery, memo: PlanMemo) throws(SQLError) -> QueryResult? {
        // The memo holds a point plan only for a single-table LATEST ON: the FROM is a table
        // name, so planning the source is a snapshot lookup, not a subquery's run.
        guard memo.remembersPointPlan, case .select(let select) = query, select.latestOn != nil, case .table? = select.from else {
            return nil
        }
        return try runPoint(select, try sourcePlan(select.from), memo, inPlace: true)
    }

    /// Whether `predicate` is exactly `column = constant` for a SYMBOL column: one key.
    static func isPointCondition(_ predicate: BoundExpression, column: Int) -> Bool {
        if case .comparison(.equal, .column(column, .symbol), .constant) = predicate { true } else { false }
    }

    /// For a SELECT over a join: every column name the statement mentions (lower-cased, any
    /// qualifier), so the join reads only those of its tables — the others are NULL in the
    /// joined rows, where nothing reads them. Nil (read everything) when the statement has a
    /// `*` item, a subquery (it may name outer columns) or a LATERAL join.
    static func referencedColumns(_ select: SelectQuery) -> Set<String>? {
        guard case .join? = select.from else { return nil }
        var names = Set<String>()
        var complete = true
        func add(_ expression: SQLExpression) {
            expression.visit { node in
                switch node.kind {
                case .column(_, let name): names.insert(ASCIICase.lowercased(name))
                case .subquery: complete = false
                default: break  // a `*` below an item is `count(*)`'s: it reads no column
                }
            }
        }
        func addJoins(_ from: FromSource?) {
            guard case .join(let join)? = from else { return }
            if join.lateral { complete = false }
            join.condition.map(add)
            for name in join.sharedColumns { names.insert(ASCIICase.lowercased(name)) }
            addJoins(join.left)
            addJoins(join.right)
        }
        for item in select.items {
            if case .star = item.expression.kind { complete = false }
            add(item.expression)
        }
        select.whereClause.map(add)
        select.having.map(add)
        select.groupBy.forEach(add)
        for item in select.orderBy { add(item.expression) }
        if let latest = select.latestOn {
            add(latest.timestamp)
            latest.partitionBy.forEach(add)
        }
        addJoins(select.from)
        return complete ? names : nil
    }

    /// `*` and `t.*` replaced by the columns they name.
    func expandStars(_ items: [SelectQuery.Item], _ scope: Scope) throws(SQLError) -> [SelectQuery.Item] {
        var expanded: [SelectQuery.Item] = []
        for item in items {
            guard case .star(let qualifier) = item.expression.kind else {
                expanded.append(item)
                continue
            }
            var any = false
            for column in scope.columns where qualifier == nil || column.qualifier?.lowercased() == qualifier?.lowercased() {
                any = true
                expanded.append(.init(
                    expression: SQLExpression(.column(qualifier: column.qualifier, name: column.name), at: item.expression.position),
                    alias: nil))
            }
            if !any, qualifier != nil {
                throw SQLError(.undefinedTable, "Invalid table name or alias: \(qualifier!)", at: item.expression.position)
            }
        }
        return expanded
    }

    /// Output names: aliases, else QuestDB's defaults, made unique with a numeric suffix.
    /// Names are told apart case-insensitively by a hash of their folded bytes, compared in
    /// full only when two hashes meet: a point query names its 21 columns on every execution,
    /// and folding each into a new string and comparing every pair showed in its profile.
    static func outputNames(_ items: [SelectQuery.Item]) -> [String] {
        var names: [String] = []
        names.reserveCapacity(items.count)
        var hashes: [UInt64] = []
        hashes.reserveCapacity(items.count)
        func taken(_ name: String, _ hash: UInt64) -> Bool {
            for (index, other) in hashes.enumerated() where other == hash && Scope.sameName(names[index], name) { return true }
            return false
        }
        for item in items {
            let base = item.alias ?? item.expression.defaultName
            var name = base
            var hash = foldedHash(name)
            var suffix = 1
            while taken(name, hash) {
                name = "\(base)\(suffix)"
                hash = foldedHash(name)
                suffix += 1
            }
            names.append(name)
            hashes.append(hash)
        }
        return names
    }

    /// FNV-1a over the name's bytes with ASCII letters folded to lower case; a name with
    /// non-ASCII letters is hashed fully lower-cased, as `Scope.sameName` compares it.
    static func foldedHash(_ name: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            if byte >= 0x80 { return name.lowercased().utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } }
            value = (value ^ UInt64(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)) &* 0x100_0000_01b3
        }
        return value
    }

    /// The plain (non-aggregating) path: streams batches, stopping early when a LIMIT without
    /// ORDER BY has enough rows. ORDER BY keys that are not output columns ride along hidden.
    private func projection(
        _ select: SelectQuery, _ items: [SelectQuery.Item], _ plan: SourcePlan, _ scope: Scope, _ binder: Binder,
        _ predicate: BoundExpression?, memo: PlanMemo? = nil
    ) throws(SQLError) -> (QueryResult, Bool) {
        let memoKey = memo == nil ? nil : PlanMemo.SchemaKey(plan)
        let planned: PlanMemo.ProjectionPlan
        if let memoKey, case .projection(let known)? = memo?.plan(for: memoKey) {
            planned = known
        } else {
            var bound: [BoundExpression] = []
            for item in items { bound.append(try binder.bind(item.expression)) }
            let names = Self.outputNames(items)
            let (keys, hidden) = try orderPlan(select.orderBy, names: names, listCount: bound.count) { (e) throws(SQLError) in
                try binder.bind(e)
            }
            var needed = Set<Int>()
            for expression in bound + hidden { expression.collectColumns(into: &needed) }
            planned = .init(bound: bound, names: names, orderKeys: keys, hidden: hidden, needed: needed)
            if let memoKey, Self.remembersProjection(items, select.orderBy) { memo?.remember(.projection(planned), for: memoKey) }
        }
        let (bound, names, keys, hidden) = (planned.bound, planned.names, planned.orderKeys, planned.hidden)
        let all = bound + hidden
        var needed = planned.needed
        predicate?.collectColumns(into: &needed)
        let intervals = scope.timestampIndex.flatMap { predicate?.timestampIntervals($0) }
        // A LIMIT without ORDER BY stops the scan once it has the rows. So does one under ORDER
        // BY the designated timestamp alone: a table scan yields rows in that order batch by
        // batch (newest batch first when reversed), so the rows it has when it stops hold the
        // LIMIT's rows, and `finish` sorts only those — `WHERE host = $1 ORDER BY ts DESC
        // LIMIT 1` reads one batch of the host's rows, not all of them.
        var stopAfter: Int?
        var reverse = false
        if !select.distinct {
            if select.orderBy.isEmpty {
                stopAfter = try earlyStop(select.limit)
            } else if let descending = Self.designatedOrder(keys, all, plan: plan, scope: scope) {
                stopAfter = try earlyStop(select.limit)
                reverse = descending && stopAfter != nil
            }
        }
        let (source, remaining) = try makeSource(plan, needed: needed, intervals: intervals, predicate: predicate, reverse: reverse)

        var output: [ColumnVector]? = nil
        var rows = 0
        var bytes = 0
        while let batch = try source.next() {
            try context.check()
            guard let filtered = try Self.filter(batch, remaining, firstRow: source.firstRow) else { continue }
            let evaluator = ExpressionEvaluator(batch: filtered, firstRow: source.firstRow)
            var vectors: [ColumnVector] = []
            for expression in all { vectors.append(try evaluator.evaluate(expression)) }
            if output == nil {
                output = vectors
            } else {
                for index in vectors.indices { output![index].append(vectors[index]) }
            }
            rows += filtered.count
            bytes += vectors.reduce(0) { $0 + $1.approximateBytes }
            try context.checkMemory(bytes)
            if let stopAfter, rows >= stopAfter { break }
        }
        let types = all.map { $0.type == .null ? SQLType.string : $0.type }
        let vectors = output ?? types.map { ColumnVector.empty($0.representation) }
        var columns = zip(names, types).map { QueryResult.Column(name: $0, type: $1) }
        for index in hidden.indices { columns.append(.init(name: "\u{1}order\(index)", type: types[bound.count + index])) }
        let timestampIndex = scope.timestampIndex.flatMap { ts in
            bound.firstIndex { if case .column(let index, _) = $0 { index == ts } else { false } }
        }
        let result = QueryResult(columns: columns, batch: ColumnBatch(columns: vectors, count: rows), timestampIndex: timestampIndex)
        return (try Self.finish(result, keys: keys, hiddenCount: hidden.count), true)
    }

    /// Whether a projection's bound parts may be remembered (decision 0039): every item a
    /// plain column, every ORDER BY term a plain column or a position — bound by the schema
    /// and the select list alone.
    static func remembersProjection(_ items: [SelectQuery.Item], _ orderBy: [OrderItem]) -> Bool {
        items.allSatisfy { if case .column = $0.expression.kind { true } else { false } }
            && orderBy.allSatisfy {
                switch $0.expression.kind {
                case .column, .integer: true
                default: false
                }
            }
    }

    /// Whether `keys` order by the designated timestamp of a table scan alone: its direction
    /// (true: descending), or nil.
    static func designatedOrder(
        _ keys: [RowOperations.SortKey], _ expressions: [BoundExpression], plan: SourcePlan, scope: Scope
    ) -> Bool? {
        guard keys.count == 1, case .table = plan, let timestamp = scope.timestampIndex,
              case .column(timestamp, _) = expressions[keys[0].column]
        else { return nil }
        return keys[0].descending
    }

    /// ORDER BY over a select list: output columns by name or position, else expressions bound
    /// by `bind` that ride along after the list as hidden columns.
    func orderPlan(
        _ orderBy: [OrderItem], names: [String], listCount: Int, bind: (SQLExpression) throws(SQLError) -> BoundExpression
    ) throws(SQLError) -> (keys: [RowOperations.SortKey], hidden: [BoundExpression]) {
        var keys: [RowOperations.SortKey] = []
        var hidden: [BoundExpression] = []
        for order in orderBy {
            if let index = try outputColumn(order.expression, names: names, count: listCount) {
                keys.append(.init(column: index, descending: order.descending))
            } else {
                hidden.append(try bind(order.expression))
                keys.append(.init(column: listCount + hidden.count - 1, descending: order.descending))
            }
        }
        return (keys, hidden)
    }

    /// Sorts by `keys` and drops `hiddenCount` trailing columns; the designated timestamp
    /// survives only an ascending sort by itself.
    static func finish(_ result: QueryResult, keys: [RowOperations.SortKey], hiddenCount: Int) throws(SQLError) -> QueryResult {
        var result = result
        if !keys.isEmpty {
            result = try RowOperations.sort(result, keys)
            if keys.first?.column != result.timestampIndex || keys.first?.descending == true { result.timestampIndex = nil }
        }
        if hiddenCount > 0 {
            result.columns.removeLast(hiddenCount)
            result.batch.columns.removeLast(hiddenCount)
        }
        return result
    }

    /// Every batch of `source` that passes `remaining`, appended (bounded by the memory cap).
    func collect(_ source: any RowSource, remaining: BoundExpression?, empty: [ColumnVector]) throws(SQLError) -> ColumnBatch {
        var vectors: [ColumnVector]?
        var rows = 0
        var bytes = 0
        while let batch = try source.next() {
            try context.check()
            guard let filtered = try Self.filter(batch, remaining, firstRow: source.firstRow) else { continue }
            if vectors == nil {
                vectors = filtered.columns
            } else {
                for index in filtered.columns.indices { vectors![index].append(filtered.columns[index]) }
            }
            rows += filtered.count
            bytes += filtered.columns.reduce(0) { $0 + $1.approximateBytes }
            try context.checkMemory(bytes)
        }
        return ColumnBatch(columns: vectors ?? empty, count: rows)
    }

    /// Rows that pass `predicate` (nil when none does).
    static func filter(_ batch: ColumnBatch, _ predicate: BoundExpression?, firstRow: Int64) throws(SQLError) -> ColumnBatch? {
        guard let predicate else { return batch }
        let mask = try ExpressionEvaluator(batch: batch, firstRow: firstRow).evaluate(predicate).booleans
        let selected = mask.reduce(0) { $0 + ($1 ? 1 : 0) }
        if selected == 0 { return nil }
        if selected == batch.count { return batch }
        return ColumnBatch(columns: batch.columns.map { $0.count == 0 ? $0 : $0.filter(mask, selected: selected) }, count: selected)
    }

    /// How many rows a LIMIT without ORDER BY needs from the start (nil: it needs them all).
    private func earlyStop(_ limit: Limit?) throws(SQLError) -> Int? {
        guard let limit else { return nil }
        let (first, second) = try limitValues(limit)
        if let second { return first >= 0 && second >= 0 ? Int(max(first, second)) : nil }
        return first >= 0 ? Int(first) : nil
    }

    func limitValues(_ limit: Limit) throws(SQLError) -> (Int64, Int64?) {
        let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: bindingContext)
        func value(_ expression: SQLExpression) throws(SQLError) -> Int64 {
            binder.context.inference?.note(expression, as: .long)
            guard case .integer(let number)? = try binder.bind(expression).constantValue else {
                // Described without values: any limit gives the same columns.
                if binder.context.inference != nil { return Int64(Int32.max) }
                throw SQLError(.syntax, "LIMIT expects a constant integer", at: expression.position)
            }
            return number
        }
        return (try value(limit.first), try limit.second.map { (e) throws(SQLError) in try value(e) })
    }

    /// QuestDB's LIMIT forms: `n` first n, `-n` last n, `m, n` rows m+1…n, `-m, -n` from the end.
    func applyLimit(_ limit: Limit, _ result: QueryResult) throws(SQLError) -> QueryResult {
        let count = Int64(result.rowCount)
        let (first, second) = try limitValues(limit)
        var range: Range<Int64>
        if let second {
            if first < 0 || second < 0 {
                let low = first < 0 ? count + first : first
                let high = second < 0 ? count + second : second
                range = max(0, low)..<max(max(0, low), min(count, high))
            } else {
                range = min(first, count)..<max(min(first, count), min(second, count))
            }
        } else if first < 0 {
            range = max(0, count + first)..<count
        } else {
            range = 0..<min(first, count)
        }
        if range == 0..<count { return result }
        var limited = result
        limited.batch = result.batch.slice(Int(range.lowerBound)..<Int(range.upperBound))
        return limited
    }

    /// An ORDER BY item that names an output column (alias, name or 1-based position).
    func outputColumn(_ expression: SQLExpression, names: [String], count: Int) throws(SQLError) -> Int? {
        switch expression.kind {
        case .integer(let text):
            guard let position = Int(text), position >= 1, position <= count else {
                throw SQLError(.syntax, "ORDER BY position \(text) is not in select list", at: expression.position)
            }
            return position - 1
        case .column(nil, let name):
            return names.firstIndex { $0.lowercased() == name.lowercased() }
        default:
            return nil
        }
    }

    /// ORDER BY over a finished result (after aggregation): output columns only.
    func outputOrder(_ orderBy: [OrderItem], _ result: QueryResult, at position: Int) throws(SQLError) -> [RowOperations.SortKey] {
        var keys: [RowOperations.SortKey] = []
        for order in orderBy {
            guard let index = try outputColumn(order.expression, names: result.columns.map(\.name), count: result.columns.count) else {
                throw SQLError(.undefinedColumn, "Invalid column: \(order.expression.canonical)", at: order.expression.position)
            }
            keys.append(.init(column: index, descending: order.descending))
        }
        return keys
    }
}
