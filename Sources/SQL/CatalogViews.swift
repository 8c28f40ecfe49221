import Storage

/// Metadata as tables: `tables()`, `table_columns('t')`, `wal_tables()`, `SHOW …`, with
/// QuestDB's column names.
struct CatalogViews {
    let engine: StorageEngine

    func function(_ name: String, _ arguments: [SQLValue], at position: Int) throws(SQLError) -> QueryResult {
        switch name {
        case "tables", "all_tables":
            return tables()
        case "table_columns":
            guard case .text(let table)? = arguments.first else {
                throw SQLError(.syntax, "table_columns(table_name) expects a table name", at: position)
            }
            return try columns(of: table, at: position)
        case "wal_tables":
            return walTables()
        case "table_partitions":
            guard case .text(let table)? = arguments.first else {
                throw SQLError(.syntax, "table_partitions(table_name) expects a table name", at: position)
            }
            return try partitions(of: table, at: position)
        default:
            throw SQLError(.undefinedFunction, "unknown function name: \(name)", at: position)
        }
    }

    static func build(_ columns: [(String, SQLType)], _ rows: [[SQLValue]]) -> QueryResult {
        QueryResult(columns: columns, rows: rows)
    }

    func tables() -> QueryResult {
        let rows: [[SQLValue]] = engine.tableSchemas.map { schema in
            let timestamp = schema.designatedTimestamp.flatMap { schema.column(id: $0)?.name }
            let rowCount = engine.snapshot(ofTable: schema.name)?.rowCount ?? 0
            return [
                .integer(Int64(schema.tableID)), .text(schema.name), timestamp.map(SQLValue.text) ?? .null,
                .text(schema.partitionBy.description), .boolean(schema.partitionBy != .none), .boolean(!schema.dedupKeys.isEmpty),
                .integer(0), .text("HOUR"), .boolean(false), .text(schema.name), .integer(500_000), .integer(600_000_000),
                .boolean(engine.suspension(ofTable: schema.name) != nil), .text("T"), .integer(Int64(rowCount)),
            ]
        }
        return Self.build([
            ("id", .int), ("table_name", .string), ("designatedTimestamp", .string), ("partitionBy", .string),
            ("walEnabled", .boolean), ("dedup", .boolean), ("ttlValue", .int), ("ttlUnit", .string), ("matView", .boolean),
            ("directoryName", .string), ("maxUncommittedRows", .int), ("o3MaxLag", .long), ("table_suspended", .boolean),
            ("table_type", .string), ("table_row_count", .long),
        ], rows)
    }

    func schema(_ table: String, at position: Int) throws(SQLError) -> TableSchema {
        guard let schema = engine.schema(named: table) else {
            throw SQLError(.undefinedTable, "table does not exist [table=\(table)]", at: position)
        }
        return schema
    }

    func columns(of table: String, at position: Int) throws(SQLError) -> QueryResult {
        let schema = try schema(table, at: position)
        let snapshot = engine.snapshot(ofTable: table)
        let rows: [[SQLValue]] = schema.columns.map { column in
            let isSymbol = column.type == .symbol
            return [
                .text(column.name), .text(column.type.description), .boolean(column.indexed), .integer(column.indexed ? 256 : 0),
                .boolean(isSymbol), .integer(isSymbol ? Int64(column.symbolCapacity) : 0),
                .integer(isSymbol ? Int64(snapshot?.symbols[column.id]?.values.count ?? 0) : 0),
                .boolean(column.id == schema.designatedTimestamp), .boolean(schema.dedupKeys.contains(column.id)),
                .null, .null,
            ]
        }
        return Self.build([
            ("column", .string), ("type", .string), ("indexed", .boolean), ("indexBlockCapacity", .int), ("symbolCached", .boolean),
            ("symbolCapacity", .int), ("symbolTableSize", .int), ("designated", .boolean), ("upsertKey", .boolean),
            ("indexType", .string), ("indexInclude", .string),
        ], rows)
    }

    func walTables() -> QueryResult {
        let applied = engine.appliedTxn
        let rows: [[SQLValue]] = engine.tableSchemas.filter { $0.partitionBy != .none }.map { schema in
            let snapshotTxn = engine.snapshot(ofTable: schema.name)?.appliedTxn ?? applied
            return [
                .text(schema.name), .boolean(engine.suspension(ofTable: schema.name) != nil), .integer(Int64(snapshotTxn)),
                .integer(0), .integer(Int64(applied)),
            ]
        }
        return Self.build([
            ("name", .string), ("suspended", .boolean), ("writerTxn", .long), ("writerLagTxnCount", .long), ("sequencerTxn", .long),
        ], rows)
    }

    func partitions(of table: String, at position: Int) throws(SQLError) -> QueryResult {
        let schema = try schema(table, at: position)
        let snapshot = engine.snapshot(ofTable: table)
        let rows: [[SQLValue]] = (snapshot?.partitions ?? []).enumerated().map { index, partition in
            [
                .integer(Int64(index)), .text(schema.partitionBy.description), .text(partition.directoryName),
                .integer(Int64(partition.rowCount)),
            ]
        }
        return Self.build([("index", .int), ("partitionBy", .string), ("name", .string), ("numRows", .long)], rows)
    }

    func showTables() -> QueryResult {
        Self.build([("table_name", .string)], engine.tableSchemas.map { [.text($0.name)] })
    }

    /// `SHOW CREATE TABLE t`: DDL that recreates the table.
    func showCreate(_ table: String, at position: Int) throws(SQLError) -> QueryResult {
        let schema = try schema(table, at: position)
        var ddl = "CREATE TABLE '\(schema.name)' ( \n"
        ddl += schema.columns.map { "\t\($0.name) \($0.type.description)" }.joined(separator: ",\n")
        ddl += "\n)"
        if let timestamp = schema.designatedTimestamp.flatMap({ schema.column(id: $0)?.name }) {
            ddl += " timestamp(\(timestamp)) PARTITION BY \(schema.partitionBy.description)"
            if schema.partitionBy != .none { ddl += " WAL" }
        }
        if !schema.dedupKeys.isEmpty {
            ddl += "\nDEDUP UPSERT KEYS(" + schema.dedupKeys.compactMap { schema.column(id: $0)?.name }.joined(separator: ",") + ")"
        }
        ddl += ";"
        return Self.build([("ddl", .string)], [[.text(ddl)]])
    }
}
