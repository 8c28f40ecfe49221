import NIOCore
import SQL

/// Settings of the PG wire server that sessions need.
package struct PGSessionLimits: Sendable {
    /// Named prepared statements and portals one connection may hold.
    package var maxNamedStatements = 10_000
    /// Output buffered before it is written to the socket while rows stream.
    package var flushBytes = 256 << 10

    package init() {}
}

/// A prepared statement: its SQL parsed once, its parameter types fixed (declared by the
/// client or inferred) and its result columns known.
struct PGPreparedStatement {
    var statement: SQLStatement?
    /// The SQL as the client sent it (what `query_activity()` shows).
    var text = ""
    /// Answered by the session itself instead of the SQL engine.
    var introspection = false
    var parameterOIDs: [Int32]
    var columns: [QueryResult.Column]?
    /// The statement's plan parts shared by its executions (and other sessions' of its text).
    var memo: PlanMemo?
}

/// A bound statement ready to run, and its rows once it has run.
struct PGPortal {
    var prepared: PGPreparedStatement
    var parameters: [SQLValue]
    var resultFormats: [PGFormat]
    var result: QueryResult?
    var sentRows = 0
    var finished = false
}

/// What runs a connection's statements: prepared statements and portals, session settings,
/// the transaction's buffered writes. Messages in, backend messages appended to `out`.
/// Used by one connection task at a time.
package final class PGSession {
    private let engine: SQLEngine
    private let limits: PGSessionLimits
    package var user = "admin"
    package var readOnlyUser = false
    /// Per-session `statement_timeout` in ms (0: the server's `query.timeout`).
    package var statementTimeoutMillis: Int64 = 0
    private var settings: [String: String] = [:]
    private var statements: [String: PGPreparedStatement] = [:]
    private var portals: [String: PGPortal] = [:]
    /// The last RowDescription this connection encoded, reused while the columns and formats
    /// match: a client that re-parses the same statement (asyncpg without its statement cache)
    /// describes the same 21 columns for every query.
    private var lastDescription: (columns: [QueryResult.Column], formats: [PGFormat], bytes: ByteBuffer)?
    /// Rows INSERTed and UPDATEs run in an open transaction block, committed at COMMIT
    /// (QuestDB buffers both; here each is also checked when it runs, as PostgreSQL does).
    private var pendingWrites = PendingWrites()
    package var machine = PGConnectionStateMachine()
    /// The running statement's context, for CancelRequest.
    package let running: RunningQuery

    package var out = ByteBuffer()

    package init(engine: SQLEngine, limits: PGSessionLimits, running: RunningQuery) {
        self.engine = engine
        self.limits = limits
        self.running = running
    }

    /// Whether the node refuses writes (a replica): reported as `in_hot_standby`.
    package var engineReadOnly: Bool { engine.readOnly }

    /// Applies start-up parameters (`options=-c statement_timeout=…`).
    package func applyStartupParameters(_ parameters: [String: String]) {
        guard let options = parameters["options"] else { return }
        let words = options.split(separator: " ")
        for (index, word) in words.enumerated() {
            var setting = Substring(word)
            if setting == "-c", index + 1 < words.count { setting = words[index + 1] } else if setting.hasPrefix("-c") { setting = setting.dropFirst(2) } else { continue }
            let parts = setting.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { set(String(parts[0]).lowercased(), String(parts[1])) }
        }
    }

    private func set(_ name: String, _ value: String) {
        if name == "statement_timeout" {
            statementTimeoutMillis = Self.parseMillis(value) ?? statementTimeoutMillis
        }
        settings[name] = value
    }

    static func parseMillis(_ text: String) -> Int64? {
        let trimmed = text.trimmingSpaces.filter { $0 != "'" }
        if let value = Int64(trimmed) { return value }
        for (suffix, factor) in [("ms", Int64(1)), ("s", 1000), ("min", 60_000), ("h", 3_600_000)] where trimmed.hasSuffix(suffix) {
            if let value = Int64(trimmed.dropLast(suffix.count).trimmingCharacters(inSet: " ")) { return value * factor }
        }
        return nil
    }

    private func makeContext(text: String = "") -> QueryContext {
        let context = engine.makeContext(
            timeout: statementTimeoutMillis > 0 ? .milliseconds(statementTimeoutMillis) : nil, text: text, user: user)
        running.set(context)
        return context
    }

    // MARK: Simple query

    /// `Q`: each statement in turn, stopping at the first error; then ReadyForQuery.
    package func simpleQuery(_ sql: String, flush: (inout ByteBuffer) async throws -> Void) async throws {
        var answered = 0
        do throws(SQLError) {
            let parsed = try await engine.parse(sql).statements
            if parsed.isEmpty { PGBackendMessage.emptyQueryResponse.write(into: &out) }
            for statement in parsed {
                var portal = PGPortal(
                    prepared: PGPreparedStatement(statement: statement, text: sql, parameterOIDs: [], columns: nil), parameters: [], resultFormats: [])
                try await run(&portal, describe: true, maxRows: 0, flush: flush)
                answered += 1
            }
        } catch where answered == 0 && PGCatalogShortcuts.isAlwaysEmpty(sql) {
            // A catalog question about a feature Sundial lacks: "none" (a failed statement writes nothing).
            PGBackendMessage.rowDescription([]).write(into: &out)
            PGBackendMessage.commandComplete("SELECT 0").write(into: &out)
        } catch {
            fail(PGErrorMapping.fields(error), extendedProtocol: false)
        }
        PGBackendMessage.readyForQuery(machine.transaction).write(into: &out)
    }

    // MARK: Extended query

    package func parse(name: String, query: String, parameterTypes: [Int32]) async {
        do throws(SQLError) {
            guard name.isEmpty || statements[name] != nil || statements.count < limits.maxNamedStatements else {
                throw SQLError(.limitExceeded, "too many prepared statements (limit \(limits.maxNamedStatements))")
            }
            if PGTypeIntrospection.matches(query) {
                var prepared = PGPreparedStatement(statement: nil, parameterOIDs: PGTypeIntrospection.parameterOIDs, columns: nil)
                prepared.introspection = true
                statements[name] = prepared
                PGBackendMessage.parseComplete.write(into: &out)
                return
            }
            let declared = parameterTypes.map { $0 == 0 ? nil : PGType.sqlType(ofParameter: $0) }
            let ready: PreparedSQL
            do throws(SQLError) {
                ready = try await engine.prepare(query, parameterTypes: declared)
            } catch where PGCatalogShortcuts.isAlwaysEmpty(query) {
                let empty = try SQLParser.parseOne("select 1 from long_sequence(0)")
                statements[name] = PGPreparedStatement(statement: empty, parameterOIDs: parameterTypes, columns: [])
                PGBackendMessage.parseComplete.write(into: &out)
                return
            }
            guard ready.statements.count <= 1 else {
                throw SQLError(.syntax, "cannot insert multiple commands into a prepared statement")
            }
            var prepared = PGPreparedStatement(statement: ready.statements.first, text: query, parameterOIDs: parameterTypes, columns: nil)
            prepared.memo = ready.memos.first
            if case .session(.fetch(let cursor, _))? = ready.statements.first {
                // A FETCH returns its cursor's columns, which only this session knows.
                guard let declared = portals[cursor]?.result else { throw SQLError(.undefinedObject, "cursor \"\(cursor)\" does not exist") }
                prepared.columns = declared.columns
            } else if let description = ready.description {
                prepared.parameterOIDs = description.parameterTypes.enumerated().map { index, type in
                    index < parameterTypes.count && parameterTypes[index] != 0 ? parameterTypes[index] : type.map { PGType($0).oid } ?? PGType.varchar.oid
                }
                prepared.columns = description.columns
            }
            statements[name] = prepared
            PGBackendMessage.parseComplete.write(into: &out)
        } catch {
            fail(PGErrorMapping.fields(error), extendedProtocol: true)
        }
    }

    package func bind(_ bind: PGBind) {
        guard let prepared = statements[bind.statement] else {
            return fail(PGErrorFields(sqlState: "26000", message: Self.missingStatement(bind.statement)), extendedProtocol: true)
        }
        guard bind.parameters.count == prepared.parameterOIDs.count else {
            return fail(PGErrorFields(
                sqlState: "08P01",
                message: "bind message supplies \(bind.parameters.count) parameters, but prepared statement \"\(bind.statement)\" requires \(prepared.parameterOIDs.count)"),
                extendedProtocol: true)
        }
        guard bind.parameterFormats.count <= 1 || bind.parameterFormats.count == bind.parameters.count else {
            return fail(PGErrorFields(
                sqlState: "08P01",
                message: "bind message has \(bind.parameterFormats.count) parameter formats but \(bind.parameters.count) parameters"),
                extendedProtocol: true)
        }
        guard bind.portal.isEmpty || portals[bind.portal] != nil || portals.count < limits.maxNamedStatements else {
            return fail(PGErrorFields(sqlState: "54000", message: "too many portals (limit \(limits.maxNamedStatements))"), extendedProtocol: true)
        }
        var values: [SQLValue] = []
        values.reserveCapacity(bind.parameters.count)
        do throws(PGProtocolError) {
            for (index, bytes) in bind.parameters.enumerated() {
                let format = bind.parameterFormats.isEmpty ? .text : bind.parameterFormats.count == 1 ? bind.parameterFormats[0] : bind.parameterFormats[index]
                values.append(try PGParameters.decode(bytes, oid: prepared.parameterOIDs[index], format: format, index: index))
            }
        } catch {
            return fail(PGErrorMapping.fields(error), extendedProtocol: true)
        }
        portals[bind.portal] = PGPortal(prepared: prepared, parameters: values, resultFormats: bind.resultFormats)
        PGBackendMessage.bindComplete.write(into: &out)
    }

    package func describe(_ target: PGTarget, name: String) {
        switch target {
        case .statement:
            guard let prepared = statements[name] else {
                return fail(PGErrorFields(sqlState: "26000", message: Self.missingStatement(name)), extendedProtocol: true)
            }
            PGBackendMessage.parameterDescription(prepared.parameterOIDs).write(into: &out)
            writeDescription(prepared, formats: [])
        case .portal:
            guard let portal = portals[name] else {
                return fail(PGErrorFields(sqlState: "34000", message: "portal \"\(name)\" does not exist"), extendedProtocol: true)
            }
            writeDescription(portal.prepared, formats: portal.resultFormats)
        }
    }

    private func writeDescription(_ prepared: PGPreparedStatement, formats: [PGFormat]) {
        if prepared.introspection {
            return PGBackendMessage.rowDescription(PGTypeIntrospection.description(formats: formats)).write(into: &out)
        }
        writeDescription(prepared.columns, formats: formats)
    }

    private func writeDescription(_ columns: [QueryResult.Column]?, formats: [PGFormat]) {
        guard let columns else { return PGBackendMessage.noData.write(into: &out) }
        if let last = lastDescription, last.formats == formats, last.columns == columns {
            out.writeImmutableBuffer(last.bytes)
            return
        }
        var bytes = ByteBuffer()
        PGBackendMessage.rowDescription(PGRowWriter.description(of: columns, requested: formats)).write(into: &bytes)
        lastDescription = (columns, formats, bytes)
        out.writeImmutableBuffer(bytes)
    }

    package func execute(portal name: String, maxRows: Int, flush: (inout ByteBuffer) async throws -> Void) async throws {
        guard var portal = portals[name] else {
            return fail(PGErrorFields(sqlState: "34000", message: "portal \"\(name)\" does not exist"), extendedProtocol: true)
        }
        do throws(SQLError) {
            try await run(&portal, describe: false, maxRows: maxRows, flush: flush)
            portals[name] = portal
        } catch {
            portals[name] = nil
            fail(PGErrorMapping.fields(error), extendedProtocol: true)
        }
    }

    package func close(_ target: PGTarget, name: String) {
        switch target {
        case .statement: statements[name] = nil
        case .portal: portals[name] = nil
        }
        PGBackendMessage.closeComplete.write(into: &out)
    }

    /// Sync: the unnamed portal ends; outside a transaction block writes are already committed.
    package func sync() {
        portals[""] = nil
        PGBackendMessage.readyForQuery(machine.transaction).write(into: &out)
    }

    package func fail(_ fields: PGErrorFields, extendedProtocol: Bool) {
        PGMetrics.error(fields.sqlState)
        PGBackendMessage.error(fields).write(into: &out)
        machine.failed(extendedProtocol: extendedProtocol)
    }

    private static func missingStatement(_ name: String) -> String {
        name.isEmpty ? "unnamed prepared statement does not exist" : "prepared statement \"\(name)\" does not exist"
    }

    // MARK: Running statements

    /// Runs (or resumes) a portal: RowDescription when `describe` (simple query), rows up to
    /// `maxRows` (0: all) then PortalSuspended or CommandComplete.
    private func run(
        _ portal: inout PGPortal, describe: Bool, maxRows: Int, flush: (inout ByteBuffer) async throws -> Void
    ) async throws(SQLError) {
        if portal.prepared.introspection {
            let requested = portal.parameters.first.map(PGTypeIntrospection.requestedOIDs) ?? []
            let count = PGTypeIntrospection.write(requested: requested, formats: portal.resultFormats, into: &out)
            PGBackendMessage.commandComplete("SELECT \(count)").write(into: &out)
            return
        }
        guard let statement = portal.prepared.statement else {
            PGBackendMessage.emptyQueryResponse.write(into: &out)
            return
        }
        if machine.transaction == .failed, !Self.endsTransaction(statement) {
            throw SQLError(.transactionAborted, "current transaction is aborted, commands ignored until end of transaction block")
        }
        if portal.result == nil, !portal.finished {
            if statement.isWrite, readOnlyUser {
                throw SQLError(.readOnly, "cannot execute \(statement.verb) in a read-only transaction")
            }
            if case .session(let command) = statement {
                try await session(command, portal: &portal, describe: describe, flush: flush)
                return
            }
            let types = zip(portal.prepared.parameterOIDs, portal.parameters).map(PGType.executionType(ofParameter:value:))
            if machine.transaction == .inTransaction, PendingWrites.waitsForCommit(statement) {
                let (pending, tag) = try await engine.buffer(
                    statement, parameters: portal.parameters, parameterTypes: types, into: pendingWrites, context: makeContext(text: portal.prepared.text))
                running.clear()
                pendingWrites = pending
                PGBackendMessage.commandComplete(tag).write(into: &out)
                portal.finished = true
                return
            }
            // A query runs and its first rows are encoded in one hand-off to a SQL worker.
            let formats = portal.resultFormats
            let stop = maxRows > 0 ? maxRows : Int.max
            let limit = limits.flushBytes
            let rendered = try await engine.execute(
                statement, parameters: portal.parameters, parameterTypes: types, context: makeContext(text: portal.prepared.text),
                memo: portal.prepared.memo
            ) { result in
                let first = PGEncodedRows.encode(result, formats: formats, rows: 0..<min(result.rowCount, stop), limit: limit, describe: describe)
                return (first, first.end < result.rowCount ? result : nil)
            }
            running.clear()
            switch rendered {
            case .rows(let (first, rest)):
                write(first.bytes)
                portal.sentRows = first.end
                portal.result = rest
                guard rest != nil else {
                    PGBackendMessage.commandComplete("SELECT \(first.end)").write(into: &out)
                    portal.finished = true
                    return
                }
                // More rows than one flush, or than `maxRows` (then PortalSuspended).
                try await sendRows(&portal, upTo: stop, from: 0, describe: false, flush: flush)
                return
            case .outcome(let outcome):
                guard try finish(outcome, statement: statement, portal: &portal) else { return }
            }
        }
        guard portal.result != nil else {
            // Executed again after it completed: nothing more (PostgreSQL answers the same way).
            PGBackendMessage.commandComplete(Self.tag(statement) + (statement.returnsRows ? " 0" : "")).write(into: &out)
            return
        }
        try await sendRows(&portal, upTo: maxRows > 0 ? portal.sentRows + maxRows : Int.max, from: portal.sentRows, describe: describe, flush: flush)
    }

    /// A statement's outcome other than encoded rows; true when it left rows to send.
    private func finish(_ outcome: SQLOutcome, statement: SQLStatement, portal: inout PGPortal) throws(SQLError) -> Bool {
        if case .declareCursor(let name, _) = statement, case .rows(let result) = outcome {
            // A cursor is a named portal (PostgreSQL's model): FETCH, Describe and Execute all reach it.
            guard portals.count < limits.maxNamedStatements else {
                throw SQLError(.limitExceeded, "too many portals (limit \(limits.maxNamedStatements))")
            }
            guard portals[name] == nil else { throw SQLError(.duplicateTable, "cursor \"\(name)\" already exists") }
            portals[name] = PGPortal(
                prepared: PGPreparedStatement(statement: statement, parameterOIDs: [], columns: result.columns), parameters: [],
                resultFormats: [], result: result)
            PGBackendMessage.commandComplete("DECLARE CURSOR").write(into: &out)
            portal.finished = true
            return false
        }
        switch outcome {
        case .rows(let result):
            portal.result = result
            return true
        case .inserted(let rows):
            PGBackendMessage.commandComplete("INSERT 0 \(rows)").write(into: &out)
        case .updated(let rows):
            PGBackendMessage.commandComplete("UPDATE \(rows)").write(into: &out)
        case .ddl:
            PGBackendMessage.commandComplete(Self.tag(statement)).write(into: &out)
        }
        portal.finished = true
        return false
    }

    /// The portal's rows from `sentRows` up to row `limit` (or the end), then PortalSuspended,
    /// or CommandComplete counting this Execute's rows from `first` (PostgreSQL counts per
    /// Execute, not per portal).
    private func sendRows(
        _ portal: inout PGPortal, upTo limit: Int, from first: Int, describe: Bool, flush: (inout ByteBuffer) async throws -> Void
    ) async throws(SQLError) {
        guard let result = portal.result else { return }
        let end = min(result.rowCount, limit)
        try await writeRows(result, portal.sentRows..<end, formats: portal.resultFormats, describe: describe, flush: flush)
        portal.sentRows = end
        if end < result.rowCount {
            PGBackendMessage.portalSuspended.write(into: &out)
        } else {
            PGBackendMessage.commandComplete("SELECT \(end - first)").write(into: &out)
            portal.result = nil
            portal.finished = true
        }
    }

    /// DataRows of `rows` (RowDescription first when `describe`), encoded on SQL workers a
    /// flush at a time.
    private func writeRows(
        _ result: QueryResult, _ rows: Range<Int>, formats: [PGFormat], describe: Bool, flush: (inout ByteBuffer) async throws -> Void
    ) async throws(SQLError) {
        let flushBytes = limits.flushBytes
        var describe = describe
        var row = rows.lowerBound
        while describe || row < rows.upperBound {
            let remaining = row..<rows.upperBound
            let chunk = try await engine.offload { [describe] () throws(SQLError) in
                PGEncodedRows.encode(result, formats: formats, rows: remaining, limit: flushBytes, describe: describe)
            }
            describe = false
            write(chunk.bytes)
            row = chunk.end
            if out.readableBytes >= flushBytes {
                do { try await flush(&out) } catch { throw SQLError(.cancelled, "connection closed") }
            }
        }
    }

    /// Appends bytes encoded elsewhere to the output (taking the buffer when nothing is pending).
    private func write(_ bytes: ByteBuffer) {
        if out.readableBytes == 0 {
            out = bytes
        } else {
            var bytes = bytes
            out.writeBuffer(&bytes)
        }
    }

    private static func endsTransaction(_ statement: SQLStatement) -> Bool {
        if case .session(let command) = statement, command == .rollback || command == .commit { return true }
        return false
    }

    private func session(
        _ command: SessionCommand, portal: inout PGPortal, describe: Bool, flush: (inout ByteBuffer) async throws -> Void
    ) async throws(SQLError) {
        portal.finished = true
        switch command {
        case .set(let name, let value):
            set(name, value)
        case .reset(let name):
            if let name { settings[name] = nil } else { settings.removeAll() }
            if name == nil || name == "statement_timeout" { statementTimeoutMillis = 0 }
        case .show(let name):
            let value = settings[name] ?? SessionSettings.value(of: name, readOnly: engine.readOnly || readOnlyUser)
            guard let value else { throw SQLError(.undefinedObject, "unrecognized configuration parameter \"\(name)\"") }
            let result = QueryResult.single(column: SessionSettings.columnName(of: name), text: value)
            let writer = PGRowWriter(columns: result.columns, formats: portal.resultFormats)
            if describe { PGBackendMessage.rowDescription(writer.description(of: result.columns)).write(into: &out) }
            writer.write(result, rows: 0..<1, into: &out)
            PGBackendMessage.commandComplete("SHOW").write(into: &out)
            return
        case .begin:
            if machine.transaction != .idle {
                PGBackendMessage.notice(PGErrorFields(severity: "WARNING", sqlState: "25001", message: "there is already a transaction in progress"))
                    .write(into: &out)
            }
            machine.begin()
        case .commit:
            let failed = machine.transaction == .failed
            let writes = pendingWrites
            pendingWrites = PendingWrites()
            machine.endTransaction()
            if failed {
                PGBackendMessage.commandComplete("ROLLBACK").write(into: &out)
                return
            }
            // Buffered rows as one WAL transaction (visible together or not at all), then each
            // deferred UPDATE, in statement order.
            try await engine.commit(writes)
        case .rollback:
            pendingWrites = PendingWrites()
            machine.endTransaction()
        case .discard:
            settings.removeAll()
            statementTimeoutMillis = 0
        case .deallocate(let name):
            if let name { statements[name] = nil } else { statements.removeAll() }
        case .fetch(let name, let count):
            guard let cursor = portals[name], let result = cursor.result else {
                throw SQLError(.undefinedObject, "cursor \"\(name)\" does not exist")
            }
            let end = count.map { min(result.rowCount, cursor.sentRows + $0) } ?? result.rowCount
            try await writeRows(result, cursor.sentRows..<end, formats: portal.resultFormats, describe: describe, flush: flush)
            portals[name]?.sentRows = end
            PGBackendMessage.commandComplete("FETCH \(end - cursor.sentRows)").write(into: &out)
            return
        case .closeCursor(let name):
            if let name {
                guard portals.removeValue(forKey: name) != nil else { throw SQLError(.undefinedObject, "cursor \"\(name)\" does not exist") }
            } else {
                portals = portals.filter { $0.key.isEmpty }
            }
        case .other:
            break
        }
        PGBackendMessage.commandComplete(command.tag).write(into: &out)
    }

    /// PostgreSQL's CommandComplete tag for a statement that returns no rows.
    static func tag(_ statement: SQLStatement) -> String {
        switch statement {
        case .createTable(let create): create.isAsSelect ? "SELECT 0" : "CREATE TABLE"
        case .truncateTable: "TRUNCATE TABLE"
        case .renameTable: "ALTER TABLE"
        default: statement.verb
        }
    }
}

extension SQLStatement {
    var returnsRows: Bool {
        switch self {
        case .query, .explain, .showTables, .showColumns, .showCreateTable: true
        default: false
        }
    }
}

extension Substring {
    func trimmingCharacters(inSet character: Character) -> Substring {
        var text = self
        while text.first == character { text.removeFirst() }
        while text.last == character { text.removeLast() }
        return text
    }
}
