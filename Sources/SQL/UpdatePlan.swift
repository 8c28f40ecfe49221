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
        let schema = snapshot.schema
        let scope = Scope(table: snapshot, qualifier: update.alias ?? update.table)
        let binder = Binder(scope: scope, context: executor.bindingContext)
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
        var predicate: BoundExpression?
        if let condition = update.whereClause {
            let bound = try binder.bind(condition)
            guard bound.type == .boolean || bound.type == .null else {
                throw SQLError(.syntax, "boolean expression expected", at: condition.position)
            }
            predicate = bound
        }
        return Bound(scope: scope, assignments: assignments, predicate: predicate)
    }

    /// The replacement rows for `snapshot` (nil when none matches).
    func compute(_ snapshot: TableSnapshot) throws(SQLError) -> RowUpdate? {
        let bound = try bind(snapshot)
        let schema = snapshot.schema
        let context = executor.context
        let intervals = bound.scope.timestampIndex.flatMap { bound.predicate?.timestampIntervals($0) }
        let prunable = bound.scope.timestampIndex.map { schema.columns[$0].type == .timestamp } ?? false
        let scan = try TableScan(
            snapshot: snapshot, needed: Array(schema.columns.indices), intervals: prunable ? intervals : nil,
            predicate: bound.predicate, batchRows: QueryExecutor.batchRows)
        var partIndex: [String: Int] = [:]
        for (index, part) in snapshot.partitions.enumerated() { partIndex[part.directoryName] = index }
        var changes = RowUpdate(batch: RowBatch(schema: schema, maxBytes: context.maxResultBytes))
        let everyColumn = Array(schema.columns.indices)
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
                values.removeAll(keepingCapacity: true)
                for column in everyColumn {
                    if let vector = newValues[column], let (expression, position) = bound.assignments[column] {
                        values.append((vector.value(at: row, type: expression.type), expression.type, position))
                    } else {
                        let type = bound.scope.columns[column].type
                        values.append((batch.columns[column].value(at: row, type: type), type, update.position))
                    }
                }
                do {
                    try RowWriter.write(values, into: changes.batch, schema: schema, columns: everyColumn)
                } catch where error.code == .limitExceeded {
                    throw SQLError(
                        .limitExceeded,
                        "UPDATE changes more rows than fit in the query memory limit (\(context.maxResultBytes) bytes); narrow its WHERE and run it in steps",
                        at: update.position)
                }
                changes.replaces(row: rows[row], ofPart: index, part.state)
            }
        }
        return changes.rowCount > 0 ? changes : nil
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
