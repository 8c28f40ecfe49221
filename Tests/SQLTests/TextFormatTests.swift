// Pure text pieces of the SQL layer: Java-style doubles, ISO timestamps and periods, interval
// strings, LIKE patterns, date patterns, the lexer's tokens and positions.
@testable import SQL
import Storage
import Testing

@Test(arguments: [
    (1500.0, "1500.0"), (0.001, "0.001"), (1.0E7, "1.0E7"), (1.0E-4, "1.0E-4"), (123456.789, "123456.789"),
    (-2.5, "-2.5"), (0.0, "0.0"), (9999999.0, "9999999.0"), (1.2345678E10, "1.2345678E10"),
    (Double.greatestFiniteMagnitude, "1.7976931348623157E308"), (0.1 + 0.2, "0.30000000000000004"), (100.0, "100.0"),
])
func doublesFormatLikeJava(value: Double, text: String) {
    #expect(JavaDoubleText.format(value) == text)
}

@Test func everyDoubleRoundTripsInJavasShape() {
    // Random bit patterns over the whole range and values near the plain/scientific borders.
    var generator = SystemRandomNumberGenerator()
    var values = (0..<20_000).map { _ in Double(bitPattern: generator.next()) }.filter(\.isFinite)
    values += [1e-3, 9.999999999999998e-4, 1e7, 9999999.999999998, .leastNonzeroMagnitude, -0.0, 123.0, 0.5, 1e21, 1e22, 0.1]
    for value in values {
        let text = JavaDoubleText.format(value)
        #expect(Double(text) == value, "\(value) → \(text)")
        let magnitude = abs(value)
        let scientific = text.contains("E")
        #expect(scientific == !(magnitude == 0 || (magnitude >= 1e-3 && magnitude < 1e7)), "\(value) → \(text)")
        // Java always writes a fraction digit: `1500.0`, `1.0E7`.
        let mantissa = text.split(separator: "E")[0]
        #expect(mantissa.contains(".") && !mantissa.hasSuffix("."), "\(value) → \(text)")
    }
}

@Test func jsonStringsEscapeQuotesBackslashesAndControlBytes() {
    #expect(JSONText.quoted("a\"b\\c\n\r\t\u{1}\u{7F}ü€😀") == "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u007fü€😀\"")
    #expect(JSONText.quoted("") == "\"\"")
}

@Test func timestampsFormatAcrossTheirRange() {
    #expect(TimestampText.micros(0) == "1970-01-01T00:00:00.000000Z")
    #expect(TimestampText.micros(-1) == "1969-12-31T23:59:59.999999Z")
    #expect(TimestampText.millis(1_700_000_000_123) == "2023-11-14T22:13:20.123Z")
    #expect(TimestampText.nanos(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z")
    #expect(TimestampText.micros(253_402_300_800_000_000) == "10000-01-01T00:00:00.000000Z")
    #expect(TimestampText.micros(-62_167_219_200_000_001) == "-0001-12-31T23:59:59.999999Z")
}

@Test func floatsUseTheirOwnShortestDigits() {
    #expect(JavaDoubleText.format(Float(0.1)) == "0.1")
    #expect(JavaDoubleText.format(Float(1.5)) == "1.5")
    #expect(JavaDoubleText.format(Float(3.0e10)) == "3.0E10")
}

@Test(arguments: [
    ("2024", "2024-01-01T00:00:00.000000Z", "2025-01-01T00:00:00.000000Z"),
    ("2024-02", "2024-02-01T00:00:00.000000Z", "2024-03-01T00:00:00.000000Z"),
    ("2024-02-29", "2024-02-29T00:00:00.000000Z", "2024-03-01T00:00:00.000000Z"),
    ("2024-02-29T23", "2024-02-29T23:00:00.000000Z", "2024-03-01T00:00:00.000000Z"),
    ("2024-02-29 23:59", "2024-02-29T23:59:00.000000Z", "2024-03-01T00:00:00.000000Z"),
    ("2024-02-29T23:59:59", "2024-02-29T23:59:59.000000Z", "2024-03-01T00:00:00.000000Z"),
    ("2024-02-29T23:59:59.5Z", "2024-02-29T23:59:59.500000Z", "2024-02-29T23:59:59.500001Z"),
    ("2024-02-29T23:59:59.123456789Z", "2024-02-29T23:59:59.123456Z", "2024-02-29T23:59:59.123457Z"),
    ("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:01.000000Z"),
    ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.000000Z"),
])
func isoTextsNameTheirPeriods(text: String, start: String, end: String) throws {
    let period = try #require(TimestampText.parse(text))
    #expect(TimestampText.micros(period.start) == start)
    #expect(TimestampText.micros(period.end) == end)
}

@Test(arguments: ["", "24", "2024-13", "2023-02-29", "2024-01-01T24", "2024-01-01T10:60", "2024-01-01X", "2024-01-01T10:00:00.", "abcd"])
func badIsoTextsAreRefused(text: String) {
    #expect(TimestampText.parse(text) == nil)
}

@Test func datesAndNanosFormatWithTheirPrecision() {
    #expect(TimestampText.millis(1_727_827_200_000) == "2024-10-02T00:00:00.000Z")
    #expect(TimestampText.nanos(1_000_000_001) == "1970-01-01T00:00:01.000000001Z")
    #expect(TimestampText.micros(-1) == "1969-12-31T23:59:59.999999Z")
}

@Test func intervalModifiersExtendAndRepeat() throws {
    let day: Int64 = 86_400_000_000
    let start = TimestampText.parse("2024-01-01")!.start
    #expect(try IntervalText.parse("2024-01-01;1h", at: 0) == [start..<(start + day + 3_600_000_000)])
    #expect(try IntervalText.parse("2024-01-01;1d;1d;3", at: 0).count == 3)
    #expect(try IntervalText.parse("2024-01-31;0d;1M;2", at: 0)[1].lowerBound == TimestampText.parse("2024-02-29")!.start)
    #expect(throws: SQLError.self) { try IntervalText.parse("2024-01-01;xh", at: 5) }
}

@Test(arguments: [
    ("a%", "abc", true), ("a%", "bac", false), ("%c", "abc", true), ("a_c", "abc", true), ("a_c", "ac", false),
    ("%b%", "abc", true), ("", "", true), ("%", "", true), ("a\\%", "a%", true), ("a\\%", "ab", false),
    ("%a%a%a%a%a%a%a%b", String(repeating: "a", count: 200), false),
])
func likePatterns(pattern: String, text: String, matches: Bool) {
    #expect(LikePattern(pattern, caseInsensitive: false).matches(text) == matches)
}

@Test func ilikeIgnoresCase() {
    #expect(LikePattern("HeLLo%", caseInsensitive: true).matches("hello world"))
}

@Test func datePatternsReadQuestDBFormats() {
    #expect(DatePattern("yyyy-MM-dd - HH:mm:ss").parse("2024-03-05 - 10:11:12") == TimestampText.parse("2024-03-05T10:11:12Z")!.start)
    #expect(DatePattern("dd/MM/yyyy").parse("05/03/2024") == TimestampText.parse("2024-03-05")!.start)
    #expect(DatePattern("yyyy-MM-dd'T'HH:mm:ss.SSS").parse("2024-03-05T10:11:12.345") == TimestampText.parse("2024-03-05T10:11:12.345Z")!.start)
    #expect(DatePattern("yyyy-MM-dd").parse("2024-02-30") == nil)
    #expect(DatePattern("yyyy-MM-dd").parse("2024-02-01x") == nil)
}

@Test func tokensCarryPositions() throws {
    let tokens = try SQLLexer.tokens("select \"Quoted\"\"Id\", 'it''s', 1.5e3, 10L, x::int -- comment\n/* c */ from t")
    #expect(tokens.map(\.kind) == [.word, .quotedIdentifier, .symbol, .string, .symbol, .decimal, .symbol, .integer, .symbol, .word, .symbol, .word, .word, .word, .end])
    #expect(tokens[1].text == "Quoted\"Id" && tokens[1].position == 7)
    #expect(tokens[3].text == "it's" && tokens[3].position == 21)
    #expect(tokens[12].position == 68)
}

@Test func lexerErrorsPointAtTheProblem() {
    #expect(throws: SQLError(.syntax, "unclosed quoted string", at: 7)) { try SQLLexer.tokens("select 'abc") }
    #expect(throws: SQLError(.syntax, "unterminated comment", at: 9)) { try SQLLexer.tokens("select 1 /* x") }
    #expect(throws: SQLError(.syntax, "unexpected character '#'", at: 7)) { try SQLLexer.tokens("select #") }
}

@Test func tickDateVariablesNameTheirIntervals() throws {
    // Thursday 2026-01-22 14:35:22.123456 UTC.
    let now = try #require(TimestampText.parse("2026-01-22T14:35:22.123456Z")).start
    func interval(_ text: String) throws -> (String, String) {
        let ranges = try IntervalText.parse(text, now: now, at: 0)
        return (TimestampText.micros(ranges[0].lowerBound), TimestampText.micros(ranges[0].upperBound))
    }
    #expect(try interval("$today") == ("2026-01-22T00:00:00.000000Z", "2026-01-23T00:00:00.000000Z"))
    #expect(try interval("$yesterday") == ("2026-01-21T00:00:00.000000Z", "2026-01-22T00:00:00.000000Z"))
    #expect(try interval("$Tomorrow") == ("2026-01-23T00:00:00.000000Z", "2026-01-24T00:00:00.000000Z"))
    #expect(try interval("$now - 2h..$now") == ("2026-01-22T12:35:22.123456Z", "2026-01-22T14:35:22.123457Z"))
    #expect(try interval("$today - 5bd..$today - 1bd") == ("2026-01-15T00:00:00.000000Z", "2026-01-22T00:00:00.000000Z"))
    #expect(try interval("$TODAY+1M") == ("2026-02-22T00:00:00.000000Z", "2026-02-23T00:00:00.000000Z"))
    #expect(try interval("$today..$today + 5d") == ("2026-01-22T00:00:00.000000Z", "2026-01-28T00:00:00.000000Z"))
    #expect(try interval("$now - 30m;15m") == ("2026-01-22T14:05:22.123456Z", "2026-01-22T14:20:22.123457Z"))
    // A date or variable in a zone's local time (New York is UTC−5 in January).
    #expect(try interval("2024-01-15T09:30@America/New_York") == ("2024-01-15T14:30:00.000000Z", "2024-01-15T14:31:00.000000Z"))
    #expect(try interval("$today@Asia/Tokyo") == ("2026-01-21T15:00:00.000000Z", "2026-01-22T15:00:00.000000Z"))
    #expect(try interval("2024-01-15T09:30:00;1s500T") == ("2024-01-15T09:30:00.000000Z", "2024-01-15T09:30:02.500000Z"))
    #expect(try IntervalText.parse("2024-01-15T09:30@America/New_York;6h29m", now: now, at: 0)
        == [try #require(TimestampText.parse("2024-01-15T14:30:00Z")).start..<(try #require(TimestampText.parse("2024-01-15T21:00:00Z")).start)])
    #expect(throws: SQLError.self) { try IntervalText.parse("2024-01-15@Mars/Base", now: now, at: 3) }
    #expect(try interval("$todayT09:30") == ("2026-01-22T09:30:00.000000Z", "2026-01-22T09:31:00.000000Z"))
    #expect(try interval("$today - 7dT09:30;6h29m") == ("2026-01-15T09:30:00.000000Z", "2026-01-15T16:00:00.000000Z"))
    #expect(try interval("$now - 500T") == ("2026-01-22T14:35:21.623456Z", "2026-01-22T14:35:21.623457Z"))
    for unsupported in ["$todayT9x", "$later", "$now - 2x"] {
        #expect(throws: SQLError.self, "\(unsupported)") { try IntervalText.parse(unsupported, now: now, at: 3) }
    }
    #expect(throws: SQLError.self) { try IntervalText.parse("$now..$now - 1h", now: now, at: 3) }
}

@Test func tickBracketsListsZonesAndDayFiltersExpand() throws {
    let now = try #require(TimestampText.parse("2026-01-22T14:35:22Z")).start
    func intervals(_ text: String) throws -> [String] {
        try IntervalText.parse(text, now: now, at: 0).map { TimestampText.micros($0.lowerBound) + "/" + TimestampText.micros($0.upperBound) }
    }
    // Adjacent and overlapping intervals merge.
    #expect(try intervals("2024-01-[10..12]") == ["2024-01-10T00:00:00.000000Z/2024-01-13T00:00:00.000000Z"])
    #expect(try intervals("2024-01-[10,15]") == [
        "2024-01-10T00:00:00.000000Z/2024-01-11T00:00:00.000000Z", "2024-01-15T00:00:00.000000Z/2024-01-16T00:00:00.000000Z"])
    #expect(try intervals("2024-01-15T[09:00,14:30];1h") == [
        "2024-01-15T09:00:00.000000Z/2024-01-15T10:01:00.000000Z", "2024-01-15T14:30:00.000000Z/2024-01-15T15:31:00.000000Z"])
    #expect(try intervals("2024-01-15T[09:00,09:30];1h") == ["2024-01-15T09:00:00.000000Z/2024-01-15T10:31:00.000000Z"])
    #expect(try intervals("[2024-01-15,2024-03-20]T09:30").count == 2)
    #expect(try intervals("2024-[01,06]-[10,15]").count == 4)
    #expect(try intervals("[2024-12-31,2025-01-[01..02]]") == ["2024-12-31T00:00:00.000000Z/2025-01-03T00:00:00.000000Z"])
    // January 2024 began on a Monday: its 23 workdays are 5 runs.
    let workdays = try IntervalText.parse("2024-01-[01..31]#workday", now: now, at: 0)
    #expect(workdays.count == 5 && workdays.reduce(0) { $0 + $1.count } == 23 * 86_400_000_000)
    #expect(try intervals("2024-01-[06..08]#weekend") == ["2024-01-06T00:00:00.000000Z/2024-01-08T00:00:00.000000Z"])
    #expect(try intervals("2024-01-[01..07]#Mon,Wed").count == 2)
    // NYSE hours on workdays: New York time, 14:30–21:00 UTC in January.
    let nyse = try intervals("2024-01-[01..07]T09:30@America/New_York#workday;6h29m")
    #expect(nyse.count == 5 && nyse[0] == "2024-01-01T14:30:00.000000Z/2024-01-01T21:00:00.000000Z")
    #expect(try intervals("2024-01-15T[09:30@America/New_York,08:00@Europe/London]") == [
        "2024-01-15T08:00:00.000000Z/2024-01-15T08:01:00.000000Z", "2024-01-15T14:30:00.000000Z/2024-01-15T14:31:00.000000Z"])
    #expect(try intervals("[$today, $yesterday]") == ["2026-01-21T00:00:00.000000Z/2026-01-23T00:00:00.000000Z"])
    #expect(try intervals("[$now - 2h..$now]@UTC") == ["2026-01-22T12:35:22.000000Z/2026-01-22T14:35:22.000001Z"])
    // ISO week dates: 2024's week 1 starts on Monday January 1st; 2021's on January 4th.
    #expect(try intervals("2024-W01-1") == ["2024-01-01T00:00:00.000000Z/2024-01-02T00:00:00.000000Z"])
    #expect(try intervals("2021-W01") == ["2021-01-04T00:00:00.000000Z/2021-01-11T00:00:00.000000Z"])
    #expect(try intervals("2024-W[01,03]-5T09:30;1h").count == 2)
    for bad in ["2024-W60", "2024-01-[05..01]", "2024-01-[01", "2024-01-15#funday", "2024-01-[01..20000]", "2024-[01..12]-[01..31]T[00..23]:[00..59]"] {
        #expect(throws: SQLError.self, "\(bad)") { try IntervalText.parse(bad, now: now, at: 0) }
    }
}

@Test func randomIntervalAndDecimalTextNeverCrashes() {
    // Strings built from the characters these grammars use: each parses or is refused.
    let alphabet = Array("$[]@#;.,:-+ 0123456789TWdhmsMyuTbnowtodayyesterdaytomorrowworkdayMonEurope/BerlinUTC")
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<20_000 {
        let length = Int.random(in: 0...24, using: &generator)
        let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
        _ = try? IntervalText.parse(text, now: 1_769_092_522_000_000, at: 0)
        _ = DecimalValue.parse(text, scale: Int.random(in: 0...18, using: &generator))
        _ = try? TimeZones.zone(text, at: 0)
    }
    // Structured near-misses of the TICK grammar.
    for text in ["$today..", "..$today", "[", "]", "[]", "[,]", "[..]", "2024-01-[..05]", "2024-01-[01..]", "#", "@", "@UTC", "$now;",
                 "$now;;", "2024-W", "2024-W0", "2024-W01-9", "$today-", "$today-5", "$today+bd", "[$today..$now]@", "2024-01-01@",
                 String(repeating: "[", count: 500), String(repeating: "[1,2]", count: 20)] {
        _ = try? IntervalText.parse(text, now: 0, at: 0)
    }
    // Random hour offsets of a variable range always parse to one interval of that length.
    for _ in 0..<1_000 {
        let hours = Int.random(in: 1...10_000, using: &generator)
        let ranges = try? IntervalText.parse("$now - \(hours)h..$now", now: 1_769_092_522_000_000, at: 0)
        #expect(ranges?.count == 1 && ranges.map { $0[0].upperBound - $0[0].lowerBound } == Int64(hours) * 3_600_000_000 + 1)
    }
}
