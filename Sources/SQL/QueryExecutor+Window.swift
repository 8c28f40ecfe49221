import Storage

extension QueryExecutor {
    /// A select list with window functions: the filtered rows are materialised, each window
    /// call becomes a column computed over them, and the select list is evaluated on top.
    func windowProjection(
        _ select: SelectQuery, _ items: [SelectQuery.Item], _ plan: SourcePlan, _ scope: Scope, _ binder: Binder,
        _ predicate: BoundExpression?
    ) throws(SQLError) -> QueryResult {
        var calls: [SQLExpression] = []
        var canonicals: [String] = []
        for expression in items.map(\.expression) + select.orderBy.map(\.expression) {
            expression.visit { node in
                if case .window = node.kind, !canonicals.contains(node.canonical) {
                    calls.append(node)
                    canonicals.append(node.canonical)
                }
            }
        }
        let functions = try calls.map { (call) throws(SQLError) in try bindWindow(call, binder) }
        func rewrite(_ expression: SQLExpression) -> SQLExpression {
            expression.rewritten { node in
                guard case .window = node.kind, let index = canonicals.firstIndex(of: node.canonical) else { return nil }
                return SQLExpression(.column(qualifier: nil, name: "\u{1}w\(index)"), at: node.position)
            }
        }
        // Every source column the query can touch is read (window queries are usually narrow).
        let needed = Set(scope.columns.indices)
        let intervals = scope.timestampIndex.flatMap { predicate?.timestampIntervals($0) }
        let (source, remaining) = try makeSource(plan, needed: needed, intervals: intervals, predicate: predicate)
        var batch = try collect(source, remaining: remaining, empty: scope.columns.map { ColumnVector.empty($0.type.representation) })
        let rows = batch.count
        var extended = scope
        for (index, function) in functions.enumerated() {
            batch.columns.append(try function.evaluate(batch))
            extended.columns.append(.init(name: "\u{1}w\(index)", qualifier: nil, type: function.type))
        }
        let outerBinder = Binder(scope: extended, context: bindingContext)
        var bound: [BoundExpression] = []
        for item in items { bound.append(try outerBinder.bind(rewrite(item.expression))) }
        let names = Self.outputNames(items)
        let (keys, hidden) = try orderPlan(select.orderBy, names: names, listCount: bound.count) { (e) throws(SQLError) in
            try outerBinder.bind(rewrite(e))
        }
        let evaluator = ExpressionEvaluator(batch: batch)
        var outputs: [ColumnVector] = []
        for expression in bound + hidden { outputs.append(try evaluator.evaluate(expression)) }
        var columns = zip(names, bound).map { QueryResult.Column(name: $0, type: $1.type == .null ? .string : $1.type) }
        for (index, expression) in hidden.enumerated() { columns.append(.init(name: "\u{1}order\(index)", type: expression.type)) }
        let timestampIndex = scope.timestampIndex.flatMap { ts in
            bound.firstIndex { if case .column(let index, _) = $0 { index == ts } else { false } }
        }
        let result = QueryResult(columns: columns, batch: ColumnBatch(columns: outputs, count: rows), timestampIndex: timestampIndex)
        return try Self.finish(result, keys: keys, hiddenCount: hidden.count)
    }

    private func bindWindow(_ call: SQLExpression, _ binder: Binder) throws(SQLError) -> WindowFunction {
        guard case .window(let name, let arguments, let spec) = call.kind else {
            preconditionFailure("not a window call")
        }
        guard let kind = WindowFunction.kind(name) else {
            throw SQLError(.undefinedFunction, "\(name) is not a window function", at: call.position)
        }
        let isStar = arguments.count == 1 && { if case .star = arguments[0].kind { return true } else { return false } }()
        var argument: BoundExpression?
        var offset = 1
        var defaultValue: BoundExpression?
        switch kind {
        case .rowNumber, .rank, .denseRank:
            guard arguments.isEmpty else { throw SQLError(.syntax, "\(name)() takes no arguments", at: call.position) }
        case .count where arguments.isEmpty || isStar:
            break
        case .lag, .lead:
            guard (1...3).contains(arguments.count) else {
                throw SQLError(.syntax, "\(name)(value[, offset[, default]]) expects 1 to 3 arguments", at: call.position)
            }
            argument = try binder.bind(arguments[0])
            if arguments.count >= 2 {
                guard case .integer(let n)? = try binder.bind(arguments[1]).constantValue, n >= 0 else {
                    throw SQLError(.invalidValue, "\(name) offset must be a non-negative constant", at: arguments[1].position)
                }
                offset = Int(n)
            }
            if arguments.count == 3, let type = argument?.type {
                defaultValue = try binder.coerce(try binder.bind(arguments[2]), to: type, at: arguments[2].position)
            }
        default:
            guard arguments.count == 1 else { throw SQLError(.syntax, "\(name)() expects one argument", at: call.position) }
            argument = try binder.bind(arguments[0])
            // A DECIMAL's running sums and averages are computed in doubles (its scaled
            // integers would be summed as if they were the values); so are a wide one's
            // running extremes (frames keep 64-bit or double state).
            if let bound = argument, bound.type.isDecimal, [.sum, .avg].contains(kind) || (bound.type.isWideDecimal && kind != .count) {
                argument = try binder.coerce(bound, to: .double, at: arguments[0].position)
            }
            if [.sum, .avg].contains(kind), let type = argument?.type, !type.isNumeric {
                throw SQLError(.typeMismatch, "\(name)() does not accept \(type)", at: arguments[0].position)
            }
        }
        if spec.ignoreNulls, ![.lag, .lead, .firstValue, .lastValue].contains(kind) {
            throw SQLError(.syntax, "IGNORE NULLS is supported by first_value, last_value, lag and lead only", at: call.position)
        }
        var orders: [(BoundExpression, descending: Bool)] = []
        for order in spec.orderBy { orders.append((try binder.bind(order.expression), order.descending)) }
        var frame = spec.frame
        if var range = frame, range.unit == .range, range.start.hasOffset || range.end.hasOffset {
            // Offsets are distances in the ORDER BY key: one key, numeric or a time.
            guard orders.count == 1 else {
                throw SQLError(.syntax, "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column", at: call.position)
            }
            let keyType = orders[0].0.type
            guard keyType.isNumeric || keyType.isTemporal else {
                throw SQLError(.typeMismatch, "RANGE with offset needs a numeric or timestamp ORDER BY column, not \(keyType)", at: call.position)
            }
            if range.timeUnits {
                guard let ticks = keyType.ticksPerSecond else {
                    throw SQLError(.typeMismatch, "a RANGE frame with a time unit needs a timestamp ORDER BY column, not \(keyType)", at: call.position)
                }
                // The parser gave µs; the key counts in its own ticks (saturating: a span
                // longer than the type's range covers every row anyway).
                func converted(_ bound: WindowFrame.Bound) -> WindowFrame.Bound {
                    func ticksOf(_ micros: Int64) -> Int64 {
                        if ticks < 1_000_000 { return micros / (1_000_000 / ticks) }
                        let (product, overflow) = micros.multipliedReportingOverflow(by: ticks / 1_000_000)
                        return overflow ? .max : product
                    }
                    switch bound {
                    case .preceding(let micros): return .preceding(ticksOf(micros))
                    case .following(let micros): return .following(ticksOf(micros))
                    default: return bound
                    }
                }
                range.start = converted(range.start)
                range.end = converted(range.end)
            }
            frame = range
        }
        return WindowFunction(
            kind: kind, argument: argument, offset: offset, defaultValue: defaultValue,
            partitionBy: try spec.partitionBy.map { (e) throws(SQLError) in try binder.bind(e) }, orderBy: orders, frame: frame,
            ignoreNulls: spec.ignoreNulls)
    }
}

extension QueryExecutor {
    /// Window functions over GROUP BY / SAMPLE BY results (`lag(sum(v)) OVER (ORDER BY ts)`,
    /// `sum(sum(v)) OVER ()`): the aggregation runs as an inner query whose columns are every
    /// grouped expression the select list and ORDER BY use — whole items without windows, and
    /// the aggregates and columns a window call or its surroundings read — and the windows run
    /// over its rows, as the SQL standard orders them (windows after grouping).
    static func windowsOverGroups(_ select: SelectQuery, _ items: [SelectQuery.Item]) throws(SQLError) -> SQLQuery {
        var inner = select
        inner.items = []
        inner.orderBy = []
        inner.limit = nil
        inner.distinct = false
        var canonicals: [String: String] = [:]
        func column(_ expression: SQLExpression) -> SQLExpression {
            let key = expression.canonical
            let name: String
            if let known = canonicals[key] {
                name = known
            } else {
                name = "\u{1}g\(canonicals.count)"
                canonicals[key] = name
                inner.items.append(.init(expression: expression, alias: name))
            }
            return SQLExpression(.column(qualifier: nil, name: name), at: expression.position)
        }
        // A part that reads the rows (a column or an aggregate) comes from the inner query;
        // constants (a lag offset, a default) stay as written.
        func readsRows(_ expression: SQLExpression) -> Bool {
            var found = false
            expression.visit { node in
                switch node.kind {
                case .column: found = true
                case .function(let name, _, _) where AggregateKind.isAggregate(name): found = true
                default: break
                }
            }
            return found
        }
        func outer(_ expression: SQLExpression) -> SQLExpression {
            guard expression.containsWindow else { return readsRows(expression) ? column(expression) : expression }
            return expression.rewritten { node in
                if case .window(let name, let arguments, var spec) = node.kind {
                    spec.partitionBy = spec.partitionBy.map { readsRows($0) ? column($0) : $0 }
                    for index in spec.orderBy.indices where readsRows(spec.orderBy[index].expression) {
                        spec.orderBy[index].expression = column(spec.orderBy[index].expression)
                    }
                    let arguments = arguments.map { readsRows($0) ? column($0) : $0 }
                    return SQLExpression(.window(name: name, arguments: arguments, spec: spec), at: node.position)
                }
                if !node.containsWindow, readsRows(node) { return column(node) }
                return nil
            }
        }
        let names = outputNames(items)
        var result = SelectQuery()
        result.position = select.position
        result.distinct = select.distinct
        result.limit = select.limit
        result.items = zip(items, names).map { item, name in .init(expression: outer(item.expression), alias: name) }
        result.orderBy = select.orderBy.map { order in
            // An output name or position is the outer query's own.
            if case .column(nil, let name) = order.expression.kind, names.contains(where: { Scope.sameName($0, name) }) { return order }
            return OrderItem(expression: outer(order.expression), descending: order.descending)
        }
        result.from = .subquery(.select(inner), alias: nil, position: select.position)
        return .select(result)
    }
}
