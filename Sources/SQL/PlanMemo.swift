import Storage
import Synchronization

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
    private let latest = PlainMutex<LatestPlan?>(nil)
    private let projection = PlainMutex<ProjectionPlan?>(nil)

    package init() {}

    /// The remembered plan of a LATEST ON over `key`'s table, if any.
    func latestPlan(for key: SchemaKey) -> LatestPlan? {
        latest.withLock { plan in plan.flatMap { $0.key == key ? $0 : nil } }
    }

    /// Whether a LATEST ON plan is remembered (for tests).
    var remembersLatestPlan: Bool { latest.withLock { $0 != nil } }

    /// The remembered plan of a plain SELECT over `key`'s table, if any.
    func projectionPlan(for key: SchemaKey) -> ProjectionPlan? {
        projection.withLock { plan in plan.flatMap { $0.key == key ? $0 : nil } }
    }

    func remember(_ plan: ProjectionPlan) {
        projection.withLock { $0 = plan }
    }

    /// Whether a plain SELECT's plan is remembered (for tests).
    var remembersProjectionPlan: Bool { projection.withLock { $0 != nil } }

    func remember(_ plan: LatestPlan) {
        latest.withLock { $0 = plan }
    }

    /// A table's schema version in one storage engine (the directory tells engines of one
    /// process apart, as tests run several).
    struct SchemaKey: Equatable {
        var directory: String
        var tableID: UInt32
        var version: UInt64

        init(_ snapshot: TableSnapshot) {
            directory = snapshot.directory
            tableID = snapshot.schema.tableID
            version = snapshot.schema.version
        }
    }

    /// A SELECT without aggregates over a table, its select list plain columns and its ORDER
    /// BY plain columns or positions.
    struct ProjectionPlan: @unchecked Sendable {  // immutable values only
        /// Nil for a plan made without a memo (never remembered).
        var key: SchemaKey?
        var bound: [BoundExpression]
        var names: [String]
        var orderKeys: [RowOperations.SortKey]
        /// ORDER BY terms that are not output columns, evaluated after the list.
        var hidden: [BoundExpression]
        /// Columns the list and the ORDER BY read (the predicate's are added per execution).
        var needed: Set<Int>
    }

    /// A LATEST ON whose select list, keys and ORDER BY are plain columns of the table.
    struct LatestPlan: @unchecked Sendable {  // immutable values only (BoundExpression is not marked)
        var key: SchemaKey
        var keys: [BoundExpression]
        var boundItems: [BoundExpression]
        /// Columns the select list, the keys, the ORDER BY and the timestamp need (the
        /// predicate's are added per execution: its bound form holds parameter values).
        var needed: Set<Int>
        var names: [String]
    }
}
