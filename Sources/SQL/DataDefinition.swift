import Storage

/// DDL and DML: CREATE TABLE (also AS SELECT), INSERT (VALUES and SELECT), DROP, TRUNCATE,
/// RENAME, ALTER. Values are converted to the column types with QuestDB's error texts.
struct DataDefinition {
    let engine: SQLEngine
    let executor: QueryExecutor

    var storage: StorageEngine { engine.storage }

    static func storageError(_ error: StorageError, at position: Int? = nil) -> SQLError {
        // The role changed between the engine's read-only check and the write (a demotion).
        if error.code == .readOnly { return SQLError(.readOnly, "cannot execute the statement in a read-only transaction", at: position) }
        if error.code == .notReplicated { return SQLError(.notReplicated, error.message) }
        if error.code == .limitExceeded { return SQLError(.limitExceeded, error.message, at: position) }
        if error.message.hasPrefix("table already exists") { return SQLError(.duplicateTable, error.message, at: position) }
        return SQLError(.storage, error.message, at: position)
    }

    /// A TTL clause for a table: nil for `TTL 0`; QuestDB's rules (a partitioned table, a whole
    /// number of its partitions).
    static func checkedTTL(_ clause: TTLClause, _ schema: TableSchema) throws(SQLError) -> TableTTL? {
        guard clause.value > 0 else { return nil }
        guard schema.partitionBy != .none, schema.designatedTimestamp != nil else {
            throw SQLError(.invalidValue, "TTL needs a partitioned table with a designated timestamp", at: clause.position)
        }
        let ttl = TableTTL(value: clause.value, unit: clause.unit)
        guard ttl.fits(schema.partitionBy) else {
            throw SQLError(
                .invalidValue, "TTL value must be an integer multiple of partition size [partitionBy=\(schema.partitionBy)]",
                at: clause.position)
        }
        return ttl
    }

    /// Column ids of `DEDUP UPSERT KEYS(…)` (CREATE TABLE and ALTER … DEDUP ENABLE), checked
    /// as QuestDB does: every key exists, and the designated timestamp is among them.
    static func dedupKeyIDs(
        _ keys: [(name: String, position: Int)], columns: [ColumnSchema], designated: UInt32?, at position: Int
    ) throws(SQLError) -> [UInt32] {
        var ids: [UInt32] = []
        for (name, keyPosition) in keys {
            guard let column = columns.first(where: { Scope.sameName($0.name, name) }) else {
                throw SQLError(.undefinedColumn, "deduplicate key column not found [column=\(name)]", at: keyPosition)
            }
            if !ids.contains(column.id) { ids.append(column.id) }
        }
        if !ids.isEmpty, let designated, !ids.contains(designated) {
            throw SQLError(.syntax, "deduplicate key list must include dedicated timestamp column", at: position)
        }
        return ids
    }

    /// Whether `ALTER COLUMN … TYPE` converts `from` into `to` (QuestDB's matrix): numbers,
    /// booleans, characters, decimals and time types into one another; anything to and from
    /// text (STRING, VARCHAR, SYMBOL). BINARY and arrays convert to nothing.
    static func convertible(_ from: ColumnType, to: ColumnType) -> Bool {
        func isText(_ type: ColumnType) -> Bool { type == .string || type == .varchar || type == .symbol }
        func isScalar(_ type: ColumnType) -> Bool {
            switch type {
            case .boolean, .byte, .short, .char, .int, .long, .float, .double, .date, .timestamp, .timestampNanos, .decimal: true
            default: false
            }
        }
        switch (from, to) {
        case (.binary, _), (_, .binary), (.doubleArray, _), (_, .doubleArray): return false
        default: return isText(from) || isText(to) || (isScalar(from) && isScalar(to))
        }
    }

    // MARK: CREATE TABLE

    func create(_ create: CreateTable) async throws(SQLError) {
        if storage.schema(named: create.name) != nil {
            if create.ifNotExists { return }
            throw SQLError(.duplicateTable, "table already exists", at: create.namePosition)
        }
        guard NameRules.isValidTableName(create.name) else {
            throw SQLError(.invalidValue, "invalid table name [table=\(create.name)]", at: create.position)
        }
        if let (name, position) = create.like {
            guard let model = storage.schema(named: name) else {
                throw SQLError(.undefinedTable, "table does not exist [table=\(name)]", at: position)
            }
            var copy = TableSchema(
                tableID: 0, name: create.name, columns: model.columns, designatedTimestamp: model.designatedTimestamp,
                partitionBy: model.partitionBy, dedupKeys: model.dedupKeys)
            copy.ttl = model.ttl
            do { _ = try await storage.createTable(copy) } catch { throw Self.storageError(error, at: create.position) }
            return
        }
        var source: QueryResult?
        var columns: [ColumnSchema] = []
        if let query = create.asQuery {
            let result = try await engine.offload { () throws(SQLError) in try executor.run(query) }
            for (index, column) in result.columns.enumerated() {
                guard case .column(let type) = column.type else {
                    throw SQLError(.typeMismatch, "column \(column.name) has no type (NULL)", at: create.position)
                }
                columns.append(ColumnSchema(id: UInt32(index + 1), name: column.name, type: type))
            }
            source = result
        } else {
            for (index, column) in create.columns.enumerated() {
                guard NameRules.isValidColumnName(column.name) else {
                    throw SQLError(.invalidValue, "invalid column name [name=\(column.name)]", at: column.position)
                }
                if columns.contains(where: { $0.name.lowercased() == column.name.lowercased() }) {
                    throw SQLError(.invalidValue, "Duplicate column [name=\(column.name)]", at: column.position)
                }
                columns.append(ColumnSchema(id: UInt32(index + 1), name: column.name, type: try TypeNames.resolve(column.type)))
            }
        }
        var designated: UInt32?
        if let (name, position) = create.timestamp {
            guard let column = columns.first(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw SQLError(.undefinedColumn, "Invalid column: \(name)", at: position)
            }
            guard column.type.canBeDesignatedTimestamp else {
                throw SQLError(.typeMismatch, "TIMESTAMP column expected [actual=\(column.type)]", at: position)
            }
            designated = column.id
        }
        var partitionBy = PartitionBy.none
        if let unit = create.partitionBy {
            guard let parsed = PartitionBy.allCases.first(where: { $0.description == unit }) else {
                throw SQLError(.syntax, "'NONE', 'HOUR', 'DAY', 'WEEK', 'MONTH' or 'YEAR' expected", at: create.position)
            }
            if parsed != .none, designated == nil {
                throw SQLError(.syntax, "partitioning is possible only on tables with designated timestamps", at: create.position)
            }
            partitionBy = parsed
        }
        let dedupKeys = try Self.dedupKeyIDs(create.dedupKeys, columns: columns, designated: designated, at: create.position)
        var requested = TableSchema(
            tableID: 0, name: create.name, columns: columns, designatedTimestamp: designated, partitionBy: partitionBy, dedupKeys: dedupKeys)
        if let clause = create.ttl { requested.ttl = try Self.checkedTTL(clause, requested) }
        let schema: TableSchema
        do { schema = try await storage.createTable(requested) } catch { throw Self.storageError(error, at: create.position) }
        if let source { _ = try await insertRows(source, into: schema, columns: schema.columns.indices.map { $0 }, at: create.position) }
    }

    // MARK: INSERT

    func insert(_ insert: Insert) async throws(SQLError) -> Int {
        if let query = insert.query {
            let (schema, targets) = try self.targets(of: insert)
            let result = try await engine.offload { () throws(SQLError) in try executor.run(query) }
            guard result.columns.count == targets.count else {
                throw SQLError(.syntax, "select clause must provide \(targets.count) columns, not \(result.columns.count)", at: insert.position)
            }
            return try await insertRows(result, into: schema, columns: targets, at: insert.position)
        }
        var batches = TableBatches()
        let rows = try write(insert, into: &batches)
        _ = try await commit(batches)
        return rows
    }

    /// The rows of `INSERT … VALUES` written into the batch of its table (made when the
    /// transaction has none yet); nothing is committed. Returns the row count.
    func write(_ insert: Insert, into batches: inout TableBatches) throws(SQLError) -> Int {
        let (schema, targets) = try self.targets(of: insert)
        let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: executor.bindingContext)
        let batch = try batches.batch(for: schema, at: insert.position)
        for row in insert.rows {
            guard row.count == targets.count else {
                throw SQLError(.syntax, "row value count does not match column count [expected=\(targets.count), actual=\(row.count)]", at: row.first?.position ?? insert.position)
            }
            var values: [(SQLValue, SQLType, Int)] = []
            for expression in row {
                let bound = try binder.bind(expression)
                guard let value = bound.constantValue else {
                    throw SQLError(.unsupported, "INSERT VALUES must be constants", at: expression.position)
                }
                values.append((value, bound.type, expression.position))
            }
            try RowWriter.write(values, into: batch, schema: schema, columns: targets)
        }
        return insert.rows.count
    }

    /// The table an INSERT names and the schema positions of its target columns.
    private func targets(of insert: Insert) throws(SQLError) -> (TableSchema, [Int]) {
        guard let schema = storage.schema(named: insert.table) else {
            throw SQLError(.undefinedTable, "table does not exist [table=\(insert.table)]", at: insert.position)
        }
        guard let names = insert.columns else { return (schema, Array(schema.columns.indices)) }
        var targets: [Int] = []
        for (name, position) in names {
            guard let index = schema.columns.firstIndex(where: { Scope.sameName($0.name, name) }) else {
                throw SQLError(.undefinedColumn, "Invalid column: \(name)", at: position)
            }
            targets.append(index)
        }
        return (schema, targets)
    }

    /// Commits the batches of a transaction as one WAL transaction: every row becomes durable
    /// and visible together, or none does.
    func commit(_ batches: TableBatches) async throws(SQLError) -> Int {
        let all = batches.all
        let txn: UInt64?
        do { txn = try await storage.commit(all: all) } catch { throw Self.storageError(error) }
        if let txn { await storage.waitUntilApplied(txn) }
        return all.reduce(0) { $0 + $1.rowCount }
    }

    private func commit(_ batch: RowBatch) async throws(SQLError) {
        guard batch.rowCount > 0 else { return }
        // Read-your-writes: the statement returns once its rows are visible to queries.
        let txn: UInt64
        do { txn = try await storage.commit(batch) } catch { throw Self.storageError(error) }
        await storage.waitUntilApplied(txn)
    }

    /// Writes a query result into a table, committing every `insertBatchRows` rows.
    private func insertRows(_ result: QueryResult, into schema: TableSchema, columns: [Int], at position: Int) async throws(SQLError) -> Int {
        let batch = RowBatch(schema: schema)
        for row in 0..<result.rowCount {
            let values = result.columns.indices.map { (result.value(row: row, column: $0), result.columns[$0].type, position) }
            try RowWriter.write(values, into: batch, schema: schema, columns: columns)
            if batch.rowCount >= engine.configuration.insertBatchRows {
                try await commit(batch)
                batch.reset()
            }
        }
        try await commit(batch)
        return result.rowCount
    }

    // MARK: DROP, TRUNCATE, RENAME, ALTER

    func change(_ statement: SQLStatement) async throws(SQLError) {
        switch statement {
        case .dropTable(let name, let ifExists, let position):
            guard storage.schema(named: name) != nil else {
                if ifExists { return }
                throw SQLError(.undefinedTable, "table does not exist [table=\(name)]", at: position)
            }
            do { try await storage.dropTable(name) } catch { throw Self.storageError(error, at: position) }
        case .dropAllTables(let position):
            // One table at a time, each its own WAL transaction, as QuestDB drops them.
            for schema in storage.tableSchemas {
                do {
                    try await storage.dropTable(schema.name)
                } catch {
                    if storage.schema(named: schema.name) == nil { continue }  // dropped meanwhile
                    throw Self.storageError(error, at: position)
                }
            }
        case .truncateTable(let name, let position):
            try requireTable(name, at: position)
            do { try await storage.truncateTable(name) } catch { throw Self.storageError(error, at: position) }
        case .renameTable(let from, let to, let position):
            try requireTable(from, at: position)
            if storage.schema(named: to) != nil { throw SQLError(.duplicateTable, "table already exists [table=\(to)]", at: position) }
            guard NameRules.isValidTableName(to) else { throw SQLError(.invalidValue, "invalid table name [table=\(to)]", at: position) }
            try await alter(from, at: position) { (schema) throws(SchemaError) in schema.name = to }
        case .alterTable(let name, let change, let position):
            try requireTable(name, at: position)
            try await alter(name, change, at: position)
        default:
            preconditionFailure("not a change statement")
        }
    }

    private func requireTable(_ name: String, at position: Int) throws(SQLError) {
        guard storage.schema(named: name) != nil else {
            throw SQLError(.undefinedTable, "table does not exist [table=\(name)]", at: position)
        }
    }

    private func alter(_ name: String, at position: Int, _ change: (inout TableSchema) throws(SchemaError) -> Void) async throws(SQLError) {
        do {
            _ = try await storage.alterTable(name, change)
        } catch {
            throw SQLError(.invalidValue, error.message, at: position)
        }
    }

    private func alter(_ name: String, _ change: AlterTable, at position: Int) async throws(SQLError) {
        switch change {
        case .noOp:
            return
        case .setTTL(let clause):
            let ttl = try Self.checkedTTL(clause, storage.schema(named: name)!)
            try await alter(name, at: position) { (schema) throws(SchemaError) in schema.ttl = ttl }
        case .resumeWAL(let txn):
            do { try await storage.resumeWAL(name, fromTxn: txn) } catch { throw Self.storageError(error, at: position) }
        case .suspendWAL(let reason):
            do {
                try await storage.suspendWAL(name, reason: "suspended by ALTER TABLE … SUSPEND WAL" + (reason.map { " [\($0)]" } ?? ""))
            } catch {
                throw Self.storageError(error, at: position)
            }
        case .squashPartitions:
            do { try await storage.squashPartitions(name) } catch { throw Self.storageError(error, at: position) }
        case .dedup(let keys):
            let schema = storage.schema(named: name)!
            guard schema.partitionBy != .none, schema.designatedTimestamp != nil else {
                throw SQLError(.invalidValue, "deduplication is only supported for WAL tables", at: position)
            }
            let ids = try Self.dedupKeyIDs(keys ?? [], columns: schema.columns, designated: schema.designatedTimestamp, at: position)
            try await alter(name, at: position) { (schema) throws(SchemaError) in schema.dedupKeys = ids }
        case .changeColumnType(let (column, columnPosition), let typeName):
            let schema = storage.schema(named: name)!
            guard let found = schema.column(named: column) else {
                throw SQLError(.undefinedColumn, "column '\(column)' does not exist in table '\(name)'", at: columnPosition)
            }
            if found.id == schema.designatedTimestamp {
                throw SQLError(.invalidValue, "cannot change type of designated timestamp column", at: columnPosition)
            }
            let type = try TypeNames.resolve(typeName)
            if type == found.type {
                throw SQLError(.invalidValue, "column '\(found.name)' type is already '\(type)'", at: typeName.position)
            }
            guard Self.convertible(found.type, to: type) else {
                throw SQLError(.invalidValue, "incompatible column type change [existing=\(found.type), new=\(type)]", at: typeName.position)
            }
            do {
                _ = try await storage.changeColumnType(name, column: found.name, to: type)
            } catch {
                throw Self.storageError(error, at: columnPosition)
            }
        case .columnHint(let (column, columnPosition), let indexed):
            guard let found = storage.schema(named: name)!.column(named: column) else {
                throw SQLError(.undefinedColumn, "column '\(column)' does not exist in table '\(name)'", at: columnPosition)
            }
            if indexed, found.type != .symbol {
                throw SQLError(.invalidValue, "indexes are supported only for SYMBOL columns: \(found.name)", at: columnPosition)
            }
        case .addColumns(let columns, let ifNotExists):
            var resolved: [(String, ColumnType)] = []
            let schema = storage.schema(named: name)!
            for column in columns {
                if schema.column(named: column.name) != nil {
                    if ifNotExists { continue }
                    throw SQLError(.invalidValue, "column '\(column.name)' already exists", at: column.position)
                }
                guard NameRules.isValidColumnName(column.name) else {
                    throw SQLError(.invalidValue, "invalid column name [name=\(column.name)]", at: column.position)
                }
                resolved.append((column.name, try TypeNames.resolve(column.type)))
            }
            if resolved.isEmpty { return }
            try await alter(name, at: position) { (schema) throws(SchemaError) in
                for (columnName, type) in resolved { _ = try schema.addColumn(name: columnName, type: type) }
            }
        case .dropColumns(let columns):
            let schema = storage.schema(named: name)!
            for (column, columnPosition) in columns {
                guard let found = schema.column(named: column) else {
                    throw SQLError(.undefinedColumn, "column '\(column)' does not exist in table '\(name)'", at: columnPosition)
                }
                if found.id == schema.designatedTimestamp {
                    throw SQLError(.invalidValue, "cannot remove designated timestamp column", at: columnPosition)
                }
            }
            try await alter(name, at: position) { (schema) throws(SchemaError) in
                for (column, _) in columns { try schema.dropColumn(named: column) }
            }
        case .renameColumn(let from, let to, let columnPosition):
            let schema = storage.schema(named: name)!
            guard schema.column(named: from) != nil else {
                throw SQLError(.undefinedColumn, "column '\(from)' does not exist in table '\(name)'", at: columnPosition)
            }
            try await alter(name, at: columnPosition) { (schema) throws(SchemaError) in try schema.renameColumn(from, to: to) }
        case .partitions(let action, let selection):
            let starts = try partitionStarts(name, action, selection, at: position)
            do {
                switch action {
                case .drop: _ = try await storage.dropPartitions(name) { starts.contains($0) }
                case .detach: _ = try await storage.detachPartitions(name) { starts.contains($0) }
                case .attach: try await storage.attachPartitions(name, timestamps: starts.sorted())
                }
            } catch {
                throw Self.storageError(error, at: position)
            }
        }
    }

    /// The start timestamps of the partitions `selection` names: each listed name's partition,
    /// or every partition whose whole time range satisfies the condition.
    private func partitionStarts(
        _ name: String, _ action: PartitionAction, _ selection: PartitionSelection, at position: Int
    ) throws(SQLError) -> Set<Int64> {
        let schema = storage.schema(named: name)!
        guard schema.partitionBy != .none, let timestampID = schema.designatedTimestamp,
              let timestampIndex = schema.columns.firstIndex(where: { $0.id == timestampID })
        else {
            throw SQLError(.invalidValue, "table is not partitioned", at: position)
        }
        var starts = Set<Int64>()
        switch selection {
        case .list(let values):
            let present = Set(storage.snapshot(ofTable: name)?.partitions.map(\.timestamp) ?? [])
            for value in values {
                let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: executor.bindingContext)
                guard case .text(let text)? = try binder.bind(value).constantValue, let period = TimestampText.parse(text) else {
                    throw SQLError(.invalidValue, "partition name expected, such as '2024-01-01'", at: value.position)
                }
                let start = PartitionTime.floor(period.start, by: schema.partitionBy)
                // Detaching nothing is a mistake worth saying (dropping nothing is idempotent).
                if action == .detach, !present.contains(start) {
                    throw SQLError(
                        .invalidValue, "could not detach partition \(PartitionTime.name(of: start, by: schema.partitionBy)): the table has no such partition",
                        at: value.position)
                }
                starts.insert(start)
            }
        case .matching(let condition):
            guard let snapshot = storage.snapshot(ofTable: name) else { throw SQLError(.undefinedTable, "table does not exist [table=\(name)]", at: position) }
            // A partition qualifies when the condition holds for its whole time range.
            let scope = Scope(columns: schema.columns.map { .init(name: $0.name, qualifier: nil, type: .column($0.type)) }, timestampIndex: timestampIndex)
            let predicate = try Binder(scope: scope, context: executor.bindingContext).bindPredicate(condition)
            var needed = Set<Int>()
            predicate.collectColumns(into: &needed)
            guard needed == [timestampIndex] else {
                throw SQLError(.unsupported, "\(action.rawValue) PARTITION WHERE may only use the designated timestamp", at: condition.position)
            }
            for partition in snapshot.partitions {
                let end = PartitionTime.next(after: partition.timestamp, by: schema.partitionBy) - 1
                let probe = ColumnBatch(columns: Array(repeating: .integer([partition.timestamp, end]), count: schema.columns.count), count: 2)
                let holds = try ExpressionEvaluator(batch: probe).evaluate(predicate).booleans
                if holds.allSatisfy({ $0 }) { starts.insert(partition.timestamp) }
            }
        }
        return starts
    }
}

/// One row batch per table, in the order the tables were first written (a transaction's
/// INSERTs; the WAL takes one batch per table per transaction). Filled on a worker, then
/// handed whole to the task that commits it: never shared, hence the unchecked Sendable.
package struct TableBatches: @unchecked Sendable {
    private var batches: [RowBatch] = []

    package init() {}

    var all: [RowBatch] { batches }
    package var isEmpty: Bool { batches.allSatisfy { $0.rowCount == 0 } }

    /// The batch of `schema`'s table; a schema changed since the batch was made is refused
    /// (the statements of one transaction see one schema).
    mutating func batch(for schema: TableSchema, at position: Int) throws(SQLError) -> RowBatch {
        if let known = batches.first(where: { $0.schema.tableID == schema.tableID }) {
            guard known.schema.version == schema.version else {
                throw SQLError(.storage, "table schema changed during the transaction [table=\(schema.name)]", at: position)
            }
            return known
        }
        let batch = RowBatch(schema: schema)
        batches.append(batch)
        return batch
    }
}
