import Storage

/// QuestDB's interval strings for `ts IN '…'`: a partial ISO timestamp naming a period,
/// optionally followed by `;duration` (extend the end), and `;duration;repeatCount` after an
/// interval step: `'2024-01-15T09:30;1h'`, `'2025-01-01;1d;1y;2'`.
enum IntervalText {
    /// `now`: the query's clock, for TICK date variables (`'$today'`, `'$now - 1h..$now'`).
    static func parse(_ text: String, now: Int64 = 0, at position: Int) throws(SQLError) -> [Range<Int64>] {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard parts[0].contains(where: { "$[@#".contains($0) }) || isoWeek(parts[0]) != nil else {
            guard let parsed = TimestampText.parse(parts[0]) else { throw SQLError(.invalidValue, "Invalid date [str=\(text)]", at: position) }
            return try modified(parsed, parts, text, at: position)
        }
        var ranges: [Range<Int64>] = []
        for period in try tickPeriods(parts[0], now: now, text, at: position) { ranges += try modified(period, parts, text, at: position) }
        return merged(ranges)
    }

    /// One period with the `;duration[;step;count]` modifiers applied.
    private static func modified(
        _ period: TimestampText.Period, _ parts: [String], _ text: String, at position: Int
    ) throws(SQLError) -> [Range<Int64>] {
        var start = period.start
        var end = period.end
        if parts.count >= 2 {
            end = try shift(end, by: parts[1], text, at: position)
            // A negative duration moves the start back instead (`'2024-01-02;-1d'`).
            if end < start {
                let (moved, overflow) = end.subtractingReportingOverflow(period.end - period.start)
                guard !overflow else { throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: out of range", at: position) }
                start = moved
                end = period.end
                start = min(start, end - 1)
            }
        }
        guard parts.count >= 3 else { return [start..<max(end, start + 1)] }
        guard parts.count == 4, let repeats = Int(parts[3]), repeats > 0, repeats <= 100_000 else {
            throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: expected period;duration;step;count", at: position)
        }
        var ranges: [Range<Int64>] = []
        var (s, e) = (start, end)
        for _ in 0..<repeats {
            ranges.append(s..<max(e, s + 1))
            s = try shift(s, by: parts[2], text, at: position)
            e = try shift(e, by: parts[2], text, at: position)
        }
        return ranges
    }

    /// Sorted, with overlapping or touching ranges joined (TICK merges its intervals).
    static func merged(_ ranges: [Range<Int64>]) -> [Range<Int64>] {
        guard ranges.count > 1 else { return ranges }
        var result: [Range<Int64>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound {
                result[result.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// Most intervals one TICK expression may expand to.
    static let maxTickIntervals = 10_000

    /// A TICK expression (before `;`): `[list]`/`[a..b]` bracket expansion (textual, any field,
    /// nested, Cartesian), date variables, then `@zone` and `#day` filters; each expansion is
    /// a period (in the zone's local time when one is given).
    private static func tickPeriods(_ expression: String, now: Int64, _ text: String, at position: Int)
        throws(SQLError) -> [TimestampText.Period]
    {
        var body = expression
        var days: Set<Int>?  // 0 = Monday … 6 = Sunday
        if let hash = body.lastIndex(of: "#") {
            days = try dayFilter(String(body[body.index(after: hash)...]), text, at: position)
            body = String(body[..<hash])
        }
        var zone: ZoneRules?
        // A trailing `@zone` outside any brackets applies to every expansion.
        if let at = body.lastIndex(of: "@"), !body[at...].contains("]") {
            zone = try TimeZones.zone(String(body[body.index(after: at)...]).trimmingSpaces, at: position)
            body = String(body[..<at])
        }
        var periods: [TimestampText.Period] = []
        for item in try expand(body.trimmingSpaces, text, at: position) {
            // Per-item zones inside brackets: `T[09:30@America/New_York,08:00@Europe/London]`.
            var itemZone = zone
            var itemText = item
            if let at = item.lastIndex(of: "@") {
                itemZone = try TimeZones.zone(String(item[item.index(after: at)...]).trimmingSpaces, at: position)
                itemText = String(item[..<at])
            }
            let localNow = itemZone.map { $0.local(fromUTC: now) } ?? now
            var period: TimestampText.Period
            if itemText.contains("$") {
                period = try tick(itemText, now: localNow, text, at: position)
            } else if let week = isoWeek(itemText) {
                period = week
            } else if let parsed = TimestampText.parse(itemText) {
                period = parsed
            } else {
                throw SQLError(.invalidValue, "Invalid date [str=\(text)]", at: position)
            }
            if let days {
                // The day of the local date (before any zone conversion).
                let weekday = Int((TimeArithmetic.floorDivide(period.start, TimeArithmetic.microsPerDay) + 3) % 7 + 7) % 7
                if !days.contains(weekday) { continue }
            }
            if let itemZone { period = .init(start: itemZone.utc(fromLocal: period.start), end: itemZone.utc(fromLocal: period.end)) }
            periods.append(period)
        }
        return periods
    }

    /// Every string `text` stands for once its first top-level `[…]` group is replaced by each
    /// item (`a..b` numeric ranges keep the width of `a`: `[01..05]`), recursively.
    private static func expand(_ text: String, _ whole: String, at position: Int) throws(SQLError) -> [String] {
        guard let open = text.firstIndex(of: "[") else { return [text] }
        var depth = 0
        var close: String.Index?
        for index in text[open...].indices {
            if text[index] == "[" { depth += 1 }
            if text[index] == "]" {
                depth -= 1
                if depth == 0 {
                    close = index
                    break
                }
            }
        }
        guard let close else { throw SQLError(.invalidValue, "Invalid interval [str=\(whole)]: unclosed '['", at: position) }
        let prefix = String(text[..<open]), suffix = String(text[text.index(after: close)...])
        var items: [String] = []
        var current = ""
        depth = 0
        for character in text[text.index(after: open)..<close] {
            if character == "[" { depth += 1 }
            if character == "]" { depth -= 1 }
            if character == ",", depth == 0 {
                items.append(current.trimmingSpaces)
                current = ""
            } else {
                current.append(character)
            }
        }
        items.append(current.trimmingSpaces)
        var values: [String] = []
        for item in items {
            // A numeric range `a..b`; anything else (dates, times, `$now-1h..$now`) is itself.
            let bounds = item.split(separator: "..", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
            if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), bounds[0].allSatisfy(\.isNumber) {
                guard low <= high, high - low < maxTickIntervals else {
                    throw SQLError(.invalidValue, "Invalid interval [str=\(whole)]: bad range '\(item)'", at: position)
                }
                for value in low...high {
                    let digits = String(value)
                    values.append(String(repeating: "0", count: max(0, bounds[0].count - digits.count)) + digits)
                }
            } else {
                values.append(item)
            }
        }
        var result: [String] = []
        for value in values {
            for expanded in try expand(prefix + value + suffix, whole, at: position) {
                result.append(expanded)
                guard result.count <= maxTickIntervals else {
                    throw SQLError(.limitExceeded, "Invalid interval [str=\(whole)]: more than \(maxTickIntervals) intervals", at: position)
                }
            }
        }
        return result
    }

    /// An ISO week date: `2024-W01` (the whole week), `2024-W01-1` (its Monday), optionally with
    /// `Thh:mm…`; nil for other text.
    static func isoWeek(_ text: String) -> TimestampText.Period? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 8, bytes[4] == UInt8(ascii: "-"), bytes[5] == UInt8(ascii: "W"),
              let year = Int(String(decoding: bytes[0..<4], as: UTF8.self)),
              let week = Int(String(decoding: bytes[6..<8], as: UTF8.self)), (1...53).contains(week)
        else { return nil }
        // Week 1 holds January 4th; weeks start on Monday (1970-01-01 was a Thursday).
        let january4 = PartitionTime.days(fromYear: year, month: 1, day: 4)
        let weekday = Int((january4 + 3) % 7 + 7) % 7
        let monday = january4 - Int64(weekday) + Int64(week - 1) * 7
        let day = TimeArithmetic.microsPerDay
        guard bytes.count > 8 else { return .init(start: monday * day, end: (monday + 7) * day) }
        guard bytes.count >= 10, bytes[8] == UInt8(ascii: "-"), let dayOfWeek = Int(String(UnicodeScalar(bytes[9]))),
              (1...7).contains(dayOfWeek)
        else { return nil }
        let date = monday + Int64(dayOfWeek - 1)
        let rest = String(decoding: bytes[10...], as: UTF8.self)
        let iso = String(TimestampText.micros(date * day).prefix(10)) + rest
        return TimestampText.parse(iso)
    }

    /// `workday`/`wd`, `weekend`, or day names (`Mon,Wed,Fri`, `Monday`) → 0 = Monday … 6 = Sunday.
    private static func dayFilter(_ text: String, _ whole: String, at position: Int) throws(SQLError) -> Set<Int> {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        var days = Set<Int>()
        for part in text.split(separator: ",").map({ String($0).trimmingSpaces.lowercased() }) {
            switch part {
            case "workday", "wd": days.formUnion(0...4)
            case "weekend": days.formUnion(5...6)
            default:
                guard part.count >= 3, let day = names.firstIndex(of: String(part.prefix(3))) else {
                    throw SQLError(.invalidValue, "Invalid interval [str=\(whole)]: unknown day filter '\(part)'", at: position)
                }
                days.insert(day)
            }
        }
        return days
    }

    /// One TICK date-variable term, brackets, zones and day filters already taken off by
    /// `tickPeriods`: `$today`, `$yesterday`, `$tomorrow` (whole days) or `$now` (a point),
    /// each with `± N unit` arithmetic (`bd`: business days) and an optional `Thh:mm…`, or an
    /// `a..b` range from the start of `a` to the end of `b`.
    private static func tick(_ expression: String, now: Int64, _ text: String, at position: Int) throws(SQLError) -> TimestampText.Period {
        func unsupported() -> SQLError {
            SQLError(
                .invalidValue,
                "Invalid interval [str=\(text)]: '\(expression)' is not a date variable ($today, $yesterday, $tomorrow or $now, with ± N units)",
                at: position)
        }
        let bounds = expression.split(separator: "..", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(bounds.count) else { throw unsupported() }
        var periods: [TimestampText.Period] = []
        for bound in bounds {
            let term = bound.filter { $0 != " " }
            let lower = term.lowercased()
            let day = TimeArithmetic.microsPerDay
            let today = TimeArithmetic.floorDivide(now, day) * day
            var period: TimestampText.Period
            var rest: Substring
            if lower.hasPrefix("$today") {
                period = .init(start: today, end: today + day)
                rest = term.dropFirst(6)
            } else if lower.hasPrefix("$yesterday") {
                period = .init(start: today - day, end: today)
                rest = term.dropFirst(10)
            } else if lower.hasPrefix("$tomorrow") {
                period = .init(start: today + day, end: today + 2 * day)
                rest = term.dropFirst(9)
            } else if lower.hasPrefix("$now") {
                period = .init(start: now, end: now + 1)
                rest = term.dropFirst(4)
            } else {
                throw unsupported()
            }
            // `± N unit` terms, applied to both ends of the period; then `Thh:mm…` (a time of
            // the day reached: `$todayT09:30`, `$today-7dT09:30`).
            while !rest.isEmpty {
                if rest.first == "T" || rest.first == "t" {
                    let day = TimeArithmetic.floorDivide(period.start, TimeArithmetic.microsPerDay) * TimeArithmetic.microsPerDay
                    let iso = String(TimestampText.micros(day).prefix(10)) + "T" + rest.dropFirst()
                    guard let timed = TimestampText.parse(iso) else { throw unsupported() }
                    period = timed
                    break
                }
                guard let sign = rest.first, sign == "+" || sign == "-" else { throw unsupported() }
                rest = rest.dropFirst()
                let digits = rest.prefix { $0.isNumber }
                rest = rest.dropFirst(digits.count)
                let unitText = rest.hasPrefix("bd") ? "bd" : String(rest.prefix(1))
                rest = rest.dropFirst(unitText.count)
                guard let amount = Int64(digits), amount <= 1_000_000 else { throw unsupported() }
                let signed = sign == "-" ? -amount : amount
                if unitText == "bd" {
                    let length = period.end - period.start
                    period.start = businessDays(signed, from: period.start)
                    period.end = period.start + length
                } else {
                    let duration = "\(signed)\(unitText)"
                    period.start = try shift(period.start, by: duration, text, at: position)
                    period.end = try shift(period.end, by: duration, text, at: position)
                }
            }
            periods.append(period)
        }
        guard let last = periods.last, periods[0].start < last.end else {
            throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: the range ends before it starts", at: position)
        }
        return .init(start: periods[0].start, end: last.end)
    }

    /// `instant` moved by `count` weekdays (Saturday and Sunday skipped).
    private static func businessDays(_ count: Int64, from instant: Int64) -> Int64 {
        let day = TimeArithmetic.microsPerDay
        var moved = instant
        var left = abs(count)
        while left > 0 {
            moved += count > 0 ? day : -day
            // 1970-01-01 was a Thursday: weekday 0 = Monday … 6 = Sunday.
            let weekday = (TimeArithmetic.floorDivide(moved, day) + 3) % 7
            if weekday < 5 { left -= 1 }
        }
        return moved
    }

    /// `instant` moved by a duration such as `1h`, `-30m`, `2d`, `1M`, `1y`, or a compound one
    /// (`6h30m`, `1s500T`; a leading sign applies to every part).
    static func shift(_ instant: Int64, by duration: String, _ text: String, at position: Int) throws(SQLError) -> Int64 {
        func bad() -> SQLError { SQLError(.invalidValue, "Invalid interval [str=\(text)]: bad duration '\(duration)'", at: position) }
        var rest = Substring(duration)
        var negative = false
        if rest.hasPrefix("-") || rest.hasPrefix("+") {
            negative = rest.hasPrefix("-")
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { throw bad() }
        var shifted = instant
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber }
            rest = rest.dropFirst(digits.count)
            guard let letter = rest.first, let unit = TimeUnit(letter: String(letter)), let magnitude = Int64(digits) else { throw bad() }
            rest = rest.dropFirst()
            let count = negative ? -magnitude : magnitude
            let before = shifted
            shifted = TimeArithmetic.add(unit, count, to: shifted)
            // Past the calendar (or wrapped around): a clear error, not a wrapped instant.
            guard shifted != Int64.min, (count >= 0) == (shifted >= before) || count == 0 else {
                throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: duration '\(duration)' is out of range", at: position)
            }
        }
        return shifted
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

extension String {
    var trimmingSpaces: String { Substring(self).trimmingSpaces }
}
