// Statements that read nothing run where they are asked for instead of on a query worker
// (decision 0038): which ones qualify, and that they answer the same either way.
@testable import SQL
import Storage
import Testing
import TestSupport

@Suite struct InPlaceStatementsTests {
    static func query(_ sql: String) throws -> SQLQuery {
        guard case .query(let query) = try SQLParser.parseOne(sql) else { throw SQLError(.syntax, "not a query: \(sql)") }
        return query
    }

    @Test(arguments: [
        ("SELECT 1", true),
        ("select version()", true),
        ("SELECT current_user, current_database(), current_schema(), pg_is_in_recovery()", true),
        ("SELECT now() AS t, 1 + 2 * 3, 'a' || 'b', CAST('2024-01-01' AS TIMESTAMP)", true),
        ("SELECT CASE WHEN 1 < 2 THEN 'y' ELSE 'n' END, 3 BETWEEN 1 AND 5, 4 IN (1, 4), NULL IS NULL", true),
        ("SELECT $1::int, $2", true),
        ("SELECT 1 WHERE 1 = 1 ORDER BY 1 LIMIT 1", true),
        // Reads a table, a table function or a subquery: a worker.
        ("SELECT 1 FROM t", false),
        ("SELECT * FROM long_sequence(3)", false),
        ("SELECT (SELECT 1)", false),
        ("SELECT 1 UNION ALL SELECT 2", false),
        // Functions not known to answer at once, aggregates, windows, patterns.
        ("SELECT rnd_str(1000000, 1000000, 1000000, 0)", false),
        ("SELECT count(*)", false),
        ("SELECT 'abc' LIKE 'a%'", false),
        ("SELECT row_number() OVER ()", false),
        ("SELECT missing_column", false),
    ])
    func whichStatementsQualify(sql: String, inPlace: Bool) throws {
        #expect(InPlaceStatements.runsInPlace(try Self.query(sql), parameters: [.integer(1), .text("x")]) == inPlace, "\(sql)")
    }

    @Test func largeStatementsAndParametersGoToAWorker() throws {
        let terms = (0..<InPlaceStatements.maxNodes).map { "\($0)" }.joined(separator: " + ")
        #expect(!InPlaceStatements.runsInPlace(try Self.query("SELECT \(terms)"), parameters: []))
        #expect(InPlaceStatements.runsInPlace(try Self.query("SELECT 1 + 2 + 3"), parameters: []))

        let select = try Self.query("SELECT $1")
        let small = String(repeating: "x", count: InPlaceStatements.maxParameterBytes)
        #expect(InPlaceStatements.runsInPlace(select, parameters: [.text(small)]))
        #expect(!InPlaceStatements.runsInPlace(select, parameters: [.text(small + "x")]))
    }

    @Test func inPlaceStatementsAnswerWithoutAWorkerAndTheOthersWithOne() async throws {
        let (directory, engine) = try makeTestEngine("sundial-in-place")
        defer { withExtendedLifetime(directory) {} }
        let context = engine.makeContext(text: "test")

        func rows(_ sql: String, _ parameters: [SQLValue] = []) async throws -> (values: [[SQLValue]], jobs: Int) {
            let before = engine.workerJobs
            let rendered = try await engine.execute(
                try SQLParser.parseOne(sql), parameters: parameters, parameterTypes: parameters.map { _ in nil }, context: context
            ) { result in (0..<result.rowCount).map { row in result.columns.indices.map { result.value(row: row, column: $0) } } }
            guard case .rows(let values) = rendered else { throw SQLError(.syntax, "no rows from \(sql)") }
            return (values, engine.workerJobs - before)
        }

        let constant = try await rows("SELECT 1 + 1 AS two, $1 AS p, current_user", [.text("hello")])
        #expect(constant.jobs == 0)
        #expect(constant.values == [[.integer(2), .text("hello"), .text("admin")]])

        let sequence = try await rows("SELECT x FROM long_sequence(2)")
        #expect(sequence.jobs == 1)
        #expect(sequence.values == [[.integer(1)], [.integer(2)]])

        // An error in place is the same error a worker gives.
        await #expect(throws: SQLError.self) { _ = try await rows("SELECT 1 / 0 + missing") }
    }
}
