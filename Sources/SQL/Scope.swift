import Storage

/// The columns an expression may name: the output of a table scan, a subquery or an
/// aggregation, with the table alias that qualifies them.
struct Scope: Sendable {
    struct Column: Sendable {
        var name: String
        var qualifier: String?
        var type: SQLType
    }

    var columns: [Column]
    /// Index of the designated timestamp among `columns`.
    var timestampIndex: Int?

    /// The position of the column `name` (case-insensitive), checking the qualifier when given.
    func resolve(_ qualifier: String?, _ name: String, at position: Int) throws(SQLError) -> Int {
        let lower = name.lowercased()
        let qualifierLower = qualifier?.lowercased()
        var found: Int?
        for (index, column) in columns.enumerated() where column.name.lowercased() == lower {
            if let qualifierLower, column.qualifier?.lowercased() != qualifierLower { continue }
            if found != nil { throw SQLError(.undefinedColumn, "Ambiguous column [name=\(name)]", at: position) }
            found = index
        }
        guard let found else {
            let full = qualifier.map { "\($0).\(name)" } ?? name
            throw SQLError(.undefinedColumn, "Invalid column: \(full)", at: position)
        }
        return found
    }
}

/// What binding needs besides the scope: the statement's clock, bind parameters and a way to
/// run uncorrelated subqueries.
struct BindingContext {
    /// `now()` for the whole statement, µs.
    var now: Int64
    var parameters: [SQLValue] = []
    var runSubquery: ((SQLQuery, Int) throws(SQLError) -> QueryResult)?
}
