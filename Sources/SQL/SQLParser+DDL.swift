import Storage

extension SQLParser {
    /// `CREATE TABLE [IF NOT EXISTS] t (col type, …) | AS (query) [TIMESTAMP(c)] [PARTITION BY u]
    /// [TTL n u] [WAL | BYPASS WAL] [WITH …] [DEDUP UPSERT KEYS(…)]`
    mutating func createTable() throws(SQLError) -> SQLStatement {
        let position = advance().position
        _ = accept("atomic")
        try expect("table")
        var ifNotExists = false
        if accept("if") {
            try expect("not")
            try expect("exists")
            ifNotExists = true
        }
        let (name, namePosition) = try name(allowString: true, what: "table name")
        var create = CreateTable(
            name: name, ifNotExists: ifNotExists, columns: [], asQuery: nil, timestamp: nil, partitionBy: nil,
            dedupKeys: [], position: position, namePosition: namePosition)
        if accept("as") {
            try expect(symbol: "(")
            create.asQuery = try query()
            try expect(symbol: ")")
        } else {
            try expect(symbol: "(")
            if accept("like") {
                create.like = try self.name(allowString: true, what: "table name")
            } else {
                repeat { create.columns.append(try columnDefinition()) } while accept(symbol: ",")
            }
            try expect(symbol: ")")
        }
        while accept(symbol: ",") {
            // `, INDEX(col …)` and `, CAST(col AS type)` after AS SELECT: indexes are accepted as hints.
            while current.kind != .end, !current.isSymbol(")") { index += 1 }
            try expect(symbol: ")")
        }
        if accept("timestamp") {
            try expect(symbol: "(")
            create.timestamp = try self.name(what: "timestamp column name")
            try expect(symbol: ")")
        }
        if accept("partition") {
            try expect("by")
            create.partitionBy = try self.name(what: "partition unit").0.uppercased()
        }
        if accept("ttl") { create.ttl = try ttlClause() }
        if accept("bypass") {
            try expect("wal")
        } else {
            _ = accept("wal")
        }
        if accept("with") {
            // `WITH maxUncommittedRows=…, o3MaxLag=…`: tuning parameters, accepted.
            while current.kind != .end, !current.isSymbol(";"), !current.isWord("dedup"), !current.isWord("in") { index += 1 }
        }
        if accept("in") {
            try expect("volume")
            index += 1
        }
        if accept("dedup") {
            _ = accept("enable")
            try expect("upsert")
            try expect("keys")
            try expect(symbol: "(")
            repeat { create.dedupKeys.append(try self.name(what: "column name")) } while accept(symbol: ",")
            try expect(symbol: ")")
        }
        if accept("owned") {
            try expect("by")
            index += 1
        }
        return .createTable(create)
    }

    mutating func columnDefinition() throws(SQLError) -> CreateTable.Column {
        let (name, position) = try name(what: "column name")
        let type = try typeName()
        // Column options accepted as hints: CAPACITY n, CACHE/NOCACHE, INDEX [CAPACITY n].
        while true {
            if accept("capacity") {
                index += 1
            } else if accept("cache") || accept("nocache") {
                continue
            } else if accept("index") {
                continue
            } else {
                break
            }
        }
        return CreateTable.Column(name: name, type: type, position: position)
    }

    /// `n unit` after TTL: `2 WEEKS`, `2 w`, or `2w` as one token.
    mutating func ttlClause() throws(SQLError) -> TTLClause {
        let token = advance()
        // `2w` is one token (as SAMPLE BY's `1h`); `2 WEEKS` two.
        let digits = String(token.text.prefix { $0.isNumber })
        var unitText = String(token.text.dropFirst(digits.count))
        guard token.kind == .integer || token.kind == .word, !digits.isEmpty else {
            throw SQLError(.syntax, "TTL value and unit expected, such as 7 DAYS", at: token.position)
        }
        if unitText.isEmpty, current.kind == .word { unitText = advance().text }
        guard let value = Int32(digits), value >= 0 else {
            throw SQLError(.invalidValue, "TTL value must be a non-negative integer", at: token.position)
        }
        let units: [String: TableTTL.Unit] = [
            "h": .hour, "hour": .hour, "hours": .hour, "d": .day, "day": .day, "days": .day, "w": .week, "week": .week,
            "weeks": .week, "m": .month, "month": .month, "months": .month, "y": .year, "year": .year, "years": .year,
        ]
        guard let unit = units[unitText.lowercased()] else {
            throw SQLError(.syntax, "TTL unit expected: HOURS, DAYS, WEEKS, MONTHS or YEARS", at: token.position)
        }
        return TTLClause(value: value, unit: unit, position: token.position)
    }

    /// `LIST 'p' [, …]` or `WHERE condition` after `… PARTITION` (ATTACH: the list only, as QuestDB).
    mutating func partitionSelection(for action: PartitionAction) throws(SQLError) -> PartitionSelection {
        if accept("list") {
            var values: [SQLExpression] = []
            repeat { values.append(try expression()) } while accept(symbol: ",")
            return .list(values)
        }
        if action == .attach {
            throw SQLError(.syntax, "'list' expected", at: current.position)
        }
        if !accept("where") { throw SQLError(.syntax, "'list' or 'where' expected", at: current.position) }
        return .matching(try expression())
    }

    mutating func alterTable() throws(SQLError) -> SQLStatement {
        _ = advance()
        try expect("table")
        // Errors about the table as a whole point at its name, as QuestDB's do.
        let (table, position) = try name(allowString: true, what: "table name")
        if accept("add") {
            _ = accept("column")
            var ifNotExists = false
            if accept("if") {
                try expect("not")
                try expect("exists")
                ifNotExists = true
            }
            var columns: [CreateTable.Column] = []
            repeat { columns.append(try columnDefinition()) } while accept(symbol: ",")
            return .alterTable(name: table, .addColumns(columns, ifNotExists: ifNotExists), position: position)
        }
        for action in [PartitionAction.detach, .attach] where current.isWord(action.rawValue.lowercased()) && next.isWord("partition") {
            index += 2
            return .alterTable(name: table, .partitions(action, try partitionSelection(for: action)), position: position)
        }
        if accept("drop") {
            if accept("partition") {
                return .alterTable(name: table, .partitions(.drop, try partitionSelection(for: .drop)), position: position)
            }
            _ = accept("column")
            var names: [(String, Int)] = []
            repeat { names.append(try name(what: "column name")) } while accept(symbol: ",")
            return .alterTable(name: table, .dropColumns(names), position: position)
        }
        if accept("rename") {
            _ = accept("column")
            let (from, columnPosition) = try name(what: "column name")
            try expect("to")
            let (to, _) = try name(what: "new column name")
            return .alterTable(name: table, .renameColumn(from: from, to: to, position: columnPosition), position: position)
        }
        if accept("resume") {
            try expect("wal")
            var txn: UInt64?
            if accept("from") {
                if !accept("txn") { try expect("transaction") }
                let token = advance()
                guard token.kind == .integer, let value = UInt64(token.text), value > 0 else {
                    throw SQLError(.syntax, "transaction number expected", at: token.position)
                }
                txn = value
            }
            return .alterTable(name: table, .resumeWAL(fromTxn: txn), position: position)
        }
        if accept("suspend") {
            try expect("wal")
            var reason: String?
            if accept("with") {
                let code = advance()
                guard code.kind == .integer || code.kind == .string else {
                    throw SQLError(.syntax, "error code expected", at: code.position)
                }
                reason = code.text
                if accept(symbol: ",") {
                    let message = advance()
                    guard message.kind == .string else { throw SQLError(.syntax, "error message expected", at: message.position) }
                    reason! += ": " + message.text
                }
            }
            return .alterTable(name: table, .suspendWAL(reason: reason), position: position)
        }
        if accept("squash") {
            try expect("partitions")
            return .alterTable(name: table, .squashPartitions, position: position)
        }
        if accept("dedup") {
            if accept("disable") { return .alterTable(name: table, .dedup(keys: nil), position: position) }
            try expect("enable")
            try expect("upsert")
            try expect("keys")
            try expect(symbol: "(")
            var keys: [(String, Int)] = []
            repeat { keys.append(try name(what: "column name")) } while accept(symbol: ",")
            try expect(symbol: ")")
            return .alterTable(name: table, .dedup(keys: keys), position: position)
        }
        if accept("alter") {
            _ = accept("column")
            let column = try name(what: "column name")
            if accept("type") {
                let type = try typeName()
                // QuestDB's column options after the type (CAPACITY n, CACHE/NOCACHE,
                // INDEX [CAPACITY n]) are hints here, as in CREATE TABLE.
                while true {
                    let indexed = accept("index")
                    if accept("capacity") {
                        guard current.kind == .integer else { throw SQLError(.syntax, "capacity expected", at: current.position) }
                        index += 1
                    } else if !indexed, !accept("cache"), !accept("nocache") {
                        break
                    }
                }
                guard current.kind == .end || current.isSymbol(";") else {
                    throw SQLError(.syntax, "unexpected token [\(current.text)] while trying to change column type", at: current.position)
                }
                return .alterTable(name: table, .changeColumnType(column, type), position: position)
            }
            // Index and symbol-cache options are hints (postings are built per query): the
            // column is checked, nothing changes.
            if accept("add") || accept("drop") {
                try expect("index")
                if accept("capacity") { index += 1 }
                return .alterTable(name: table, .columnHint(column, indexed: true), position: position)
            }
            if accept("symbol") {
                try expect("capacity")
                index += 1
            } else if !accept("cache"), !accept("nocache") {
                throw SQLError(.syntax, "'add index', 'drop index', 'symbol capacity', 'cache', 'nocache' or 'type' expected", at: current.position)
            }
            return .alterTable(name: table, .columnHint(column, indexed: false), position: position)
        }
        if accept("set") {
            if accept("ttl") { return .alterTable(name: table, .setTTL(try ttlClause()), position: position) }
            // Tuning (`SET PARAM maxUncommittedRows = n`, `o3MaxLag`) and `SET TYPE [BYPASS] WAL`
            // have nothing to change here: every table is written through the WAL.
            guard current.isWord("param") || current.isWord("type") else {
                throw SQLError(.syntax, "'param', 'ttl' or 'type' expected", at: current.position)
            }
            while current.kind != .end, !current.isSymbol(";") { index += 1 }
            return .alterTable(name: table, .noOp, position: position)
        }
        if current.kind == .word {
            throw SQLError(.unsupported, "ALTER TABLE \(current.text.uppercased()) is not supported", at: current.position)
        }
        throw unexpected()
    }
}
