// Proves the time zone rules against the system's tz database: the POSIX rule of a TZif footer
// agrees with the file's transition table wherever both speak, local ↔ UTC conversion follows
// java.time at DST gaps and overlaps, and names resolve as QuestDB accepts them.
@testable import SQL
import Storage
import Testing

private let hour: Int64 = 3_600_000_000

private func instant(_ text: String) -> Int64 { TimestampText.parse(text)!.start }

@Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/London", "America/Santiago", "Asia/Tehran"])
func theFootersRuleAgreesWithTheTransitionTable(zone name: String) throws {
    let zone = try TimeZones.zone(name, at: 0)
    let tail = try #require(zone.tail, "\(name) has no POSIX rule")
    let tableEnd = try #require(zone.transitions.last)
    // Every hour of the years the table covers since 2025: the rule must give the same offset.
    var checked = 0
    var at = instant("2025-01-01T00:00:00Z")
    while at < tableEnd {
        let fromTable = ZoneRules(
            transitions: zone.transitions, offsets: zone.offsets, daylight: zone.daylight,
            initialOffset: zone.initialOffset, tail: nil
        ).offset(atUTC: at)
        #expect(tail.offset(atUTC: at).offset == fromTable, "\(name) at \(at)")
        at += hour
        checked += 1
    }
    #expect(checked > 1000 || name == "Asia/Tehran")
}

@Test func localTimesInGapsAndOverlapsResolveAsJavaTimeDoes() throws {
    let berlin = try TimeZones.zone("Europe/Berlin", at: 0)
    // 2021-03-28 02:30 does not exist in Berlin: read with the offset before, it lands at 03:30 CEST.
    #expect(berlin.utc(fromLocal: instant("2021-03-28T02:30:00Z")) == instant("2021-03-28T01:30:00Z"))
    // 2021-10-31 02:30 happens twice: the earlier instant (CEST).
    #expect(berlin.utc(fromLocal: instant("2021-10-31T02:30:00Z")) == instant("2021-10-31T00:30:00Z"))
    #expect(berlin.local(fromUTC: instant("2021-10-31T01:30:00Z")) == instant("2021-10-31T02:30:00Z"))
    // Before the first transition: local mean time; far after the table: the footer's rule.
    #expect(berlin.offset(atUTC: instant("1850-01-01T00:00:00Z")) == 3208 * 1_000_000)
    #expect(berlin.local(fromUTC: instant("2100-07-01T00:00:00Z")) == instant("2100-07-01T02:00:00Z"))
    let newYork = try TimeZones.zone("America/New_York", at: 0)
    #expect(newYork.local(fromUTC: instant("2100-01-01T00:00:00Z")) == instant("2099-12-31T19:00:00Z"))
    #expect(newYork.standardOffset(atUTC: instant("2024-07-01T00:00:00Z")) == -5 * hour)
    let sydney = try TimeZones.zone("Australia/Sydney", at: 0)
    #expect(sydney.local(fromUTC: instant("2030-04-06T16:30:00Z")) == instant("2030-04-07T02:30:00Z"))
    #expect(sydney.local(fromUTC: instant("2030-10-06T00:00:00Z")) == instant("2030-10-06T11:00:00Z"))
}

@Test func namesResolveAsQuestDBAcceptsThem() throws {
    #expect(try TimeZones.zone("+05:30", at: 0).offset(atUTC: 0) == 5 * hour + 30 * 60_000_000)
    #expect(try TimeZones.zone("-0800", at: 0).offset(atUTC: 0) == -8 * hour)
    #expect(try TimeZones.zone("UTC+3", at: 0).offset(atUTC: 0) == 3 * hour)
    #expect(try TimeZones.zone("utc", at: 0).offset(atUTC: 0) == 0)
    #expect(try TimeZones.zone("EST", at: 0).offset(atUTC: instant("2024-07-01T00:00:00Z")) == -5 * hour)
    #expect(try TimeZones.zone("PST", at: 0).offset(atUTC: instant("2024-07-01T00:00:00Z")) == -7 * hour)
    for bad in ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe", "+19:00", "", "Europe/Berlin\u{0}"] {
        #expect(throws: SQLError.self, "\(bad)") { try TimeZones.zone(bad, at: 7) }
    }
    do {
        _ = try TimeZones.zone("Nowhere/Land", at: 7)
    } catch {
        #expect(error.message == "invalid timezone: Nowhere/Land" && error.position == 7)
    }
}

@Test func posixRulesParseEveryForm() {
    #expect(PosixZoneRule.parse("CET-1CEST,M3.5.0,M10.5.0/3") != nil)
    #expect(PosixZoneRule.parse("<+0530>-5:30")?.standardOffset == 5 * hour + 30 * 60_000_000)
    #expect(PosixZoneRule.parse("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1") != nil)
    #expect(PosixZoneRule.parse("EST5EDT,J60/2,300") != nil)
    for bad in ["", "C", "CET", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0", "<+05"] {
        #expect(PosixZoneRule.parse(bad) == nil, "\(bad)")
    }
}

@Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "+03:00"])
func aCursorConvertsExactlyAsTheRulesDo(zone name: String) throws {
    let zone = try TimeZones.zone(name, at: 0)
    var cursor = ZoneCursor(zone)
    // Every 17 minutes through a table year and a year past the table (the footer's rule),
    // forwards and then backwards, so intervals are entered from both sides.
    for start in [instant("2021-01-01T00:00:00Z"), instant("2040-01-01T00:00:00Z")] {
        let steps = Array(stride(from: start, to: start + 366 * 24 * hour, by: 17 * 60_000_000))
        for at in steps + steps.reversed() {
            #expect(cursor.local(fromUTC: at) == zone.local(fromUTC: at))
            #expect(cursor.utc(fromLocal: at) == zone.utc(fromLocal: at))
            let (range, offset) = zone.interval(containing: at)
            #expect(range.contains(at) && offset == zone.offset(atUTC: at))
            #expect(zone.offset(atUTC: range.lowerBound) == offset && zone.offset(atUTC: range.upperBound - 1) == offset)
        }
    }
}

@Test func damagedZoneFilesNeverCrashTheDecoder() throws {
    // Every truncation and thousands of random byte changes of a real TZif file: decoded to
    // some rules or refused, never a crash or a hang.
    let path = "/usr/share/zoneinfo/America/New_York"
    let original = try #require(try? DurableFileBytes.read(path))
    for length in stride(from: 0, through: original.count, by: 7) {
        _ = TZif.decode(Array(original.prefix(length)))
    }
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<3_000 {
        var bytes = original
        for _ in 0..<Int.random(in: 1...8, using: &generator) {
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        }
        if let rules = TZif.decode(bytes) {
            _ = rules.offset(atUTC: 0)
            _ = rules.utc(fromLocal: 1_700_000_000_000_000)
            _ = rules.interval(containing: 4_000_000_000_000_000)
        }
    }
}

/// Reads a file whole (the test's own helper: Storage's reader is the server's).
private enum DurableFileBytes {
    struct Missing: Error {}

    static func read(_ path: String) throws -> [UInt8] {
        guard let bytes = try DurableFile.read(path, maxBytes: 1 << 20) else { throw Missing() }
        return bytes
    }
}
