import Storage

/// The parts of PostgreSQL's `pg_catalog` and `information_schema` that drivers and tools read
/// on connect and for reflection (QUESTDB-COMPAT §5.4), as tables computed from the storage
/// catalog. Everything lives in the `public` schema of database `qdb`; a table's OID is its
/// table id plus `tableOIDBase`, its columns are numbered from 1.
package struct PostgresCatalog {
    let engine: StorageEngine

    static let tableOIDBase: Int64 = 100_000
    static let publicNamespace: Int64 = 2200
    static let catalogNamespace: Int64 = 11
    static let informationSchemaNamespace: Int64 = 13_000
    static let ownerOID: Int64 = 10

    /// Relation names this catalog answers (lower-case, `information_schema.` prefixed where needed).
    static func isRelation(_ name: String) -> Bool { relations.contains(name.lowercased()) }

    private static let relations: Set<String> = [
        "pg_namespace", "pg_type", "pg_class", "pg_attribute", "pg_database", "pg_roles", "pg_user", "pg_am",
        "pg_index", "pg_inherits", "pg_description", "pg_shdescription", "pg_attrdef", "pg_constraint", "pg_proc",
        "pg_range", "pg_enum", "pg_extension", "pg_collation", "pg_settings", "pg_tables", "pg_locks", "pg_sequence",
        "information_schema.tables", "information_schema.columns", "information_schema.schemata",
        "information_schema.table_constraints", "information_schema.key_column_usage",
    ]

    /// PostgreSQL's OIDs of the catalog relations tools name in `'…'::regclass` casts.
    private static let catalogOIDs: [String: Int64] = [
        "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": 1259, "pg_database": 1262,
        "pg_namespace": 2615, "pg_constraint": 2606, "pg_index": 2610, "pg_description": 2609, "pg_attrdef": 2604,
        "pg_inherits": 2611, "pg_am": 2601, "pg_collation": 3456, "pg_enum": 3501, "pg_range": 3541, "pg_extension": 3079,
        "pg_sequence": 2224, "pg_roles": 1260, "pg_user": 1260, "pg_settings": 12_000, "pg_tables": 12_001, "pg_locks": 12_002,
    ]

    /// The OID of relation `name` (`t`, `public.t`, `pg_catalog.pg_class`, quoted or not):
    /// a table's, or a catalog relation's as in PostgreSQL; nil when there is no such relation.
    func oid(ofRelation name: String) -> Int64? {
        var parts = name.split(separator: ".", maxSplits: 1).map { String($0.filter { $0 != "\"" }) }
        if parts.count == 2 {
            let schema = parts.removeFirst().lowercased()
            if schema == "pg_catalog" { return Self.catalogOIDs[parts[0].lowercased()] }
            guard schema == "public" else { return nil }
        }
        let relation = String(parts.first ?? "")
        if let schema = engine.schema(named: relation) { return Self.tableOIDBase + Int64(schema.tableID) }
        return Self.catalogOIDs[relation.lowercased()]
    }

    /// The rows of relation `name`.
    func relation(_ name: String) -> QueryResult {
        switch name.lowercased() {
        case "pg_namespace":
            return QueryResult(
                columns: [("oid", .int), ("nspname", .string), ("nspowner", .int), ("nspacl", .string)],
                rows: [
                    [.integer(Self.catalogNamespace), .text("pg_catalog"), .integer(Self.ownerOID), .null],
                    [.integer(Self.publicNamespace), .text("public"), .integer(Self.ownerOID), .null],
                    [.integer(Self.informationSchemaNamespace), .text("information_schema"), .integer(Self.ownerOID), .null],
                ])
        case "pg_type":
            return types()
        case "pg_class":
            return classes()
        case "pg_attribute":
            return attributes()
        case "pg_database":
            return QueryResult(
                columns: [
                    ("oid", .int), ("datname", .string), ("datdba", .int), ("encoding", .int), ("datcollate", .string),
                    ("datctype", .string), ("datistemplate", .boolean), ("datallowconn", .boolean), ("datconnlimit", .int),
                    ("datacl", .string),
                ],
                rows: [[.integer(1), .text("qdb"), .integer(Self.ownerOID), .integer(6), .text("en_US.UTF-8"), .text("en_US.UTF-8"),
                        .boolean(false), .boolean(true), .integer(-1), .null]])
        case "pg_roles", "pg_user":
            return QueryResult(
                columns: [("oid", .int), ("rolname", .string), ("usename", .string), ("rolsuper", .boolean), ("rolcanlogin", .boolean)],
                rows: [[.integer(Self.ownerOID), .text("admin"), .text("admin"), .boolean(true), .boolean(true)]])
        case "pg_am":
            return QueryResult(columns: [("oid", .int), ("amname", .string), ("amtype", .string)], rows: [[.integer(2), .text("heap"), .text("t")]])
        case "pg_tables":
            return QueryResult(
                columns: [("schemaname", .string), ("tablename", .string), ("tableowner", .string), ("hasindexes", .boolean)],
                rows: engine.tableSchemas.map { [.text("public"), .text($0.name), .text("admin"), .boolean(false)] })
        case "information_schema.tables":
            return QueryResult(
                columns: [("table_catalog", .string), ("table_schema", .string), ("table_name", .string), ("table_type", .string)],
                rows: engine.tableSchemas.map { [.text("qdb"), .text("public"), .text($0.name), .text("BASE TABLE")] })
        case "information_schema.columns":
            return informationSchemaColumns()
        case "information_schema.schemata":
            return QueryResult(
                columns: [("catalog_name", .string), ("schema_name", .string), ("schema_owner", .string)],
                rows: [[.text("qdb"), .text("public"), .text("admin")]])
        default:
            return emptyRelation(name.lowercased())
        }
    }

    /// Relations that exist but hold nothing here (no indexes, constraints, inheritance, …),
    /// with the columns queries join on.
    private func emptyRelation(_ name: String) -> QueryResult {
        let columns: [(String, SQLType)]
        switch name {
        case "pg_index":
            columns = [("indexrelid", .int), ("indrelid", .int), ("indisprimary", .boolean), ("indisunique", .boolean), ("indkey", .string)]
        case "pg_inherits":
            columns = [("inhrelid", .int), ("inhparent", .int), ("inhseqno", .int)]
        case "pg_description", "pg_shdescription":
            columns = [("objoid", .int), ("classoid", .int), ("objsubid", .int), ("description", .string)]
        case "pg_attrdef":
            columns = [("oid", .int), ("adrelid", .int), ("adnum", .int), ("adbin", .string)]
        case "pg_constraint":
            columns = [
                ("oid", .int), ("conname", .string), ("connamespace", .int), ("contype", .string), ("condeferrable", .boolean),
                ("condeferred", .boolean), ("convalidated", .boolean), ("conrelid", .int), ("conindid", .int), ("confrelid", .int),
                ("conkey", .string), ("confkey", .string),
            ]
        case "pg_proc":
            columns = [("oid", .int), ("proname", .string), ("pronamespace", .int)]
        case "pg_range":
            columns = [("rngtypid", .int), ("rngsubtype", .int)]
        case "pg_enum":
            columns = [("oid", .int), ("enumtypid", .int), ("enumlabel", .string)]
        case "pg_extension":
            columns = [("oid", .int), ("extname", .string), ("extversion", .string)]
        case "pg_collation":
            columns = [("oid", .int), ("collname", .string), ("collnamespace", .int)]
        case "pg_sequence":
            columns = [
                ("seqrelid", .int), ("seqtypid", .int), ("seqstart", .long), ("seqincrement", .long), ("seqmax", .long),
                ("seqmin", .long), ("seqcache", .long), ("seqcycle", .boolean),
            ]
        case "pg_settings":
            columns = [("name", .string), ("setting", .string)]
        case "pg_locks":
            columns = [("locktype", .string), ("pid", .int), ("granted", .boolean)]
        default:
            columns = [("constraint_name", .string), ("table_name", .string), ("column_name", .string)]
        }
        return QueryResult(columns: columns, rows: [])
    }

    /// PostgreSQL types Sundial sends and accepts: (oid, name, length, category, element, array).
    static let typeList: [(Int64, String, Int64, String, Int64, Int64)] = [
        (16, "bool", 1, "B", 0, 1000), (17, "bytea", -1, "U", 0, 1001), (20, "int8", 8, "N", 0, 1016),
        (21, "int2", 2, "N", 0, 1005), (23, "int4", 4, "N", 0, 1007), (25, "text", -1, "S", 0, 1009),
        (26, "oid", 4, "N", 0, 1028), (700, "float4", 4, "N", 0, 1021), (701, "float8", 8, "N", 0, 1022),
        (1042, "bpchar", -1, "S", 0, 1014), (1043, "varchar", -1, "S", 0, 1015), (1082, "date", 4, "D", 0, 1182),
        (1114, "timestamp", 8, "D", 0, 1115), (1184, "timestamptz", 8, "D", 0, 1185), (1700, "numeric", -1, "N", 0, 1231),
        (2950, "uuid", 16, "U", 0, 2951), (2281, "internal", 8, "P", 0, 0),
        (1000, "_bool", -1, "A", 16, 0), (1016, "_int8", -1, "A", 20, 0), (1007, "_int4", -1, "A", 23, 0),
        (1009, "_text", -1, "A", 25, 0), (1022, "_float8", -1, "A", 701, 0), (1015, "_varchar", -1, "A", 1043, 0),
    ]

    /// The type list as records, for protocol code that answers type lookups itself.
    package static var types: [(oid: Int64, name: String, element: Int64)] {
        typeList.map { ($0.0, $0.1, $0.4) }
    }

    /// The OID of a type by one of PostgreSQL's long names (`double precision`, `integer`, …).
    static func oid(ofTypeName name: String) -> Int64? {
        let aliases: [String: Int64] = [
            "boolean": 16, "bigint": 20, "smallint": 21, "integer": 23, "int": 23, "real": 700, "double precision": 701,
            "character varying": 1043, "character": 1042, "char": 1042, "timestamp without time zone": 1114,
            "timestamp with time zone": 1184, "double precision[]": 1022, "text[]": 1009, "bigint[]": 1016, "numeric": 1700,
        ]
        return aliases[name]
    }

    /// PostgreSQL's name of a type OID (`format_type`).
    static func typeName(oid: Int64) -> String? {
        switch oid {
        case 16: "boolean"
        case 20: "bigint"
        case 21: "smallint"
        case 23: "integer"
        case 25: "text"
        case 700: "real"
        case 701: "double precision"
        case 1042: "character(1)"
        case 1043: "character varying"
        case 1114: "timestamp without time zone"
        case 1184: "timestamp with time zone"
        case 2950: "uuid"
        case 17: "bytea"
        case 1022: "double precision[]"
        case 1700: "numeric"
        default: typeList.first { $0.0 == oid }?.1
        }
    }

    private func types() -> QueryResult {
        QueryResult(
            columns: [
                ("oid", .int), ("typname", .string), ("typnamespace", .int), ("typowner", .int), ("typlen", .int),
                ("typbyval", .boolean), ("typtype", .string), ("typcategory", .string), ("typisdefined", .boolean),
                ("typdelim", .string), ("typrelid", .int), ("typelem", .int), ("typarray", .int), ("typbasetype", .int),
                ("typtypmod", .int), ("typnotnull", .boolean), ("typndims", .int), ("typcollation", .int),
                ("typdefault", .string), ("typinput", .string), ("typoutput", .string), ("typreceive", .string),
            ],
            rows: Self.typeList.map { oid, name, length, category, element, array in
                [
                    .integer(oid), .text(name), .integer(Self.catalogNamespace), .integer(Self.ownerOID), .integer(length),
                    .boolean(length > 0 && length <= 8), .text(category == "P" ? "p" : "b"), .text(category), .boolean(true),
                    .text(","), .integer(0), .integer(element), .integer(array), .integer(0), .integer(-1), .boolean(false),
                    .integer(0), .integer(0), .null, .text(name + "in"), .text(name + "out"), .text(name + "recv"),
                ]
            })
    }

    private func classes() -> QueryResult {
        let rows: [[SQLValue]] = engine.tableSchemas.map { schema in
            [
                .integer(Self.tableOIDBase + Int64(schema.tableID)), .text(schema.name), .integer(Self.publicNamespace), .integer(0),
                .integer(Self.ownerOID), .integer(2), .text("r"), .text("p"), .boolean(false), .boolean(false),
                .integer(Int64(schema.columns.count)), .integer(0), .boolean(false), .boolean(false), .boolean(false),
                .boolean(false), .null, .integer(0), .integer(0), .text("d"), .integer(0),
                .real(Double(engine.snapshot(ofTable: schema.name)?.rowCount ?? 0)), .boolean(false),
            ]
        }
        return QueryResult(
            columns: [
                ("oid", .int), ("relname", .string), ("relnamespace", .int), ("reltype", .int), ("relowner", .int), ("relam", .int),
                ("relkind", .string), ("relpersistence", .string), ("relhasindex", .boolean), ("relispartition", .boolean),
                ("relnatts", .int), ("relchecks", .int), ("relhasrules", .boolean), ("relhastriggers", .boolean),
                ("relrowsecurity", .boolean), ("relforcerowsecurity", .boolean), ("reloptions", .string), ("reltablespace", .int),
                ("reloftype", .int), ("relreplident", .string), ("reltoastrelid", .int), ("reltuples", .double), ("relhasoids", .boolean),
            ],
            rows: rows)
    }

    private func attributes() -> QueryResult {
        var rows: [[SQLValue]] = []
        for schema in engine.tableSchemas {
            for (index, column) in schema.columns.enumerated() {
                let type = PostgresTypes.oid(of: .column(column.type))
                rows.append([
                    .integer(Self.tableOIDBase + Int64(schema.tableID)), .text(column.name), .integer(type), .integer(Int64(index + 1)),
                    .integer(PostgresTypes.length(of: type)), .integer(type == 1042 ? 5 : -1), .boolean(false), .boolean(false),
                    .boolean(false), .text(""), .text(""), .integer(0), .integer(type == 1022 ? 1 : 0),
                ])
            }
        }
        return QueryResult(
            columns: [
                ("attrelid", .int), ("attname", .string), ("atttypid", .int), ("attnum", .int), ("attlen", .int),
                ("atttypmod", .int), ("attnotnull", .boolean), ("atthasdef", .boolean), ("attisdropped", .boolean),
                ("attidentity", .string), ("attgenerated", .string), ("attcollation", .int), ("attndims", .int),
            ],
            rows: rows)
    }

    private func informationSchemaColumns() -> QueryResult {
        var rows: [[SQLValue]] = []
        for schema in engine.tableSchemas {
            for (index, column) in schema.columns.enumerated() {
                let type = PostgresTypes.oid(of: .column(column.type))
                rows.append([
                    .text("qdb"), .text("public"), .text(schema.name), .text(column.name), .integer(Int64(index + 1)), .null,
                    .text("YES"), .text(Self.typeName(oid: type) ?? "character varying"),
                    .text(Self.typeList.first { $0.0 == type }?.1 ?? "varchar"),
                ])
            }
        }
        return QueryResult(
            columns: [
                ("table_catalog", .string), ("table_schema", .string), ("table_name", .string), ("column_name", .string),
                ("ordinal_position", .int), ("column_default", .string), ("is_nullable", .string), ("data_type", .string),
                ("udt_name", .string),
            ],
            rows: rows)
    }
}

/// The PostgreSQL type OID each SQL type is sent as (QUESTDB-COMPAT §5.3): one table for the
/// catalog views and the PG wire module's RowDescription.
package enum PostgresTypes {
    package static func oid(of type: SQLType) -> Int64 {
        if type.isDecimal { return 1700 }
        if type.ticksPerSecond != nil { return 1114 }
        if type.isUUID { return 2950 }
        switch type.wireKind {
        case .boolean: return 16
        case .byte, .short: return 21
        case .int: return 23
        case .long: return 20
        case .float: return 700
        case .double: return 701
        case .char: return 1042
        case .binary: return 17
        case .array: return 1022
        case .text: return 1043
        }
    }

    package static func length(of oid: Int64) -> Int64 {
        PostgresCatalog.typeList.first { $0.0 == oid }?.2 ?? -1
    }
}
