import Storage

/// Runs queries: resolves FROM sources, set operations and `WITH` names, and hands each
/// SELECT to the projection or aggregation path. Synchronous and CPU-bound: callers run it
/// off the network event loops.
struct QueryExecutor {
    let engine: StorageEngine
    let context: QueryContext
    let now: Int64
    var parameters: [SQLValue] = []
    var parameterTypes: [SQLType?] = []
    var readOnly = false
    /// The enclosing row's columns while a correlated subquery runs.
    var outer: [(Scope.Column, SQLValue)] = []
    /// Set when the statement is only described: tables read as empty, parameters are inferred.
    var inference: ParameterInference?
    /// `WITH` names visible to the query being run, by lower-cased name.
    var namedResults: [String: QueryResult] = [:]
    var depth = 0

    /// Rows per batch in scans and pipelines.
    static let batchRows = 4096
    /// Threads one aggregation may scan with.
    var parallelism = 1
    /// Fewest rows worth a second scanning thread.
    var parallelMinRows = 262_144
    /// In-memory symbol postings shared by queries (nil: scans read symbol columns whole).
    var postings: SymbolPostingsCache?
    /// For `query_activity()`.
    var activity: QueryActivity?

    var bindingContext: BindingContext {
        var binding = BindingContext(now: now, parameters: parameters)
        binding.parameterTypes = parameterTypes
        binding.readOnly = readOnly
        binding.inference = inference
        let executor = self
        binding.runSubquery = { (query: SQLQuery, _: Int) throws(SQLError) -> QueryResult in try executor.run(query) }
        binding.outer = outer
        binding.relationOID = { name in PostgresCatalog(engine: executor.engine).oid(ofRelation: name) }
        binding.runCorrelated = { (query: SQLQuery, columns: [Scope.Column], values: [SQLValue]) throws(SQLError) -> QueryResult in
            var inner = executor
            inner.outer = Array(zip(columns, values)) + executor.outer
            return try inner.run(query)
        }
        return binding
    }

    func run(_ query: SQLQuery, memo: PlanMemo? = nil) throws(SQLError) -> QueryResult {
        guard depth < 64 else { throw SQLError(.limitExceeded, "subqueries are nested too deeply") }
        var inner = self
        inner.depth += 1
        switch query {
        case .select(let select):
            return try inner.runSelect(select, memo: memo)
        case .with(let names, let body):
            for (name, subquery) in names {
                inner.namedResults[ASCIICase.lowercased(name)] = try inner.run(subquery)
            }
            return try inner.run(body)
        case .setOperation(let op, let left, let right, let position):
            return try inner.setOperation(op, try inner.run(left), try inner.run(right), at: position)
        case .pivot(let source, let pivot):
            return try PivotPlan(executor: inner).run(source, pivot)
        case .ordered(let query, let order, let limit, let position):
            var result = try inner.run(query)
            if !order.isEmpty { result = try RowOperations.sort(result, try inner.outputOrder(order, result, at: position)) }
            if let limit { result = try inner.applyLimit(limit, result) }
            return result
        case .designated(let query, let column, let position):
            return try Self.designate(try inner.run(query), column: column, at: position)
        }
    }

    /// `(subquery) timestamp(col)`: `col` must be a TIMESTAMP whose values ascend (NULLs
    /// aside none may be), as a designated timestamp's do.
    static func designate(_ result: QueryResult, column: String, at position: Int) throws(SQLError) -> QueryResult {
        guard let index = result.columns.firstIndex(where: { Scope.sameName($0.name, column) }) else {
            throw SQLError(.undefinedColumn, "Invalid column: \(column)", at: position)
        }
        guard result.columns[index].type == .timestamp || result.columns[index].type == .column(.timestampNanos) else {
            throw SQLError(.typeMismatch, "TIMESTAMP column expected [actual=\(result.columns[index].type)]", at: position)
        }
        let values = result.batch.columns[index].integers
        for row in values.indices {
            if values[row] == Int64.min { throw SQLError(.invalidValue, "designated timestamp column cannot be NULL", at: position) }
            if row > 0, values[row] < values[row - 1] {
                throw SQLError(.invalidValue, "designated timestamp column values must be in ascending order (row \(row + 1))", at: position)
            }
        }
        var designated = result
        designated.timestampIndex = index
        return designated
    }

    // MARK: Sources

    /// Where a SELECT's rows come from, before the columns it needs are known.
    enum SourcePlan {
        case table(TableSnapshot, qualifier: String)
        case materialized(QueryResult, qualifier: String?)
        /// A join's rows: each column keeps its side's qualifier.
        case joined(QueryResult, qualifiers: [String?])
        case longSequence(Int64, qualifier: String?)
        case single

        var scope: Scope {
            switch self {
            case .table(let snapshot, let qualifier):
                return Scope(table: snapshot, qualifier: qualifier)
            case .materialized(let result, let qualifier):
                return Scope(
                    columns: result.columns.map { Scope.Column(name: $0.name, qualifier: qualifier, type: $0.type) },
                    timestampIndex: result.timestampIndex)
            case .joined(let result, let qualifiers):
                return Scope(
                    columns: result.columns.enumerated().map { Scope.Column(name: $1.name, qualifier: qualifiers[$0], type: $1.type) },
                    timestampIndex: result.timestampIndex)
            case .longSequence(_, let qualifier):
                return Scope(columns: [Scope.Column(name: "x", qualifier: qualifier, type: .long)], timestampIndex: nil)
            case .single:
                return Scope(columns: [], timestampIndex: nil)
            }
        }
    }

    /// `filter`: conjuncts of the WHERE over this source that a join may check on its inputs.
    /// `columns`: for a join, the column names the statement reads (nil: all).
    func sourcePlan(_ from: FromSource?, filter: [SQLExpression] = [], columns: Set<String>? = nil) throws(SQLError) -> SourcePlan {
        guard let from else { return .single }
        switch from {
        case .table(let name, let alias, let position):
            if let named = namedResults[ASCIICase.lowercased(name)] { return .materialized(named, qualifier: alias ?? name) }
            guard let snapshot = engine.snapshot(ofTable: name) else {
                if PostgresCatalog.isRelation(name) {
                    let qualifier = alias ?? String(name.split(separator: ".").last ?? Substring(name))
                    return .materialized(PostgresCatalog(engine: engine).relation(name), qualifier: qualifier)
                }
                if let reason = engine.suspension(ofTable: name) {
                    throw SQLError(.storage, "table is suspended [table=\(name), reason=\(reason)]", at: position)
                }
                throw SQLError(.undefinedTable, "table does not exist [table=\(name)]", at: position)
            }
            let plan = SourcePlan.table(snapshot, qualifier: alias ?? snapshot.schema.name)
            guard inference == nil else {
                // Described, not run: the table's columns with no rows.
                let scope = plan.scope
                return .materialized(
                    .empty(scope.columns.map { QueryResult.Column(name: $0.name, type: $0.type) }, timestampIndex: scope.timestampIndex),
                    qualifier: alias ?? snapshot.schema.name)
            }
            return plan
        case .subquery(let query, let alias, _):
            return .materialized(try run(query), qualifier: alias)
        case .join(let join):
            let (result, qualifiers) = try JoinExecutor(executor: self).run(join, filter: filter, columns: columns)
            return .joined(result, qualifiers: qualifiers)
        case .function(let name, let arguments, let alias, let position):
            let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: bindingContext)
            var values: [SQLValue] = []
            for argument in arguments {
                guard let value = try binder.bind(argument).constantValue else {
                    throw SQLError(.invalidValue, "constant argument expected", at: argument.position)
                }
                values.append(value)
            }
            if name == "long_sequence" {
                if inference != nil, values.first == .null { return .longSequence(0, qualifier: alias) }
                guard values.count >= 1, case .integer(let count) = values[0] else {
                    throw SQLError(.syntax, "long_sequence(count) expects a LONG count", at: position)
                }
                return .longSequence(inference == nil ? count : 0, qualifier: alias)
            }
            if name == "query_activity", let activity { return .materialized(activity.table(), qualifier: alias) }
            return .materialized(try CatalogViews(engine: engine).function(name, values, at: position), qualifier: alias)
        }
    }

    /// The row source for `plan`, and the part of `predicate` the caller must still apply.
    /// Table scans take the whole predicate: they evaluate it on its own columns first and read
    /// the other columns only for matching rows, and drop the timestamp conditions their
    /// intervals already guarantee.
    func makeSource(_ plan: SourcePlan, needed: Set<Int>, intervals: [Range<Int64>]?, predicate: BoundExpression?, reverse: Bool = false)
        throws(SQLError) -> (source: any RowSource, remaining: BoundExpression?)
    {
        switch plan {
        case .table(let snapshot, _):
            let timestampIndex = plan.scope.timestampIndex
            let prunable = timestampIndex.map { snapshot.schema.columns[$0].type == .timestamp } ?? false
            var scanPredicate = predicate
            if prunable, let timestampIndex, let intervals, let bound = predicate,
               bound.timestampIntervals(timestampIndex) == intervals
            {
                scanPredicate = bound.removingTimestampConjuncts(timestampIndex)
            }
            let scan = try TableScan(
                snapshot: snapshot, needed: needed.sorted(), intervals: prunable ? intervals : nil, predicate: scanPredicate,
                reverse: reverse, batchRows: Self.batchRows, postings: postings)
            return (scan, nil)
        case .materialized(let result, _), .joined(let result, _):
            return (MaterializedSource(result.batch, batchRows: Self.batchRows), predicate)
        case .longSequence(let count, _):
            return (LongSequenceSource(count: count), predicate)
        case .single:
            return (SingleRowSource(), predicate)
        }
    }

    /// A FROM source's rows in memory, with each column's qualifier (the inputs of a join).
    /// `filter` holds WHERE conjuncts the join may check here first: those over this source's
    /// columns alone (and calling nothing volatile) keep only the rows that can pass — a table
    /// scan prunes partitions by their timestamp intervals and filters before reading the
    /// other columns.
    /// `within`: designated timestamps outside it cannot matter to the caller (an ASOF join's
    /// right side past the left side's last row); a table scan skips them.
    /// `columns`: the names the statement reads (nil: all); a table's other columns are not
    /// read and hold NULL (its designated timestamp is always read: joins pair by it).
    func materialize(
        _ from: FromSource, filter: [SQLExpression] = [], within: Range<Int64>? = nil, columns: Set<String>? = nil
    ) throws(SQLError) -> (QueryResult, [String?]) {
        let plan = try sourcePlan(from, filter: filter, columns: columns)
        switch plan {
        case .joined(let result, let qualifiers): return (result, qualifiers)
        case .materialized(let result, let qualifier) where filter.isEmpty: return (result, result.columns.map { _ in qualifier })
        default: break
        }
        let scope = plan.scope
        let binder = Binder(scope: scope, context: bindingContext)
        var predicate: BoundExpression?
        for conjunct in filter {
            guard let bound = try? binder.bindPredicate(conjunct), !bound.callsVolatile else { continue }
            predicate = predicate.map { .and($0, bound) } ?? bound
        }
        var intervals = scope.timestampIndex.flatMap { predicate?.timestampIntervals($0) }
        if let within, scope.timestampIndex != nil {
            intervals = (intervals ?? [Int64.min..<Int64.max]).compactMap { range in
                let lower = max(range.lowerBound, within.lowerBound), upper = min(range.upperBound, within.upperBound)
                return lower < upper ? lower..<upper : nil
            }
        }
        if case .materialized(let result, let qualifier) = plan, predicate == nil { return (result, result.columns.map { _ in qualifier }) }
        var needed = Set(scope.columns.indices)
        if let columns, case .table = plan {
            needed = needed.filter { columns.contains(ASCIICase.lowercased(scope.columns[$0].name)) || $0 == scope.timestampIndex }
        }
        let (source, remaining) = try makeSource(plan, needed: needed, intervals: intervals, predicate: predicate)
        var batch = try collect(source, remaining: remaining, empty: scope.columns.map { ColumnVector.empty($0.type.representation) })
        if needed.count < scope.columns.count {
            for index in scope.columns.indices where !needed.contains(index) {
                batch.columns[index] = .nulls(scope.columns[index].type, count: batch.count)
            }
        }
        let columns = scope.columns.map { QueryResult.Column(name: $0.name, type: $0.type) }
        let result = QueryResult(columns: columns, batch: batch, timestampIndex: scope.timestampIndex)
        return (result, scope.columns.map(\.qualifier))
    }

    // MARK: Set operations

    private func setOperation(_ op: SetOperator, _ left: QueryResult, _ right: QueryResult, at position: Int) throws(SQLError)
        -> QueryResult
    {
        guard left.columns.count == right.columns.count else {
            throw SQLError(.syntax, "queries have different number of columns", at: position)
        }
        var columns = left.columns
        var leftVectors = left.batch.columns
        var rightVectors = right.batch.columns
        for index in columns.indices {
            let type = try Binder.commonType(left.columns[index].type, right.columns[index].type, at: position)
            let resolved = type == .null ? SQLType.string : type
            columns[index].type = resolved
            leftVectors[index] = try VectorCast.cast(leftVectors[index], from: left.columns[index].type, to: resolved, at: position)
            rightVectors[index] = try VectorCast.cast(rightVectors[index], from: right.columns[index].type, to: resolved, at: position)
        }
        switch op {
        case .unionAll, .union:
            var combined = leftVectors
            for index in combined.indices { combined[index].append(rightVectors[index]) }
            let batch = ColumnBatch(columns: combined, count: left.rowCount + right.rowCount)
            try context.checkMemory(batch.columns.reduce(0) { $0 + $1.approximateBytes })
            let result = QueryResult(columns: columns, batch: batch, timestampIndex: nil)
            return op == .union ? RowOperations.distinct(result) : result
        case .except, .intersect:
            let leftResult = QueryResult(columns: columns, batch: ColumnBatch(columns: leftVectors, count: left.rowCount), timestampIndex: nil)
            let rightResult = QueryResult(columns: columns, batch: ColumnBatch(columns: rightVectors, count: right.rowCount), timestampIndex: nil)
            return RowOperations.distinct(RowOperations.membership(leftResult, rightResult, keep: op == .intersect))
        }
    }
}
