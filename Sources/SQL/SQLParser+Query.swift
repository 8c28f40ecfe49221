import Storage

extension SQLParser {
    /// `[WITH …] select-core [set-op select-core]…`
    mutating func query() throws(SQLError) -> SQLQuery {
        try enter()
        defer { depth -= 1 }
        if accept("with") {
            var names: [(String, SQLQuery)] = []
            repeat {
                let (name, _) = try name(what: "name of WITH query")
                try expect("as")
                try expect(symbol: "(")
                names.append((name, try query()))
                try expect(symbol: ")")
            } while accept(symbol: ",")
            return .with(names, try query())
        }
        var left = try queryTerm()
        var trailing: ([OrderItem], Limit?, Int)?
        while true {
            let position = current.position
            let op: SetOperator
            if accept("union") {
                op = accept("all") ? .unionAll : .union
            } else if accept("except") {
                op = .except
            } else if accept("intersect") {
                op = .intersect
            } else {
                break
            }
            var right = try queryTerm()
            // `… UNION SELECT … ORDER BY x LIMIT n`: the clauses belong to the whole result.
            if case .select(var select) = right, !select.orderBy.isEmpty || select.limit != nil {
                trailing = (select.orderBy, select.limit, position)
                select.orderBy = []
                select.limit = nil
                right = .select(select)
            }
            left = .setOperation(op, left, right, position: position)
            if trailing != nil { break }
        }
        if let (order, limit, position) = trailing { return .ordered(left, order, limit, position: position) }
        return left
    }

    private mutating func queryTerm() throws(SQLError) -> SQLQuery {
        let term: SQLQuery
        if accept(symbol: "(") {
            let inner = try query()
            try expect(symbol: ")")
            term = inner
        } else if !current.isWord("select"), next.isWord("pivot") {
            // QuestDB's top-level form: `trades PIVOT (…)`.
            let (table, position) = try name(allowString: true, what: "table name")
            var select = SelectQuery()
            select.items = [.init(expression: SQLExpression(.star(qualifier: nil), at: position))]
            select.from = .table(name: table, alias: nil, position: position)
            select.position = position
            term = .select(select)
        } else {
            term = .select(try select())
        }
        guard current.isWord("pivot") else { return term }
        let pivoted = SQLQuery.pivot(term, try pivot())
        let position = current.position
        var order: [OrderItem] = []
        var limit: Limit?
        if accept("order") {
            try expect("by")
            order = try orderItems()
        }
        if accept("limit") {
            let first = try expression()
            limit = Limit(first: first, second: accept(symbol: ",") ? try expression() : nil)
        }
        return order.isEmpty && limit == nil ? pivoted : .ordered(pivoted, order, limit, position: position)
    }

    /// `PIVOT ( aggregates FOR col IN (…) [[FOR] col IN (…)]… [GROUP BY …] )`.
    private mutating func pivot() throws(SQLError) -> Pivot {
        let position = advance().position
        try expect(symbol: "(")
        var aggregates: [Pivot.Aggregate] = []
        repeat {
            let start = index
            let expression = try expression()
            let text = Self.text(of: tokens[start..<index])
            aggregates.append(.init(expression: expression, alias: accept("as") ? try name(allowString: true, what: "alias").0 : nil, text: text))
        } while accept(symbol: ",")
        try expect("for")
        var fors: [Pivot.ForClause] = []
        repeat {
            _ = accept("for")
            let column = try primary()
            try expect("in")
            try expect(symbol: "(")
            let values: Pivot.Values
            if current.isWord("select") || current.isWord("with") {
                values = .query(try query())
            } else {
                var list: [(SQLExpression, String?)] = []
                repeat {
                    let value = try expression()
                    list.append((value, accept("as") ? try name(allowString: true, what: "alias").0 : nil))
                } while accept(symbol: ",")
                values = .list(list)
            }
            try expect(symbol: ")")
            fors.append(.init(column: column, values: values))
        } while !current.isSymbol(")") && !current.isWord("group") && current.kind != .end
        var groupBy: [SQLExpression] = []
        if accept("group") {
            try expect("by")
            repeat { groupBy.append(try expression()) } while accept(symbol: ",")
        }
        try expect(symbol: ")")
        return Pivot(aggregates: aggregates, fors: fors, groupBy: groupBy, position: position)
    }

    /// Tokens as text: words and numbers next to each other keep a space between them.
    static func text(of tokens: ArraySlice<SQLToken>) -> String {
        var text = ""
        var previousIsWord = false
        for token in tokens {
            let isWord = token.kind == .word || token.kind == .integer || token.kind == .decimal
            if isWord && previousIsWord { text += " " }
            switch token.kind {
            case .string: text += "'" + token.text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
            case .quotedIdentifier: text += "\"" + token.text + "\""
            default: text += token.text
            }
            previousIsWord = isWord
        }
        return text
    }

    private mutating func select() throws(SQLError) -> SelectQuery {
        var select = SelectQuery()
        select.position = current.position
        try expect("select")
        select.distinct = accept("distinct")
        repeat {
            let expression = try expression()
            var alias: String?
            if accept("as") {
                alias = try name(allowString: true, what: "alias").0
            } else if current.kind == .quotedIdentifier || (current.kind == .word && !Self.reserved.contains(current.text.lowercased())) {
                alias = advance().text
            }
            select.items.append(.init(expression: expression, alias: alias))
        } while accept(symbol: ",")
        if accept("from") { select.from = try fromSource() }
        if accept("where") { select.whereClause = try expression() }
        if current.isWord("latest"), next.isWord("on") || next.isWord("by") {
            select.latestOn = try latestOn()
            if accept("where") { select.whereClause = try expression() }
        }
        if accept("sample") {
            try expect("by")
            select.sampleBy = try sampleBy()
        }
        if accept("group") {
            try expect("by")
            repeat { select.groupBy.append(try expression()) } while accept(symbol: ",")
            if accept("having") { select.having = try expression() }
        }
        var windows: [(name: String, spec: WindowSpec)] = []
        if accept("window") {
            repeat {
                let (name, position) = try self.name(what: "window name")
                guard !windows.contains(where: { Scope.sameName($0.name, name) }) else {
                    throw SQLError(.syntax, "window \"\(name)\" is already defined", at: position)
                }
                try expect("as")
                try expect(symbol: "(")
                let spec = try Self.resolve(try windowSpec(), windows)
                try expect(symbol: ")")
                windows.append((name, spec))
            } while accept(symbol: ",")
        }
        if accept("order") {
            try expect("by")
            select.orderBy = try orderItems()
        }
        for index in select.items.indices { select.items[index].expression = try Self.resolveWindows(select.items[index].expression, windows) }
        for index in select.orderBy.indices { select.orderBy[index].expression = try Self.resolveWindows(select.orderBy[index].expression, windows) }
        if accept("limit") {
            let first = try expression()
            select.limit = Limit(first: first, second: accept(symbol: ",") ? try expression() : nil)
        }
        return select
    }

    /// Window calls that name a window (`OVER w`, `OVER (w …)`) given its definition.
    static func resolveWindows(_ expression: SQLExpression, _ windows: [(name: String, spec: WindowSpec)]) throws(SQLError) -> SQLExpression {
        var failure: SQLError?
        let resolved = expression.rewritten { node in
            guard failure == nil, case .window(let name, let arguments, let spec) = node.kind, spec.base != nil else { return nil }
            do throws(SQLError) {
                return SQLExpression(.window(name: name, arguments: arguments, spec: try resolve(spec, windows)), at: node.position)
            } catch {
                failure = error
                return node
            }
        }
        if let failure { throw failure }
        return resolved
    }

    /// `spec` on top of the named window it refers to, with PostgreSQL's rules: PARTITION BY
    /// comes from the named window only, ORDER BY from one of the two, and a named window with
    /// a frame is used as it is (`OVER w`) or not at all.
    static func resolve(_ spec: WindowSpec, _ windows: [(name: String, spec: WindowSpec)]) throws(SQLError) -> WindowSpec {
        guard let (name, position) = spec.base else { return spec }
        guard let base = windows.first(where: { Scope.sameName($0.name, name) })?.spec else {
            throw SQLError(.syntax, "window \"\(name)\" does not exist", at: position)
        }
        let bare = spec.partitionBy.isEmpty && spec.orderBy.isEmpty && spec.frame == nil
        if bare {
            var resolved = base
            resolved.ignoreNulls = spec.ignoreNulls
            return resolved
        }
        guard spec.partitionBy.isEmpty else {
            throw SQLError(.syntax, "cannot override PARTITION BY clause of window \"\(name)\"", at: position)
        }
        guard spec.orderBy.isEmpty || base.orderBy.isEmpty else {
            throw SQLError(.syntax, "cannot override ORDER BY clause of window \"\(name)\"", at: position)
        }
        guard base.frame == nil else {
            throw SQLError(.syntax, "cannot copy window \"\(name)\" because it has a frame clause", at: position)
        }
        var resolved = base
        if !spec.orderBy.isEmpty { resolved.orderBy = spec.orderBy }
        resolved.frame = spec.frame
        resolved.ignoreNulls = spec.ignoreNulls
        return resolved
    }

    mutating func orderItems() throws(SQLError) -> [OrderItem] {
        var items: [OrderItem] = []
        repeat {
            let expression = try expression()
            var descending = false
            if accept("desc") { descending = true } else { _ = accept("asc") }
            items.append(OrderItem(expression: expression, descending: descending))
        } while accept(symbol: ",")
        return items
    }

    /// A FROM clause: one source, then any number of joins (left-deep).
    mutating func fromSource() throws(SQLError) -> FromSource {
        var source = try singleSource()
        while true {
            let position = current.position
            let kind: Join.Kind
            if accept(symbol: ",") {
                kind = .cross
            } else if accept("cross") {
                try expect("join")
                kind = .cross
            } else if accept("inner") {
                try expect("join")
                kind = .inner
            } else if accept("join") {
                kind = .inner
            } else if accept("left") {
                _ = accept("outer")
                try expect("join")
                kind = .left
            } else if accept("asof") {
                try expect("join")
                kind = .asOf
            } else if current.isWord("lt"), next.isWord("join") {
                index += 2
                kind = .lessThan
            } else if current.isWord("splice"), next.isWord("join") {
                index += 2
                kind = .splice
            } else if current.isWord("right") || current.isWord("full") {
                throw SQLError(.unsupported, "\(current.text.uppercased()) JOIN is not supported (QuestDB has none either)", at: position)
            } else {
                return source
            }
            let lateralPosition = current.position
            let lateral = accept("lateral")
            if lateral {
                guard kind == .inner || kind == .left || kind == .cross else {  // QuestDB's rule
                    throw SQLError(.syntax, "LATERAL is only supported with INNER, LEFT, or CROSS joins", at: lateralPosition)
                }
                guard current.isSymbol("(") else { throw SQLError(.syntax, "LATERAL requires a subquery", at: current.position) }
            }
            var join = Join(left: source, kind: kind, right: try singleSource(), condition: nil, position: position)
            join.lateral = lateral
            if kind != .cross, accept("on") {
                if let names = try sharedColumnList() { join.sharedColumns = names } else { join.condition = try expression() }
            }
            if (kind == .inner || kind == .left), !lateral, join.condition == nil, join.sharedColumns.isEmpty {
                throw SQLError.syntax("'on' expected", at: current.position)
            }
            if kind == .asOf || kind == .lessThan, accept("tolerance") {
                let token = current
                guard token.kind == .integer, let unit = TimeUnit(letter: String(token.text.drop { $0.isNumber })),
                      let count = Int64(token.text.prefix { $0.isNumber }), let micros = unit.fixedMicros
                else { throw SQLError.syntax("tolerance expected, such as 50T or 1h", at: token.position) }
                index += 1
                let (tolerance, overflow) = count.multipliedReportingOverflow(by: max(micros, 1))
                guard !overflow else { throw SQLError.syntax("tolerance is too large", at: token.position) }
                join.toleranceMicros = tolerance
            }
            source = .join(join)
        }
    }

    /// `(a, b)` after ON: the columns both sides share (QuestDB's ASOF shorthand).
    private mutating func sharedColumnList() throws(SQLError) -> [String]? {
        guard current.isSymbol("(") else { return nil }
        var probe = index + 1
        var names: [String] = []
        while probe < tokens.count, tokens[probe].kind == .word || tokens[probe].kind == .quotedIdentifier {
            names.append(tokens[probe].text)
            probe += 1
            if tokens[probe].isSymbol(",") { probe += 1 } else { break }
        }
        guard !names.isEmpty, tokens[probe].isSymbol(")"), !tokens[probe - 1].isSymbol(",") else { return nil }
        // `ON (a = b)` is a condition, not a list: the token after the name must end the list.
        index = probe + 1
        return names
    }

    private mutating func singleSource() throws(SQLError) -> FromSource {
        let position = current.position
        var source: FromSource
        if accept(symbol: "(") {
            var inner = try query()
            try expect(symbol: ")")
            if current.isWord("timestamp"), next.isSymbol("(") {
                index += 2
                let column = current.position
                let (name, _) = try self.name(what: "column name")
                try expect(symbol: ")")
                inner = .designated(inner, column: name, position: column)
            }
            source = .subquery(inner, alias: nil, position: position)
        } else if current.kind == .word, SQLParser.catalogSchemas.contains(current.text.lowercased()), next.isSymbol("."),
                  tokens.count > index + 2, tokens[index + 2].kind == .word || tokens[index + 2].kind == .quotedIdentifier
        {
            // `pg_catalog.pg_class`, `information_schema.tables`, `public.t`.
            let schema = advance().text.lowercased()
            index += 1
            let (name, _) = try self.name(what: "table name")
            if current.isSymbol("(") {
                index += 1
                try expect(symbol: ")")
            }
            source = .table(name: schema == "information_schema" ? "information_schema." + name.lowercased() : name, alias: nil, position: position)
        } else if current.kind == .word, next.isSymbol("(") {
            let name = advance().text
            index += 1
            var arguments: [SQLExpression] = []
            if !current.isSymbol(")") {
                repeat { arguments.append(try expression()) } while accept(symbol: ",")
            }
            try expect(symbol: ")")
            source = .function(name: name.lowercased(), arguments: arguments, alias: nil, position: position)
        } else {
            let (name, _) = try self.name(allowString: true, what: "table name")
            source = .table(name: name, alias: nil, position: position)
        }
        let alias = try optionalAlias()
        switch source {
        case .table(let name, _, let position): source = .table(name: name, alias: alias, position: position)
        case .subquery(let query, _, let position): source = .subquery(query, alias: alias, position: position)
        case .function(let name, let arguments, _, let position):
            source = .function(name: name, arguments: arguments, alias: alias, position: position)
        case .join: break
        }
        return source
    }

    private mutating func optionalAlias() throws(SQLError) -> String? {
        if accept("as") { return try name(what: "alias").0 }
        if current.kind == .quotedIdentifier || (current.kind == .word && !Self.reserved.contains(current.text.lowercased())) {
            return advance().text
        }
        return nil
    }

    private mutating func latestOn() throws(SQLError) -> LatestOn {
        index += 1
        if accept("by") {
            // The old form `LATEST BY col`: the designated timestamp is implied.
            var keys: [SQLExpression] = []
            repeat { keys.append(try expression()) } while accept(symbol: ",")
            return LatestOn(timestamp: SQLExpression(.star(qualifier: nil), at: current.position), partitionBy: keys)
        }
        try expect("on")
        let timestamp = try expression()
        try expect("partition")
        try expect("by")
        var keys: [SQLExpression] = []
        repeat { keys.append(try expression()) } while accept(symbol: ",")
        return LatestOn(timestamp: timestamp, partitionBy: keys)
    }

    private mutating func sampleBy() throws(SQLError) -> SampleBy {
        let token = current
        guard token.kind == .integer || token.kind == .word else {
            throw SQLError.syntax("sample interval expected (such as 1h)", at: token.position)
        }
        index += 1
        let digits = token.text.prefix { $0.isNumber }
        let letters = String(token.text.dropFirst(digits.count))
        guard let unit = TimeUnit(letter: letters), unit != .nanosecond || true else {
            throw SQLError.syntax("invalid sample interval '\(token.text)': a number and one of n U T s m h d w M y", at: token.position)
        }
        let count = digits.isEmpty ? 1 : Int64(digits) ?? 0
        guard count > 0, count <= 1_000_000_000 else {
            throw SQLError.syntax("sample interval must be from 1 to 1000000000 units", at: token.position)
        }
        var sample = SampleBy(count: count, unit: unit, position: token.position)
        if accept("from") {
            sample.from = try expression()
            if accept("to") { sample.to = try expression() }
        } else if accept("to") {
            sample.to = try expression()
        }
        if accept("fill") {
            try expect(symbol: "(")
            repeat {
                if accept("none") {
                    sample.fill.append(.none)
                } else if accept("null") {
                    sample.fill.append(.null)
                } else if accept("prev") {
                    sample.fill.append(.previous)
                } else if accept("linear") {
                    sample.fill.append(.linear)
                } else {
                    sample.fill.append(.value(try expression()))
                }
            } while accept(symbol: ",")
            try expect(symbol: ")")
        }
        if accept("align") {
            try expect("to")
            if accept("first") {
                try expect("observation")
                sample.alignment = .firstObservation
            } else {
                try expect("calendar")
                var timeZone: String?
                var offset: String?
                if accept("time") {
                    try expect("zone")
                    timeZone = try stringLiteral(what: "time zone")
                }
                if accept("with") {
                    try expect("offset")
                    offset = try stringLiteral(what: "offset")
                }
                sample.alignment = .calendar(timeZone: timeZone, offset: offset)
            }
        }
        return sample
    }

    mutating func stringLiteral(what: String) throws(SQLError) -> String {
        guard current.kind == .string else { throw SQLError.syntax("\(what) expected as a quoted string", at: current.position) }
        return advance().text
    }
}
