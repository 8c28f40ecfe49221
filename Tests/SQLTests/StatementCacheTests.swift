// Statements kept by their text: parsed once, described once per schema generation, and a
// schema change (ALTER, DROP and re-CREATE) is seen by the next describe at once.
import SQL
import Storage
import Testing
import TestSupport

@Test func aDescriptionIsReusedUntilASchemaChanges() async throws {
    let (directory, engine) = try makeTestEngine("sundial-statement-cache")
    defer { withExtendedLifetime(directory) {} }
    _ = try await engine.execute("CREATE TABLE t (ts TIMESTAMP, a INT) TIMESTAMP(ts)")
    let sql = "SELECT * FROM t WHERE a > $1"

    func describe() async throws -> StatementDescription {
        let prepared = try await engine.prepare(sql, parameterTypes: [])
        #expect(prepared.statements.count == 1 && prepared.parameterCount == 1)
        return try #require(prepared.description)
    }
    let before = engine.statementCacheCounts
    let first = try await describe()
    #expect(first.columns?.map(\.name) == ["ts", "a"])
    #expect(first.parameterTypes == [.int])
    _ = try await describe()
    let after = engine.statementCacheCounts
    #expect(after.hits == before.hits + 1 && after.misses == before.misses + 1)

    _ = try await engine.execute("ALTER TABLE t ADD COLUMN b DOUBLE")
    #expect(try await describe().columns?.map(\.name) == ["ts", "a", "b"])

    _ = try await engine.execute("DROP TABLE t")
    _ = try await engine.execute("CREATE TABLE t (ts TIMESTAMP, a DOUBLE) TIMESTAMP(ts)")
    let recreated = try await describe()
    #expect(recreated.columns?.map(\.type) == [.timestamp, .double])
    #expect(recreated.parameterTypes == [.double])
}

@Test func declaredParameterTypesAreAPartOfTheKey() async throws {
    let (directory, engine) = try makeTestEngine("sundial-statement-cache")
    defer { withExtendedLifetime(directory) {} }
    let sql = "SELECT $1 AS v"
    let untyped = try #require(try await engine.prepare(sql, parameterTypes: []).description)
    let typed = try #require(try await engine.prepare(sql, parameterTypes: [.long]).description)
    #expect(typed.parameterTypes == [.long])
    #expect(typed.columns?.first?.type == .long)
    #expect(untyped.parameterTypes == [nil])
}

@Test func aFullCacheDropsTheLeastRecentlyUsedHalf() async throws {
    var configuration = SQLConfiguration()
    configuration.statementCacheSize = 4
    let (directory, engine) = try makeTestEngine("sundial-statement-cache", sql: configuration)
    defer { withExtendedLifetime(directory) {} }
    func isCached(_ sql: String) async throws -> Bool {
        let before = engine.statementCacheCounts.hits
        _ = try await engine.parse(sql)
        return engine.statementCacheCounts.hits > before
    }
    for sql in ["SELECT 'a'", "SELECT 'b'", "SELECT 'c'", "SELECT 'd'"] { _ = try await engine.parse(sql) }
    #expect(try await isCached("SELECT 'a'"))
    _ = try await engine.parse("SELECT 'e'")  // full: keeps the two used last ('a' and 'd'), then adds 'e'
    #expect(try await isCached("SELECT 'a'"))
    #expect(try await isCached("SELECT 'd'"))
    #expect(try await !isCached("SELECT 'b'"))
    #expect(try await isCached("SELECT 'e'"))
}
