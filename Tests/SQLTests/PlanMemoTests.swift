// A prepared statement's executions share the parts of its plan that follow from its text
// and the table's schema (decision 0039): what is remembered, and that a changed table or
// new parameter values are never answered from it.
@testable import SQL
import Storage
import Testing
import TestSupport

@Suite struct PlanMemoTests {
    static let setup = [
        "CREATE TABLE t (sym SYMBOL, v LONG, ts TIMESTAMP) TIMESTAMP(ts) PARTITION BY DAY",
        "INSERT INTO t VALUES ('a', 1, '2024-01-01T00:00:00Z'), ('b', 2, '2024-01-01T00:00:01Z'), ('a', 3, '2024-01-02T00:00:00Z')",
    ]

    /// Runs `sql` prepared, as PG wire's Bind/Execute does: names and rows.
    static func run(_ engine: SQLEngine, _ prepared: PreparedSQL, _ parameters: [SQLValue]) async throws -> ([String], [[SQLValue]]) {
        let rendered = try await engine.execute(
            prepared.statements[0], parameters: parameters, parameterTypes: parameters.map { _ in nil },
            context: engine.makeContext(text: "test"), memo: prepared.memos[0]
        ) { result in (result.columns.map(\.name), rows(of: result)) }
        guard case .rows(let answer) = rendered else { throw SQLError(.syntax, "no rows") }
        return answer
    }

    static func engine(_ prefix: String) async throws -> (TemporaryDirectory, SQLEngine) {
        let (directory, engine) = try makeTestEngine(prefix)
        for sql in setup { _ = try await engine.execute(sql) }
        return (directory, engine)
    }

    @Test func aPointQueryIsRememberedAndFollowsSchemaChanges() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare("SELECT * FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym", parameterTypes: [nil])

        let first = try await Self.run(engine, prepared, [.text("a")])
        #expect(first.0 == ["sym", "v", "ts"])
        #expect(first.1.map { $0[1] } == [.integer(3)])
        #expect(prepared.memos[0].remembersLatestPlan)
        // Same memo, other parameter: the predicate is bound per execution.
        #expect(try await Self.run(engine, prepared, [.text("b")]).1.map { $0[1] } == [.integer(2)])

        _ = try await engine.execute("ALTER TABLE t ADD COLUMN w DOUBLE")
        let added = try await Self.run(engine, prepared, [.text("a")])
        #expect(added.0 == ["sym", "v", "ts", "w"])
        #expect(added.1.map { $0[3] } == [.null])

        _ = try await engine.execute("ALTER TABLE t RENAME COLUMN v TO volume")
        let renamed = try await Self.run(engine, prepared, [.text("a")])
        #expect(renamed.0 == ["sym", "volume", "ts", "w"])
        #expect(renamed.1.map { $0[1] } == [.integer(3)])

        _ = try await engine.execute("ALTER TABLE t DROP COLUMN w")
        #expect(try await Self.run(engine, prepared, [.text("b")]).0 == ["sym", "volume", "ts"])
    }

    @Test func itemsBoundToValuesOfTheMomentAreNotRemembered() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-values")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare(
            "SELECT sym, v + $2 AS x, ts FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym", parameterTypes: [nil, .column(.long)])

        #expect(try await Self.run(engine, prepared, [.text("a"), .integer(10)]).1.map { $0[1] } == [.integer(13)])
        #expect(try await Self.run(engine, prepared, [.text("a"), .integer(100)]).1.map { $0[1] } == [.integer(103)])
        #expect(!prepared.memos[0].remembersLatestPlan)
    }

    @Test func aDroppedAndRecreatedTableIsPlannedAfresh() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-recreate")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare("SELECT * FROM t LATEST ON ts PARTITION BY sym", parameterTypes: [])
        #expect(try await Self.run(engine, prepared, []).1.count == 2)

        _ = try await engine.execute("DROP TABLE t")
        _ = try await engine.execute("CREATE TABLE t (sym SYMBOL, ts TIMESTAMP, note VARCHAR) TIMESTAMP(ts) PARTITION BY DAY")
        _ = try await engine.execute("INSERT INTO t VALUES ('c', '2024-01-03T00:00:00Z', 'x')")
        let answer = try await Self.run(engine, prepared, [])
        #expect(answer.0 == ["sym", "ts", "note"])
        #expect(answer.1 == [[.text("c"), answer.1[0][1], .text("x")]])
    }

    @Test func aPlainSelectIsRememberedAndFollowsSchemaChanges() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-projection")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare("SELECT * FROM t WHERE sym = $1 ORDER BY ts DESC LIMIT 1", parameterTypes: [nil])

        let first = try await Self.run(engine, prepared, [.text("a")])
        #expect(first.0 == ["sym", "v", "ts"])
        #expect(first.1.map { $0[1] } == [.integer(3)])
        #expect(prepared.memos[0].remembersProjectionPlan)
        #expect(try await Self.run(engine, prepared, [.text("b")]).1.map { $0[1] } == [.integer(2)])

        _ = try await engine.execute("ALTER TABLE t ADD COLUMN w DOUBLE")
        #expect(try await Self.run(engine, prepared, [.text("a")]).0 == ["sym", "v", "ts", "w"])
        _ = try await engine.execute("ALTER TABLE t RENAME COLUMN ts TO at")
        // The ORDER BY names a column that is gone: the statement fails as when first planned.
        await #expect(throws: SQLError.self) { _ = try await Self.run(engine, prepared, [.text("a")]) }
    }

    @Test func aProjectionWithValuesOfTheMomentIsNotRemembered() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-projection-values")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare(
            "SELECT v * $1 AS x FROM t ORDER BY ts LIMIT 1", parameterTypes: [.column(.long)])
        #expect(try await Self.run(engine, prepared, [.integer(10)]).1 == [[.integer(10)]])
        #expect(try await Self.run(engine, prepared, [.integer(7)]).1 == [[.integer(7)]])
        #expect(!prepared.memos[0].remembersProjectionPlan)
    }

    /// Runs `sql` prepared and counts the worker jobs it took (0: it ran in place).
    static func runCounting(_ engine: SQLEngine, _ prepared: PreparedSQL, _ parameters: [SQLValue]) async throws -> ([[SQLValue]], Int) {
        let before = engine.workerJobs
        let rows = try await run(engine, prepared, parameters).1
        return (rows, engine.workerJobs - before)
    }

    /// The rows of `sql` run unprepared (no memo: the general LATEST ON path).
    static func general(_ engine: SQLEngine, _ sql: String) async throws -> [[SQLValue]] {
        guard case .rows(let result) = try await engine.execute(sql) else { throw SQLError(.syntax, "no rows from \(sql)") }
        return rows(of: result)
    }

    static func rows(of result: QueryResult) -> [[SQLValue]] {
        (0..<result.rowCount).map { row in result.columns.indices.map { result.value(row: row, column: $0) } }
    }

    @Test func aPointLookupAnswersAsTheGeneralPathDoes() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-point")
        defer { withExtendedLifetime(directory) {} }
        // 'c' only in the oldest partition, a NULL key in the newest.
        _ = try await engine.execute(
            "INSERT INTO t VALUES ('c', 7, '2023-12-30T00:00:00Z'), (NULL, 9, '2024-01-02T00:00:01Z'), ('b', 4, '2023-12-31T00:00:00Z')")
        let text = "SELECT ts, v, sym FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym"
        let prepared = try await engine.prepare(text, parameterTypes: [nil])
        for value in ["a", "b", "c", "absent"] {
            let literal = text.replacing("$1", with: "'\(value)'")
            let expected = try await Self.general(engine, literal)
            #expect(try await Self.run(engine, prepared, [.text(value)]).1 == expected, "sym = \(value)")
            #expect(prepared.memos[0].remembersPointPlan)
        }
        // QuestDB's `= NULL` is `IS NULL`: whatever the general path answers.
        let nullKey = try await Self.general(engine, text.replacing("$1", with: "NULL"))
        #expect(try await Self.run(engine, prepared, [.null]).1 == nullKey)
        #expect(try await Self.run(engine, prepared, [.text("a")]).1 == [[.integer(1_704_153_600_000_000), .integer(3), .text("a")]])

        // A newer row is seen at once: every execution reads the table's current snapshot.
        _ = try await engine.execute("INSERT INTO t VALUES ('a', 8, '2024-01-02T00:00:02Z')")
        #expect(try await Self.run(engine, prepared, [.text("a")]).1.map { $0[1] } == [.integer(8)])

        // Shapes that are not one key's newest row are never point lookups.
        for other in [
            "SELECT * FROM t WHERE sym = $1 AND v > 0 LATEST ON ts PARTITION BY sym",
            "SELECT * FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym LIMIT 0",
            "SELECT * FROM t WHERE sym IN ($1, 'b') LATEST ON ts PARTITION BY sym",
            "SELECT sym, v + 1 AS w FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym",
        ] {
            let statement = try await engine.prepare(other, parameterTypes: [nil])
            let literal = other.replacing("$1", with: "'a'")
            #expect(try await Self.run(engine, statement, [.text("a")]).1 == (try await Self.general(engine, literal)), "\(other)")
            #expect(!statement.memos[0].remembersPointPlan, "\(other)")
        }
    }

    @Test func aPointLookupRunsInPlaceOnlyWhileItsWorkIsInMemoryAndBounded() async throws {
        let (directory, engine) = try await Self.engine("sundial-plan-memo-in-place")
        defer { withExtendedLifetime(directory) {} }
        let prepared = try await engine.prepare("SELECT * FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym", parameterTypes: [nil])

        // The first execution plans on a worker and builds the postings of the partitions it
        // visits ('b' is in the older one: both), which the next ones use.
        #expect(try await Self.runCounting(engine, prepared, [.text("b")]).1 == 1)
        let inPlace = try await Self.runCounting(engine, prepared, [.text("a")])
        #expect(inPlace.1 == 0)
        #expect(inPlace.0.map { $0[1] } == [.integer(3)])
        #expect(try await Self.runCounting(engine, prepared, [.text("b")]) == ([[.text("b"), .integer(2), .integer(1_704_067_201_000_000)]], 0))

        // New rows in a partition make its postings stale: a worker builds them again.
        _ = try await engine.execute("INSERT INTO t VALUES ('b', 5, '2024-01-02T00:00:05Z')")
        let rebuilt = try await Self.runCounting(engine, prepared, [.text("b")])
        #expect(rebuilt.1 == 1)
        #expect(rebuilt.0.map { $0[1] } == [.integer(5)])
        #expect(try await Self.runCounting(engine, prepared, [.text("b")]).1 == 0)

        // A key whose newest row is further back than the in-place bound goes to a worker.
        let days = QueryExecutor.inPlacePartitions + 2
        let rows = (1...days).map { day in "('filler', \(day), dateadd('d', \(day), '2024-01-02T00:00:00Z'))" }
        _ = try await engine.execute("INSERT INTO t VALUES " + rows.joined(separator: ", "))
        #expect(try await Self.runCounting(engine, prepared, [.text("a")]).1 == 1)  // builds the postings
        let deep = try await Self.runCounting(engine, prepared, [.text("a")])
        #expect(deep.1 == 1)
        #expect(deep.0.map { $0[1] } == [.integer(3)])
        #expect(try await Self.runCounting(engine, prepared, [.text("filler")]).1 == 0)
    }

    @Test func withoutAPostingsCacheAPointLookupAlwaysRunsOnAWorker() async throws {
        var sql = SQLConfiguration()
        sql.symbolPostingsCacheBytes = 0
        let (directory, engine) = try makeTestEngine("sundial-plan-memo-no-postings", sql: sql)
        defer { withExtendedLifetime(directory) {} }
        for statement in Self.setup { _ = try await engine.execute(statement) }
        let prepared = try await engine.prepare("SELECT v FROM t WHERE sym = $1 LATEST ON ts PARTITION BY sym", parameterTypes: [nil])
        for _ in 0..<3 {
            let answer = try await Self.runCounting(engine, prepared, [.text("a")])
            #expect(answer == ([[.integer(3)]], 1))
        }
    }
}
