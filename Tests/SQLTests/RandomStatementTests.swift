// Random statements built from SQL fragments: each one either runs or fails with an SQLError,
// never traps (overflows, out-of-range indexes, bad ranges) and never hangs.
import SQL
import Testing

private let values = [
    "x", "v", "ts", "k", "1", "-1", "0", "NULL", "9223372036854775807", "-9223372036854775807", "1.5", "1e308", "'a'",
    "'2024-01-01'", "cast(v AS byte)", "v::timestamp", "k::int", "dateadd('y', 9223372036854775807, ts)",
    "dateadd('d', -9223372036854775807, ts)", "timestamp_floor('1M', ts)", "timestamp_floor('999999999999999d', ts)",
    "substring(k, -5, 99999999999)", "abs(v)", "round(v, 400)", "power(2, 5000)", "length(k)", "v % 0", "v / 0",
    "CASE WHEN v > 3 THEN k ELSE NULL END", "coalesce(k, 'z')", "datediff('M', ts, 0::timestamp)",
]
private let operators = ["+", "-", "*", "/", "%", "=", "<", ">=", "!=", "||", "AND", "OR"]
private let predicates = [
    "v > 3", "k = 'k1'", "k IN ('k1', 'k9', NULL)", "ts IN '1970-01-02'", "ts IN '1970;1d;1M;3'", "ts IN '2024;-999999999999y'",
    "ts BETWEEN 0 AND 9223372036854775807", "k LIKE '%1'", "k ~ 'k[0-9]'", "NOT v < 0", "v IS NULL", "ts < '1970-01-02T10'",
]

@Test func randomStatementsNeverTrap() async throws {
    let fixture = try LogicFixture(parallel: true)
    _ = try await fixture.sql.execute(
        "CREATE TABLE t (ts TIMESTAMP, k SYMBOL, v LONG) TIMESTAMP(ts) PARTITION BY DAY")
    _ = try await fixture.sql.execute(
        "INSERT INTO t SELECT cast(x * 3600000000 AS timestamp), 'k' || (x % 3), x FROM long_sequence(50)")
    var generator = SplitMix(seed: 20261125)
    func pick(_ list: [String]) -> String { list[Int(generator.next() % UInt64(list.count))] }
    func expression() -> String {
        generator.next() % 3 == 0 ? "\(pick(values)) \(pick(operators)) \(pick(values))" : pick(values)
    }
    var succeeded = 0
    for _ in 0..<1200 {
        var sql = "SELECT " + (0...(generator.next() % 3)).map { _ in expression() }.joined(separator: ", ")
        let shape = generator.next() % 8
        switch shape {
        case 0: sql += ", count()"
        case 1: sql = "SELECT ts, count(), max(v) FROM t"
        case 2: sql += ", row_number() OVER (PARTITION BY k ORDER BY v DESC), lag(v, 9999) OVER ()"
        default: break
        }
        sql += generator.next() % 4 == 0 ? " FROM t t1 ASOF JOIN t t2 ON (k)" : " FROM t"
        if generator.next() % 2 == 0 { sql += " WHERE " + pick(predicates) }
        if shape == 1 { sql += " SAMPLE BY " + pick(["1h", "1M", "7d", "999999999d"]) + pick(["", " FILL(PREV)", " FILL(LINEAR)", " FILL(NULL)"]) }
        if generator.next() % 3 == 0 { sql += " ORDER BY 1" + pick(["", " DESC"]) }
        if generator.next() % 3 == 0 { sql += " LIMIT " + pick(["3", "-3", "2, 5", "-9223372036854775807", "9223372036854775807"]) }
        do {
            _ = try await fixture.sql.execute(sql)
            succeeded += 1
        } catch {
            #expect(!error.message.isEmpty, "empty message for: \(sql)")
        }
    }
    // Most statements are valid; if few were, the generator would be testing only the binder.
    #expect(succeeded > 300)
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
