import Storage

/// UPDATE (QUESTDB-COMPAT §6 item 12): the matching rows are read like a SELECT's (partition
/// pruning by the designated timestamp, the predicate evaluated in the scan), their new values
/// computed, and whole replacement rows committed as one WAL transaction that names the rows
/// they replace (`StorageEngine.update`, which holds the table's other writes meanwhile).
struct UpdatePlan {
    let update: Update
    let executor: QueryExecutor

    /// The bound assignments and condition against a snapshot of the table.
    struct Bound {
        var scope: Scope
        /// Per schema column: the new value's expression, or nil when the column keeps its value.
        var assignments: [(BoundExpression, position: Int)?]
        var predicate: BoundExpression?
    }

    func bind(_ snapshot: TableSnapshot) throws(SQLError) -> Bound {
        let scope = Scope(table: snapshot, qualifier: update.alias ?? update.table)
        let binder = Binder(scope: scope, context: executor.bindingContext)
        if let from = update.from {
            // Described only: the names resolve against the table and FROM's columns.
            let (source, qualifiers) = try executor.materialize(from)
            var columns = scope.columns
            for (column, qualifier) in zip(source.columns, qualifiers) { columns.append(.init(name: column.name, qualifier: qualifier, type: column.type)) }
            let joined = Binder(scope: Scope(columns: columns, timestampIndex: nil), context: executor.bindingContext)
            if let condition = update.whereClause { _ = try joined.bind(condition) }
            return Bound(scope: scope, assignments: try bindAssignments(snapshot.schema, joined), predicate: nil)
        }
        var predicate: BoundExpression?
        if let condition = update.whereClause {
            let bound = try binder.bind(condition)
            guard bound.type == .boolean || bound.type == .null else {
                throw SQLError(.syntax, "boolean expression expected", at: condition.position)
            }
            predicate = bound
        }
        return Bound(scope: scope, assignments: try bindAssignments(snapshot.schema, binder), predicate: predicate)
    }

    /// Per schema column, its new value's expression (nil: the column keeps its value).
    private func bindAssignments(_ schema: TableSchema, _ binder: Binder) throws(SQLError) -> [(BoundExpression, position: Int)?] {
        var assignments: [(BoundExpression, position: Int)?] = Array(repeating: nil, count: schema.columns.count)
        for (name, value, position) in update.assignments {
            guard let index = schema.columns.firstIndex(where: { Scope.sameName($0.name, name) }) else {
                throw SQLError(.undefinedColumn, "Invalid column: \(name)", at: position)
            }
            guard schema.columns[index].id != schema.designatedTimestamp else {
                throw SQLError(.invalidValue, "Designated timestamp column cannot be updated", at: position)
            }
            guard assignments[index] == nil else {
                throw SQLError(.syntax, "Duplicate column \(name) in SET clause", at: position)
            }
            if value.containsAggregate || value.containsWindow {
                throw SQLError(.syntax, "aggregate and window functions are not allowed in UPDATE", at: value.position)
            }
            let bound = try binder.bind(value)
            executor.inference?.note(value, as: .column(schema.columns[index].type))
            assignments[index] = (bound, value.position)
        }
        return assignments
    }

    /// The replacement rows for `snapshot` (nil when none matches).
    func compute(_ snapshot: TableSnapshot) throws(SQLError) -> RowUpdate? {
        if let from = update.from { return try computeJoined(snapshot, from) }
        let bound = try bind(snapshot)
        let schema = snapshot.schema
        let context = executor.context
        let (scan, partIndex) = try scan(snapshot, scope: bound.scope, predicate: bound.predicate)
        var changes = RowUpdate(batch: RowBatch(schema: schema, maxBytes: context.maxResultBytes))
        var values: [(SQLValue, SQLType, Int)] = []
        values.reserveCapacity(schema.columns.count)
        while let batch = try scan.next() {
            try context.check()
            guard let part = scan.lastPartition, let index = partIndex[part.directoryName] else { continue }
            let evaluator = ExpressionEvaluator(batch: batch, firstRow: scan.firstRow)
            var newValues: [ColumnVector?] = []
            for assignment in bound.assignments {
                newValues.append(try assignment.map { (a) throws(SQLError) in try evaluator.evaluate(a.0) })
            }
            let rows = scan.lastRows
            for row in 0..<batch.count {
                try write(row, of: batch, newValues, bound.assignments, types: bound.scope.columns.map(\.type), into: &changes, values: &values)
                changes.replaces(row: rows[row], ofPart: index, part.state)
            }
        }
        return changes.rowCount > 0 ? changes : nil
    }

    /// `UPDATE … FROM`: the table's rows that pass its own conditions, joined with FROM by the
    /// rest of WHERE; a row matched several times takes its first match (PostgreSQL leaves the
    /// choice open).
    private func computeJoined(_ snapshot: TableSnapshot, _ from: FromSource) throws(SQLError) -> RowUpdate? {
        let schema = snapshot.schema
        let context = executor.context
        let qualifier = update.alias ?? update.table
        let scope = Scope(table: snapshot, qualifier: qualifier)
        let tableBinder = Binder(scope: scope, context: executor.bindingContext)
        // Conditions on the table alone filter its scan (and prune partitions); the rest join.
        var scanPredicate: BoundExpression?
        var joinCondition: SQLExpression?
        for conjunct in update.whereClause?.conjuncts ?? [] {
            if let bound = try? tableBinder.bind(conjunct), bound.type == .boolean {
                scanPredicate = scanPredicate.map { .and($0, bound) } ?? bound
            } else {
                joinCondition = joinCondition.map { SQLExpression(.binary("and", $0, conjunct), at: conjunct.position) } ?? conjunct
            }
        }
        let (scan, partIndex) = try scan(snapshot, scope: scope, predicate: scanPredicate)
        var columns = scope.columns.map { ColumnVector.empty($0.type.representation) }
        var positions: [(index: Int, row: Int, state: PartitionState)] = []
        var bytes = 0
        while let batch = try scan.next() {
            try context.check()
            guard let part = scan.lastPartition, let index = partIndex[part.directoryName] else { continue }
            for column in columns.indices { columns[column].append(batch.columns[column]) }
            for row in scan.lastRows { positions.append((index, row, part.state)) }
            bytes += batch.columns.reduce(0) { $0 + $1.approximateBytes }
            try context.checkMemory(bytes)
        }
        // Each row carries its number, hidden, through the join.
        let tableColumns = scope.columns + [Scope.Column(name: "\u{1}row", qualifier: qualifier, type: .long)]
        columns.append(.integer(positions.indices.map { Int64($0) }))
        let table = QueryResult(
            columns: tableColumns.map { .init(name: $0.name, type: $0.type) }, batch: ColumnBatch(columns: columns, count: positions.count),
            timestampIndex: scope.timestampIndex)
        let source = try executor.materialize(from)
        let join = Join(
            left: .table(name: update.table, alias: update.alias, position: update.position), kind: joinCondition == nil ? .cross : .inner,
            right: from, condition: joinCondition, position: update.position)
        let (joined, qualifiers) = try JoinExecutor(executor: executor).run(join, left: (table, tableColumns.map(\.qualifier)), right: source)
        let joinedScope = Scope(
            columns: zip(joined.columns, qualifiers).map { Scope.Column(name: $0.name, qualifier: $1, type: $0.type) }, timestampIndex: nil)
        let assignments = try bindAssignments(schema, Binder(scope: joinedScope, context: executor.bindingContext))
        let evaluator = ExpressionEvaluator(batch: joined.batch)
        var newValues: [ColumnVector?] = []
        for assignment in assignments {
            newValues.append(try assignment.map { (a) throws(SQLError) in try evaluator.evaluate(a.0) })
        }
        let numbers = joined.batch.columns[schema.columns.count].integers
        var seen = [Bool](repeating: false, count: positions.count)
        var chosen: [Int] = []
        for (row, number) in numbers.enumerated() where !seen[Int(number)] {
            seen[Int(number)] = true
            chosen.append(row)
        }
        chosen.sort { numbers[$0] < numbers[$1] }
        var changes = RowUpdate(batch: RowBatch(schema: schema, maxBytes: context.maxResultBytes))
        var values: [(SQLValue, SQLType, Int)] = []
        let types = joinedScope.columns.map(\.type)
        for row in chosen {
            try write(row, of: joined.batch, newValues, assignments, types: types, into: &changes, values: &values)
            let position = positions[Int(numbers[row])]
            changes.replaces(row: position.row, ofPart: position.index, position.state)
        }
        return changes.rowCount > 0 ? changes : nil
    }

    /// Every column of the rows `predicate` keeps, read as a SELECT's scan reads them (pruned
    /// by the designated timestamp, symbol postings), and each part's index in the snapshot.
    private func scan(_ snapshot: TableSnapshot, scope: Scope, predicate: BoundExpression?) throws(SQLError)
        -> (TableScan, partIndex: [String: Int])
    {
        let intervals = scope.timestampIndex.flatMap { predicate?.timestampIntervals($0) }
        let plan = QueryExecutor.SourcePlan.table(snapshot, qualifier: update.alias ?? update.table)
        let (source, _) = try executor.makeSource(plan, needed: Set(snapshot.schema.columns.indices), intervals: intervals, predicate: predicate)
        guard let scan = source as? TableScan else { preconditionFailure("a table plan gives a table scan") }
        var partIndex: [String: Int] = [:]
        for (index, part) in snapshot.partitions.enumerated() { partIndex[part.directoryName] = index }
        return (scan, partIndex)
    }

    /// The replacement of `row` of `batch` (whose first columns are the table's): the assigned
    /// columns' new values, the row's own values elsewhere.
    private func write(
        _ row: Int, of batch: ColumnBatch, _ newValues: [ColumnVector?], _ assignments: [(BoundExpression, position: Int)?],
        types: [SQLType], into changes: inout RowUpdate, values: inout [(SQLValue, SQLType, Int)]
    ) throws(SQLError) {
        let schema = changes.batch.schema
        values.removeAll(keepingCapacity: true)
        for column in schema.columns.indices {
            if let vector = newValues[column], let (expression, position) = assignments[column] {
                values.append((vector.value(at: row, type: expression.type), expression.type, position))
            } else {
                values.append((batch.columns[column].value(at: row, type: types[column]), types[column], update.position))
            }
        }
        do {
            try RowWriter.write(values, into: changes.batch, schema: schema, columns: Array(schema.columns.indices))
        } catch where error.code == .limitExceeded {
            throw SQLError(
                .limitExceeded,
                "UPDATE changes more rows than fit in the query memory limit (\(executor.context.maxResultBytes) bytes); narrow its WHERE and run it in steps",
                at: update.position)
        }
    }
}

extension UpdatePlan {
    /// Whatever SQL the statement runs: the update itself goes to the storage engine.
    func run() async throws(SQLError) -> Int {
        let storage = executor.engine
        guard storage.schema(named: update.table) != nil else {
            throw SQLError(.undefinedTable, "table does not exist [table=\(update.table)]", at: update.position)
        }
        let result: Result<Int, SQLError>
        do {
            result = try await storage.update(update.table) { snapshot in
                Result { () throws(SQLError) -> RowUpdate? in try compute(snapshot) }
            }
        } catch {
            throw DataDefinition.storageError(error, at: update.position)
        }
        return try result.get()
    }
}
