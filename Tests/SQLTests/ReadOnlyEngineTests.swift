// A read-only node (replica, fenced) refuses every writing statement with the PostgreSQL text
// and answers queries; the refusal happens before anything reaches storage.
import SQL
import Storage
import Testing
import TestSupport

@Test func aReadOnlyEngineRefusesWritesAndServesReads() async throws {
    let directory = TemporaryDirectory(prefix: "sundial-readonly")
    let layout = DataDirectory(root: directory.path)
    _ = try layout.open(initialRole: .standalone)
    let storage = try StorageEngine(layout: layout, configuration: StorageConfiguration())
    _ = try await SQLEngine(storage: storage).execute("CREATE TABLE t (a INT)")
    let replica = SQLEngine(storage: storage, isReadOnly: { true })
    for (sql, verb) in [("INSERT INTO t VALUES (1)", "INSERT"), ("CREATE TABLE u (a INT)", "CREATE TABLE"), ("DROP TABLE t", "DROP TABLE"),
                        ("ALTER TABLE t ADD COLUMN b INT", "ALTER TABLE"), ("TRUNCATE TABLE t", "TRUNCATE")] {
        await #expect(throws: SQLError(.readOnly, "cannot execute \(verb) in a read-only transaction")) {
            _ = try await replica.execute(sql)
        }
        let rendered: @Sendable (QueryResult) -> Int = { $0.rowCount }
        await #expect(throws: SQLError(.readOnly, "cannot execute \(verb) in a read-only transaction")) {
            _ = try await replica.execute(sql, render: rendered)
        }
    }
    guard case .rows(let result) = try await replica.execute("SELECT count() FROM t") else {
        Issue.record("a query must return rows")
        return
    }
    #expect(result.textRows() == [["0"]])
    #expect(storage.schema(named: "u") == nil)
}
