import Storage

/// How ILP turns lines into tables (QUESTDB-COMPAT §1.4–§1.5): the `line.*` settings.
package struct LineIngestConfiguration: Sendable {
    package var autoCreateTables = true
    package var autoCreateColumns = true
    /// Type of a new column for `123i` (`line.integer.default.column.type`).
    package var integerColumnType: ColumnType = .long
    /// Type of a new column for a quoted string.
    package var stringColumnType: ColumnType = .varchar
    /// Partitioning of auto-created tables (`line.default.partition.by`).
    package var partitionBy: PartitionBy = .day
    /// Longest line accepted.
    package var maxLineBytes = 1 << 20
    /// Largest row batch per table before it must be committed (HTTP: the request fails 413).
    package var maxBatchBytes = 64 << 20
    /// Largest single string, symbol or array value.
    package var maxValueBytes = 16 << 20
    /// Most tables one HTTP request or TCP connection may write (each holds a batch in memory).
    package var maxTablesPerStream = 256
    /// Largest batch capacity an idle ingestor may keep between HTTP requests (16 are kept).
    package var maxPooledBatchBytes = 32 << 20

    package init() {}
}

/// A structural change a line needs before it can be appended. Schema changes are async WAL
/// transactions; the caller runs `apply` and then offers the same line again.
package enum LineSchemaChange: Sendable {
    case createTable(TableSchema, line: Int)
    case addColumns(table: String, columns: [(name: String, type: ColumnType)], line: Int)
}

/// Rows of one ILP stream (an HTTP request or a TCP connection) on their way into tables: one
/// reusable `RowBatch` per table, column lookups cached by name bytes, casts per column type.
///
/// Owned by one task; not Sendable. `append` is synchronous and allocation-free for rows that
/// match the cached layout; everything async (schema changes, commits) is a separate call.
package final class LineIngestor {
    private let engine: StorageEngine
    package let configuration: LineIngestConfiguration
    private let nowNanos: @Sendable () -> Int64
    private var writers: [String: TableWriter] = [:]
    /// The writer of the previous line, matched by the table name's bytes (streams usually
    /// repeat one table), so most lines skip the name lookup entirely.
    private var lastWriter: TableWriter?
    private var scratch: [UInt8] = []
    /// Series keys of the lines this ingestor takes, for the parsers that feed it: kept for
    /// the ingestor's life (a pooled one serves request after request of the same series).
    package let seriesMemo = LineSeriesMemo()

    package init(engine: StorageEngine, configuration: LineIngestConfiguration, nowNanos: @escaping @Sendable () -> Int64) {
        self.engine = engine
        self.configuration = configuration
        self.nowNanos = nowNanos
    }

    /// Tables this ingestor holds a batch for.
    package var tableCount: Int { writers.count }

    /// Bytes its batches keep allocated while empty.
    package var retainedBytes: Int { writers.values.reduce(0) { $0 + $1.batch.retainedBytes } }

    /// Rows appended and not yet committed, over all tables.
    package var pendingRows: Int { writers.values.reduce(0) { $0 + $1.batch.rowCount } }

    // MARK: Appending

    /// Appends the line `parser` holds (parsed from `buffer`). Returns a schema change to apply
    /// first (then offer the line again), or `nil` once the row is in its table's batch.
    package func append(
        _ parser: LineParser, in buffer: UnsafeRawBufferPointer, line: Int, defaultUnit: LineTimestampUnit
    ) throws(LineIngestError) -> LineSchemaChange? {
        guard let writer = try writer(for: parser, in: buffer, line: line) else {
            return try createTable(for: parser, in: buffer, line: line)
        }
        // One pass resolves and writes (the stream's layout is usually cached); a line with an
        // unknown column is taken back and adds all of its unknown columns before any value is
        // written.
        if try writeRow(parser, in: buffer, into: writer, line: line, defaultUnit: defaultUnit) { return nil }
        var missing: [(name: String, type: ColumnType)] = []
        for index in 0..<parser.entityCount {
            let entity = parser.entity(index)
            let position = writer.resolve(entity: index, name: entity.name, in: buffer)
            if position == nil, entity.kind != .null {
                let name = LineText.string(buffer, entity.name)
                guard !missing.contains(where: { NameRules.lookupKey($0.name) == NameRules.lookupKey(name) }),
                      let type = LineCasts.newColumnType(
                        for: entity, integerType: configuration.integerColumnType, stringType: configuration.stringColumnType)
                else { continue }
                missing.append((name, type))
            }
        }
        if !missing.isEmpty {
            // Another stream may have added them since this writer last looked.
            if let current = engine.schema(named: writer.schema.name), current.version != writer.schema.version,
               try adopt(current, by: writer, line: line) {
                return try append(parser, in: buffer, line: line, defaultUnit: defaultUnit)
            }
            guard configuration.autoCreateColumns else {
                throw LineIngestError(.invalidLine, line: line, table: writer.schema.name,
                                      "table: \(writer.schema.name), column: \(missing[0].name) does not exist, creating new columns is disabled")
            }
            for column in missing where !NameRules.isValidColumnName(column.name) {
                throw LineIngestError(.invalidLine, line: line, table: writer.schema.name,
                                      "table: \(writer.schema.name); invalid column name: \(column.name)")
            }
            return .addColumns(table: writer.schema.name, columns: missing, line: line)
        }
        // Unknown names that cannot define a column (two spellings of one new name, or an
        // empty array): the row goes in without them.
        _ = try writeRow(parser, in: buffer, into: writer, line: line, defaultUnit: defaultUnit, skippingUnknown: true)
        return nil
    }

    /// Resolves and writes the line's row; false (nothing written) when an entity names a
    /// column the table lacks, unless `skippingUnknown`.
    private func writeRow(
        _ parser: LineParser, in buffer: UnsafeRawBufferPointer, into writer: TableWriter, line: Int, defaultUnit: LineTimestampUnit,
        skippingUnknown: Bool = false
    ) throws(LineIngestError) -> Bool {
        let batch = writer.batch
        batch.beginRow()
        var designatedSet = false
        // A series the parser knew, whose tags this batch has seen, sets every tag at once
        // (`LineSeriesKeys`); a new one is remembered once its row is in.
        var first = 0
        var newSeries = -1
        if !skippingUnknown, parser.seriesID >= 0 {
            if !writer.seriesKeys.isCurrent(epoch: batch.dictionaryEpoch, generation: parser.seriesGeneration) {
                writer.seriesKeys.forget(epoch: batch.dictionaryEpoch, generation: parser.seriesGeneration)
            }
            if let pairs = writer.seriesKeys.pairs(of: parser.seriesID) {
                batch.setSymbolKeys(pairs)
                first = parser.tagCount
            } else {
                newSeries = parser.seriesID
                writer.seriesPairs.removeAll()
            }
        }
        for index in first..<parser.entityCount {
            let entity = parser.entityPointer(index)
            guard let position = writer.resolve(entity: index, name: entity.pointee.name, in: buffer) else {
                if entity.pointee.kind == .null || skippingUnknown { continue }
                batch.cancelRow()
                return false
            }
            // The shapes of nearly every line (a tag into its SYMBOL, an integer or a float into
            // its LONG or DOUBLE) are written here; the cast table handles the rest. A column
            // given twice on one line: the first value counts (QuestDB).
            switch (entity.pointee.kind, writer.fastShape(position)) {
            case (.tag, .symbol) where !entity.pointee.range.escaped:
                let range = entity.pointee.range
                guard let key = batch.setSymbolIfUnset(position, UnsafeRawBufferPointer(rebasing: buffer[range.start..<range.end])) else {
                    if index < parser.tagCount { newSeries = -1 }
                    continue
                }
                if newSeries >= 0 && index < parser.tagCount {
                    if key >= 0 { writer.seriesPairs.append(Int32(position), key) } else { newSeries = -1 }
                }
            case (.integer, .long):
                if !batch.setIntegerIfUnset(position, entity.pointee.integer) { continue }
            case (.double, .double):
                if !batch.setDoubleIfUnset(position, entity.pointee.double) { continue }
            default:
                // A tag into another type, or named twice: the series' tags are not all keys.
                if index < parser.tagCount { newSeries = -1 }
                guard !batch.isSetInRow(position) else { continue }
                let type = writer.columnTypes[position]
                do throws(LineCasts.Failure) {
                    try LineCasts.set(entity, from: buffer, column: position, type: type, into: batch, scratch: &scratch)
                } catch {
                    batch.cancelRow()
                    throw castError(error, writer: writer, column: position, line: line)
                }
            }
            if position == writer.designatedPosition && entity.pointee.kind != .null {
                designatedSet = true
                let value = batch.column(position).lastFixedValue(as: Int64.self)
                if let problem = Self.designatedProblem(value, unit: writer.designatedUnit) {
                    batch.cancelRow()
                    throw LineIngestError(.invalidLine, line: line, table: writer.schema.name,
                                          "table: \(writer.schema.name), timestamp: \(value); \(problem)")
                }
            }
        }
        if let designated = writer.designatedPosition, !designatedSet {
            let value: Int64
            if let timestamp = parser.timestamp {
                let unit = parser.timestampUnit ?? defaultUnit
                // Judge the sign before converting: −1 ns would truncate to 0 µs.
                let converted = timestamp < 0 ? -1 : unit.convert(timestamp, to: writer.designatedUnit)
                let problem = converted.map { Self.designatedProblem($0, unit: writer.designatedUnit) } ?? "designated timestamp overflow"
                if let problem {
                    batch.cancelRow()
                    throw LineIngestError(.invalidLine, line: line, table: writer.schema.name,
                                          "table: \(writer.schema.name), timestamp: \(timestamp); \(problem)")
                }
                value = converted!
            } else {
                value = LineTimestampUnit.nanos.convert(nowNanos(), to: writer.designatedUnit) ?? 0
            }
            batch.setInteger(designated, value)
        }
        do {
            try batch.endRow()
        } catch {
            throw LineIngestError(
                error.code == .limitExceeded ? .tooLarge : .invalidLine, line: line, table: writer.schema.name, error.message)
        }
        // Every tag went to its own SYMBOL column (the pairs say which key it got): the series'
        // next lines in this batch set them at once.
        if newSeries >= 0 && writer.seriesPairs.count == 2 * parser.tagCount {
            writer.seriesKeys.remember(newSeries, pairs: writer.seriesPairs.buffer)
        }
        return true
    }

    /// Designated timestamps QuestDB refuses at ingest (RELIABILITY I17): before the epoch, or
    /// past the last day its partitions can name — 9999-12-31 in µs, 2261-12-31 in ns.
    static func designatedProblem(_ value: Int64, unit: LineTimestampUnit) -> String? {
        if value < 0 { return "designated timestamp before 1970-01-01 is not allowed" }
        switch unit {
        case .nanos where value > 9_214_646_399_999_999_999:
            return "designated timestamp beyond 2261-12-31 is not allowed"
        case .micros where value > 253_402_300_799_999_999:
            return "designated timestamp beyond 9999-12-31 is not allowed"
        default:
            return nil
        }
    }

    private func castError(_ failure: LineCasts.Failure, writer: TableWriter, column: Int, line: Int) -> LineIngestError {
        let table = writer.schema.name
        let name = writer.schema.columns[column].name
        let type = writer.schema.columns[column].type
        let detail: String
        switch failure {
        case .cast(let kind):
            detail = "cast error from protocol type: \(LineCasts.protocolTypeName(kind)) to column type: \(type)"
        case .outOfBounds(let value):
            detail = "line protocol value: \(value) is out bounds of column type: \(type)"
        case .invalid(let value):
            detail = "value error: \(value) cannot be converted to column type: \(type)"
        }
        return LineIngestError(.invalidLine, line: line, table: table, "table: \(table), column: \(name); \(detail)")
    }

    // MARK: Tables

    /// The writer of the line's table; `nil` when the table does not exist yet.
    private func writer(for parser: LineParser, in buffer: UnsafeRawBufferPointer, line: Int) throws(LineIngestError) -> TableWriter? {
        let range = parser.table
        if let lastWriter, lastWriter.matches(range, in: buffer) { return lastWriter }
        let name = LineText.string(buffer, range)
        let key = NameRules.lookupKey(name)
        if let writer = writers[key] {
            writer.rememberName(range, in: buffer)
            lastWriter = writer
            return writer
        }
        guard let schema = engine.schema(named: name) else { return nil }
        try checkTableCount(table: name, line: line)
        let writer = TableWriter(schema: schema, configuration: configuration)
        writer.rememberName(range, in: buffer)
        writers[key] = writer
        lastWriter = writer
        return writer
    }

    /// Every table a stream writes holds a batch: a stream naming a new table per line must
    /// not grow memory without bound (RELIABILITY I20).
    private func checkTableCount(table: String, line: Int?) throws(LineIngestError) {
        guard writers.count < configuration.maxTablesPerStream else {
            throw LineIngestError(.tooLarge, line: line, table: table,
                                  "table: \(table); one request or connection may write at most \(configuration.maxTablesPerStream) tables")
        }
    }

    /// The table an unknown name gets from its first line (QUESTDB-COMPAT §1.4).
    private func createTable(for parser: LineParser, in buffer: UnsafeRawBufferPointer, line: Int) throws(LineIngestError) -> LineSchemaChange {
        let name = LineText.string(buffer, parser.table)
        try checkTableCount(table: name, line: line)
        guard configuration.autoCreateTables else {
            throw LineIngestError(.invalidLine, line: line, table: name, "table does not exist, creating new tables is disabled [table=\(name)]")
        }
        guard NameRules.isValidTableName(name) else {
            throw LineIngestError(.invalidLine, line: line, table: name, "table: \(name); invalid table name")
        }
        var columns: [ColumnSchema] = []
        var designated: UInt32?
        for index in 0..<parser.entityCount {
            let entity = parser.entity(index)
            let column = LineText.string(buffer, entity.name)
            guard columns.allSatisfy({ NameRules.lookupKey($0.name) != NameRules.lookupKey(column) }),
                  var type = LineCasts.newColumnType(
                    for: entity, integerType: configuration.integerColumnType, stringType: configuration.stringColumnType)
            else { continue }
            guard NameRules.isValidColumnName(column) else {
                throw LineIngestError(.invalidLine, line: line, table: name, "table: \(name); invalid column name: \(column)")
            }
            // A field called `timestamp` becomes the designated timestamp itself.
            if NameRules.lookupKey(column) == "timestamp" && !(index < parser.tagCount) {
                if entity.kind == .integer { type = .timestamp }
                guard type.canBeDesignatedTimestamp else {
                    throw LineIngestError(.invalidLine, line: line, table: name,
                                          "table: \(name), column: \(column); cast error from protocol type: \(LineCasts.protocolTypeName(entity.kind)) to column type: TIMESTAMP")
                }
                designated = UInt32(columns.count)
            }
            columns.append(ColumnSchema(id: UInt32(columns.count), name: column, type: type))
        }
        if designated == nil {
            designated = UInt32(columns.count)
            let type: ColumnType = parser.timestamp != nil && parser.timestampUnit == .nanos ? .timestampNanos : .timestamp
            columns.append(ColumnSchema(id: UInt32(columns.count), name: "timestamp", type: type))
        }
        guard columns.count <= TableSchema.maxColumns else {
            throw LineIngestError(.invalidLine, line: line, table: name, "table: \(name); too many columns (at most \(TableSchema.maxColumns))")
        }
        let schema = TableSchema(
            tableID: 0, name: name, columns: columns, designatedTimestamp: designated, partitionBy: configuration.partitionBy)
        return .createTable(schema, line: line)
    }

    /// Runs a schema change `append` asked for. Losing a race to another stream that made the
    /// same change is fine: the table as it now is gets adopted.
    package func apply(_ change: LineSchemaChange) async throws(LineIngestError) {
        switch change {
        case .createTable(let schema, let line):
            do {
                _ = try await engine.createTable(schema)
            } catch {
                // Another writer created it meanwhile: adopt it. A synchronous-replication
                // timeout is not that: the request fails now, within `replication.sync.timeout`,
                // rather than going on to wait for its rows as long again.
                guard error.code != .notReplicated, engine.schema(named: schema.name) != nil else {
                    throw LineIngestError.storage(error, line: line, table: schema.name, error.message)
                }
            }
        case .addColumns(let table, let columns, let line):
            do {
                _ = try await engine.alterTable(table) { (schema) throws(SchemaError) in
                    for column in columns where schema.column(named: column.name) == nil {
                        _ = try schema.addColumn(name: column.name, type: column.type)
                    }
                }
            } catch {
                guard error.code != .notReplicated, let current = engine.schema(named: table),
                      columns.allSatisfy({ current.column(named: $0.name) != nil })
                else {
                    if error.code == .notWritable { throw LineIngestError(.invalidLine, line: line, table: table, error.message) }
                    throw LineIngestError.storage(error, line: line, table: table, error.message)
                }
            }
            // Columns added are committed at once, like QuestDB; the batch takes them too.
            if let writer = writers[NameRules.lookupKey(table)], let current = engine.schema(named: table) {
                _ = try adopt(current, by: writer, line: line)
            }
        }
    }

    /// Moves a writer to the table's current schema; false when nothing changed.
    private func adopt(_ current: TableSchema, by writer: TableWriter, line: Int?) throws(LineIngestError) -> Bool {
        guard current.version != writer.schema.version else { return false }
        if writer.batch.rowCount == 0 {
            writer.reset(to: current)
        } else if writer.batch.extend(to: current) {
            writer.reset(to: current, keepingRows: true)
        } else {
            throw LineIngestError(.schemaChanged, line: line, table: current.name,
                                  "table: \(current.name); the table was changed while rows were written into it, retry")
        }
        return true
    }

    /// Moves every row `other` holds after this ingestor's rows, table by table: the second
    /// half of an ILP body, parsed by another ingestor at the same time as the first
    /// (`LineLanes`). Batches of different versions of a table both take its current schema
    /// first; `other` is left empty.
    package func absorb(_ other: LineIngestor) throws(LineIngestError) {
        for (key, theirs) in other.writers where theirs.batch.rowCount > 0 {
            let mine: TableWriter
            if let writer = writers[key] {
                mine = writer
            } else {
                try checkTableCount(table: theirs.schema.name, line: nil)
                mine = TableWriter(schema: theirs.schema, configuration: configuration)
                writers[key] = mine
            }
            if mine.schema != theirs.schema {
                guard let current = engine.schema(named: theirs.schema.name), current.tableID == theirs.schema.tableID,
                      current.tableID == mine.schema.tableID
                else {
                    throw LineIngestError(.schemaChanged, line: nil, table: theirs.schema.name,
                                          "table: \(theirs.schema.name); the table was replaced while rows were written into it, retry")
                }
                _ = try adopt(current, by: mine, line: nil)
                _ = try adopt(current, by: theirs, line: nil)
            }
            do {
                try mine.batch.append(contentsOf: theirs.batch)
            } catch {
                throw LineIngestError(.tooLarge, line: nil, table: mine.schema.name, error.message)
            }
            // The helper keeps its dictionaries for its next half, as a committed batch does.
            theirs.batch.clearRows()
        }
    }

    // MARK: Committing

    /// Commits every table's pending rows as one WAL transaction: an HTTP request is all or
    /// nothing even when it writes several tables (QuestDB commits table by table).
    package func commitAll() async throws(LineIngestError) {
        try await LineIngestion.settle(appendAll(), on: engine)
    }

    /// Commits the tables holding at least `rows` rows or `bytes` bytes, each on its own.
    package func commitFull(rows: Int, bytes: Int) async throws(LineIngestError) {
        try await LineIngestion.settle(appendFull(rows: rows, bytes: bytes), on: engine)
    }

    /// `commitAll` up to the WAL append: the batches are empty again at once, and what is
    /// left of the commit (fsync, replication acknowledgement) is for `LineIngestion.settle`.
    package func appendAll() async throws(LineIngestError) -> [UnsettledCommit] {
        try await append(writers.values.filter { $0.batch.rowCount > 0 }).map { [$0] } ?? []
    }

    /// `commitFull` up to the WAL appends (see `appendAll`).
    package func appendFull(rows: Int, bytes: Int) async throws(LineIngestError) -> [UnsettledCommit] {
        var appended: [UnsettledCommit] = []
        for writer in writers.values where writer.batch.rowCount >= rows || writer.batch.byteCount >= bytes {
            if let commit = try await append([writer]) { appended.append(commit) }
        }
        return appended
    }
    /// Makes a reused ingestor current: writers of tables dropped or replaced since are
    /// forgotten, writers of changed tables take the new schema. Batches are empty here.
    package func refresh() {
        lastWriter = nil
        for (key, writer) in writers {
            guard let current = engine.schema(named: writer.schema.name), current.tableID == writer.schema.tableID else {
                writers[key] = nil
                continue
            }
            if current.version != writer.schema.version { writer.reset(to: current) }
        }
    }

    /// Drops every uncommitted row (an HTTP request that failed). Batches already empty keep
    /// their SYMBOL values for the next request (decision 0043).
    package func discardAll() {
        for writer in writers.values where writer.batch.rowCount > 0 || writer.batch.isBuildingRow { writer.batch.reset() }
    }

    /// Appends the writers' batches to the WAL as one transaction and empties them. A batch
    /// another writer made stale (by adding columns) adopts the table's current schema and the
    /// append is tried again.
    private func append(_ pending: [TableWriter]) async throws(LineIngestError) -> UnsettledCommit? {
        if pending.isEmpty { return nil }
        let rows = pending.reduce(0) { $0 + $1.batch.rowCount }
        let tables = pending.map(\.schema.name).joined(separator: ", ")
        for _ in 0..<8 {
            do {
                guard let appended = try await engine.appendRows(all: pending.map(\.batch)) else { return nil }
                // Each batch keeps the SYMBOL values its rows used (decision 0043): the next
                // request's rows of the same series find them, and their remembered keys.
                for writer in pending { writer.batch.clearRows() }
                LineMetrics.committed(rows: rows)
                return UnsettledCommit(appended: appended, tables: tables)
            } catch where error.code == .schemaChanged {
                guard let writer = writers[NameRules.lookupKey(error.path)] else { throw .commit(error, table: error.path) }
                try adoptCurrentSchema(writer)
            } catch {
                throw .commit(error, table: tables)
            }
        }
        throw LineIngestError(.schemaChanged, line: nil, table: tables, "table: \(tables); the table kept changing while rows were committed, retry")
    }

    private func adoptCurrentSchema(_ writer: TableWriter) throws(LineIngestError) {
        guard let current = engine.schema(named: writer.schema.name) else {
            throw LineIngestError(.schemaChanged, line: nil, table: writer.schema.name,
                                  "table: \(writer.schema.name); the table was dropped while rows were written into it")
        }
        _ = try adopt(current, by: writer, line: nil)
    }

}

/// Rows in the WAL whose commit nothing has waited for yet (`LineIngestion.settle`).
package struct UnsettledCommit: Sendable {
    let appended: StorageEngine.AppendedCommit
    let tables: String
}

/// One table's batch and the caches that make appending a row cheap.
final class TableWriter {
    private(set) var schema: TableSchema
    let batch: RowBatch
    private(set) var designatedPosition: Int?
    private(set) var designatedUnit: LineTimestampUnit = .micros
    /// Lower-cased column names → position.
    private var positions: [String: Int] = [:]
    /// Column types by position, apart from the schema so the row loop copies no names.
    private(set) var columnTypes: [ColumnType] = []
    /// The row loop's fast shapes by position (`FastShape`), in a raw table: read per value,
    /// where an array would cost a retain and a bounds check.
    private var shapes = GrowingBuffer<FastShape>()

    /// The column types the row loop writes without the cast table.
    enum FastShape: UInt8 { case other, symbol, long, double }
    /// Per entity position: the name bytes it last had and the column they named, so a stream
    /// repeating its layout resolves columns by comparing bytes.
    private var entities = EntityColumnCache()
    private var tableName: [UInt8] = []
    /// The keys the tags of each series (by the parser's series id) got in this batch.
    var seriesKeys = LineSeriesKeys()
    /// The (column, key) pairs of the row being written, while its series may be remembered.
    var seriesPairs = GrowingBuffer<Int32>()

    init(schema: TableSchema, configuration: LineIngestConfiguration) {
        self.schema = schema
        self.batch = RowBatch(schema: schema, maxBytes: configuration.maxBatchBytes, maxValueBytes: configuration.maxValueBytes)
        reset(to: schema, keepingRows: true)
    }

    func reset(to newSchema: TableSchema, keepingRows: Bool = false) {
        if !keepingRows { batch.reset(schema: newSchema) }
        schema = newSchema
        columnTypes = newSchema.columns.map(\.type)
        shapes.removeAll()
        for type in columnTypes {
            switch type {
            case .symbol: shapes.append(.symbol)
            case .long: shapes.append(.long)
            case .double: shapes.append(.double)
            default: shapes.append(.other)
            }
        }
        positions = [:]
        for (position, column) in newSchema.columns.enumerated() { positions[NameRules.lookupKey(column.name)] = position }
        designatedPosition = newSchema.designatedTimestamp.flatMap { id in newSchema.columns.firstIndex { $0.id == id } }
        designatedUnit = designatedPosition.map { newSchema.columns[$0].type == .timestampNanos ? .nanos : .micros } ?? .micros
        entities.forget()
        seriesKeys.forget(epoch: -1, generation: 0)
    }

    @inline(__always)
    func fastShape(_ position: Int) -> FastShape { shapes.base[position] }

    func matches(_ range: LineRange, in buffer: UnsafeRawBufferPointer) -> Bool {
        !range.escaped && range.count == tableName.count && range.count > 0
            && tableName.withUnsafeBytes { ShortBytes.equal($0.baseAddress!, buffer.baseAddress! + range.start, range.count) }
    }

    func rememberName(_ range: LineRange, in buffer: UnsafeRawBufferPointer) {
        tableName = range.escaped ? [] : Array(UnsafeRawBufferPointer(rebasing: buffer[range.start..<range.end]))
    }

    /// Resolves entity `index` of the line, called `name`, to its column position; `nil` when
    /// the table lacks it. Inlined for the usual case, a line laid out like the one before.
    @inline(__always)
    func resolve(entity index: Int, name: LineRange, in buffer: UnsafeRawBufferPointer) -> Int? {
        if !name.escaped, let known = entities.cachedColumn(index, name: UnsafeRawBufferPointer(rebasing: buffer[name.start..<name.end])) {
            return known
        }
        return resolveByName(entity: index, name: name, in: buffer)
    }

    @inline(never)
    private func resolveByName(entity index: Int, name: LineRange, in buffer: UnsafeRawBufferPointer) -> Int? {
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[name.start..<name.end])
        let position = positions[NameRules.lookupKey(LineText.string(buffer, name))]
        entities.remember(index, name: name.escaped ? nil : bytes, column: position ?? -1)
        return position
    }
}

/// Entity position → (name bytes, column) of the last line resolved, in one flat allocation:
/// checking a line against the previous line's layout costs a few word compares per entity,
/// with no array copy-on-write checks or retains.
struct EntityColumnCache: ~Copyable {
    /// Entry layout: column Int32, name length Int32 (−1: name not cached), then the name.
    /// Kept per instance: a static computed from another module's constant is a lazy global,
    /// and its `swift_once` check on every entity was ~1 % of the node's ILP samples.
    private let stride = 8 + NameRules.maxNameBytes + 1
    private var entries: UnsafeMutableRawPointer
    private var capacity = 64

    init() {
        entries = .allocate(byteCount: capacity * stride, alignment: 8)
        forget()
    }

    deinit { entries.deallocate() }

    /// Drops every cached name (the schema changed).
    mutating func forget() {
        for index in 0..<capacity { entry(index).storeBytes(of: -1, toByteOffset: 4, as: Int32.self) }
    }

    @inline(__always)
    private func entry(_ index: Int) -> UnsafeMutableRawPointer { entries + index * stride }

    /// The cached column when entity `index` has the same name bytes as when it was remembered.
    @inline(__always)
    func cachedColumn(_ index: Int, name: UnsafeRawBufferPointer) -> Int? {
        guard index < capacity, !name.isEmpty else { return nil }
        let slot = entry(index)
        guard slot.load(fromByteOffset: 4, as: Int32.self) == Int32(name.count),
              ShortBytes.equal(slot + 8, name.baseAddress!, name.count)
        else { return nil }
        return Int(slot.load(as: Int32.self))
    }

    mutating func remember(_ index: Int, name: UnsafeRawBufferPointer?, column: Int) {
        if index >= capacity { grow(to: index + 1) }
        let slot = entry(index)
        slot.storeBytes(of: Int32(column), as: Int32.self)
        if let name, column >= 0, !name.isEmpty, name.count <= NameRules.maxNameBytes {
            slot.storeBytes(of: Int32(name.count), toByteOffset: 4, as: Int32.self)
            (slot + 8).copyMemory(from: name.baseAddress!, byteCount: name.count)
        } else {
            slot.storeBytes(of: -1, toByteOffset: 4, as: Int32.self)
        }
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity * stride, alignment: 8)
        grown.copyMemory(from: entries, byteCount: capacity * stride)
        entries.deallocate()
        entries = grown
        for index in capacity..<newCapacity { (grown + index * stride).storeBytes(of: -1, toByteOffset: 4, as: Int32.self) }
        capacity = newCapacity
    }
}

