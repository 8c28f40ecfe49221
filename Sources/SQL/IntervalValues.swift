import Storage

/// QuestDB's INTERVAL: a pair of timestamps that exists only inside expressions (it cannot be
/// stored). Sundial keeps it symbolic: an interval-valued call — `interval(lo, hi)`,
/// `today()`, `yesterday()`, `tomorrow()`, each day with an optional time zone — binds to its
/// two bounds, which `x IN <interval>`, `interval_start` and `interval_end` use directly, so
/// no value type is needed for it; projected, it is QuestDB's text
/// `('2024-10-08T00:00:00.000Z', '2024-10-08T23:59:59.999Z')`.
struct IntervalBounds {
    /// Both TIMESTAMP (µs), inclusive.
    var lo: BoundExpression
    var hi: BoundExpression

    /// Both bounds as constants (nil: not constant); a NULL bound gives `.null`.
    var constant: ConstantInterval? {
        switch (lo.constantValue, hi.constantValue) {
        case (.integer(let lo)?, .integer(let hi)?) where lo != Int64.min && hi != Int64.min: .range(lo, hi)
        case (.some, .some): .null
        default: nil
        }
    }

    enum ConstantInterval {
        case range(Int64, Int64)
        case null
    }
}

extension Binder {
    static let intervalFunctions: Set<String> = ["interval", "today", "yesterday", "tomorrow"]

    /// The bounds of `expression` when it is an interval-valued call, else nil.
    func intervalBounds(_ expression: SQLExpression) throws(SQLError) -> IntervalBounds? {
        guard case .function(let name, let arguments, _) = expression.kind else { return nil }
        return try intervalBounds(name, arguments, at: expression.position)
    }

    /// The bounds of the call `name(arguments)` when it is interval-valued, else nil.
    func intervalBounds(_ name: String, _ arguments: [SQLExpression], at position: Int) throws(SQLError) -> IntervalBounds? {
        let lower = name.lowercased()
        guard Self.intervalFunctions.contains(lower) else { return nil }
        if lower == "interval" {
            guard arguments.count == 2 else {
                throw SQLError(
                    .syntax, "wrong number of arguments for function `interval`; expected: 2, provided: \(arguments.count)",
                    at: position)
            }
            let lo = try coerce(try bind(arguments[0]), to: .timestamp, at: arguments[0].position)
            let hi = try coerce(try bind(arguments[1]), to: .timestamp, at: arguments[1].position)
            let bounds = IntervalBounds(lo: lo, hi: hi)
            if case .range(let low, let high)? = bounds.constant, low > high {
                throw SQLError(.invalidValue, "invalid interval boundaries", at: position)
            }
            return bounds
        }
        guard arguments.count <= 1 else {
            throw SQLError(
                .syntax, "wrong number of arguments for function `\(lower)`; expected: 0…1, provided: \(arguments.count)",
                at: position)
        }
        var zone: ZoneRules?
        if let argument = arguments.first {
            switch try bind(argument).constantValue {
            case .text(let name)?: zone = try TimeZones.zone(name, at: argument.position)
            case .null?: return IntervalBounds(lo: .constant(.null, .timestamp), hi: .constant(.null, .timestamp))
            default: throw SQLError(.invalidValue, "constant time zone expected", at: argument.position)
            }
        }
        let shift: Int64 = lower == "yesterday" ? -1 : lower == "tomorrow" ? 1 : 0
        let day = Self.day(containing: context.now, shiftedBy: shift, in: zone)
        return IntervalBounds(lo: .constant(.integer(day.lowerBound), .timestamp), hi: .constant(.integer(day.upperBound - 1), .timestamp))
    }

    /// The UTC instants of the (local, in `zone`) day `shift` days from the one holding `now`.
    static func day(containing now: Int64, shiftedBy shift: Int64, in zone: ZoneRules?) -> Range<Int64> {
        let microsPerDay: Int64 = 86_400_000_000
        guard let zone else {
            let start = TimeArithmetic.floorDivide(now, microsPerDay) * microsPerDay + shift * microsPerDay
            return start..<(start + microsPerDay)
        }
        let local = TimeArithmetic.floorDivide(zone.local(fromUTC: now), microsPerDay) * microsPerDay + shift * microsPerDay
        return zone.utc(fromLocal: local)..<zone.utc(fromLocal: local + microsPerDay)
    }

    /// `value IN <interval>`: inclusive of both bounds, as QuestDB. Constant bounds become an
    /// interval list (partitions outside it are never read).
    func inInterval(_ value: BoundExpression, _ bounds: IntervalBounds, negated: Bool, at position: Int) throws(SQLError)
        -> BoundExpression
    {
        guard value.type.isTemporal || value.type == .null else {
            throw SQLError(.typeMismatch, "IN interval needs a timestamp, not \(value.type)", at: position)
        }
        let column = value.type == .timestamp ? value : try coerce(value, to: .timestamp, at: position)
        switch bounds.constant {
        case .range(let lo, let hi)?:
            return .inIntervals(column, [lo..<(hi == Int64.max ? hi : hi + 1)], negated: negated)
        case .null?:
            return .inIntervals(column, [], negated: negated)
        case nil:
            let inside = BoundExpression.and(
                .comparison(.lessOrEqual, bounds.lo, column), .comparison(.lessOrEqual, column, bounds.hi))
            return negated ? .not(inside) : inside
        }
    }
}

extension IntervalText {
    /// QuestDB's text of an interval value: each bound to the millisecond, `null` for a NULL bound.
    static func format(lo: Int64, hi: Int64) -> String {
        func bound(_ value: Int64) -> String {
            value == Int64.min ? "null" : "'" + TimestampText.millis(TimeArithmetic.floorDivide(value, 1000)) + "'"
        }
        return "(" + bound(lo) + ", " + bound(hi) + ")"
    }
}
