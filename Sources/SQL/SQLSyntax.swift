import Storage

/// The parsed form of statements, before names and types are resolved. Every node keeps the
/// character position errors point at.
package indirect enum SQLStatement: Sendable {
    case query(SQLQuery)
    case createTable(CreateTable)
    case insert(Insert)
    case update(Update)
    case dropTable(name: String, ifExists: Bool, position: Int)
    /// QuestDB's `DROP ALL TABLES` (also `DROP ALL`).
    case dropAllTables(position: Int)
    /// `CHECKPOINT CREATE` / `CHECKPOINT RELEASE`: backup mode (decision 0019).
    case checkpoint(create: Bool, position: Int)
    /// `CANCEL QUERY id`: stops a running statement (ids from `query_activity()`).
    case cancelQuery(id: Int64, position: Int)
    case truncateTable(name: String, position: Int)
    case renameTable(from: String, to: String, position: Int)
    case alterTable(name: String, AlterTable, position: Int)
    /// `VACUUM TABLE t` and `REINDEX TABLE t [COLUMN c] … LOCK EXCLUSIVE`: node-local upkeep
    /// with nothing to do here (no column versions to purge; SYMBOL postings are built per
    /// query), answered once the table (and column) are checked.
    case tableUpkeep(verb: String, table: String, column: (name: String, position: Int)?, position: Int)
    case showTables
    case showColumns(table: String, position: Int)
    case showCreateTable(table: String, position: Int)
    case explain(SQLQuery)
    /// `DECLARE name CURSOR FOR query`: the protocol layer keeps the cursor (PG wire).
    case declareCursor(name: String, query: SQLQuery)
    /// `SET`, `SHOW name`, `BEGIN`, `COMMIT`, `ROLLBACK` and the like: session statements the
    /// protocol layer answers (REST accepts them and does nothing).
    case session(SessionCommand)

    /// Whether the statement changes data or structure (refused on a read-only node).
    package var isWrite: Bool {
        switch self {
        case .query, .showTables, .showColumns, .showCreateTable, .explain, .session, .declareCursor: false
        // Node-local maintenance: a replica resumes its own copy of a table (decision 0018).
        case .alterTable(_, .resumeWAL, _), .alterTable(_, .suspendWAL, _), .checkpoint, .cancelQuery, .tableUpkeep: false
        case .createTable, .insert, .update, .dropTable, .dropAllTables, .truncateTable, .renameTable, .alterTable: true
        }
    }

    /// The statement's leading verb, for messages such as "cannot execute INSERT …".
    package var verb: String {
        switch self {
        case .query, .explain: "SELECT"
        case .createTable: "CREATE TABLE"
        case .insert: "INSERT"
        case .update: "UPDATE"
        case .dropTable, .dropAllTables: "DROP TABLE"
        case .checkpoint: "CHECKPOINT"
        case .tableUpkeep(let verb, _, _, _): verb
        case .cancelQuery: "CANCEL QUERY"
        case .truncateTable: "TRUNCATE"
        case .renameTable: "RENAME TABLE"
        case .alterTable: "ALTER TABLE"
        case .showTables, .showColumns, .showCreateTable: "SHOW"
        case .session(let command): command.tag
        case .declareCursor: "DECLARE CURSOR"
        }
    }
}

/// A session or transaction statement. Settings are per connection, so the protocol that owns
/// the connection applies them; the engine only answers `SHOW` of the fixed ones.
package enum SessionCommand: Sendable, Equatable {
    /// `SET [SESSION|LOCAL] name {=|TO} value`, `SET TIME ZONE value`: name lower-cased.
    case set(name: String, value: String)
    /// `SHOW name` (`SHOW TRANSACTION ISOLATION LEVEL` is `transaction_isolation`).
    case show(name: String)
    /// `RESET name`, `RESET ALL` (nil).
    case reset(name: String?)
    case begin, commit, rollback
    case discard
    /// `DEALLOCATE [PREPARE] name|ALL` (nil: all).
    case deallocate(name: String?)
    /// `FETCH [FORWARD|NEXT] [count|ALL] [FROM|IN] cursor` (nil count: all).
    case fetch(cursor: String, count: Int?)
    /// `CLOSE cursor|ALL` (nil: all).
    case closeCursor(String?)
    /// `VACUUM`, `CHECKPOINT`, `CLOSE`, `UNLISTEN`: accepted, nothing to do.
    case other(tag: String)

    /// PostgreSQL's CommandComplete tag for the statement.
    package var tag: String {
        switch self {
        case .set: "SET"
        case .show: "SHOW"
        case .reset: "RESET"
        case .begin: "BEGIN"
        case .commit: "COMMIT"
        case .rollback: "ROLLBACK"
        case .discard: "DISCARD ALL"
        case .deallocate: "DEALLOCATE"
        case .fetch: "FETCH"
        case .closeCursor: "CLOSE CURSOR"
        case .other(let tag): tag
        }
    }
}

/// A query: a SELECT, or set operations over queries, with optional `WITH` names.
package indirect enum SQLQuery: Sendable {
    case select(SelectQuery)
    case setOperation(SetOperator, SQLQuery, SQLQuery, position: Int)
    case with([(name: String, query: SQLQuery)], SQLQuery)
    /// ORDER BY / LIMIT written after a set operation: they apply to its whole result.
    case ordered(SQLQuery, [OrderItem], Limit?, position: Int)
    /// `source PIVOT (…)`: rows of `source` turned into columns.
    case pivot(SQLQuery, Pivot)
    /// `(subquery) timestamp(col)`: the subquery's rows with `col` as their designated
    /// timestamp (QuestDB's way to SAMPLE BY or ASOF-join a derived table).
    case designated(SQLQuery, column: String, position: Int)
}

/// QuestDB's `PIVOT (agg [AS a], … FOR col IN (v [AS a], … | SELECT …) [col IN (…)]… [GROUP BY …])`.
package struct Pivot: Sendable {
    struct Aggregate: Sendable {
        var expression: SQLExpression
        var alias: String?
        /// The expression as written (tokens joined), for column names like `2000_sum(pop)`.
        var text: String
    }

    enum Values: Sendable {
        case list([(value: SQLExpression, alias: String?)])
        case query(SQLQuery)
    }

    struct ForClause: Sendable {
        var column: SQLExpression
        var values: Values
    }

    var aggregates: [Aggregate]
    var fors: [ForClause]
    var groupBy: [SQLExpression]
    var position: Int
}

package enum SetOperator: Sendable {
    case union, unionAll, except, intersect
}

package struct SelectQuery: Sendable {
    package struct Item: Sendable {
        var expression: SQLExpression
        var alias: String?
    }

    var distinct = false
    var items: [Item] = []
    var from: FromSource?
    var whereClause: SQLExpression?
    var latestOn: LatestOn?
    var sampleBy: SampleBy?
    var groupBy: [SQLExpression] = []
    var having: SQLExpression?
    var orderBy: [OrderItem] = []
    var limit: Limit?
    var position = 0
}

package indirect enum FromSource: Sendable {
    case table(name: String, alias: String?, position: Int)
    case subquery(SQLQuery, alias: String?, position: Int)
    case function(name: String, arguments: [SQLExpression], alias: String?, position: Int)
    case join(Join)
}

/// `left <kind> JOIN right [ON …] [TOLERANCE …]`.
package struct Join: Sendable {
    package enum Kind: Sendable, Equatable {
        case inner, left, cross, asOf, lessThan
        /// A full ASOF join: every row of either side, with the other side's prevailing row.
        case splice
    }

    var left: FromSource
    var kind: Kind
    var right: FromSource
    /// The ON condition; `ON (a, b)` becomes `left.a = right.a AND left.b = right.b` when bound.
    var condition: SQLExpression?
    /// Column names of `ON (a, b)`.
    var sharedColumns: [String] = []
    /// `JOIN LATERAL (subquery)`: the subquery runs once per left row, seeing its columns.
    var lateral = false
    /// ASOF/LT: the most the right row may lag the left one, in µs.
    var toleranceMicros: Int64?
    var position: Int
}

package struct LatestOn: Sendable {
    var timestamp: SQLExpression
    var partitionBy: [SQLExpression]
}

package struct SampleBy: Sendable {
    package enum Fill: Sendable, Equatable {
        case none, null, previous, linear
        case value(SQLExpression)

        package static func == (lhs: Fill, rhs: Fill) -> Bool {
            switch (lhs, rhs) {
            case (.none, .none), (.null, .null), (.previous, .previous), (.linear, .linear): true
            default: false
            }
        }
    }

    package enum Alignment: Sendable {
        case calendar(timeZone: String?, offset: String?)
        case firstObservation
    }

    var count: Int64
    var unit: TimeUnit
    var from: SQLExpression?
    var to: SQLExpression?
    var fill: [Fill] = []
    var alignment: Alignment = .calendar(timeZone: nil, offset: nil)
    var position: Int
}

/// Units of `SAMPLE BY`, `dateadd` and interval modifiers.
package enum TimeUnit: Sendable, Equatable {
    case nanosecond, microsecond, millisecond, second, minute, hour, day, week, month, year

    init?(letter: String) {
        switch letter {
        case "n": self = .nanosecond
        case "U", "u": self = .microsecond
        case "T": self = .millisecond
        case "s": self = .second
        case "m": self = .minute
        case "h": self = .hour
        case "d": self = .day
        case "w": self = .week
        case "M": self = .month
        case "y": self = .year
        default: return nil
        }
    }

    /// Fixed length in µs; `nil` for months and years, whose length varies.
    var fixedMicros: Int64? {
        switch self {
        case .nanosecond: 0
        case .microsecond: 1
        case .millisecond: 1000
        case .second: 1_000_000
        case .minute: 60_000_000
        case .hour: 3_600_000_000
        case .day: 86_400_000_000
        case .week: 604_800_000_000
        case .month, .year: nil
        }
    }
}

/// `OVER (…)` of a window call: partitions, order, frame, and `IGNORE NULLS` (written before
/// OVER). Named windows (`OVER w`, `WINDOW w AS (…)`) are resolved by the parser.
package struct WindowSpec: Sendable {
    var partitionBy: [SQLExpression] = []
    var orderBy: [OrderItem] = []
    /// nil: the default frame (the whole partition, or up to the last peer with ORDER BY).
    var frame: WindowFrame?
    var ignoreNulls = false
    /// While parsing: the named window this one refers to (`OVER w` or `OVER (w …)`).
    var base: (name: String, position: Int)?
}

/// `ROWS|RANGE BETWEEN start AND end [EXCLUDE CURRENT ROW]` of a window.
package struct WindowFrame: Sendable, Equatable {
    package enum Unit: Sendable, Equatable {
        /// Offsets count rows.
        case rows
        /// Offsets are distances in the single ORDER BY key's values (µs for time units);
        /// CURRENT ROW takes the row's peers along.
        case range
    }

    package enum Bound: Sendable, Equatable {
        case unboundedPreceding
        case preceding(Int64)
        case currentRow
        case following(Int64)
        case unboundedFollowing

        var hasOffset: Bool {
            switch self {
            case .preceding, .following: true
            default: false
            }
        }
    }

    var unit: Unit = .rows
    var start: Bound
    var end: Bound
    var excludeCurrentRow = false
    /// RANGE offsets given with a time unit (`'5' MINUTE`): µs, for a TIMESTAMP key.
    var timeUnits = false
}

package struct OrderItem: Sendable {
    var expression: SQLExpression
    var descending: Bool
}

/// QuestDB's `LIMIT n`, `LIMIT -n` (last n) and `LIMIT m, n` (rows m+1 … n).
package struct Limit: Sendable {
    var first: SQLExpression
    var second: SQLExpression?
}

/// `TTL n HOURS|DAYS|WEEKS|MONTHS|YEARS` (also `H`, `D`, `W`, `M`, `Y`, and `2w` written as one word).
package struct TTLClause: Sendable {
    var value: Int32
    var unit: TableTTL.Unit
    var position: Int
}

package struct CreateTable: Sendable {
    package struct Column: Sendable {
        var name: String
        var type: ColumnTypeName
        var position: Int
    }

    var name: String
    var ifNotExists: Bool
    var columns: [Column]
    var asQuery: SQLQuery?
    /// `CREATE TABLE t (LIKE source)`: the source's structure, no rows.
    var like: (name: String, position: Int)?
    var timestamp: (name: String, position: Int)?
    var partitionBy: String?
    /// `TTL n unit` (n = 0: none).
    var ttl: TTLClause?
    var dedupKeys: [(name: String, position: Int)]
    var position: Int
    var namePosition: Int

    /// `CREATE TABLE … AS (SELECT …)`.
    package var isAsSelect: Bool { asQuery != nil }
}

/// A type as written in DDL or a cast, resolved later.
package struct ColumnTypeName: Sendable {
    var name: String
    /// `geohash(5c)`, `decimal(p, s)`: the text between the parentheses.
    var parameter: String?
    var arrayDimensions: Int
    var position: Int
}

package struct Insert: Sendable {
    var table: String
    var columns: [(name: String, position: Int)]?
    var rows: [[SQLExpression]]
    var query: SQLQuery?
    var position: Int

    /// Rows of `INSERT … VALUES`; nil for `INSERT … SELECT`.
    package var valuesRowCount: Int? { query == nil ? rows.count : nil }
}

/// `UPDATE t [[AS] alias] SET col = expr, … [FROM source] [WHERE …]`.
package struct Update: Sendable {
    var table: String
    var alias: String?
    var assignments: [(column: String, value: SQLExpression, position: Int)]
    /// `FROM …`: other rows the SET values and WHERE may read (a join with the table).
    var from: FromSource?
    var whereClause: SQLExpression?
    var position: Int
}

package enum AlterTable: Sendable {
    case addColumns([CreateTable.Column], ifNotExists: Bool)
    case dropColumns([(name: String, position: Int)])
    case renameColumn(from: String, to: String, position: Int)
    /// `DROP`, `DETACH` or `ATTACH PARTITION LIST …` / `… WHERE …` (ATTACH takes a list only).
    case partitions(PartitionAction, PartitionSelection)
    /// `SET TTL n unit`: drops partitions once they are older than that (0: never).
    case setTTL(TTLClause)
    /// `RESUME WAL [FROM TXN n]`: a suspended table replays its WAL records and takes writes again.
    case resumeWAL(fromTxn: UInt64?)
    /// `SUSPEND WAL [WITH code, 'message']`: this node stops applying the table until RESUME.
    case suspendWAL(reason: String?)
    /// `SQUASH PARTITIONS`: partitions split into parts become one part each.
    case squashPartitions
    /// `DEDUP ENABLE UPSERT KEYS(…)`, or `DEDUP DISABLE` (nil).
    case dedup(keys: [(name: String, position: Int)]?)
    /// `ALTER COLUMN c ADD/DROP INDEX`, `SYMBOL CAPACITY n`, `CACHE`/`NOCACHE`: hints; the
    /// column must exist (and be a SYMBOL for an index).
    case columnHint((name: String, position: Int), indexed: Bool)
    /// `ALTER COLUMN c TYPE t`: the stored values are converted as by CAST.
    case changeColumnType((name: String, position: Int), ColumnTypeName)
    /// Accepted for compatibility; no effect (`SET PARAM`, `SET TYPE`).
    case noOp
}

package enum PartitionAction: String, Sendable {
    case drop = "DROP", detach = "DETACH", attach = "ATTACH"
}

/// Which partitions a partition statement names: partition names (`'2024-01-01'`), or the
/// partitions whose whole time range satisfies a condition on the designated timestamp.
package enum PartitionSelection: Sendable {
    case list([SQLExpression])
    case matching(SQLExpression)
}

/// An expression as written.
package struct SQLExpression: Sendable {
    package indirect enum Kind: Sendable {
        case column(qualifier: String?, name: String)
        case star(qualifier: String?)
        case null
        case boolean(Bool)
        case integer(String)
        case decimal(String)
        case string(String)
        /// `$1`, `?`: a bind parameter (1-based).
        case parameter(Int)
        case unary(String, SQLExpression)
        case binary(String, SQLExpression, SQLExpression)
        case function(name: String, arguments: [SQLExpression], distinct: Bool)
        case cast(SQLExpression, ColumnTypeName)
        case isNull(SQLExpression, negated: Bool)
        case inList(SQLExpression, [SQLExpression], negated: Bool)
        case between(SQLExpression, SQLExpression, SQLExpression, negated: Bool)
        case like(SQLExpression, SQLExpression, caseInsensitive: Bool, negated: Bool)
        case caseWhen(operand: SQLExpression?, branches: [(SQLExpression, SQLExpression)], otherwise: SQLExpression?)
        case subquery(SQLQuery)
        /// `f(args) OVER (PARTITION BY … ORDER BY … [ROWS BETWEEN … AND …])`.
        case window(name: String, arguments: [SQLExpression], spec: WindowSpec)
    }

    var kind: Kind
    var position: Int

    init(_ kind: Kind, at position: Int) {
        self.kind = kind
        self.position = position
    }
}
