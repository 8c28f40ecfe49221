/// How a table's rows are split into partitions by the designated timestamp.
package enum PartitionBy: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case hour = 1
    case day = 2
    case week = 3
    case month = 4
    case year = 5

    package var description: String {
        switch self {
        case .none: "NONE"
        case .hour: "HOUR"
        case .day: "DAY"
        case .week: "WEEK"
        case .month: "MONTH"
        case .year: "YEAR"
        }
    }
}

/// One column of a table. `id` is stable for the column's life: renames keep it, files are
/// named by it, so a rename never touches data and a dropped name can be reused safely.
package struct ColumnSchema: Sendable, Equatable {
    package var id: UInt32
    package var name: String
    package var type: ColumnType
    package var indexed: Bool
    /// Expected distinct values of a SYMBOL column (QuestDB's `CAPACITY`, default 256).
    package var symbolCapacity: Int32

    package init(id: UInt32, name: String, type: ColumnType, indexed: Bool = false, symbolCapacity: Int32 = 256) {
        self.id = id
        self.name = name
        self.type = type
        self.indexed = indexed
        self.symbolCapacity = symbolCapacity
    }
}

/// A table's structure: what `_meta` stores and every WAL schema change moves forward.
package struct TableSchema: Sendable, Equatable {
    /// Most columns a table may have (QuestDB allows more, but a row batch per table carries
    /// every column; a limit keeps batches and `_meta` bounded).
    package static let maxColumns = 2048

    package var tableID: UInt32
    package var name: String
    package var columns: [ColumnSchema]
    /// Column id of the designated timestamp, if the table has one.
    package var designatedTimestamp: UInt32?
    package var partitionBy: PartitionBy
    /// Column ids of `DEDUP UPSERT KEYS`; empty when dedup is off.
    package var dedupKeys: [UInt32]
    /// Bumped by every structural change.
    package var version: UInt64
    /// The id the next added column gets.
    package var nextColumnID: UInt32
    /// `TTL n unit`: partitions older than this are dropped (nil: kept forever).
    package var ttl: TableTTL?

    package init(
        tableID: UInt32, name: String, columns: [ColumnSchema], designatedTimestamp: UInt32?,
        partitionBy: PartitionBy, dedupKeys: [UInt32] = [], version: UInt64 = 1
    ) {
        self.tableID = tableID
        self.name = name
        self.columns = columns
        self.designatedTimestamp = designatedTimestamp
        self.partitionBy = partitionBy
        self.dedupKeys = dedupKeys
        self.version = version
        self.nextColumnID = (columns.map(\.id).max() ?? 0) + 1
    }

    /// The column called `name`, ignoring case as QuestDB does.
    package func column(named name: String) -> ColumnSchema? {
        let key = NameRules.lookupKey(name)
        return columns.first { NameRules.lookupKey($0.name) == key }
    }

    package func column(id: UInt32) -> ColumnSchema? {
        columns.first { $0.id == id }
    }

    /// Checks every rule a schema must satisfy; the message is what the user sees.
    package func validate() throws(SchemaError) {
        guard NameRules.isValidTableName(name) else { throw SchemaError("invalid table name [name=\(name)]") }
        guard !columns.isEmpty else { throw SchemaError("table \(name) has no columns") }
        guard columns.count <= TableSchema.maxColumns else {
            throw SchemaError("table \(name) has \(columns.count) columns; the limit is \(TableSchema.maxColumns)")
        }
        var seen = Set<String>()
        var ids = Set<UInt32>()
        for column in columns {
            guard ids.insert(column.id).inserted, column.id < nextColumnID else {
                throw SchemaError("table \(name): column id \(column.id) is duplicated or not below the next id \(nextColumnID)")
            }
            guard NameRules.isValidColumnName(column.name) else {
                throw SchemaError("table: \(name); invalid column name: \(column.name)")
            }
            guard seen.insert(NameRules.lookupKey(column.name)).inserted else {
                throw SchemaError("duplicate column [name=\(column.name)]")
            }
        }
        if let designated = designatedTimestamp {
            guard let column = column(id: designated), column.type.canBeDesignatedTimestamp else {
                throw SchemaError("designated timestamp column must be of TIMESTAMP or TIMESTAMP_NS type")
            }
        } else if partitionBy != .none {
            throw SchemaError("partitioning is possible only on tables with designated timestamps")
        }
        if !dedupKeys.isEmpty {
            guard let designated = designatedTimestamp, dedupKeys.contains(designated) else {
                throw SchemaError("deduplicate key list must include dedicated timestamp column")
            }
            for key in dedupKeys where column(id: key) == nil {
                throw SchemaError("deduplicate key column id \(key) does not exist")
            }
        }
    }
}

/// A schema rule was broken; the message follows QuestDB's wording where it has one.
package struct SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

extension TableSchema {
    /// Adds a column at the end with a fresh id.
    @discardableResult
    package mutating func addColumn(name: String, type: ColumnType) throws(SchemaError) -> ColumnSchema {
        guard NameRules.isValidColumnName(name) else { throw SchemaError("table: \(self.name); invalid column name: \(name)") }
        guard column(named: name) == nil else { throw SchemaError("duplicate column name: \(name)") }
        let column = ColumnSchema(id: nextColumnID, name: name, type: type)
        nextColumnID += 1
        columns.append(column)
        return column
    }

    package mutating func dropColumn(named name: String) throws(SchemaError) {
        guard let column = column(named: name) else { throw SchemaError("column '\(name)' does not exist in table '\(self.name)'") }
        guard column.id != designatedTimestamp else { throw SchemaError("cannot remove designated timestamp column") }
        guard !dedupKeys.contains(column.id) else { throw SchemaError("cannot remove column \(name): it is a dedup key") }
        columns.removeAll { $0.id == column.id }
    }

    package mutating func renameColumn(_ name: String, to newName: String) throws(SchemaError) {
        guard let index = columns.firstIndex(where: { NameRules.lookupKey($0.name) == NameRules.lookupKey(name) }) else {
            throw SchemaError("column '\(name)' does not exist in table '\(self.name)'")
        }
        guard NameRules.isValidColumnName(newName) else { throw SchemaError("invalid column name: \(newName)") }
        if NameRules.lookupKey(name) != NameRules.lookupKey(newName), column(named: newName) != nil {
            throw SchemaError("duplicate column name: \(newName)")
        }
        columns[index].name = newName
    }

    /// Whether `newer` is a valid successor: same table, designated timestamp and partitioning,
    /// and every column kept with its type.
    func checkEvolution(to newer: TableSchema) throws(SchemaError) {
        guard newer.tableID == tableID else { throw SchemaError("table id cannot change") }
        guard newer.designatedTimestamp == designatedTimestamp else {
            throw SchemaError("the designated timestamp of a table cannot change")
        }
        guard newer.partitionBy == partitionBy else { throw SchemaError("partitioning of a table cannot change") }
        for column in newer.columns {
            if let old = self.column(id: column.id), old.type != column.type {
                throw SchemaError("column \(column.name) cannot change type from \(old.type) to \(column.type) yet")
            }
        }
        guard newer.nextColumnID >= nextColumnID else { throw SchemaError("column ids cannot be reused") }
        try newer.validate()
    }
}
