import Storage

/// Recursive-descent parser for QuestDB's SQL dialect. Pure: text in, statements or an
/// error with the position of the offending token out. Nesting is limited so a hostile
/// statement cannot exhaust the stack.
package struct SQLParser {
    /// Schemas PostgreSQL tools qualify names with; every table lives in `public`.
    static let catalogSchemas: Set<String> = ["pg_catalog", "information_schema", "public"]

    /// Deepest nesting of expressions and subqueries accepted.
    package static let maxDepth = 200

    var tokens: [SQLToken]
    var index = 0
    var depth = 0
    var parameterCount = 0

    init(_ sql: String) throws(SQLError) {
        tokens = try SQLLexer.tokens(sql)
    }

    /// Every statement of `sql`, split at top-level `;` (empty statements skipped).
    package static func parse(_ sql: String) throws(SQLError) -> [SQLStatement] {
        try parseCountingParameters(sql).0
    }

    /// Every statement of `sql` and the highest bind parameter number (`$n`) any of them uses.
    package static func parseCountingParameters(_ sql: String) throws(SQLError) -> ([SQLStatement], parameterCount: Int) {
        var parser = try SQLParser(sql)
        var statements: [SQLStatement] = []
        while true {
            while parser.accept(symbol: ";") {}
            if parser.current.kind == .end { return (statements, parser.parameterCount) }
            statements.append(try parser.statement())
            if parser.current.kind != .end, !parser.current.isSymbol(";") {
                throw parser.unexpected()
            }
        }
    }

    /// Exactly one statement (a trailing `;` allowed).
    package static func parseOne(_ sql: String) throws(SQLError) -> SQLStatement {
        let statements = try parse(sql)
        guard let first = statements.first else { throw SQLError(.syntax, "empty query", at: 0) }
        return first
    }

    // MARK: Token helpers

    var current: SQLToken { tokens[index] }
    var next: SQLToken { tokens[min(index + 1, tokens.count - 1)] }
    /// The token `offset` places ahead (the end token past the last).
    func peek(_ offset: Int) -> SQLToken { tokens[min(index + offset, tokens.count - 1)] }

    mutating func advance() -> SQLToken {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    mutating func accept(_ keyword: String) -> Bool {
        guard current.isWord(keyword) else { return false }
        index += 1
        return true
    }

    mutating func accept(symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        index += 1
        return true
    }

    mutating func expect(_ keyword: String) throws(SQLError) {
        guard accept(keyword) else { throw SQLError.syntax("'\(keyword)' expected", at: current.position) }
    }

    mutating func expect(symbol: String) throws(SQLError) {
        guard accept(symbol: symbol) else { throw SQLError.syntax("'\(symbol)' expected", at: current.position) }
    }

    func unexpected() -> SQLError {
        switch current.kind {
        case .end: .syntax("unexpected end of statement", at: current.position)
        case .string: .syntax("unexpected string '\(current.text)'", at: current.position)
        default: .syntax("unexpected token [\(current.text)]", at: current.position)
        }
    }

    mutating func enter() throws(SQLError) {
        depth += 1
        guard depth <= SQLParser.maxDepth else {
            throw SQLError(.limitExceeded, "statement nesting is too deep (more than \(SQLParser.maxDepth) levels)", at: current.position)
        }
    }

    /// Words that end an expression or clause, so they are never taken as an alias.
    static let reserved: Set<String> = [
        "from", "where", "group", "order", "limit", "sample", "latest", "union", "except", "intersect",
        "join", "on", "and", "or", "not", "as", "asc", "desc", "by", "fill", "align", "inner", "left", "right",
        "cross", "asof", "lt", "splice", "then", "when", "else", "end", "in", "between", "like", "ilike", "is",
        "select", "with", "having", "partition", "timestamp", "tolerance", "outer", "case", "to", "values", "full", "pivot", "window",
    ]

    /// A name: a bare word, a `"quoted identifier"` or (for tables) a `'quoted name'`.
    mutating func name(allowString: Bool = false, what: String) throws(SQLError) -> (String, Int) {
        let token = current
        switch token.kind {
        case .word, .quotedIdentifier:
            index += 1
            return (token.text, token.position)
        case .string where allowString:
            index += 1
            return (token.text, token.position)
        default:
            throw SQLError.syntax("\(what) expected", at: token.position)
        }
    }

    // MARK: Statements

    mutating func statement() throws(SQLError) -> SQLStatement {
        let token = current
        if token.isWord("select") || token.isWord("with") || token.isSymbol("(") || next.isWord("pivot") {
            return .query(try query())
        }
        if token.isWord("create") { return try createTable() }
        if token.isWord("insert") { return try insert() }
        if token.isWord("update") { return try update() }
        if token.isWord("drop") { return try drop() }
        if token.isWord("truncate") {
            index += 1
            _ = accept("table")
            let (name, position) = try name(allowString: true, what: "table name")
            return .truncateTable(name: name, position: position)
        }
        if token.isWord("rename") {
            index += 1
            try expect("table")
            let (from, position) = try name(allowString: true, what: "table name")
            try expect("to")
            let (to, _) = try name(allowString: true, what: "new table name")
            return .renameTable(from: from, to: to, position: position)
        }
        if token.isWord("alter") { return try alterTable() }
        if token.isWord("cancel"), next.isWord("query") {
            index += 2
            let id = advance()
            guard id.kind == .integer, let value = Int64(id.text) else {
                throw SQLError(.syntax, "query id expected", at: id.position)
            }
            return .cancelQuery(id: value, position: id.position)
        }
        if token.isWord("checkpoint"), next.isWord("create") || next.isWord("release") {
            index += 1
            return .checkpoint(create: advance().isWord("create"), position: token.position)
        }
        if token.isWord("vacuum"), next.isWord("table") {
            index += 2
            let (table, position) = try name(allowString: true, what: "table name")
            return .tableUpkeep(verb: "VACUUM", table: table, column: nil, position: position)
        }
        if token.isWord("reindex") { return try reindex() }
        if token.isWord("show") { return try show() }
        if token.isWord("explain") {
            index += 1
            return .explain(try query())
        }
        if token.isWord("declare") { return try declareCursor() }
        if let command = try sessionCommand() { return .session(command) }
        throw unexpected()
    }

    mutating func show() throws(SQLError) -> SQLStatement {
        index += 1
        if accept("tables") { return .showTables }
        if accept("columns") {
            try expect("from")
            let (table, position) = try name(allowString: true, what: "table name")
            return .showColumns(table: table, position: position)
        }
        if accept("create") {
            try expect("table")
            let (table, position) = try name(allowString: true, what: "table name")
            return .showCreateTable(table: table, position: position)
        }
        if accept("partitions") {
            // `SHOW PARTITIONS FROM t` is `SELECT * FROM table_partitions('t')` (it reads file
            // sizes and timestamps, so it runs as a query, on a SQL worker).
            let start = current.position
            try expect("from")
            let (table, position) = try name(allowString: true, what: "table name")
            var select = SelectQuery()
            select.position = start
            select.items = [.init(expression: SQLExpression(.star(qualifier: nil), at: start), alias: nil)]
            select.from = .function(
                name: "table_partitions", arguments: [SQLExpression(.string(table), at: position)], alias: nil, position: position)
            return .query(.select(select))
        }
        return .session(.show(name: settingName(restOfStatement())))
    }

    /// `DECLARE name [BINARY] [ASENSITIVE|INSENSITIVE] [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
    mutating func declareCursor() throws(SQLError) -> SQLStatement {
        index += 1
        let (name, _) = try self.name(what: "cursor name")
        while !current.isWord("cursor") {
            if current.isWord("scroll") {
                throw SQLError(.unsupported, "cursors are forward-only: SCROLL is not supported", at: current.position)
            }
            guard current.kind == .word, ["binary", "insensitive", "asensitive", "no"].contains(current.text.lowercased()) else {
                throw SQLError.syntax("'cursor' expected", at: current.position)
            }
            index += 1
            if current.isWord("scroll") { index += 1 }
        }
        index += 1
        if accept("with") || accept("without") { try expect("hold") }
        try expect("for")
        return .declareCursor(name: name, query: try query())
    }

    /// PostgreSQL's name of a setting written as words (`TRANSACTION ISOLATION LEVEL`, `TIME ZONE`).
    private func settingName(_ words: [SQLToken]) -> String {
        let name = words.map { $0.text.lowercased() }.joined(separator: " ")
        switch name {
        case "transaction isolation level": return "transaction_isolation"
        case "time zone": return "timezone"
        case "session authorization": return "session_authorization"
        default: return name
        }
    }

    /// The tokens up to the end of the statement.
    private mutating func restOfStatement() -> [SQLToken] {
        var tokens: [SQLToken] = []
        while current.kind != .end, !current.isSymbol(";") { tokens.append(advance()) }
        return tokens
    }

    /// Session, transaction and maintenance statements (QUESTDB-COMPAT §5.4); nil for others.
    mutating func sessionCommand() throws(SQLError) -> SessionCommand? {
        let token = current
        guard token.kind == .word else { return nil }
        switch token.text.lowercased() {
        case "set":
            index += 1
            _ = accept("session") || accept("local")
            if accept("time") {
                try expect("zone")
                return .set(name: "timezone", value: restOfStatement().map(\.text).joined(separator: " "))
            }
            var nameTokens: [SQLToken] = []
            while current.kind != .end, !current.isSymbol(";"), !current.isSymbol("="), !current.isWord("to") {
                nameTokens.append(advance())
            }
            guard !nameTokens.isEmpty else { throw SQLError.syntax("setting name expected", at: current.position) }
            guard accept(symbol: "=") || accept("to") else {
                // `SET TRANSACTION …`, `SET SESSION CHARACTERISTICS …`: nothing to remember.
                return .set(name: nameTokens.map { $0.text.lowercased() }.joined(separator: " "), value: "")
            }
            let value = restOfStatement().map(\.text).joined(separator: " ")
            return .set(name: nameTokens.map { $0.text.lowercased() }.joined(separator: "."), value: value)
        case "reset":
            index += 1
            let words = restOfStatement()
            return .reset(name: words.count == 1 && words[0].isWord("all") ? nil : settingName(words))
        case "begin", "start":
            index += 1
            _ = restOfStatement()
            return .begin
        case "commit", "end":
            index += 1
            _ = restOfStatement()
            return .commit
        case "rollback", "abort":
            index += 1
            _ = restOfStatement()
            return .rollback
        case "discard":
            index += 1
            _ = restOfStatement()
            return .discard
        case "deallocate":
            index += 1
            _ = accept("prepare")
            let words = restOfStatement()
            return .deallocate(name: words.count == 1 && !words[0].isWord("all") ? words[0].text : nil)
        case "close":
            index += 1
            let words = restOfStatement()
            return .closeCursor(words.count == 1 && !words[0].isWord("all") ? words[0].text : nil)
        case "fetch":
            index += 1
            var count: Int? = 1
            if accept("forward") || accept("next") {
                if current.kind == .integer { count = Int(advance().text) } else if accept("all") { count = nil }
            } else if current.kind == .integer {
                count = Int(advance().text)
            } else if accept("all") {
                count = nil
            } else if current.isWord("backward") || current.isWord("prior") || current.isWord("absolute") || current.isWord("relative")
                        || current.isWord("last") || current.isWord("first") {
                throw SQLError(.unsupported, "cursors are forward-only: FETCH \(current.text.uppercased()) is not supported", at: current.position)
            }
            _ = accept("from") || accept("in")
            let (cursor, _) = try name(what: "cursor name")
            return .fetch(cursor: cursor, count: count)
        case "vacuum", "checkpoint", "unlisten", "listen":
            index += 1
            _ = restOfStatement()
            let tag = ["listen": "LISTEN", "unlisten": "UNLISTEN"][token.text.lowercased()] ?? token.text.uppercased()
            return .other(tag: tag)
        default:
            return nil
        }
    }

    /// QuestDB's `REINDEX TABLE t [COLUMN c] [PARTITION 'p'[, …]] LOCK EXCLUSIVE`.
    mutating func reindex() throws(SQLError) -> SQLStatement {
        index += 1
        try expect("table")
        let (table, position) = try name(allowString: true, what: "table name")
        var column: (String, Int)?
        if accept("column") { column = try name(what: "column name") }
        if accept("partition") {
            repeat {
                guard current.kind == .string else { throw SQLError(.syntax, "partition name expected", at: current.position) }
                index += 1
            } while accept(symbol: ",")
        }
        guard accept("lock"), accept("exclusive") else {
            throw SQLError(.syntax, "LOCK EXCLUSIVE expected", at: current.position)
        }
        return .tableUpkeep(verb: "REINDEX", table: table, column: column, position: position)
    }

    mutating func drop() throws(SQLError) -> SQLStatement {
        let start = advance().position
        if accept("all") {
            _ = accept("tables")
            return .dropAllTables(position: start)
        }
        try expect("table")
        var ifExists = false
        if accept("if") {
            try expect("exists")
            ifExists = true
        }
        let (name, position) = try name(allowString: true, what: "table name")
        return .dropTable(name: name, ifExists: ifExists, position: position)
    }

    mutating func insert() throws(SQLError) -> SQLStatement {
        let position = advance().position
        if accept("atomic") {}
        try expect("into")
        let (table, tablePosition) = try name(allowString: true, what: "table name")
        var columns: [(String, Int)]?
        if current.isSymbol("("), !next.isWord("select"), !next.isWord("with") {
            index += 1
            var names: [(String, Int)] = []
            repeat { names.append(try name(what: "column name")) } while accept(symbol: ",")
            try expect(symbol: ")")
            columns = names
        }
        if accept("values") {
            var rows: [[SQLExpression]] = []
            repeat {
                try expect(symbol: "(")
                var row: [SQLExpression] = []
                repeat { row.append(try expression()) } while accept(symbol: ",")
                try expect(symbol: ")")
                rows.append(row)
            } while accept(symbol: ",")
            return .insert(Insert(table: table, columns: columns, rows: rows, query: nil, position: tablePosition))
        }
        if current.isWord("select") || current.isWord("with") || current.isSymbol("(") {
            return .insert(Insert(table: table, columns: columns, rows: [], query: try query(), position: tablePosition))
        }
        _ = position
        throw SQLError.syntax("'values' or 'select' expected", at: current.position)
    }

    /// `UPDATE t [[AS] alias] SET col = expr, … [FROM source] [WHERE condition]` (QuestDB's form).
    mutating func update() throws(SQLError) -> SQLStatement {
        index += 1
        let (table, position) = try name(allowString: true, what: "table name")
        var alias: String?
        if accept("as") {
            alias = try name(what: "alias").0
        } else if !current.isWord("set"), current.kind == .word || current.kind == .quotedIdentifier {
            alias = advance().text
        }
        try expect("set")
        var assignments: [(column: String, value: SQLExpression, position: Int)] = []
        repeat {
            var (column, columnPosition) = try name(what: "column name")
            // `SET t.col = …`: the table's own name or alias may qualify the column.
            if accept(symbol: ".") {
                guard Scope.sameName(column, alias ?? table) || Scope.sameName(column, table) else {
                    throw SQLError(.undefinedColumn, "Invalid column: \(column)", at: columnPosition)
                }
                (column, columnPosition) = try name(what: "column name")
            }
            try expect(symbol: "=")
            assignments.append((column, try expression(), columnPosition))
        } while accept(symbol: ",")
        var from: FromSource?
        if accept("from") { from = try fromSource() }
        var condition: SQLExpression?
        if accept("where") { condition = try expression() }
        return .update(Update(table: table, alias: alias, assignments: assignments, from: from, whereClause: condition, position: position))
    }

    // MARK: Types

    mutating func typeName() throws(SQLError) -> ColumnTypeName {
        var (word, position) = try name(what: "column type")
        // `pg_catalog.text`, `pg_catalog.regtype`: types named with their schema.
        if Self.catalogSchemas.contains(word.lowercased()), current.isSymbol("."), next.kind == .word || next.kind == .quotedIdentifier {
            index += 1
            word = try name(what: "column type").0
        }
        if word.lowercased() == "character", current.isWord("varying") { index += 1; word = "varchar" }
        var type = ColumnTypeName(name: word.lowercased(), parameter: nil, arrayDimensions: 0, position: position)
        if type.name == "double", current.isWord("precision") { index += 1 }
        if current.isSymbol("(") {
            index += 1
            var parameter = ""
            while !current.isSymbol(")") {
                guard current.kind != .end else { throw SQLError.syntax("')' expected", at: current.position) }
                parameter += advance().text
            }
            index += 1
            type.parameter = parameter
        }
        while current.isSymbol("["), next.isSymbol("]") {
            index += 2
            type.arrayDimensions += 1
        }
        return type
    }
}
