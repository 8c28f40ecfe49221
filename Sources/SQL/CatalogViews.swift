import Storage
#if canImport(Glibc)
import Glibc
#endif

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
                .integer(Int64(schema.ttl?.value ?? 0)), .text(schema.ttl?.unit.description ?? "HOUR"), .boolean(false), .text(schema.name), .integer(500_000), .integer(600_000_000),
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
            let suspension = engine.suspension(ofTable: schema.name)
            return [
                .text(schema.name), .boolean(suspension != nil), .integer(Int64(snapshotTxn)),
                .integer(0), .integer(Int64(applied)), .text(suspension.map(Self.errorTag) ?? ""), .text(suspension ?? ""),
                .integer(0),
            ]
        }
        // QuestDB's newer columns after the first five: why a table is suspended (its error
        // tag and message; empty while healthy) and its memory pressure (0: none here).
        return Self.build([
            ("name", .string), ("suspended", .boolean), ("writerTxn", .long), ("writerLagTxnCount", .long), ("sequencerTxn", .long),
            ("errorTag", .string), ("errorMessage", .string), ("memoryPressure", .int),
        ], rows)
    }

    /// QuestDB's error tag for a suspension reason: the resource that ran out, when it is one
    /// (from the system error text, or the errno given to `SUSPEND WAL WITH code`).
    static func errorTag(_ reason: String) -> String {
        let lower = reason.lowercased()
        func code(_ errno: Int) -> Bool { lower.contains("[\(errno):") || lower.contains("[\(errno)]") }
        if lower.contains("no space left") || code(28) { return "DISK FULL" }
        if lower.contains("too many open files") || code(24) { return "TOO MANY OPEN FILES" }
        if lower.contains("cannot allocate memory") || code(12) { return "OUT OF MEMORY" }
        return ""
    }

    /// `table_partitions('t')` / `SHOW PARTITIONS FROM t`: QuestDB's columns, one row per
    /// partition (the parts a partition was split into count as one), oldest first.
    func partitions(of table: String, at position: Int) throws(SQLError) -> QueryResult {
        let schema = try schema(table, at: position)
        let snapshot = engine.snapshot(ofTable: table)
        let parts = snapshot?.partitions ?? []
        let starts = Set(parts.map(\.timestamp)).sorted()
        var rows: [[SQLValue]] = []
        for (index, start) in starts.enumerated() {
            let members = parts.filter { $0.timestamp == start }
            let bounds = members.compactMap { snapshot?.timestampBounds(of: $0) }
            let minimum = bounds.map(\.first).min()
            let maximum = bounds.map(\.last).max()
            let size = members.reduce(Int64(0)) { total, part in
                total + Self.directorySize((snapshot?.directory ?? "") + "/" + part.directoryName)
            }
            rows.append([
                .integer(Int64(index)), .text(schema.partitionBy.description), .text(PartitionTime.name(of: start, by: schema.partitionBy)),
                minimum.map { .integer($0) } ?? .null, maximum.map { .integer($0) } ?? .null,
                .integer(Int64(members.reduce(0) { $0 + $1.rowCount })), .integer(size), .text(Self.humanReadable(bytes: size)),
                .boolean(false), .boolean(index == starts.count - 1), .boolean(true), .boolean(false), .boolean(false),
            ])
        }
        return Self.build([
            ("index", .int), ("partitionBy", .string), ("name", .string), ("minTimestamp", .timestamp), ("maxTimestamp", .timestamp),
            ("numRows", .long), ("diskSize", .long), ("diskSizeHuman", .string), ("readOnly", .boolean), ("active", .boolean),
            ("attached", .boolean), ("detached", .boolean), ("attachable", .boolean),
        ], rows)
    }

    /// Bytes of the regular files in `path` (a partition directory; not recursive).
    private static func directorySize(_ path: String) -> Int64 {
        guard let names = try? ColumnFiles.entries(of: path) else { return 0 }
        var total: Int64 = 0
        for name in names {
            var info = stat()
            if stat(path + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
        }
        return total
    }

    /// QuestDB's human-readable size: `512.0 B`, `1.5 KiB`, `3.2 MiB`, …
    static func humanReadable(bytes: Int64) -> String {
        var value = Double(bytes)
        var unit = 0
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
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
            if let ttl = schema.ttl { ddl += " TTL \(ttl.value) \(ttl.unit)\(ttl.value == 1 ? "" : "S")" }
            if schema.partitionBy != .none { ddl += " WAL" }
        }
        if !schema.dedupKeys.isEmpty {
            ddl += "\nDEDUP UPSERT KEYS(" + schema.dedupKeys.compactMap { schema.column(id: $0)?.name }.joined(separator: ",") + ")"
        }
        ddl += ";"
        return Self.build([("ddl", .string)], [[.text(ddl)]])
    }
}
