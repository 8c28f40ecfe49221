/// Statements that run where they are asked for — a PG connection's event loop — instead of on a
/// query worker (decision 0038): they read no table and call only functions that answer at
/// once, so they cannot block, and their work is bounded by a small node budget and small
/// parameters. Measured on this machine, the two thread hand-offs to a worker and back cost
/// ~30 µs of server CPU where `SELECT 1` itself costs ~25; connection pools send such
/// statements on every checkout (`SELECT 1`, `SELECT version()`, `SELECT current_user`).
enum InPlaceStatements {
    /// Expression nodes (over all items and clauses) past which a statement goes to a worker.
    static let maxNodes = 64
    /// Bytes of one text parameter past which a statement goes to a worker.
    static let maxParameterBytes = 1_024

    /// Functions (lower-case) that read nothing and do a fixed amount of work.
    static let functions: Set<String> = [
        "version", "current_database", "current_catalog", "current_schema", "current_user", "session_user", "user",
        "getpgusername", "pg_is_in_recovery", "now", "systimestamp", "sysdate", "current_timestamp",
    ]

    /// Whether `query` may run in place with these parameters.
    static func runsInPlace(_ query: SQLQuery, parameters: [SQLValue]) -> Bool {
        guard case .select(let select) = query, select.from == nil, select.latestOn == nil, select.sampleBy == nil,
              select.groupBy.isEmpty, select.having == nil
        else { return false }
        for case .text(let text) in parameters where text.utf8.count > maxParameterBytes { return false }
        var budget = maxNodes
        var expressions = select.items.map(\.expression)
        if let condition = select.whereClause { expressions.append(condition) }
        expressions += select.orderBy.map(\.expression)
        if let limit = select.limit { expressions += [limit.first] + (limit.second.map { [$0] } ?? []) }
        return expressions.allSatisfy { isInstant($0, budget: &budget) }
    }

    /// Whether every node of `expression` is a constant, a parameter, an operator over such
    /// nodes or a listed function, within `budget` nodes.
    private static func isInstant(_ expression: SQLExpression, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch expression.kind {
        case .null, .boolean, .integer, .decimal, .string, .parameter:
            return true
        case .column(nil, let name):
            // Without FROM a bare name is `current_user` and the like, or an error.
            return FunctionBinder.bareFunctions.contains(ASCIICase.lowercased(name))
        case .function(let name, let arguments, distinct: false):
            guard functions.contains(ASCIICase.lowercased(name)) else { return false }
            return arguments.allSatisfy { isInstant($0, budget: &budget) }
        case .unary, .binary, .cast, .isNull, .inList, .between, .caseWhen:
            return expression.children.allSatisfy { isInstant($0, budget: &budget) }
        case .column, .star, .function, .like, .subquery, .window:
            // LIKE compiles a pattern; the rest read tables or rows.
            return false
        }
    }
}
