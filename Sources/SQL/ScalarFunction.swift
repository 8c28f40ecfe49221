import Storage

/// The scalar functions of the dialect. Parameters fixed at bind time (units, lists) are
/// payloads, so evaluation never re-parses them.
enum ScalarFunction: Sendable {
    case abs, round(digits: Int), floor, ceil, sqrt, power, ln, log10, exp, sign
    case length, upper, lower, trim, substring, replace, left, right, position, startsWith
    case concat, coalesce, nullif, greatest, least
    /// `format_type(oid, typmod)` of a column of OIDs: PostgreSQL's type name.
    case formatType
    /// `json_build_object(k1, v1, …)`: a JSON object text, PostgreSQL's spacing.
    case jsonBuildObject
    case now, today
    /// An interval's text from its two bounds (QuestDB's INTERVAL, kept symbolic).
    case intervalText(position: Int)
    /// `timestamp_floor(unit, ts[, origin])`: buckets counted from `origin` (default the epoch).
    case timestampFloor(TimeUnit, count: Int64, origin: Int64), timestampCeil(TimeUnit, count: Int64)
    /// `dateadd(unit, n, ts[, tz])`: with a zone, the units are added to the local time.
    case dateadd(TimeUnit, zone: ZoneRules?), datediff(TimeUnit)
    /// `to_timezone(ts, tz)` / `to_utc(ts, tz)`: UTC ↔ local time. The zone is resolved once
    /// when constant (nil: per row from the second argument).
    case toTimezone(ZoneRules?, position: Int), toUTC(ZoneRules?, position: Int)
    case year, month, day, hour, minute, second, millis, micros, dayOfWeek, dayOfYear, weekOfYear
    case toTimestamp, toDate
    /// `to_timestamp(text, pattern)` / `to_date(text, pattern)`: text read by a QuestDB pattern.
    case parseTimestamp(DatePattern, date: Bool)
    /// `to_str(ts, pattern)`.
    case formatTimestamp(DatePattern)
    case randomDouble, randomInt(Int64, Int64), randomLong(Int64, Int64), randomBoolean, randomChoice([String], nullRate: Int64),
         randomTimestamp(Int64, Int64)
    /// `rnd_str(lo, hi, nullRate)`: A–Z strings of lo…hi letters, NULL one time in `nullRate`
    /// (0: never).
    case randomText(Int64, Int64, nullRate: Int64)
    case randomUUID, randomLong256
    /// `timestamp_sequence(start, step)`: start + step × row number.
    case timestampSequence
    /// `x` of `long_sequence`-like row numbering (row number from 1).
    case rowNumber

    /// Whether each call may give a different value (never folded to a constant).
    var isVolatile: Bool {
        switch self {
        case .randomDouble, .randomInt, .randomLong, .randomBoolean, .randomChoice, .randomTimestamp, .timestampSequence,
             .rowNumber:
            true
        default: false
        }
    }
}

/// Aggregate functions, by name as written.
enum AggregateKind: Sendable, Equatable {
    case countAll, count, countDistinct, sum, kahanSum, avg, min, max, first, last
    case stddevSample, stddevPopulation, varianceSample, variancePopulation
    case stringAgg
    /// Two-argument statistics of (Y, X) pairs where neither is NULL (PostgreSQL's argument
    /// order): covariances, correlation and the `regr_*` linear regression family.
    case covarSample, covarPopulation, correlation
    case regrCount, regrAvgX, regrAvgY, regrSXX, regrSYY, regrSXY, regrSlope, regrIntercept, regrR2
    /// `approx_percentile(x, p[, precision])`: the least value with at least p of the values at
    /// or below it — exact here (the values are kept), so within any precision asked for.
    case approxPercentile

    /// Whether the aggregate reads a (Y, X) pair.
    var isBivariate: Bool {
        switch self {
        case .covarSample, .covarPopulation, .correlation, .regrCount, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY,
             .regrSlope, .regrIntercept, .regrR2:
            true
        default: false
        }
    }

    init?(name: String, argumentCount: Int, distinct: Bool) {
        switch name {
        case "count" where argumentCount == 0: self = .countAll
        case "count" where distinct: self = .countDistinct
        case "count": self = .count
        case "count_distinct": self = .countDistinct
        case "sum": self = .sum
        case "ksum", "nsum": self = .kahanSum
        case "avg": self = .avg
        case "min": self = .min
        case "max": self = .max
        case "first", "first_value": self = .first
        case "last", "last_value": self = .last
        case "stddev", "stddev_samp": self = .stddevSample
        case "stddev_pop": self = .stddevPopulation
        case "variance", "var_samp": self = .varianceSample
        case "var_pop": self = .variancePopulation
        case "string_agg": self = .stringAgg
        case "covar_samp": self = .covarSample
        case "covar_pop": self = .covarPopulation
        case "corr": self = .correlation
        case "regr_count": self = .regrCount
        case "regr_avgx": self = .regrAvgX
        case "regr_avgy": self = .regrAvgY
        case "regr_sxx": self = .regrSXX
        case "regr_syy": self = .regrSYY
        case "regr_sxy": self = .regrSXY
        case "regr_slope": self = .regrSlope
        case "regr_intercept": self = .regrIntercept
        case "regr_r2": self = .regrR2
        case "approx_percentile": self = .approxPercentile
        default: return nil
        }
    }

    static func isAggregate(_ name: String) -> Bool {
        AggregateKind(name: name, argumentCount: 1, distinct: false) != nil
    }
}
