import Storage

/// Calendar arithmetic on µs timestamps (UTC): adding units, flooring to unit multiples,
/// and fields. Months and years follow the calendar; other units are fixed lengths.
enum TimeArithmetic {
    static let microsPerDay: Int64 = 86_400_000_000
    /// Weeks start on Monday (QuestDB's `timestamp_floor('w', …)`, PostgreSQL's
    /// `date_trunc('week', …)`): week buckets count from Monday 1969-12-29, not from the
    /// epoch, a Thursday.
    static let weekOrigin: Int64 = -3 * microsPerDay

    /// Beyond this many months either way an addition gives NULL (no calendar date fits).
    static let maxMonths: Int64 = 12 * 300_000

    static func add(_ unit: TimeUnit, _ count: Int64, to instant: Int64) -> Int64 {
        guard instant != Int64.min else { return instant }
        switch unit {
        case .nanosecond: return instant &+ count / 1000
        case .month, .year:
            guard abs(count) <= maxMonths else { return Int64.min }
            let months = unit == .year ? count * 12 : count
            guard abs(months) <= maxMonths else { return Int64.min }
            let (days, within) = split(instant)
            let date = PartitionTime.civil(fromDays: days)
            let total = Int64(date.year) * 12 + Int64(date.month - 1) + months
            let year = Int(floorDivide(total, 12))
            let month = Int(total - Int64(year) * 12) + 1
            let day = min(date.day, TimestampText.daysIn(month: month, year: year))
            // Past the timestamp range (±292 000 years): NULL, never a trap.
            let (start, overflow) = PartitionTime.days(fromYear: year, month: month, day: day).multipliedReportingOverflow(by: microsPerDay)
            let (sum, carry) = start.addingReportingOverflow(within)
            return overflow || carry ? Int64.min : sum
        default:
            let (product, overflow) = count.multipliedReportingOverflow(by: unit.fixedMicros!)
            let (sum, carry) = instant.addingReportingOverflow(product)
            return overflow || carry ? Int64.min : sum
        }
    }

    /// Start of the `count`-unit bucket holding `instant`, buckets aligned at `origin`.
    static func floor(_ instant: Int64, _ unit: TimeUnit, count: Int64, origin: Int64 = 0) -> Int64 {
        guard instant != Int64.min else { return instant }
        switch unit {
        case .month, .year:
            // Buckets keep the origin's day and time of day (FROM '…-15', WITH OFFSET '02:00').
            let months = max(1, min(unit == .year ? count &* 12 : count, maxMonths))
            let index = monthIndex(instant) - monthIndex(origin)
            var bucket = floorDivide(index, months) * months
            var start = add(.month, bucket, to: origin)
            if start > instant {
                bucket -= months
                start = add(.month, bucket, to: origin)
            }
            return start
        default:
            let (product, overflow) = count.multipliedReportingOverflow(by: unit.fixedMicros ?? 1)
            let step = overflow ? Int64.max : max(1, product)
            // A bucket past the timestamp range is NULL, never a trap.
            let (delta, o1) = instant.subtractingReportingOverflow(origin)
            let (start, o2) = floorDivide(delta, step).multipliedReportingOverflow(by: step)
            let (bucket, o3) = origin.addingReportingOverflow(start)
            return o1 || o2 || o3 ? Int64.min : bucket
        }
    }

    static func monthIndex(_ instant: Int64) -> Int64 {
        let date = PartitionTime.civil(fromDays: split(instant).days)
        return Int64(date.year) * 12 + Int64(date.month - 1)
    }

    static func split(_ instant: Int64) -> (days: Int64, within: Int64) {
        let days = floorDivide(instant, microsPerDay)
        // Exact modulo 2⁶⁴: the true remainder fits even where days × µs/day does not (near Int64.min).
        return (days, instant &- days &* microsPerDay)
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
