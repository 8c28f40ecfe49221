import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A time zone's UTC offsets over time: IANA tz database rules (TZif files, RFC 8536, read
/// from the system's zoneinfo directory) or a fixed offset. Offsets are µs to add to UTC to
/// get local time.
struct ZoneRules: Sendable {
    /// Instants (µs, UTC) where the offset changes, ascending; `offsets[i]` holds from `transitions[i]`.
    let transitions: [Int64]
    let offsets: [Int64]
    let daylight: [Bool]
    /// Before the first transition.
    let initialOffset: Int64
    /// After the last transition (the TZif footer), when the zone still changes offsets.
    let tail: PosixZoneRule?

    static func fixed(micros: Int64) -> ZoneRules {
        ZoneRules(transitions: [], offsets: [], daylight: [], initialOffset: micros, tail: nil)
    }

    /// The offset in force at `instant` (UTC).
    func offset(atUTC instant: Int64) -> Int64 {
        lookup(instant).offset
    }

    /// The zone's standard (non-daylight) offset at `instant`: daylight saving time removed.
    func standardOffset(atUTC instant: Int64) -> Int64 {
        let found = lookup(instant)
        if !found.daylight { return found.offset }
        if let tail, let last = transitions.last, instant >= last { return tail.standardOffset }
        var index = transitionIndex(instant)
        while index >= 0 {
            if !daylight[index] { return offsets[index] }
            index -= 1
        }
        return initialOffset
    }

    /// The UTC instant of local time `local`. A local time that happens twice (clocks turned
    /// back) takes the earlier instant; one that never happens (clocks turned forward) is read
    /// with the offset before the change, so it lands after it — as `java.time` does.
    func utc(fromLocal local: Int64) -> Int64 {
        guard local != Int64.min else { return local }
        let day = TimeArithmetic.microsPerDay
        let before = offset(atUTC: local &- day), after = offset(atUTC: local &+ day)
        if before == after { return Self.shifted(local, by: -before) }
        let candidates = [before, after].filter { offset(atUTC: local &- $0) == $0 }
        if let offset = candidates.max() { return Self.shifted(local, by: -offset) }
        return Self.shifted(local, by: -before)
    }

    func local(fromUTC instant: Int64) -> Int64 {
        instant == Int64.min ? instant : Self.shifted(instant, by: offset(atUTC: instant))
    }

    /// `instant + offset`, NULL (Int64.min) where that leaves the timestamp range.
    static func shifted(_ instant: Int64, by offset: Int64) -> Int64 {
        let (sum, overflow) = instant.addingReportingOverflow(offset)
        return overflow ? Int64.min : sum
    }

    /// The run of instants around `instant` that share its offset, and that offset.
    func interval(containing instant: Int64) -> (range: Range<Int64>, offset: Int64) {
        if let tail, transitions.last.map({ instant >= $0 }) ?? true {
            let (range, offset) = tail.interval(containing: instant)
            return (max(range.lowerBound, transitions.last ?? Int64.min)..<range.upperBound, offset)
        }
        let index = transitionIndex(instant)
        let lower = index < 0 ? Int64.min : transitions[index]
        let upper = index + 1 < transitions.count ? transitions[index + 1] : Int64.max
        return (lower..<upper, index < 0 ? initialOffset : offsets[index])
    }

    private func transitionIndex(_ instant: Int64) -> Int {
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= instant { low = middle + 1 } else { high = middle }
        }
        return low - 1
    }

    private func lookup(_ instant: Int64) -> (offset: Int64, daylight: Bool) {
        if let tail, transitions.last.map({ instant >= $0 }) ?? true { return tail.offset(atUTC: instant) }
        let index = transitionIndex(instant)
        return index < 0 ? (initialOffset, false) : (offsets[index], daylight[index])
    }
}

/// Conversions of many instants, most of them near each other: the offset interval of the
/// last instant answers the next one with a compare instead of a search of the rules.
struct ZoneCursor {
    let zone: ZoneRules
    private var range: Range<Int64> = 0..<0
    private var offset: Int64 = 0

    init(_ zone: ZoneRules) { self.zone = zone }

    mutating func offset(atUTC instant: Int64) -> Int64 {
        if !range.contains(instant) { (range, offset) = zone.interval(containing: instant) }
        return offset
    }

    mutating func local(fromUTC instant: Int64) -> Int64 {
        instant == Int64.min ? instant : ZoneRules.shifted(instant, by: offset(atUTC: instant))
    }

    /// As `ZoneRules.utc(fromLocal:)`: when a day either side of `local` shares one offset
    /// there is no gap or overlap to resolve.
    mutating func utc(fromLocal local: Int64) -> Int64 {
        guard local != Int64.min else { return local }
        let day = TimeArithmetic.microsPerDay
        if range.contains(local &- day) && range.contains(local &+ day) { return ZoneRules.shifted(local, by: -offset) }
        _ = offset(atUTC: local)
        return zone.utc(fromLocal: local)
    }
}

/// A POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`): standard and daylight offsets and the
/// yearly dates they switch on. TZif files carry one for the times after their table ends.
struct PosixZoneRule: Sendable {
    enum Day: Sendable {
        /// `Jn`: day 1…365, February 29 never counted.
        case julian(Int)
        /// `n`: day 0…365, February 29 counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
        case monthWeek(month: Int, week: Int, weekday: Int)
    }

    struct Switch: Sendable {
        var day: Day
        /// Local time of day (µs, may be negative or past 24 h) the switch happens at.
        var time: Int64
    }

    let standardOffset: Int64
    let daylightOffset: Int64
    /// Start and end of daylight saving time; nil for a zone without it.
    let daylightSaving: (start: Switch, end: Switch)?


    /// Beyond about ±100 000 years the calendar arithmetic below could overflow: standard time.
    static let calendarLimit: Int64 = 3_000_000_000_000_000_000

    func offset(atUTC instant: Int64) -> (offset: Int64, daylight: Bool) {
        guard let (start, end) = daylightSaving, abs(instant) < Self.calendarLimit else { return (standardOffset, false) }
        let year = PartitionTime.civil(fromDays: TimeArithmetic.floorDivide(instant &+ standardOffset, TimeArithmetic.microsPerDay)).year
        // The switch into daylight time is given in standard time, the one out of it in daylight time.
        let begins = Self.localMicros(start, year: year) - standardOffset
        let ends = Self.localMicros(end, year: year) - daylightOffset
        let inDaylight = begins < ends ? (instant >= begins && instant < ends) : !(instant >= ends && instant < begins)
        return inDaylight ? (daylightOffset, true) : (standardOffset, false)
    }

    /// The run of instants around `instant` (within its year) that share its offset.
    func interval(containing instant: Int64) -> (range: Range<Int64>, offset: Int64) {
        guard let (start, end) = daylightSaving else { return (Int64.min..<Int64.max, standardOffset) }
        if instant >= Self.calendarLimit { return (Self.calendarLimit..<Int64.max, standardOffset) }
        if instant <= -Self.calendarLimit { return (Int64.min..<(-Self.calendarLimit + 1), standardOffset) }
        let year = PartitionTime.civil(fromDays: TimeArithmetic.floorDivide(instant &+ standardOffset, TimeArithmetic.microsPerDay)).year
        let yearStart = PartitionTime.days(fromYear: year, month: 1, day: 1) * TimeArithmetic.microsPerDay - standardOffset
        let nextYear = PartitionTime.days(fromYear: year + 1, month: 1, day: 1) * TimeArithmetic.microsPerDay - standardOffset
        let begins = Self.localMicros(start, year: year) - standardOffset
        let ends = Self.localMicros(end, year: year) - daylightOffset
        var bounds = [yearStart, min(begins, ends), max(begins, ends), nextYear]
        bounds = bounds.map { Swift.min(Swift.max($0, yearStart), nextYear) }
        let offset = self.offset(atUTC: instant).offset
        for index in 0..<3 where instant >= bounds[index] && instant < bounds[index + 1] {
            return (bounds[index]..<bounds[index + 1], offset)
        }
        return (instant..<instant &+ 1, offset)
    }

    private static func localMicros(_ change: Switch, year: Int) -> Int64 {
        let days: Int64
        switch change.day {
        case .julian(let n):
            let leap = TimestampText.daysIn(month: 2, year: year) == 29
            days = PartitionTime.days(fromYear: year, month: 1, day: 1) + Int64(n - 1) + (leap && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            days = PartitionTime.days(fromYear: year, month: 1, day: 1) + Int64(n)
        case .monthWeek(let month, let week, let weekday):
            let first = PartitionTime.days(fromYear: year, month: month, day: 1)
            // 1970-01-01 was a Thursday (weekday 4).
            let firstWeekday = Int(first + 4 - TimeArithmetic.floorDivide(first + 4, 7) * 7)
            var day = 1 + (weekday - firstWeekday + 7) % 7 + (week - 1) * 7
            let length = TimestampText.daysIn(month: month, year: year)
            while day > length { day -= 7 }
            days = first + Int64(day - 1)
        }
        return days * TimeArithmetic.microsPerDay + change.time
    }

    /// Parses a POSIX TZ string; nil when it is not one.
    static func parse(_ text: String) -> PosixZoneRule? {
        var scanner = Scanner(Array(text.utf8))
        guard scanner.skipName(), let standard = scanner.offset() else { return nil }
        if scanner.atEnd { return PosixZoneRule(standardOffset: -standard, daylightOffset: -standard, daylightSaving: nil) }
        guard scanner.skipName() else { return nil }
        var daylight = standard - 3_600_000_000
        if !scanner.peek(",") && !scanner.atEnd {
            guard let value = scanner.offset() else { return nil }
            daylight = value
        }
        guard scanner.accept(","), let start = scanner.change(), scanner.accept(","), let end = scanner.change(), scanner.atEnd else {
            return nil
        }
        return PosixZoneRule(standardOffset: -standard, daylightOffset: -daylight, daylightSaving: (start, end))
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }
        func peek(_ character: Character) -> Bool { index < bytes.count && bytes[index] == character.asciiValue! }
        mutating func accept(_ character: Character) -> Bool {
            guard peek(character) else { return false }
            index += 1
            return true
        }

        /// `<+0530>` or three or more letters.
        mutating func skipName() -> Bool {
            if accept("<") {
                while index < bytes.count, bytes[index] != UInt8(ascii: ">") { index += 1 }
                return accept(">")
            }
            let start = index
            while index < bytes.count, (bytes[index] | 0x20) >= UInt8(ascii: "a"), (bytes[index] | 0x20) <= UInt8(ascii: "z") { index += 1 }
            return index - start >= 3
        }

        mutating func number(maxDigits: Int) -> Int? {
            var value = 0, digits = 0
            while index < bytes.count, digits < maxDigits, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }

        /// `[+-]hh[:mm[:ss]]` → µs (POSIX sign: positive is west of Greenwich).
        mutating func offset() -> Int64? {
            var sign: Int64 = 1
            if accept("-") { sign = -1 } else { _ = accept("+") }
            guard let hours = number(maxDigits: 3) else { return nil }
            var seconds = hours * 3600
            if accept(":") {
                guard let minutes = number(maxDigits: 2) else { return nil }
                seconds += minutes * 60
                if accept(":") {
                    guard let rest = number(maxDigits: 2) else { return nil }
                    seconds += rest
                }
            }
            return sign * Int64(seconds) * 1_000_000
        }

        mutating func change() -> Switch? {
            let day: Day
            if accept("J") {
                guard let n = number(maxDigits: 3), (1...365).contains(n) else { return nil }
                day = .julian(n)
            } else if accept("M") {
                guard let month = number(maxDigits: 2), accept("."), let week = number(maxDigits: 1), accept("."),
                      let weekday = number(maxDigits: 1), (1...12).contains(month), (1...5).contains(week), weekday <= 6
                else { return nil }
                day = .monthWeek(month: month, week: week, weekday: weekday)
            } else {
                guard let n = number(maxDigits: 3), n <= 365 else { return nil }
                day = .zeroBased(n)
            }
            var time: Int64 = 7_200_000_000
            if accept("/") {
                guard let value = offset() else { return nil }
                time = value
            }
            return Switch(day: day, time: time)
        }
    }
}

/// TZif (RFC 8536) decoding: the version 2+ data block when present (64-bit times), else the
/// version 1 block; the footer's POSIX rule for times after the table.
enum TZif {
    static func decode(_ bytes: [UInt8]) -> ZoneRules? {
        guard let first = header(bytes, at: 0) else { return nil }
        var offset = 44
        var block = (header: first, wide: false)
        if first.version >= 2 {
            offset += first.size(wide: false)
            guard let second = header(bytes, at: offset) else { return nil }
            offset += 44
            block = (second, true)
        }
        let h = block.header
        let width = block.wide ? 8 : 4
        guard offset + h.size(wide: block.wide) <= bytes.count else { return nil }
        func integer(_ at: Int, _ size: Int) -> Int64 {
            var value: UInt64 = 0
            for index in 0..<size { value = value << 8 | UInt64(bytes[at + index]) }
            return size == 4 ? Int64(Int32(truncatingIfNeeded: value)) : Int64(bitPattern: value)
        }
        var times: [Int64] = []
        for index in 0..<h.timeCount { times.append(integer(offset + index * width, width) &* 1_000_000) }
        let typesAt = offset + h.timeCount * width
        let infosAt = typesAt + h.timeCount
        var types: [(offset: Int64, daylight: Bool)] = []
        for index in 0..<h.typeCount {
            let at = infosAt + index * 6
            types.append((integer(at, 4) * 1_000_000, bytes[at + 4] != 0))
        }
        guard !types.isEmpty else { return nil }
        var offsets: [Int64] = [], daylight: [Bool] = []
        for index in 0..<h.timeCount {
            let type = Int(bytes[typesAt + index])
            guard type < types.count else { return nil }
            offsets.append(types[type].offset)
            daylight.append(types[type].daylight)
        }
        var tail: PosixZoneRule?
        let footerAt = offset + h.size(wide: block.wide)
        if block.wide, footerAt < bytes.count, bytes[footerAt] == UInt8(ascii: "\n"),
           let end = bytes[(footerAt + 1)...].firstIndex(of: UInt8(ascii: "\n")), end > footerAt + 1
        {
            tail = PosixZoneRule.parse(String(decoding: bytes[(footerAt + 1)..<end], as: UTF8.self))
        }
        return ZoneRules(transitions: times, offsets: offsets, daylight: daylight, initialOffset: types[0].offset, tail: tail)
    }

    private struct Header {
        var version: Int
        var isUTCCount, isStandardCount, leapCount, timeCount, typeCount, charCount: Int

        func size(wide: Bool) -> Int {
            let width = wide ? 8 : 4
            return timeCount * width + timeCount + typeCount * 6 + charCount + leapCount * (width + 4) + isStandardCount + isUTCCount
        }
    }

    private static func header(_ bytes: [UInt8], at offset: Int) -> Header? {
        guard offset + 44 <= bytes.count, Array(bytes[offset..<offset + 4]) == Array("TZif".utf8) else { return nil }
        let version = bytes[offset + 4] == 0 ? 1 : Int(bytes[offset + 4]) - Int(UInt8(ascii: "0"))
        func count(_ index: Int) -> Int {
            let at = offset + 20 + index * 4
            return Int(UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3]))
        }
        let header = Header(
            version: version, isUTCCount: count(0), isStandardCount: count(1), leapCount: count(2), timeCount: count(3),
            typeCount: count(4), charCount: count(5))
        // A real zone has a few hundred transitions; refuse absurd counts before allocating.
        guard header.timeCount < 100_000, header.typeCount < 256, header.typeCount > 0 else { return nil }
        return header
    }
}

/// Time zones by name, as QuestDB accepts them: IANA names (`Europe/Berlin`), UTC offsets
/// (`+02:00`, `-0530`, `UTC+3`), `UTC`/`GMT`/`Z`, and Java's short ids (`EST`, `PST`, …).
/// IANA rules come from `$TZDIR` or `/usr/share/zoneinfo` (Debian's `tzdata`), read once per
/// zone and kept.
enum TimeZones {
    private static let cache = PlainMutex<[String: ZoneRules]>([:])

    /// Java's `ZoneId.SHORT_IDS`, which QuestDB resolves abbreviations with.
    static let shortIDs: [String: String] = [
        "ACT": "Australia/Darwin", "AET": "Australia/Sydney", "AGT": "America/Argentina/Buenos_Aires", "ART": "Africa/Cairo",
        "AST": "America/Anchorage", "BET": "America/Sao_Paulo", "BST": "Asia/Dhaka", "CAT": "Africa/Harare",
        "CNT": "America/St_Johns", "CST": "America/Chicago", "CTT": "Asia/Shanghai", "EAT": "Africa/Addis_Ababa",
        "ECT": "Europe/Paris", "IET": "America/Indiana/Indianapolis", "IST": "Asia/Kolkata", "JST": "Asia/Tokyo",
        "MIT": "Pacific/Apia", "NET": "Asia/Yerevan", "NST": "Pacific/Auckland", "PLT": "Asia/Karachi",
        "PNT": "America/Phoenix", "PRT": "America/Puerto_Rico", "PST": "America/Los_Angeles", "SST": "Pacific/Guadalcanal",
        "VST": "Asia/Ho_Chi_Minh", "EST": "-05:00", "MST": "-07:00", "HST": "-10:00",
    ]

    static func zone(_ name: String, at position: Int) throws(SQLError) -> ZoneRules {
        if let known = cache.withLock({ $0[name] }) { return known }
        guard let rules = resolve(name) else {
            throw SQLError(.invalidValue, "invalid timezone: \(name)", at: position)
        }
        cache.withLock { cache in
            if cache.count > 1024 { cache.removeAll() }
            cache[name] = rules
        }
        return rules
    }

    private static func resolve(_ name: String) -> ZoneRules? {
        let trimmed = Substring(name).trimmingSpaces
        let upper = trimmed.uppercased()
        if ["UTC", "GMT", "Z", "UT", "ZULU", "UCT", "UTC0", "GMT0", "ETC/UTC", "ETC/GMT"].contains(upper) {
            return .fixed(micros: 0)
        }
        for prefix in ["UTC", "GMT", "UT"] where upper.hasPrefix(prefix) {
            let rest = String(trimmed.dropFirst(prefix.count))
            if rest.hasPrefix("+") || rest.hasPrefix("-"), let micros = fixedOffset(rest) { return .fixed(micros: micros) }
        }
        if trimmed.hasPrefix("+") || trimmed.hasPrefix("-") {
            return fixedOffset(trimmed).map { .fixed(micros: $0) }
        }
        if let mapped = shortIDs[upper] { return mapped.hasPrefix("-") ? fixedOffset(mapped).map { .fixed(micros: $0) } : load(mapped) }
        return load(trimmed)
    }

    /// `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss` → µs, within ±18 h (java.time's range).
    static func fixedOffset(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-") else { return nil }
        let sign: Int64 = bytes[0] == UInt8(ascii: "-") ? -1 : 1
        let digits = bytes.dropFirst().filter { $0 != UInt8(ascii: ":") }
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), [1, 2, 4, 6].contains(digits.count) else { return nil }
        let values = digits.map { Int64($0 - UInt8(ascii: "0")) }
        let hours = values.count == 1 ? values[0] : values[0] * 10 + values[1]
        let minutes = values.count >= 4 ? values[2] * 10 + values[3] : 0
        let seconds = values.count == 6 ? values[4] * 10 + values[5] : 0
        guard hours <= 18, minutes < 60, seconds < 60 else { return nil }
        let total = (hours * 3600 + minutes * 60 + seconds)
        guard total <= 18 * 3600 else { return nil }
        return sign * total * 1_000_000
    }

    private static func load(_ zoneName: String) -> ZoneRules? {
        // Only names the tz database could hold: no path tricks.
        guard !zoneName.isEmpty, zoneName.utf8.count <= 64, !zoneName.hasPrefix("/"), !zoneName.contains(".."),
              zoneName.utf8.allSatisfy({ ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z")
                  || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || "/_+-".utf8.contains($0) })
        else { return nil }
        let directory = getenv("TZDIR").map { String(cString: $0) } ?? "/usr/share/zoneinfo"
        guard let bytes = try? DurableFile.read(directory + "/" + zoneName, maxBytes: 1 << 20) else { return nil }
        return TZif.decode(bytes)
    }
}
