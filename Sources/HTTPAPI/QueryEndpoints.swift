import NIOCore
import NIOHTTP1
import SQL
import Storage

/// `GET /exec`: SQL → QuestDB's JSON (QUESTDB-COMPAT §3.1). Statements run on the SQL
/// engine's workers; the JSON is rendered there too, never on an event loop.
package struct ExecEndpoint: HTTPEndpoint {
    package var handlesOnEventLoop: Bool { true }
    private let engine: SQLEngine
    /// Most rows one response may carry (`http.security.max.response.rows`).
    private let maxResponseRows: Int

    package init(engine: SQLEngine, maxResponseRows: Int = Int.max) {
        self.engine = engine
        self.maxResponseRows = maxResponseRows
    }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        let target = request.target
        let query = target.parameter("query") ?? ""
        if let empty = Self.emptyQuery(query, target) { return empty }
        let flag = { (name: String) in target.parameter(name)?.lowercased() == "true" }
        var json = QueryJSON()
        json.includeMetadata = !flag("nm")
        json.quoteLargeNumbers = flag("quoteLargeNum") || target.parameter("src") == "con"
        let limit = RowLimit(target.parameter("limit"), inclusiveStart: true)
        let context = engine.makeContext(timeout: StatementTimeout.parse(request.headers), text: query)
        let started = ContinuousClock.now
        let selectedNames = target.parameter("cols").map { cols in
            cols.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        }
        let counting = flag("count"), timed = flag("timings"), explain = flag("explain")
        let (renderer, maxRows) = (json, maxResponseRows)
        let rendered: SQLEngine.Rendered<Result<ByteBuffer, SQLError>>
        do {
            rendered = try await request.connection.whileOpen(onClose: { context.cancel() }) { () throws(SQLError) in
                try await engine.execute(query, context: context) { result in
                    var selected = Array(result.columns.indices)
                    if let selectedNames {
                        selected = []
                        for name in selectedNames {
                            guard let index = result.columns.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                                return .failure(SQLError(.undefinedColumn, "column not found: '\(name)'", at: 0))
                            }
                            selected.append(index)
                        }
                    }
                    let rows = limit.rows(of: result.rowCount, cap: maxRows)
                    let count = counting ? result.rowCount : rows.count
                    let timings = timed
                        ? "{\"authentication\":0,\"compiler\":0,\"execute\":\(Self.nanos(ContinuousClock.now - started)),\"count\":0}" : nil
                    return .success(renderer.render(
                        query: query, result: result, columns: selected, rows: rows, count: count, timings: timings, explain: explain))
                }
            }
        } catch {
            return SQLErrorResponse.response(error, query: query, role: engine.storage.role)
        }
        switch rendered {
        case .rows(.success(let body)): return .json(.ok, body: body)
        case .rows(.failure(let error)): return SQLErrorResponse.response(error, query: query, role: engine.storage.role)
        case .outcome(.ddl), .outcome(.rows): return .json(.ok, "{\"ddl\":\"OK\"}")
        case .outcome(.inserted): return .json(.ok, "{\"dml\":\"OK\"}")
        case .outcome(.updated(let rows)): return .json(.ok, "{\"dml\":\"OK\",\"updated\":\(rows)}")
        }
    }

    /// QuestDB's answer to a blank `query` (200; a notice from API version 2), nil otherwise.
    static func emptyQuery(_ query: String, _ target: HTTPRequestTarget) -> HTTPResponse? {
        guard query.allSatisfy(\.isWhitespace) else { return nil }
        let version = Int(target.parameter("version") ?? "1") ?? 1
        return .json(.ok, version >= 2
            ? "{\"notice\":\"empty query\",\"query\":\(JSONText.quoted(query)),\"position\":\"0\"}"
            : "{\"error\":\"empty query\",\"query\":\(JSONText.quoted(query)),\"position\":0}")
    }

    static func nanos(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// `GET /api/v1/sql/validate?query=`: whether SQL compiles, without running it (the Web Console
/// checks its editor's text this way, QUESTDB-COMPAT §3.5). A query answers its columns and
/// designated timestamp, like `/exec` without `dataset`; any other statement its type
/// (`{"queryType":"INSERT"}`); errors have `/exec`'s shape and position. Nothing is read from
/// tables and nothing changes.
package struct ValidateEndpoint: HTTPEndpoint {
    package var handlesOnEventLoop: Bool { true }
    private let engine: SQLEngine

    package init(engine: SQLEngine) { self.engine = engine }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        let query = request.target.parameter("query") ?? ""
        if let empty = ExecEndpoint.emptyQuery(query, request.target) { return empty }
        let statement: SQLStatement, description: StatementDescription
        do {
            (statement, description) = try await engine.validate(query)
        } catch {
            return SQLErrorResponse.response(error, query: query, role: engine.storage.role)
        }
        guard let columns = description.columns else {
            return .json(.ok, "{\"queryType\":\(JSONText.quoted(Self.queryType(statement)))}")
        }
        if request.target.parameter("nm")?.lowercased() == "true" { return .json(.ok, "{}") }
        let list = columns.map(QueryJSON.columnJSON).joined(separator: ",")
        return .json(.ok, "{\"query\":\(JSONText.quoted(query)),\"columns\":[\(list)],\"timestamp\":\(description.timestampIndex ?? -1)}")
    }

    /// QuestDB's name for a statement that returns no rows (its `CompiledQuery` types).
    static func queryType(_ statement: SQLStatement) -> String {
        switch statement {
        case .query, .explain, .showTables, .showColumns, .showCreateTable: "SELECT"
        case .insert(let insert): insert.valuesRowCount == nil ? "INSERT AS SELECT" : "INSERT"
        case .createTable(let create): create.isAsSelect ? "CREATE AS SELECT" : "CREATE TABLE"
        case .update: "UPDATE"
        case .dropTable, .dropAllTables: "DROP"
        case .truncateTable: "TRUNCATE"
        case .renameTable: "RENAME TABLE"
        case .alterTable: "ALTER TABLE"
        case .checkpoint(let create, _): create ? "CHECKPOINT CREATE" : "CHECKPOINT RELEASE"
        case .cancelQuery: "CANCEL QUERY"
        case .tableUpkeep(let verb, _, _, _): verb.uppercased()
        case .declareCursor: "DECLARE CURSOR"
        case .session(.begin): "BEGIN"
        case .session(.commit): "COMMIT"
        case .session(.rollback): "ROLLBACK"
        case .session(.deallocate): "DEALLOCATE"
        case .session: "SET"
        }
    }
}

/// `GET /exp`: a query's rows as CSV (QUESTDB-COMPAT §3.2).
package struct ExportEndpoint: HTTPEndpoint {
    package var handlesOnEventLoop: Bool { true }
    private let engine: SQLEngine

    package init(engine: SQLEngine) { self.engine = engine }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        let target = request.target
        guard let query = target.parameter("query"), !query.allSatisfy(\.isWhitespace) else {
            return .json(.badRequest, "{\"query\":\"\",\"error\":\"No query text\",\"position\":0}")
        }
        let delimiter = target.parameter("delimiter").flatMap { $0.count == 1 ? $0 : nil } ?? ","
        let statement: SQLStatement
        do { statement = try SQLParser.parseOne(query) } catch { return SQLErrorResponse.response(error, query: query, role: engine.storage.role) }
        guard case .query = statement else {
            return .json(.badRequest, "{\"query\":\(JSONText.quoted(query)),\"error\":\"/exp endpoint only accepts SELECT\",\"position\":0}")
        }
        let context = engine.makeContext(timeout: target.parameter("timeout").flatMap(Int.init).map { .seconds($0) }, text: query)
        let outcome: SQLOutcome
        do {
            outcome = try await request.connection.whileOpen(onClose: { context.cancel() }) { () throws(SQLError) in
                try await engine.execute(statement, context: context)
            }
        } catch {
            return SQLErrorResponse.response(error, query: query, role: engine.storage.role)
        }
        guard case .rows(let result) = outcome else { return .json(.ok, "{\"ddl\":\"OK\"}") }
        let rows = RowLimit(target.parameter("limit"), inclusiveStart: false).rows(of: result.rowCount, cap: Int.max)
        let header = target.parameter("nm")?.lowercased() != "true"
        let csv = try await engine.offload { () throws(SQLError) in CSVText.render(result, rows: rows, delimiter: delimiter, header: header) }
        let fileName = target.parameter("filename") ?? "questdb-query-\(SQLEngine.wallClockMicros() / 1000)"
        var response = HTTPResponse.text(.ok, csv, contentType: "text/csv; charset=utf-8")
        response.headers.add(name: "content-disposition", value: "attachment; filename=\"\(fileName.hasSuffix(".csv") ? fileName : fileName + ".csv")\"")
        return response
    }
}

/// `GET /chk?j=table`: whether a table exists (QUESTDB-COMPAT §3.4).
package struct CheckEndpoint: HTTPEndpoint {
    package var handlesOnEventLoop: Bool { true }
    private let engine: SQLEngine

    package init(engine: SQLEngine) { self.engine = engine }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        guard let name = request.target.parameter("j"), !name.isEmpty else { return .text(.ok, "table name missing") }
        let status = engine.tableExists(name) ? "Exists" : "Does not exist"
        if request.target.parameter("f") == "json" { return .json(.ok, "{\"status\":\"\(status)\"}") }
        return .text(.ok, status)
    }
}

/// `limit=N` and `limit=A,B` of `/exec` (rows A…B, 1-based, inclusive) and `/exp` (skip A).
struct RowLimit {
    var first: Int?
    var second: Int?
    let inclusiveStart: Bool

    init(_ text: String?, inclusiveStart: Bool) {
        self.inclusiveStart = inclusiveStart
        guard let text else { return }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int(String($0).trimmingCharacters(in: " ")) }
        first = parts.first.flatMap { $0 }.map { max(0, $0) }
        if parts.count > 1 { second = parts[1].map { max(0, $0) } }
    }

    func rows(of total: Int, cap: Int) -> Range<Int> {
        var range = 0..<total
        if let first, let second {
            let start = inclusiveStart ? max(0, first - 1) : first
            range = min(start, total)..<max(min(start, total), min(second, total))
        } else if let first {
            range = 0..<min(first, total)
        }
        return range.count <= cap ? range : range.lowerBound..<(range.lowerBound + cap)
    }
}

/// The `Statement-Timeout` header (milliseconds) of `/exec`.
enum StatementTimeout {
    static func parse(_ headers: HTTPHeaders) -> Duration? {
        headers.first(name: "statement-timeout").flatMap(Int.init).map { .milliseconds($0) }
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
