#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import NIOPosix
import Storage

/// Settings of the SQL engine (`query.timeout`, the per-query memory cap, worker threads).
package struct SQLConfiguration: Sendable {
    package var queryTimeout: Duration = .seconds(60)
    package var maxQueryMemoryBytes = 1 << 30
    package var workerThreads = 2
    /// How long a worker that ran out of jobs keeps looking before it parks (`QueryWorkers`).
    package var workerSpin: Duration = .microseconds(50)
    /// Threads one large aggregation scans with (its rows split in consecutive halves).
    package var scanThreads = 2
    /// Memory for the in-memory symbol postings (index) of partitions queries filter by symbol.
    package var symbolPostingsCacheBytes = 256 << 20
    /// Statements kept parsed and described by their text (see `StatementCache`).
    package var statementCacheSize = 1024
    /// Fewest rows an aggregation must scan before it uses `scanThreads`.
    package var parallelScanMinRows = 262_144
    /// Rows per commit for INSERT … SELECT and CREATE TABLE AS.
    package var insertBatchRows = 100_000

    package init() {}
}

/// A statement text made ready for the extended protocol (see `SQLEngine.prepare`).
package struct PreparedSQL: Sendable {
    let parsed: StatementCache.Parsed
    /// Set when the text is exactly one statement.
    package let description: StatementDescription?
    package var statements: [SQLStatement] { parsed.statements }
    package var parameterCount: Int { parsed.parameterCount }
    /// One per statement, shared by every session that prepares the same text.
    package var memos: [PlanMemo] { parsed.memos }
}

/// What Describe reports about a statement (see `SQLEngine.prepare`).
package struct StatementDescription: Sendable {
    package var parameterTypes: [SQLType?]
    package var columns: [QueryResult.Column]?
    /// The designated timestamp among `columns`, when the rows keep one.
    package var timestampIndex: Int?
}

/// Runs SQL statements against the storage engine: the one entry point PG wire and REST share.
/// Queries run on a small pool of worker threads, never on network event loops.
package final class SQLEngine: Sendable {
    package let storage: StorageEngine
    package let configuration: SQLConfiguration
    private let workers: QueryWorkers
    /// Whether writes are refused (a replica or fenced node); asked per statement.
    private let isReadOnly: @Sendable () -> Bool
    private let clock: @Sendable () -> Int64
    /// The statements running now (`query_activity()`, `CANCEL QUERY`).
    package let activity: QueryActivity
    private let postings: SymbolPostingsCache
    private let statementCache: StatementCache
    /// `SELECT pg_promote()`: promotes this node (Replication's controller, set by `Node`);
    /// the error text is reported as is. `nil` on a node that is not clustered.
    private let promote: (@Sendable () async -> String?)?

    package init(
        storage: StorageEngine, configuration: SQLConfiguration = SQLConfiguration(),
        isReadOnly: @escaping @Sendable () -> Bool = { false },
        nowMicros: @escaping @Sendable () -> Int64 = SQLEngine.wallClockMicros,
        promote: (@Sendable () async -> String?)? = nil
    ) {
        self.promote = promote
        self.storage = storage
        self.configuration = configuration
        self.isReadOnly = isReadOnly
        self.clock = nowMicros
        self.activity = QueryActivity(clock: nowMicros)
        self.postings = SymbolPostingsCache(maxBytes: configuration.symbolPostingsCacheBytes)
        self.statementCache = StatementCache(capacity: configuration.statementCacheSize)
        self.workers = QueryWorkers(threads: configuration.workerThreads, spin: configuration.workerSpin)
    }

    deinit {
        workers.shutdown()
    }

    package static func wallClockMicros() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    /// A context with the configured timeout (or `timeout` when the client sent one).
    package func makeContext(timeout: Duration? = nil, text: String = "", user: String = "admin") -> QueryContext {
        QueryContext(timeout: timeout ?? configuration.queryTimeout, maxResultBytes: configuration.maxQueryMemoryBytes, text: text, user: user)
    }

    /// Runs `body` registered in `activity` (for `query_activity()` and `CANCEL QUERY`), unless
    /// an outer call already registered the context.
    private func tracked<T>(_ context: QueryContext, _ body: () async throws(SQLError) -> T) async throws(SQLError) -> T {
        let id = activity.begin(context)
        defer { if let id { activity.end(id, context) } }
        return try await body()
    }

    /// Parses `sql` (one or more statements) and runs each in order; returns the last outcome.
    package func execute(_ sql: String, parameters: [SQLValue] = [], context: QueryContext? = nil) async throws(SQLError) -> SQLOutcome {
        let context = context ?? makeContext(text: sql)
        return try await tracked(context) { () async throws(SQLError) in try await run(sql, parameters: parameters, context: context) }
    }

    private func run(_ sql: String, parameters: [SQLValue], context: QueryContext) async throws(SQLError) -> SQLOutcome {
        let statements = try await offload { () throws(SQLError) in try SQLParser.parse(sql) }
        guard !statements.isEmpty else { throw SQLError(.syntax, "empty query", at: 0) }
        var outcome = SQLOutcome.ddl
        for statement in statements {
            outcome = try await execute(statement, parameters: parameters, context: context)
        }
        return outcome
    }

    /// A statement's answer when the caller renders rows itself: rendered on the worker that
    /// ran the query (one thread hop for a SELECT), or the outcome of any other statement.
    package enum Rendered<T: Sendable>: Sendable {
        case rows(T)
        case outcome(SQLOutcome)
    }

    /// Like `execute`, but a single SELECT is parsed, run and passed to `render` in one go on a
    /// worker thread, so REST answers a query with one hand-off instead of three.
    package func execute<T: Sendable>(
        _ sql: String, context: QueryContext? = nil, render: @escaping @Sendable (QueryResult) -> T
    ) async throws(SQLError) -> Rendered<T> {
        let context = context ?? makeContext(text: sql)
        return try await tracked(context) { () async throws(SQLError) in try await run(sql, context: context, render: render) }
    }

    private func run<T: Sendable>(
        _ sql: String, context: QueryContext, render: @escaping @Sendable (QueryResult) -> T
    ) async throws(SQLError) -> Rendered<T> {
        let executor = makeExecutor(context, parameters: [])
        // Either the rendered rows of a lone SELECT, or the statements to run one by one.
        let step = try await offload { () throws(SQLError) -> (T?, [SQLStatement]) in
            let statements = try SQLParser.parse(sql)
            guard statements.count == 1, case .query(let query) = statements[0] else { return (nil, statements) }
            return (render(try executor.run(query)), [])
        }
        switch step {
        case (let value?, _):
            return .rows(value)
        case (nil, let statements):
            guard !statements.isEmpty else { throw SQLError(.syntax, "empty query", at: 0) }
            var outcome = SQLOutcome.ddl
            for statement in statements { outcome = try await execute(statement, context: context) }
            if case .rows(let result) = outcome {
                let rendered = try await offload { () throws(SQLError) in render(result) }
                return .rows(rendered)
            }
            return .outcome(outcome)
        }
    }

    /// Like `execute(_:parameters:parameterTypes:context:)`, but a query's rows are passed to
    /// `render` on the worker that ran it: one thread hop there and back, and the result is
    /// freed on the thread that made it (wire protocols encode their rows this way).
    package func execute<T: Sendable>(
        _ statement: SQLStatement, parameters: [SQLValue], parameterTypes: [SQLType?], context: QueryContext, memo: PlanMemo? = nil,
        render: @escaping @Sendable (QueryResult) -> T
    ) async throws(SQLError) -> Rendered<T> {
        guard case .query(let query) = statement, !Self.isPromoteCall(query) else {
            return .outcome(try await execute(statement, parameters: parameters, parameterTypes: parameterTypes, context: context))
        }
        let executor = makeExecutor(context, parameters: parameters, parameterTypes: parameterTypes)
        return try await tracked(context) { () async throws(SQLError) in
            if InPlaceStatements.runsInPlace(query, parameters: parameters) { return .rows(render(try executor.run(query))) }
            // A remembered point lookup whose work is bounded and in memory runs in place too.
            if let memo, let result = try executor.runPointInPlace(query, memo: memo) { return .rows(render(result)) }
            return .rows(try await offload { () throws(SQLError) in render(try executor.run(query, memo: memo)) })
        }
    }

    /// Runs one parsed statement. `parameterTypes` are the declared types of the parameters
    /// (nil entries: the value's own type).
    package func execute(
        _ statement: SQLStatement, parameters: [SQLValue] = [], parameterTypes: [SQLType?] = [], context: QueryContext
    ) async throws(SQLError) -> SQLOutcome {
        try await tracked(context) { () async throws(SQLError) in
            try await perform(statement, parameters: parameters, parameterTypes: parameterTypes, context: context)
        }
    }

    private func perform(
        _ statement: SQLStatement, parameters: [SQLValue], parameterTypes: [SQLType?], context: QueryContext
    ) async throws(SQLError) -> SQLOutcome {
        if statement.isWrite, isReadOnly() {
            throw SQLError(.readOnly, "cannot execute \(statement.verb) in a read-only transaction")
        }
        let executor = makeExecutor(context, parameters: parameters, parameterTypes: parameterTypes)
        if case .query(let query) = statement, Self.isPromoteCall(query) {
            return .rows(try await promoteNode())
        }
        switch statement {
        case .query(let query) where InPlaceStatements.runsInPlace(query, parameters: parameters):
            return .rows(try executor.run(query))
        case .query(let query), .declareCursor(_, let query):
            return .rows(try await offload { () throws(SQLError) in try executor.run(query) })
        case .explain(let query):
            return .rows(try await offload { () throws(SQLError) in try Explain(executor: executor).plan(query) })
        case .showTables, .showColumns, .showCreateTable, .session(.show):
            return .rows(try show(statement))
        case .session:
            return .ddl
        case .createTable(let create):
            try await onStorageThreads { () async throws(SQLError) in try await DataDefinition(engine: self, executor: executor).create(create) }
            return .ddl
        case .insert(let insert):
            return .inserted(rows: try await onStorageThreads { () async throws(SQLError) in
                try await DataDefinition(engine: self, executor: executor).insert(insert)
            })
        case .update(let update):
            return .updated(rows: try await onStorageThreads { () async throws(SQLError) in
                try await UpdatePlan(update: update, executor: executor).run()
            })
        case .tableUpkeep(_, let table, let column, let position):
            guard let schema = storage.schema(named: table) else {
                throw SQLError(.undefinedTable, "table does not exist [table=\(table)]", at: position)
            }
            if let (name, columnPosition) = column {
                guard let found = schema.column(named: name) else {
                    throw SQLError(.undefinedColumn, "column '\(name)' does not exist in table '\(table)'", at: columnPosition)
                }
                guard found.type == .symbol else { throw SQLError(.invalidValue, "Column is not indexed", at: columnPosition) }
            }
            return .ddl
        case .cancelQuery(let id, let position):
            guard activity.cancel(id) else { throw SQLError(.invalidValue, "query to cancel not found in registry [id=\(id)]", at: position) }
            return .ddl
        case .checkpoint(let create, let position):
            // Hard links and fsyncs: blocking file work, on a SQL worker.
            try await offload { [storage] () throws(SQLError) in
                do throws(StorageError) {
                    if create { _ = try storage.createCheckpoint() } else { try storage.releaseCheckpoint() }
                } catch {
                    throw DataDefinition.storageError(error, at: position)
                }
            }
            return .ddl
        case .dropTable, .dropAllTables, .truncateTable, .renameTable, .alterTable:
            try await onStorageThreads { () async throws(SQLError) in try await DataDefinition(engine: self, executor: executor).change(statement) }
            return .ddl
        }
    }

    /// Runs a write: the storage engine's async functions append to the WAL and write files
    /// in their synchronous parts, which must not run on a network event loop — and a PG
    /// connection's task prefers its loop (`EventLoopTaskExecutor`). The global pool runs them.
    private func onStorageThreads<T: Sendable>(_ write: () async throws(SQLError) -> T) async throws(SQLError) -> T {
        try await withTaskExecutorPreference(globalConcurrentExecutor, operation: write)
    }

    /// The rows of a SHOW statement (the catalog as it is now: quick, no table data read).
    private func show(_ statement: SQLStatement) throws(SQLError) -> QueryResult {
        switch statement {
        case .showColumns(let table, let position):
            return try CatalogViews(engine: storage).columns(of: table, at: position)
        case .showCreateTable(let table, let position):
            return try CatalogViews(engine: storage).showCreate(table, at: position)
        case .session(.show(let name)):
            guard let value = SessionSettings.value(of: name, readOnly: isReadOnly()) else {
                throw SQLError(.undefinedObject, "unrecognized configuration parameter \"\(name)\"")
            }
            return QueryResult.single(column: SessionSettings.columnName(of: name), text: value)
        default:
            return CatalogViews(engine: storage).showTables()
        }
    }

    /// Commits a transaction block's buffered rows as one WAL transaction: all or none.
    func commit(_ batches: TableBatches) async throws(SQLError) {
        if batches.isEmpty { return }
        if isReadOnly() { throw SQLError(.readOnly, "cannot execute COMMIT in a read-only transaction") }
        let executor = makeExecutor(makeContext(), parameters: [])
        _ = try await onStorageThreads { () async throws(SQLError) in try await DataDefinition(engine: self, executor: executor).commit(batches) }
    }

    /// `SELECT pg_promote([wait [, wait_seconds]])` with nothing else: promotion is an
    /// asynchronous operator action, so it runs here rather than in the expression evaluator.
    static func isPromoteCall(_ query: SQLQuery) -> Bool {
        guard case .select(let select) = query, select.from == nil, select.items.count == 1, select.whereClause == nil,
              case .function(let name, let arguments, _) = select.items[0].expression.kind
        else { return false }
        return name.lowercased() == "pg_promote" && arguments.count <= 2
    }

    /// Runs the promotion; true as PostgreSQL's `pg_promote()` returns, an error otherwise.
    private func promoteNode() async throws(SQLError) -> QueryResult {
        guard let promote else {
            throw SQLError(.wrongState, "recovery is not in progress: this node is not clustered (replication.role=none)")
        }
        if let failure = await withTaskExecutorPreference(globalConcurrentExecutor, operation: promote) {
            throw SQLError(.wrongState, "cannot promote: \(failure)")
        }
        return QueryResult(columns: [("pg_promote", .boolean)], rows: [[.boolean(true)]])
    }

    /// The statements of `sql` and the number of its `$n` parameters: from the statement
    /// cache when the same text was seen before, else parsed on a worker.
    package func parse(_ sql: String) async throws(SQLError) -> (statements: [SQLStatement], parameterCount: Int) {
        if let known = statementCache.parsed(sql) { return (known.statements, known.parameterCount) }
        let parsed = try await offload { () throws(SQLError) in try StatementCache.Parsed(parsing: sql) }
        statementCache.remember(sql, parsed)
        return (parsed.statements, parsed.parameterCount)
    }

    /// What extended-protocol Parse needs: the statements of `sql`, its parameter count and,
    /// when it is one statement, its description. From the statement cache while no schema
    /// changed; otherwise parsed and described in one hand-off to a worker.
    package func prepare(_ sql: String, parameterTypes declared: [SQLType?]) async throws(SQLError) -> PreparedSQL {
        let generation = storage.catalogGeneration
        let parsed = statementCache.parsed(sql)
        if let parsed {
            guard parsed.statements.count == 1 else { return PreparedSQL(parsed: parsed, description: nil) }
            if let known = statementCache.description(sql, declared: declared, generation: generation) {
                return PreparedSQL(parsed: parsed, description: known)
            }
        }
        let prepared = try await offload { () throws(SQLError) -> PreparedSQL in
            let statements = if let parsed { parsed } else { try StatementCache.Parsed(parsing: sql) }
            guard statements.statements.count == 1 else { return PreparedSQL(parsed: statements, description: nil) }
            let description = try self.describe(statements.statements[0], parameterTypes: declared, parameterCount: statements.parameterCount)
            return PreparedSQL(parsed: statements, description: description)
        }
        if parsed == nil { statementCache.remember(sql, prepared.parsed) }
        if let description = prepared.description {
            statementCache.remember(sql, declared: declared, generation: generation, description: description)
        }
        return prepared
    }

    /// Statement cache lookups so far that found the text, and those that did not.
    package var statementCacheCounts: (hits: Int, misses: Int) { statementCache.counts }

    /// What a statement takes and returns, without running it: the types of its parameters
    /// (declared ones kept, the others inferred from their use, nil when nothing tells) and
    /// its result columns (nil when it returns no rows). Tables read as empty. Runs on the
    /// calling thread (a worker: `prepare`).
    private func describe(_ statement: SQLStatement, parameterTypes declared: [SQLType?], parameterCount: Int) throws(SQLError)
        -> StatementDescription
    {
        let inference = ParameterInference()
        let executor = makeExecutor(makeContext(), parameters: [], parameterTypes: declared, inference: inference)
        var columns: [QueryResult.Column]?
        var timestampIndex: Int?
        switch statement {
        case .query(let query):
            let empty = try executor.run(query)
            columns = empty.columns
            timestampIndex = empty.timestampIndex
        case .explain(let query):
            columns = try Explain(executor: executor).plan(query).columns
        case .insert(let insert):
            if let query = insert.query {
                _ = try executor.run(query)
            } else if let schema = storage.schema(named: insert.table) {
                let targets = insert.columns.map { names in names.map { schema.column(named: $0.name)?.type } }
                    ?? schema.columns.map { Optional($0.type) }
                for row in insert.rows {
                    for (expression, type) in zip(row, targets) {
                        if let type { inference.note(expression, as: .column(type)) }
                    }
                }
            }
        case .update(let update):
            if let snapshot = storage.snapshot(ofTable: update.table) {
                _ = try UpdatePlan(update: update, executor: executor).bind(snapshot)
            }
        case .showTables, .showColumns, .showCreateTable, .session(.show):
            columns = try show(statement).columns
        case .declareCursor(_, let query):
            // The cursor's rows come with FETCH; DECLARE itself returns none.
            _ = try executor.run(query)
        case .createTable, .dropTable, .dropAllTables, .truncateTable, .renameTable, .alterTable, .session, .checkpoint, .cancelQuery,
             .tableUpkeep:
            break
        }
        let count = max(parameterCount, declared.count)
        let types = (0..<count).map { index in
            (index < declared.count ? declared[index] : nil) ?? inference.types[index + 1]
        }
        return StatementDescription(parameterTypes: types, columns: columns, timestampIndex: timestampIndex)
    }

    /// `/api/v1/sql/validate`: each statement of `sql` parsed and described as Describe does
    /// it (tables read as empty; nothing runs, nothing changes). The last statement and its
    /// description; the first error otherwise.
    package func validate(_ sql: String) async throws(SQLError) -> (statement: SQLStatement, description: StatementDescription) {
        try await offload { () throws(SQLError) in
            let parsed = try StatementCache.Parsed(parsing: sql)
            guard let last = parsed.statements.last else { throw SQLError(.syntax, "empty query", at: 0) }
            var description: StatementDescription?
            var created = Set<String>()
            for statement in parsed.statements {
                // Describe reads a missing table as empty; a statement that changes one needs it.
                if let (table, position) = Self.changedTable(statement), !created.contains(ASCIICase.lowercased(table)),
                    self.storage.schema(named: table) == nil
                {
                    throw SQLError(.undefinedTable, "table does not exist [table=\(table)]", at: position)
                }
                if case .createTable(let create) = statement { created.insert(ASCIICase.lowercased(create.name)) }
                description = try self.describe(statement, parameterTypes: [], parameterCount: parsed.parameterCount)
            }
            return (last, description!)
        }
    }

    /// The existing table a statement writes to or changes, and where it is named.
    private static func changedTable(_ statement: SQLStatement) -> (String, Int)? {
        switch statement {
        case .insert(let insert): (insert.table, insert.position)
        case .update(let update): (update.table, update.position)
        case .dropTable(let name, ifExists: false, let position), .truncateTable(let name, let position),
             .renameTable(let name, _, let position), .alterTable(let name, _, let position):
            (name, position)
        default: nil
        }
    }

    func makeExecutor(
        _ context: QueryContext, parameters: [SQLValue], parameterTypes: [SQLType?] = [], inference: ParameterInference? = nil
    ) -> QueryExecutor {
        var executor = QueryExecutor(engine: storage, context: context, now: clock(), parameters: parameters)
        executor.parameterTypes = parameterTypes
        executor.inference = inference
        executor.readOnly = isReadOnly()
        executor.parallelism = configuration.scanThreads
        executor.parallelMinRows = configuration.parallelScanMinRows
        executor.postings = configuration.symbolPostingsCacheBytes > 0 ? postings : nil
        executor.activity = activity
        return executor
    }

    /// Jobs handed to the query workers since the engine started (tests tell by it where a
    /// statement ran).
    package var workerJobs: Int { workers.acceptedJobs }

    /// Runs CPU-bound work on the query workers.
    package func offload<T: Sendable>(_ body: @escaping @Sendable () throws(SQLError) -> T) async throws(SQLError) -> T {
        let result = await workers.run { () -> Result<T, SQLError> in
            do throws(SQLError) { return .success(try body()) } catch { return .failure(error) }
        }
        guard let result else { throw SQLError(.cancelled, "the server is shutting down") }
        return try result.get()
    }
}

extension SQLEngine {
    /// Whether the node refuses writes now (a replica or fenced node).
    package var readOnly: Bool { isReadOnly() }

    /// Whether a table of that name exists (case-insensitive).
    package func tableExists(_ name: String) -> Bool { storage.schema(named: name) != nil }
}
