import Storage

extension SQLParser {
    /// Precedence, lowest first: OR, AND, NOT, comparison / IS / IN / BETWEEN / LIKE / `~`,
    /// `||`, `+ -`, `* / %`, unary `-`, `::`, primary.
    mutating func expression() throws(SQLError) -> SQLExpression {
        try enter()
        defer { depth -= 1 }
        return try disjunction()
    }

    private mutating func disjunction() throws(SQLError) -> SQLExpression {
        var left = try conjunction()
        while current.isWord("or") {
            let position = advance().position
            left = SQLExpression(.binary("or", left, try conjunction()), at: position)
        }
        return left
    }

    private mutating func conjunction() throws(SQLError) -> SQLExpression {
        var left = try negation()
        while current.isWord("and") {
            let position = advance().position
            left = SQLExpression(.binary("and", left, try negation()), at: position)
        }
        return left
    }

    private mutating func negation() throws(SQLError) -> SQLExpression {
        if current.isWord("not") {
            let position = advance().position
            try enter()
            defer { depth -= 1 }
            return SQLExpression(.unary("not", try negation()), at: position)
        }
        return try comparison()
    }

    private mutating func comparison() throws(SQLError) -> SQLExpression {
        var left = try concatenation()
        while true {
            let token = current
            if token.kind == .symbol, ["=", "!=", "<>", "<", "<=", ">", ">=", "~", "!~"].contains(token.text) {
                index += 1
                let op = token.text == "<>" ? "!=" : token.text
                if let list = try quantifiedList(op, at: token.position) {
                    // `x = ANY (ARRAY[…])` is `x IN (…)`; `x <> ALL (ARRAY[…])` is `x NOT IN (…)`.
                    left = SQLExpression(.inList(left, list.items, negated: list.negated), at: token.position)
                    continue
                }
                left = SQLExpression(.binary(op, left, try concatenation()), at: token.position)
                skipCollate()
                continue
            }
            if token.isWord("operator"), next.isSymbol("(") {
                // `OPERATOR(pg_catalog.~)`: an operator named with its schema (psql's catalog queries).
                index += 2
                if current.kind == .word, next.isSymbol(".") { index += 2 }
                let symbol = current
                guard symbol.kind == .symbol, ["=", "!=", "<>", "<", "<=", ">", ">=", "~", "!~"].contains(symbol.text) else {
                    throw SQLError.syntax("operator expected", at: symbol.position)
                }
                index += 1
                try expect(symbol: ")")
                let op = symbol.text == "<>" ? "!=" : symbol.text
                left = SQLExpression(.binary(op, left, try concatenation()), at: token.position)
                skipCollate()
                continue
            }
            if token.isWord("is") {
                index += 1
                let negated = accept("not")
                try expect("null")
                left = SQLExpression(.isNull(left, negated: negated), at: token.position)
                continue
            }
            let negated = token.isWord("not") && (next.isWord("in") || next.isWord("between") || next.isWord("like") || next.isWord("ilike"))
            if negated { index += 1 }
            let position = current.position
            if accept("in") {
                if current.isSymbol("("), !next.isWord("select") {
                    index += 1
                    var list: [SQLExpression] = []
                    repeat { list.append(try expression()) } while accept(symbol: ",")
                    try expect(symbol: ")")
                    left = SQLExpression(.inList(left, list, negated: negated), at: position)
                } else {
                    // `ts IN '2024-01'` (an interval) or `x IN (SELECT …)`.
                    left = SQLExpression(.inList(left, [try concatenation()], negated: negated), at: position)
                }
            } else if accept("between") {
                let low = try concatenation()
                try expect("and")
                let high = try concatenation()
                left = SQLExpression(.between(left, low, high, negated: negated), at: position)
            } else if current.isWord("like") || current.isWord("ilike") {
                let insensitive = advance().isWord("ilike")
                left = SQLExpression(.like(left, try concatenation(), caseInsensitive: insensitive, negated: negated), at: position)
            } else {
                if negated { throw unexpected() }
                return left
            }
        }
    }

    private mutating func concatenation() throws(SQLError) -> SQLExpression {
        var left = try additive()
        while current.isSymbol("||") {
            let position = advance().position
            left = SQLExpression(.binary("||", left, try additive()), at: position)
        }
        return left
    }

    private mutating func additive() throws(SQLError) -> SQLExpression {
        var left = try multiplicative()
        while current.isSymbol("+") || current.isSymbol("-") {
            let token = advance()
            left = SQLExpression(.binary(token.text, left, try multiplicative()), at: token.position)
        }
        return left
    }

    private mutating func multiplicative() throws(SQLError) -> SQLExpression {
        var left = try unary()
        while current.isSymbol("*") || current.isSymbol("/") || current.isSymbol("%") {
            let token = advance()
            left = SQLExpression(.binary(token.text, left, try unary()), at: token.position)
        }
        return left
    }

    private mutating func unary() throws(SQLError) -> SQLExpression {
        if current.isSymbol("-") || current.isSymbol("+") {
            let token = advance()
            try enter()
            defer { depth -= 1 }
            let operand = try unary()
            if token.text == "+" { return operand }
            // Fold `-literal` so that `-9223372036854775808` and `LIMIT -5` stay literals.
            switch operand.kind {
            case .integer(let digits): return SQLExpression(.integer("-" + digits), at: token.position)
            case .decimal(let digits): return SQLExpression(.decimal("-" + digits), at: token.position)
            default: return SQLExpression(.unary("-", operand), at: token.position)
            }
        }
        return try castChain()
    }

    private mutating func castChain() throws(SQLError) -> SQLExpression {
        var value = try primary()
        while current.isSymbol("::") {
            let position = advance().position
            value = SQLExpression(.cast(value, try typeName()), at: position)
        }
        return value
    }

    mutating func primary() throws(SQLError) -> SQLExpression {
        let token = current
        switch token.kind {
        case .integer:
            index += 1
            return SQLExpression(.integer(token.text), at: token.position)
        case .decimal:
            index += 1
            return SQLExpression(.decimal(token.text), at: token.position)
        case .string:
            index += 1
            return SQLExpression(.string(token.text), at: token.position)
        case .quotedIdentifier:
            index += 1
            return try qualified(token)
        case .symbol:
            if accept(symbol: "(") {
                if current.isWord("select") || current.isWord("with") {
                    let inner = try query()
                    try expect(symbol: ")")
                    return SQLExpression(.subquery(inner), at: token.position)
                }
                let inner = try expression()
                try expect(symbol: ")")
                return inner
            }
            if accept(symbol: "*") { return SQLExpression(.star(qualifier: nil), at: token.position) }
            throw unexpected()
        case .end:
            throw unexpected()
        case .word:
            return try word(token)
        }
    }

    private mutating func word(_ token: SQLToken) throws(SQLError) -> SQLExpression {
        let lower = token.text.lowercased()
        index += 1
        switch lower {
        case "null": return SQLExpression(.null, at: token.position)
        case "true": return SQLExpression(.boolean(true), at: token.position)
        case "false": return SQLExpression(.boolean(false), at: token.position)
        case "case": return try caseExpression(at: token.position)
        case "cast" where current.isSymbol("("):
            index += 1
            let value = try expression()
            try expect("as")
            let type = try typeName()
            try expect(symbol: ")")
            return SQLExpression(.cast(value, type), at: token.position)
        case "extract" where current.isSymbol("(") && next.kind != .symbol:
            // `extract(year FROM ts)`: the field is a word (or a string), then FROM.
            index += 1
            let field = advance()
            guard field.kind == .word || field.kind == .string else { throw unexpectedWord(field) }
            try expect("from")
            let value = try expression()
            try expect(symbol: ")")
            return SQLExpression(
                .function(name: "extract", arguments: [SQLExpression(.string(field.text), at: field.position), value], distinct: false),
                at: token.position)
        default: break
        }
        if lower.hasPrefix("$"), let number = Int(lower.dropFirst()), number > 0 {
            parameterCount = max(parameterCount, number)
            return SQLExpression(.parameter(number), at: token.position)
        }
        if current.isSymbol("(") { return try functionCall(lower, at: token.position) }
        // `window` stays a column name (ILP may create one); it is reserved only as an alias,
        // where `FROM t WINDOW w AS (…)` must not read it as t's alias.
        if SQLParser.reserved.contains(lower), !["timestamp", "left", "right", "window"].contains(lower) { throw unexpectedWord(token) }
        // Typed literals: `timestamp '2024-01-01'`, `date '…'`.
        if current.kind == .string, ["timestamp", "date", "uuid", "ipv4", "long256", "varchar", "interval"].contains(lower) {
            let literal = advance()
            let type = ColumnTypeName(name: lower, parameter: nil, arrayDimensions: 0, position: token.position)
            return SQLExpression(.cast(SQLExpression(.string(literal.text), at: literal.position), type), at: token.position)
        }
        return try qualified(token)
    }

    private func unexpectedWord(_ token: SQLToken) -> SQLError {
        .syntax("unexpected token [\(token.text)]", at: token.position)
    }

    /// `ANY (ARRAY[a, b])`, `ANY (ARRAY[…]::type[])`, `ALL (…)` after `=` or `<>` (what
    /// SQLAlchemy and psql send); nil when no quantifier follows.
    private mutating func quantifiedList(_ op: String, at position: Int) throws(SQLError) -> (items: [SQLExpression], negated: Bool)? {
        guard current.isWord("any") || current.isWord("some") || current.isWord("all"), next.isSymbol("(") else { return nil }
        let all = current.isWord("all")
        guard (op == "=" && !all) || (op == "!=" && all) else {
            throw SQLError(.unsupported, "only = ANY (…) and <> ALL (…) are supported", at: current.position)
        }
        index += 2
        guard accept("array"), accept(symbol: "[") else {
            throw SQLError(.unsupported, "ANY/ALL take an ARRAY[…] list here", at: current.position)
        }
        var items: [SQLExpression] = []
        if !current.isSymbol("]") {
            repeat { items.append(try expression()) } while accept(symbol: ",")
        }
        try expect(symbol: "]")
        if accept(symbol: "::") { _ = try typeName() }
        try expect(symbol: ")")
        return (items, all)
    }

    /// `COLLATE name` after an operand: collations do not change comparisons here.
    private mutating func skipCollate() {
        guard current.isWord("collate") else { return }
        index += 1
        _ = advance()
        while current.isSymbol("."), next.kind == .word || next.kind == .quotedIdentifier { index += 2 }
    }

    /// `name`, `t.name` or `t.*` after the first name was read.
    private mutating func qualified(_ first: SQLToken) throws(SQLError) -> SQLExpression {
        guard current.isSymbol(".") else { return SQLExpression(.column(qualifier: nil, name: first.text), at: first.position) }
        index += 1
        if accept(symbol: "*") { return SQLExpression(.star(qualifier: first.text), at: first.position) }
        let (name, _) = try name(what: "column name")
        // `pg_catalog.version()`: functions of the schemas PostgreSQL tools qualify with.
        if current.isSymbol("("), SQLParser.catalogSchemas.contains(first.text.lowercased()) {
            return try functionCall(name.lowercased(), at: first.position)
        }
        // `pg_catalog.pg_class.relname`: schema, table, column.
        if current.isSymbol("."), SQLParser.catalogSchemas.contains(first.text.lowercased()) {
            index += 1
            if accept(symbol: "*") { return SQLExpression(.star(qualifier: name), at: first.position) }
            let (column, _) = try self.name(what: "column name")
            return SQLExpression(.column(qualifier: name, name: column), at: first.position)
        }
        return SQLExpression(.column(qualifier: first.text, name: name), at: first.position)
    }

    private mutating func functionCall(_ name: String, at position: Int) throws(SQLError) -> SQLExpression {
        index += 1
        var arguments: [SQLExpression] = []
        var distinct = false
        if !current.isSymbol(")") {
            distinct = accept("distinct")
            repeat { arguments.append(try expression()) } while accept(symbol: ",")
        }
        try expect(symbol: ")")
        if current.isWord("ignore") || current.isWord("respect"), next.isWord("nulls"), peek(2).isWord("over") {
            let ignoreNulls = advance().isWord("ignore")
            index += 2
            return try window(name, arguments, ignoreNulls: ignoreNulls, at: position)
        }
        if accept("over") { return try window(name, arguments, ignoreNulls: false, at: position) }
        let call = SQLExpression(.function(name: name, arguments: arguments, distinct: distinct), at: position)
        if current.isWord("filter"), next.isSymbol("(") {
            // `agg(x) FILTER (WHERE c)`: the aggregate sees only the rows where c holds.
            let filterPosition = advance().position
            index += 1
            try expect("where")
            let condition = try expression()
            try expect(symbol: ")")
            guard AggregateKind(name: name.lowercased(), argumentCount: arguments.count, distinct: distinct) != nil else {
                throw SQLError(.syntax, "FILTER applies to aggregate functions only", at: filterPosition)
            }
            return try PivotPlan.filtered(call, by: condition)
        }
        return call
    }

    /// `[IGNORE NULLS | RESPECT NULLS] OVER w` or `OVER ( [w] [PARTITION BY …] [ORDER BY …]
    /// [ROWS|RANGE BETWEEN … AND … | CUMULATIVE] [EXCLUDE CURRENT ROW | EXCLUDE NO OTHERS] )`.
    private mutating func window(_ name: String, _ arguments: [SQLExpression], ignoreNulls: Bool, at position: Int) throws(SQLError) -> SQLExpression {
        var spec: WindowSpec
        if current.isSymbol("(") {
            index += 1
            spec = try windowSpec()
            try expect(symbol: ")")
        } else {
            let (base, basePosition) = try self.name(what: "window name or '('")
            spec = WindowSpec(base: (base, basePosition))
        }
        spec.ignoreNulls = ignoreNulls
        return SQLExpression(.window(name: name, arguments: arguments, spec: spec), at: position)
    }

    /// The inside of `OVER ( … )` or of `WINDOW w AS ( … )`.
    mutating func windowSpec() throws(SQLError) -> WindowSpec {
        var spec = WindowSpec()
        let keywords: Set<String> = ["partition", "order", "rows", "range", "cumulative"]
        if current.kind == .quotedIdentifier || (current.kind == .word && !keywords.contains(current.text.lowercased())) {
            let (base, basePosition) = try name(what: "window name")
            spec.base = (base, basePosition)
        }
        if accept("partition") {
            try expect("by")
            repeat { spec.partitionBy.append(try expression()) } while accept(symbol: ",")
        }
        if accept("order") {
            try expect("by")
            spec.orderBy = try orderItems()
        }
        if current.isWord("cumulative") {
            let token = advance()
            guard !spec.orderBy.isEmpty || spec.base != nil else {
                throw SQLError(.syntax, "CUMULATIVE requires an ORDER BY clause", at: token.position)
            }
            spec.frame = WindowFrame(start: .unboundedPreceding, end: .currentRow)
        } else if current.isWord("rows") || current.isWord("range") {
            let unit: WindowFrame.Unit = advance().isWord("range") ? .range : .rows
            var frame: WindowFrame
            if accept("between") {
                let start = try frameBound(unit)
                try expect("and")
                let end = try frameBound(unit)
                frame = WindowFrame(unit: unit, start: start.bound, end: end.bound, timeUnits: start.timeUnit || end.timeUnit)
            } else {
                let start = try frameBound(unit)
                frame = WindowFrame(unit: unit, start: start.bound, end: .currentRow, timeUnits: start.timeUnit)
            }
            try checkFrame(frame, at: current.position)
            spec.frame = frame
        }
        if current.isWord("exclude") {
            let token = advance()
            if accept("no") {
                try expect("others")
            } else {
                try expect("current")
                try expect("row")
                guard spec.frame != nil else {
                    throw SQLError(.syntax, "EXCLUDE CURRENT ROW needs a ROWS or RANGE frame", at: token.position)
                }
                spec.frame?.excludeCurrentRow = true
            }
        }
        return spec
    }

    /// PostgreSQL's frame rules: a frame cannot start at UNBOUNDED FOLLOWING nor end at
    /// UNBOUNDED PRECEDING, and cannot start after it ends in the bounds' order.
    private func checkFrame(_ frame: WindowFrame, at position: Int) throws(SQLError) {
        func rank(_ bound: WindowFrame.Bound) -> Int {
            switch bound {
            case .unboundedPreceding: 0
            case .preceding: 1
            case .currentRow: 2
            case .following: 3
            case .unboundedFollowing: 4
            }
        }
        if frame.start == .unboundedFollowing {
            throw SQLError(.syntax, "frame start cannot be UNBOUNDED FOLLOWING", at: position)
        }
        if frame.end == .unboundedPreceding {
            throw SQLError(.syntax, "frame end cannot be UNBOUNDED PRECEDING", at: position)
        }
        if rank(frame.start) > rank(frame.end) {
            throw SQLError(.syntax, "frame starting after its end: start must not follow end", at: position)
        }
    }

    /// A frame bound; RANGE offsets may carry a time unit (`'5' MINUTE PRECEDING`, µs).
    private mutating func frameBound(_ unit: WindowFrame.Unit) throws(SQLError) -> (bound: WindowFrame.Bound, timeUnit: Bool) {
        if accept("unbounded") {
            if accept("preceding") { return (.unboundedPreceding, false) }
            try expect("following")
            return (.unboundedFollowing, false)
        }
        if accept("current") {
            try expect("row")
            return (.currentRow, false)
        }
        let token = current
        let expected = unit == .rows
            ? "frame bound expected: UNBOUNDED PRECEDING, n PRECEDING, CURRENT ROW, n FOLLOWING"
            : "frame bound expected: UNBOUNDED PRECEDING, 'n' <unit> PRECEDING, CURRENT ROW, 'n' <unit> FOLLOWING"
        guard token.kind == .integer || (token.kind == .string && unit == .range), let count = Int64(token.text), count >= 0 else {
            throw SQLError.syntax(expected, at: token.position)
        }
        index += 1
        var distance = count
        var timeUnit = false
        if current.kind == .word, let micros = Self.frameTimeUnits[current.text.lowercased()] {
            guard unit == .range else {
                throw SQLError(.syntax, "a time unit is allowed in RANGE frames only", at: current.position)
            }
            index += 1
            let (product, overflow) = count.multipliedReportingOverflow(by: micros)
            guard !overflow else { throw SQLError(.invalidValue, "frame offset is too large", at: token.position) }
            distance = product
            timeUnit = true
        } else if token.kind == .string {
            throw SQLError(.syntax, "time unit expected: DAY, HOUR, MINUTE, SECOND, MILLISECOND or MICROSECOND", at: current.position)
        }
        if accept("preceding") { return (.preceding(distance), timeUnit) }
        try expect("following")
        return (.following(distance), timeUnit)
    }

    /// QuestDB's RANGE frame units, in µs.
    static let frameTimeUnits: [String: Int64] = [
        "day": 86_400_000_000, "days": 86_400_000_000, "hour": 3_600_000_000, "hours": 3_600_000_000,
        "minute": 60_000_000, "minutes": 60_000_000, "second": 1_000_000, "seconds": 1_000_000,
        "millisecond": 1_000, "milliseconds": 1_000, "microsecond": 1, "microseconds": 1,
    ]

    private mutating func caseExpression(at position: Int) throws(SQLError) -> SQLExpression {
        var operand: SQLExpression?
        if !current.isWord("when") { operand = try expression() }
        var branches: [(SQLExpression, SQLExpression)] = []
        while accept("when") {
            let condition = try expression()
            try expect("then")
            branches.append((condition, try expression()))
        }
        guard !branches.isEmpty else { throw SQLError.syntax("'when' expected", at: current.position) }
        let otherwise = accept("else") ? try expression() : nil
        try expect("end")
        return SQLExpression(.caseWhen(operand: operand, branches: branches, otherwise: otherwise), at: position)
    }
}
