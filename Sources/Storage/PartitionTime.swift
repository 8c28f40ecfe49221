/// Partition boundaries and directory names for designated timestamps in microseconds (UTC),
/// named as QuestDB names them: `yyyy-MM-dd` (DAY), `yyyy-MM-ddTHH` (HOUR), `YYYY-Www` (WEEK,
/// ISO weeks), `yyyy-MM` (MONTH), `yyyy` (YEAR), `default` (NONE).
package enum PartitionTime {
    package static let microsPerHour: Int64 = 3_600_000_000
    package static let microsPerDay: Int64 = 86_400_000_000


    /// The number of days in `month` (1–12) of `year` (proleptic Gregorian).
    package static func daysInMonth(year: Int, month: Int) -> Int {
        let nextYear = month == 12 ? year + 1 : year
        let nextMonth = month == 12 ? 1 : month + 1
        return Int(days(fromYear: nextYear, month: nextMonth, day: 1) - days(fromYear: year, month: month, day: 1))
    }

    /// Start (inclusive) of the partition holding `timestamp`.
    package static func floor(_ timestamp: Int64, by unit: PartitionBy) -> Int64 {
        switch unit {
        case .none: return Int64.min
        case .hour: return flooredDivision(timestamp, microsPerHour) * microsPerHour
        case .day: return flooredDivision(timestamp, microsPerDay) * microsPerDay
        case .week:
            // 1970-01-01 was a Thursday; ISO weeks start on Monday (day 4 of the epoch is Monday 1970-01-05).
            let day = flooredDivision(timestamp, microsPerDay)
            let monday = day - modulo(day - 4, 7)
            return monday * microsPerDay
        case .month:
            let date = civil(fromDays: flooredDivision(timestamp, microsPerDay))
            return days(fromYear: date.year, month: date.month, day: 1) * microsPerDay
        case .year:
            let date = civil(fromDays: flooredDivision(timestamp, microsPerDay))
            return days(fromYear: date.year, month: 1, day: 1) * microsPerDay
        }
    }

    /// Start of the partition after the one that starts at `start`.
    package static func next(after start: Int64, by unit: PartitionBy) -> Int64 {
        switch unit {
        case .none: return Int64.max
        case .hour: return start + microsPerHour
        case .day: return start + microsPerDay
        case .week: return start + 7 * microsPerDay
        case .month:
            let date = civil(fromDays: flooredDivision(start, microsPerDay))
            let (year, month) = date.month == 12 ? (date.year + 1, 1) : (date.year, date.month + 1)
            return days(fromYear: year, month: month, day: 1) * microsPerDay
        case .year:
            let date = civil(fromDays: flooredDivision(start, microsPerDay))
            return days(fromYear: date.year + 1, month: 1, day: 1) * microsPerDay
        }
    }

    /// The directory name of the partition starting at `start`.
    package static func name(of start: Int64, by unit: PartitionBy) -> String {
        if unit == .none { return "default" }
        let day = flooredDivision(start, microsPerDay)
        let date = civil(fromDays: day)
        let year = pad(date.year, 4)
        switch unit {
        case .none: return "default"
        case .year: return year
        case .month: return "\(year)-\(pad(date.month, 2))"
        case .day: return "\(year)-\(pad(date.month, 2))-\(pad(date.day, 2))"
        case .hour:
            let hour = Int(modulo(start, microsPerDay) / microsPerHour)
            return "\(year)-\(pad(date.month, 2))-\(pad(date.day, 2))T\(pad(hour, 2))"
        case .week:
            let (isoYear, week) = isoWeek(ofDays: day)
            return "\(pad(isoYear, 4))-W\(pad(week, 2))"
        }
    }

    // MARK: Civil calendar (proleptic Gregorian; H. Hinnant's days_from_civil / civil_from_days)

    package static func days(fromYear year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    package static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    /// ISO-8601 week-numbering year and week of the day `days` since the epoch.
    package static func isoWeek(ofDays days: Int64) -> (year: Int, week: Int) {
        let weekday = modulo(days + 3, 7)  // 0 = Monday
        let thursday = days - weekday + 3
        let year = civil(fromDays: thursday).year
        let firstDay = PartitionTime.days(fromYear: year, month: 1, day: 1)
        return (year, Int((thursday - firstDay) / 7) + 1)
    }

    private static func flooredDivision(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    private static func modulo(_ value: Int64, _ divisor: Int64) -> Int64 {
        let remainder = value % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(abs(value))
        return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
