/// The committed catalog: names (case-insensitive) to schemas, and table ids.
struct Catalog: ~Copyable {
    var schemas: [String: TableSchema] = [:] { didSet { generation &+= 1 } }
    /// Changes whenever any table is created, dropped, renamed or altered: what was derived
    /// from schemas (a described statement's types) is valid while it stays the same.
    private(set) var generation: UInt64 = 0
    var nextTableID: UInt32 = 1

    /// Names of tables that could not be opened: writes to them are refused with the reason.
    var damaged: [String: String] = [:]

    /// The node's role. It lives under the catalog's lock so a role change and the appends
    /// the old role admitted are ordered: once `role` refuses writes, no later append of a
    /// client's transaction can reach the WAL.
    var role: NodeRole = .standalone
    /// The fork points of the WAL; new records carry the last one's epoch.
    var epochs = EpochHistory()

    /// Tables an UPDATE holds (`StorageEngine.update`): other writes to them wait, and are
    /// woken through `updateWaiters` when it lets go.
    var updating: Set<UInt32> = []
    var updateWaiters: [CheckedContinuation<Void, Never>] = []

    /// Whether an UPDATE holds any of the tables `names` name.
    func isUpdating(_ names: [String]) -> Bool {
        !updating.isEmpty && names.contains { schemas[NameRules.lookupKey($0)].map { updating.contains($0.tableID) } ?? false }
    }

    init(stores: [UInt32: TableStore], damaged damagedTables: [DamagedTable]) {
        for table in damagedTables {
            damaged[NameRules.lookupKey(table.name)] = table.reason
            if let id = table.tableID { nextTableID = max(nextTableID, id + 1) }
        }
        for store in stores.values {
            schemas[NameRules.lookupKey(store.schema.name)] = store.schema
            nextTableID = max(nextTableID, store.schema.tableID + 1)
        }
    }

    /// Refuses a client's write when the role does not take writes.
    func requireWritable(_ path: String) throws(StorageError) {
        guard role.acceptsWrites else {
            throw StorageError(.readOnly, path: path, role.writeRefusal)
        }
    }

    mutating func reserve(_ requested: TableSchema) throws(StorageError) -> TableSchema {
        try requireWritable(requested.name)
        var schema = requested
        schema.tableID = nextTableID
        schema.version = 1
        schema.nextColumnID = (schema.columns.map(\.id).max() ?? 0) + 1
        do { try schema.validate() } catch { throw StorageError(.notWritable, path: schema.name, error.message) }
        try refuseDamaged(schema.name)
        guard schemas[NameRules.lookupKey(schema.name)] == nil else {
            throw StorageError(.notWritable, path: schema.name, "table already exists [table=\(schema.name)]")
        }
        schemas[NameRules.lookupKey(schema.name)] = schema
        nextTableID += 1
        return schema
    }

    mutating func release(_ schema: TableSchema) {
        schemas[NameRules.lookupKey(schema.name)] = nil
    }

    func refuseDamaged(_ name: String) throws(StorageError) {
        if let reason = damaged[NameRules.lookupKey(name)] {
            throw StorageError(.notWritable, path: name, "table \(name) is damaged and refuses writes: \(reason)")
        }
    }

    func existing(_ name: String) throws(StorageError) -> TableSchema {
        try refuseDamaged(name)
        guard let schema = schemas[NameRules.lookupKey(name)] else {
            throw StorageError(.notWritable, path: name, "table does not exist [table=\(name)]")
        }
        return schema
    }

    /// Applies `change` to a copy of the committed schema; the catalog holds the result.
    mutating func alter(
        _ name: String, _ change: (inout TableSchema) throws(SchemaError) -> Void
    ) throws(StorageError) -> (TableSchema, TableSchema) {
        try requireWritable(name)
        let old = try existing(name)
        var schema = old
        do {
            try change(&schema)
            schema.version = old.version + 1
            try old.checkEvolution(to: schema)
        } catch {
            throw StorageError(.notWritable, path: name, error.message)
        }
        let newKey = NameRules.lookupKey(schema.name)
        if newKey != NameRules.lookupKey(old.name) {
            try refuseDamaged(schema.name)
            guard schemas[newKey] == nil else {
                throw StorageError(.notWritable, path: name, "table already exists [table=\(schema.name)]")
            }
        }
        restore(schema, replacing: old)
        return (old, schema)
    }

    /// Puts `schema` in the catalog in place of `replaced` (undo of a failed change, or its effect).
    mutating func restore(_ schema: TableSchema, replacing replaced: TableSchema?) {
        if let replaced { schemas[NameRules.lookupKey(replaced.name)] = nil }
        schemas[NameRules.lookupKey(schema.name)] = schema
    }

    mutating func admit(_ batch: RowBatch) throws(StorageError) {
        try requireWritable(batch.schema.name)
        guard let current = schemas[NameRules.lookupKey(batch.schema.name)], current.tableID == batch.schema.tableID else {
            throw StorageError(.notWritable, path: batch.schema.name, "table does not exist [table=\(batch.schema.name)]")
        }
        guard current.version == batch.schema.version else {
            throw StorageError(.schemaChanged, path: batch.schema.name, "table schema changed; rebuild the batch")
        }
    }

    /// Follows a structural change that arrived by replication (the primary validated it).
    mutating func applyReplicated(_ change: SchemaChange) {
        switch change {
        case .createTable(let schema):
            schemas[NameRules.lookupKey(schema.name)] = schema
            nextTableID = max(nextTableID, schema.tableID + 1)
        case .alterTable(let schema), .changeColumnType(let schema, _):
            if let old = schemas.first(where: { $0.value.tableID == schema.tableID })?.key { schemas[old] = nil }
            schemas[NameRules.lookupKey(schema.name)] = schema
        case .dropTable(let id):
            if let old = schemas.first(where: { $0.value.tableID == id })?.key { schemas[old] = nil }
        case .truncateTable, .dropPartitions, .detachPartitions, .attachPartitions, .squashPartitions:
            break
        }
    }
}
