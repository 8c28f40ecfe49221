import Storage

/// What every execution of one prepared statement shares: the parts of its plan that follow
/// from the statement's text and the schema of the table it reads alone (decision 0039).
///
/// A point query (`SELECT * FROM cpu WHERE hostname = $1 LATEST ON ts PARTITION BY hostname`)
/// bound its 21 columns, gathered the columns to read and named its outputs on every
/// execution — a tenth of its CPU. Only plain column references are remembered: anything that
/// binds to a value of the moment (parameters, `now()`, the session's role, a subquery's
/// rows) is bound again each time. Entries are keyed by table and schema version, so a
/// changed table is planned afresh; the statement's text cannot change under it.
package final class PlanMemo: Sendable {
    /// A statement is a LATEST ON or a plain SELECT at its top level, never both: one slot.
    private let slot = PlainMutex<(key: SchemaKey, plan: Plan)?>(nil)

    enum Plan {
        case latest(LatestPlan)
        case projection(ProjectionPlan)
    }

    package init() {}

    /// The remembered plan for `key`'s table and schema version, if any.
    func plan(for key: SchemaKey) -> Plan? {
        slot.withLock { entry in entry.flatMap { $0.key == key ? $0.plan : nil } }
    }

    func remember(_ plan: Plan, for key: SchemaKey) {
        slot.withLock { $0 = (key, plan) }
    }

    /// Whether a LATEST ON plan is remembered (for tests).
    var remembersLatestPlan: Bool {
        slot.withLock { if case .latest? = $0?.plan { true } else { false } }
    }

    /// Whether a point lookup is remembered: the statement reads one table (decision 0041).
    var remembersPointPlan: Bool {
        slot.withLock { if case .latest(let plan)? = $0?.plan { plan.point != nil } else { false } }
    }

    /// Whether a plain SELECT's plan is remembered (for tests).
    var remembersProjectionPlan: Bool {
        slot.withLock { if case .projection? = $0?.plan { true } else { false } }
    }

    /// A table's schema version in one storage engine (the directory tells engines of one
    /// process apart, as tests run several).
    struct SchemaKey: Equatable {
        var directory: String
        var tableID: UInt32
        var version: UInt64

        /// The key of a table source; nil for any other (a subquery, a join: never remembered).
        init?(_ plan: QueryExecutor.SourcePlan) {
            guard case .table(let snapshot, _) = plan else { return nil }
            directory = snapshot.directory
            tableID = snapshot.schema.tableID
            version = snapshot.schema.version
        }
    }

    /// A SELECT without aggregates over a table, its select list plain columns and its ORDER
    /// BY plain columns or positions.
    struct ProjectionPlan {
        var bound: [BoundExpression]
        var names: [String]
        var orderKeys: [RowOperations.SortKey]
        /// ORDER BY terms that are not output columns, evaluated after the list.
        var hidden: [BoundExpression]
        /// Columns the list and the ORDER BY read (the predicate's are added per execution).
        var needed: Set<Int>
    }

    /// A LATEST ON whose select list, keys and ORDER BY are plain columns of the table.
    struct LatestPlan {
        var keys: [BoundExpression]
        var boundItems: [BoundExpression]
        /// Columns the select list, the keys, the ORDER BY and the timestamp need (the
        /// predicate's are added per execution: its bound form holds parameter values).
        var needed: Set<Int>
        var names: [String]
        /// Set when the statement is a point lookup: its executions skip the general LATEST ON.
        var point: PointPlan? = nil
    }

    /// A LATEST ON of one SYMBOL key whose WHERE is that key equal to one value (a parameter
    /// or a literal), that neither orders, limits nor de-duplicates, its select list plain
    /// columns: at most one row, the key's newest, read through the key's postings with the
    /// outputs taken straight from it (`QueryExecutor.runPoint`).
    struct PointPlan {
        var keyColumn: Int
        /// The schema column of each output.
        var outputs: [Int]
        var columns: [QueryResult.Column]
        var timestampOutput: Int?
        /// The columns read (the outputs and the key), ascending.
        var needed: [Int]
    }
}
