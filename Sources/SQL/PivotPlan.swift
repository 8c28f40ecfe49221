import Storage

/// PIVOT (QuestDB 9): rows of a source turned into columns, one per combination of the FOR
/// values and aggregate. It runs as the grouped SELECT it stands for: each aggregate sees only
/// its combination's rows (`sum(x)` → `sum(CASE WHEN col = v AND … THEN x END)`), grouped by
/// the PIVOT's GROUP BY columns.
struct PivotPlan {
    /// Most output columns one PIVOT may make (QuestDB's default `cairo.sql.pivot.max.columns`).
    static let maxColumns = 5000

    let executor: QueryExecutor

    func run(_ source: SQLQuery, _ pivot: Pivot) throws(SQLError) -> QueryResult {
        try executor.run(.select(try rewrite(source, pivot)))
    }

    func rewrite(_ source: SQLQuery, _ pivot: Pivot) throws(SQLError) -> SelectQuery {
        let position = pivot.position
        // Per FOR clause, its values (constants, or a subquery run now) and their names.
        var clauses: [[(value: SQLValue, name: String)]] = []
        for clause in pivot.fors {
            var values: [(SQLValue, String)] = []
            switch clause.values {
            case .list(let list):
                let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: executor.bindingContext)
                for (expression, alias) in list {
                    let bound = try binder.bind(expression)
                    guard let value = bound.constantValue else {
                        throw SQLError(.invalidValue, "PIVOT values must be constants", at: expression.position)
                    }
                    values.append((value, alias ?? Self.name(of: value, type: bound.type)))
                }
            case .query(let query):
                let result = try executor.run(query)
                guard result.columns.count == 1 else {
                    throw SQLError(.syntax, "the subquery of PIVOT … IN must return one column", at: clause.column.position)
                }
                guard result.rowCount > 0 else {
                    throw SQLError(.invalidValue, "the subquery of PIVOT … IN returned no rows", at: clause.column.position)
                }
                for row in 0..<result.rowCount {
                    let value = result.value(row: row, column: 0)
                    values.append((value, Self.name(of: value, type: result.columns[0].type)))
                }
            }
            clauses.append(values)
        }
        // Value lists from subqueries can be large enough for the product to overflow.
        var columnCount: Int? = pivot.aggregates.count
        for clause in clauses {
            columnCount = columnCount.flatMap { count in
                let (product, overflow) = count.multipliedReportingOverflow(by: clause.count)
                return overflow ? nil : product
            }
        }
        guard let columnCount, columnCount <= Self.maxColumns else {
            let count = columnCount.map(String.init) ?? "more than \(Int.max)"
            throw SQLError(.limitExceeded, "PIVOT would make \(count) columns; at most \(Self.maxColumns) are allowed", at: position)
        }
        let combinations = columnCount / pivot.aggregates.count
        var select = SelectQuery()
        select.position = position
        select.from = .subquery(source, alias: nil, position: position)
        select.groupBy = pivot.groupBy
        select.items = pivot.groupBy.map { .init(expression: $0) }
        var combination = Array(repeating: 0, count: clauses.count)
        for _ in 0..<combinations {
            var condition: SQLExpression?
            var names: [String] = []
            for (clause, index) in combination.enumerated() {
                let (value, name) = clauses[clause][index]
                let column = pivot.fors[clause].column
                let test: SQLExpression = value == .null
                    ? SQLExpression(.isNull(column, negated: false), at: column.position)
                    : SQLExpression(.binary("=", column, Self.literal(value, at: column.position)), at: column.position)
                condition = condition.map { SQLExpression(.binary("and", $0, test), at: column.position) } ?? test
                names.append(name)
            }
            let prefix = names.joined(separator: "_")
            for aggregate in pivot.aggregates {
                let suffix = aggregate.alias ?? (pivot.aggregates.count > 1 ? aggregate.text : nil)
                let expression = try Self.filtered(aggregate.expression, by: condition!)
                select.items.append(.init(expression: expression, alias: suffix.map { prefix + "_" + $0 } ?? prefix))
            }
            // Next combination, the last FOR clause varying fastest.
            var clause = clauses.count - 1
            while clause >= 0 {
                combination[clause] += 1
                if combination[clause] < clauses[clause].count { break }
                combination[clause] = 0
                clause -= 1
            }
        }
        return select
    }

    /// `expression` with every aggregate call seeing only the rows where `condition` holds (also
    /// `agg(x) FILTER (WHERE condition)`).
    static func filtered(_ expression: SQLExpression, by condition: SQLExpression) throws(SQLError) -> SQLExpression {
        var result = expression
        switch expression.kind {
        case .function(let name, let arguments, let distinct) where AggregateKind(name: name.lowercased(), argumentCount: arguments.count, distinct: distinct) != nil:
            let kind = AggregateKind(name: name.lowercased(), argumentCount: arguments.count, distinct: distinct)!
            if kind == .first || kind == .last {
                throw SQLError(.unsupported, "\(name)() is not supported with PIVOT or FILTER yet; use min() or max()", at: expression.position)
            }
            func when(_ value: SQLExpression) -> SQLExpression {
                SQLExpression(.caseWhen(operand: nil, branches: [(condition, value)], otherwise: nil), at: value.position)
            }
            if kind == .countAll || arguments.contains(where: { if case .star = $0.kind { true } else { false } }) {
                // count() / count(*): count the rows of the combination.
                result.kind = .function(name: "count", arguments: [when(SQLExpression(.integer("1"), at: expression.position))], distinct: false)
            } else {
                // string_agg's separator (and any later argument) stays as written.
                var rewritten = arguments
                rewritten[0] = when(arguments[0])
                result.kind = .function(name: name, arguments: rewritten, distinct: distinct)
            }
        case .function(let name, let arguments, let distinct):
            var rewritten: [SQLExpression] = []
            for argument in arguments { rewritten.append(try filtered(argument, by: condition)) }
            result.kind = .function(name: name, arguments: rewritten, distinct: distinct)
        case .binary(let op, let left, let right):
            result.kind = .binary(op, try filtered(left, by: condition), try filtered(right, by: condition))
        case .unary(let op, let operand):
            result.kind = .unary(op, try filtered(operand, by: condition))
        case .cast(let operand, let type):
            result.kind = .cast(try filtered(operand, by: condition), type)
        default:
            guard !expression.containsAggregate else {
                throw SQLError(.unsupported, "this aggregate expression is not supported in PIVOT yet", at: expression.position)
            }
            throw SQLError(.syntax, "PIVOT needs aggregate functions, e.g. avg(price)", at: expression.position)
        }
        return result
    }

    /// The column name part of a FOR value: its text as a query would print it.
    static func name(of value: SQLValue, type: SQLType) -> String {
        ColumnVector.broadcast(value, type, count: 1).asText(type)[0] ?? "NULL"
    }

    /// A constant as an expression of the rewritten query.
    static func literal(_ value: SQLValue, at position: Int) -> SQLExpression {
        switch value {
        case .integer(let number): SQLExpression(.integer(String(number)), at: position)
        case .real(let number): SQLExpression(.decimal(String(number)), at: position)
        case .boolean(let flag): SQLExpression(.boolean(flag), at: position)
        case .text(let text): SQLExpression(.string(text), at: position)
        default: SQLExpression(.null, at: position)
        }
    }
}
