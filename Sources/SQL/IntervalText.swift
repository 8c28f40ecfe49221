import Storage

/// QuestDB's interval strings for `ts IN '…'`: a partial ISO timestamp naming a period,
/// optionally followed by `;duration` (extend the end), and `;duration;repeatCount` after an
/// interval step: `'2024-01-15T09:30;1h'`, `'2025-01-01;1d;1y;2'`.
enum IntervalText {
    static func parse(_ text: String, at position: Int) throws(SQLError) -> [Range<Int64>] {
        let parts = text.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard let period = TimestampText.parse(parts[0]) else {
            throw SQLError(.invalidValue, "Invalid date [str=\(text)]", at: position)
        }
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

    /// `instant` moved by a duration such as `1h`, `-30m`, `2d`, `1M`, `1y`.
    static func shift(_ instant: Int64, by duration: String, _ text: String, at position: Int) throws(SQLError) -> Int64 {
        guard let unitLetter = duration.last, let unit = TimeUnit(letter: String(unitLetter)),
              let count = Int64(duration.dropLast())
        else {
            throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: bad duration '\(duration)'", at: position)
        }
        let shifted = TimeArithmetic.add(unit, count, to: instant)
        // Past the calendar (or wrapped around): a clear error, not a wrapped instant.
        guard shifted != Int64.min, (count >= 0) == (shifted >= instant) || count == 0 else {
            throw SQLError(.invalidValue, "Invalid interval [str=\(text)]: duration '\(duration)' is out of range", at: position)
        }
        return shifted
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
