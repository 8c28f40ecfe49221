// RELIABILITY I20: a SYMBOL column's dictionary lives in memory, so its distinct values are
// capped (`cairo.max.symbol.values`); a write past the cap is refused whole, before the WAL.
import SQL
import Storage
import Testing
import TestSupport

@Test func aSymbolColumnRefusesNewValuesPastItsLimit() async throws {
    var storage = StorageConfiguration()
    storage.maxSymbolValues = 4
    let (directory, engine) = try makeTestEngine("sundial-symbol-limit", storage: storage)
    defer { withExtendedLifetime(directory) {} }
    _ = try await engine.execute("CREATE TABLE s (ts TIMESTAMP, k SYMBOL, v LONG) TIMESTAMP(ts) PARTITION BY DAY")
    _ = try await engine.execute("INSERT INTO s VALUES ('2024-01-01', 'a', 1), ('2024-01-01', 'b', 2), ('2024-01-01', 'c', 3)")
    // Known values and NULLs never count; the fourth distinct value still fits.
    _ = try await engine.execute("INSERT INTO s VALUES ('2024-01-02', 'a', 4), ('2024-01-02', NULL, 5), ('2024-01-02', 'd', 6)")
    await #expect(throws: SQLError(
        .limitExceeded,
        "symbol column k of table s would hold more than 4 distinct values (it has 4, the rows add 1); raise cairo.max.symbol.values or use a VARCHAR column"
    )) {
        _ = try await engine.execute("INSERT INTO s VALUES ('2024-01-03', 'b', 7), ('2024-01-03', 'e', 8)")
    }
    guard case .rows(let result) = try await engine.execute("SELECT count(), count_distinct(k), max(v) FROM s") else {
        Issue.record("a query returns rows")
        return
    }
    #expect(result.textRows() == [["6", "4", "6"]])  // the refused INSERT wrote nothing, not even 'b'
    _ = try await engine.execute("INSERT INTO s VALUES ('2024-01-03', 'b', 7)")
}
