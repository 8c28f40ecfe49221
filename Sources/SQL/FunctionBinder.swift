import Storage

/// Resolves a scalar function call: checks arity and argument types, coerces arguments and
/// decides the result type. Units and lists that must be constants are read here.
struct FunctionBinder {
    let binder: Binder

    func bind(_ name: String, _ arguments: [SQLExpression], at position: Int) throws(SQLError) -> BoundExpression {
        var bound: [BoundExpression] = []
        for argument in arguments { bound.append(try binder.bind(argument)) }
        func arity(_ counts: ClosedRange<Int>) throws(SQLError) {
            guard counts.contains(bound.count) else {
                let expected = counts.lowerBound == counts.upperBound ? "\(counts.lowerBound)" : "\(counts.lowerBound)…\(counts.upperBound)"
                throw SQLError(.syntax, "wrong number of arguments for function `\(name)`; expected: \(expected), provided: \(bound.count)", at: position)
            }
        }
        func argument(_ index: Int, as type: SQLType) throws(SQLError) -> BoundExpression {
            try binder.coerce(bound[index], to: type, at: arguments[index].position)
        }
        func numeric(_ index: Int) throws(SQLError) -> BoundExpression {
            guard bound[index].type.isNumeric || bound[index].type.isDecimal || bound[index].type == .null else {
                throw SQLError(.typeMismatch, "numeric argument expected, not \(bound[index].type)", at: arguments[index].position)
            }
            return bound[index]
        }
        func text(_ index: Int) throws(SQLError) -> BoundExpression {
            bound[index].type.isText ? bound[index] : .cast(bound[index], to: .string, position: arguments[index].position)
        }
        func constantText(_ index: Int) throws(SQLError) -> String {
            guard case .text(let text)? = bound[index].constantValue else {
                throw SQLError(.invalidValue, "constant string expected", at: arguments[index].position)
            }
            return text
        }
        func constantInteger(_ index: Int) throws(SQLError) -> Int64 {
            switch bound[index].constantValue {
            case .integer(let number)?: return number
            case .real(let number)? where number.rounded() == number: return Int64(number)
            default: throw SQLError(.invalidValue, "constant integer expected", at: arguments[index].position)
            }
        }
        func timestamp(_ index: Int) throws(SQLError) -> BoundExpression {
            let type = bound[index].type
            if type == .timestamp { return bound[index] }
            return try argument(index, as: .timestamp)
        }
        func make(_ function: ScalarFunction, _ args: [BoundExpression], _ type: SQLType) -> BoundExpression {
            .function(function, args, type)
        }

        switch name {
        case "abs":
            try arity(1...1)
            let value = try numeric(0)
            return make(.abs, [value], value.type == .null ? .double : value.type)
        case "round":
            try arity(1...2)
            let digits = bound.count == 2 ? Int(try constantInteger(1)) : 0
            return make(.round(digits: digits), [try argument(0, as: .double)], .double)
        case "floor", "ceil", "ceiling", "sqrt", "ln", "log", "log10", "exp", "sign":
            try arity(1...1)
            _ = try numeric(0)
            let functions: [String: ScalarFunction] = [
                "floor": .floor, "ceil": .ceil, "ceiling": .ceil, "sqrt": .sqrt, "ln": .ln, "log": .log10, "log10": .log10,
                "exp": .exp, "sign": .sign,
            ]
            return make(functions[name]!, [try argument(0, as: .double)], .double)
        case "power", "pow":
            try arity(2...2)
            return make(.power, [try argument(0, as: .double), try argument(1, as: .double)], .double)
        case "length", "char_length":
            try arity(1...1)
            return make(.length, [try text(0)], .int)
        case "upper", "lower", "trim":
            try arity(1...1)
            return make(name == "upper" ? .upper : name == "lower" ? .lower : .trim, [try text(0)], .string)
        case "substring", "substr":
            try arity(2...3)
            var args = [try text(0), try argument(1, as: .long)]
            args.append(bound.count == 3 ? try argument(2, as: .long) : .constant(.integer(Int64.max), .long))
            return make(.substring, args, .string)
        case "replace":
            try arity(3...3)
            return make(.replace, [try text(0), try text(1), try text(2)], .string)
        case "left", "right":
            try arity(2...2)
            return make(name == "left" ? .left : .right, [try text(0), try argument(1, as: .long)], .string)
        case "strpos", "position":
            try arity(2...2)
            return make(.position, [try text(0), try text(1)], .int)
        case "starts_with":
            try arity(2...2)
            return make(.startsWith, [try text(0), try text(1)], .boolean)
        case "concat":
            return make(.concat, try (0..<bound.count).map { (i) throws(SQLError) in try text(i) }, .string)
        case "coalesce", "greatest", "least":
            guard !bound.isEmpty else { throw SQLError(.syntax, "\(name) needs at least one argument", at: position) }
            var type = SQLType.null
            for (index, value) in bound.enumerated() { type = try Binder.commonType(type, value.type, at: arguments[index].position) }
            let args = try (0..<bound.count).map { (i) throws(SQLError) in try argument(i, as: type) }
            let function: ScalarFunction = name == "coalesce" ? .coalesce : name == "greatest" ? .greatest : .least
            return make(function, args, type)
        case "nullif":
            try arity(2...2)
            let type = try Binder.commonType(bound[0].type, bound[1].type, at: position)
            return make(.nullif, [try argument(0, as: type), try argument(1, as: type)], type)
        case "now", "systimestamp", "sysdate", "current_timestamp":
            try arity(0...0)
            return .constant(.integer(binder.context.now), .timestamp)
        case "interval", "today", "yesterday", "tomorrow":
            // Projected, an interval is its text (see IntervalValues.swift).
            let interval = try binder.intervalBounds(name, arguments, at: position)!
            return make(.intervalText(position: position), [interval.lo, interval.hi], .varchar)
        case "interval_start", "interval_end":
            try arity(1...1)
            guard let interval = try binder.intervalBounds(arguments[0]) else {
                throw SQLError(.typeMismatch, "interval expected, not \(bound[0].type)", at: arguments[0].position)
            }
            return name == "interval_start" ? interval.lo : interval.hi
        case "timestamp_floor", "timestamp_ceil", "date_trunc":
            try arity(2...(name == "timestamp_floor" ? 3 : 2))
            let unitText = try constantText(0)
            let (unit, count) = try Self.floorUnit(unitText, truncName: name == "date_trunc", at: arguments[0].position)
            var origin: Int64 = unit == .week ? TimeArithmetic.weekOrigin : 0
            if bound.count == 3 {
                switch try argument(2, as: .timestamp).constantValue {
                case .integer(let value)?: origin = value == Int64.min ? 0 : value
                case .null?: break
                default: throw SQLError(.invalidValue, "constant timestamp expected", at: arguments[2].position)
                }
            }
            let function: ScalarFunction = name == "timestamp_ceil"
                ? .timestampCeil(unit, count: count) : .timestampFloor(unit, count: count, origin: origin)
            return make(function, [try timestamp(1)], .timestamp)
        case "dateadd":
            try arity(3...4)
            let unit = try Self.unit(try constantText(0), at: arguments[0].position)
            var zone: ZoneRules?
            if bound.count == 4 {
                guard bound[3].constantValue != nil else {
                    throw SQLError(.invalidValue, "the time zone of dateadd must be a constant", at: arguments[3].position)
                }
                if case .text(let name)? = try text(3).constantValue { zone = try TimeZones.zone(name, at: arguments[3].position) }
            }
            return make(.dateadd(unit, zone: zone), [try argument(1, as: .long), try timestamp(2)], .timestamp)
        case "to_timezone", "to_utc":
            try arity(2...2)
            let zoneText = try text(1)
            var zone: ZoneRules?
            if case .text(let name)? = zoneText.constantValue { zone = try TimeZones.zone(name, at: arguments[1].position) }
            let function: ScalarFunction = name == "to_utc"
                ? .toUTC(zone, position: arguments[1].position) : .toTimezone(zone, position: arguments[1].position)
            return make(function, [try timestamp(0), zoneText], .timestamp)
        case "datediff":
            try arity(3...3)
            let unit = try Self.unit(try constantText(0), at: arguments[0].position)
            return make(.datediff(unit), [try timestamp(1), try timestamp(2)], .long)
        case "year", "month", "day", "hour", "minute", "second", "millis", "micros", "day_of_week", "day_of_year",
             "week_of_year", "extract_dow":
            try arity(1...1)
            let functions: [String: ScalarFunction] = [
                "year": .year, "month": .month, "day": .day, "hour": .hour, "minute": .minute, "second": .second,
                "millis": .millis, "micros": .micros, "day_of_week": .dayOfWeek, "day_of_year": .dayOfYear,
                "week_of_year": .weekOfYear, "extract_dow": .dayOfWeek,
            ]
            return make(functions[name]!, [try timestamp(0)], .int)
        case "extract":
            // `extract(part FROM ts)` (the parser makes the part a string): QuestDB's parts,
            // PostgreSQL's meanings; INT, but LONG for epoch, milliseconds and microseconds.
            try arity(2...2)
            return try Self.extract(try constantText(0).lowercased(), try timestamp(1), at: arguments[0].position)
        case "to_timestamp", "to_date":
            try arity(1...2)
            let type: SQLType = name == "to_date" ? .column(.date) : .timestamp
            if bound.count == 2 {
                return make(.parseTimestamp(DatePattern(try constantText(1)), date: name == "to_date"), [try text(0)], type)
            }
            return make(name == "to_date" ? .toDate : .toTimestamp, [try text(0)], type)
        case "to_str":
            try arity(2...2)
            return make(.formatTimestamp(DatePattern(try constantText(1), formatting: true)), [try timestamp(0)], .string)
        case "rnd_double":
            try arity(0...1)
            return make(.randomDouble, [], .double)
        case "rnd_int", "rnd_long":
            try arity(0...3)
            let low = bound.count >= 2 ? try constantInteger(0) : (name == "rnd_int" ? Int64(Int32.min) + 1 : Int64.min + 1)
            let high = bound.count >= 2 ? try constantInteger(1) : (name == "rnd_int" ? Int64(Int32.max) : Int64.max)
            guard low <= high else { throw SQLError(.invalidValue, "invalid range", at: position) }
            return make(name == "rnd_int" ? .randomInt(low, high) : .randomLong(low, high), [], name == "rnd_int" ? .int : .long)
        case "rnd_boolean":
            try arity(0...0)
            return make(.randomBoolean, [], .boolean)
        case "rnd_symbol", "rnd_str", "rnd_varchar":
            guard !bound.isEmpty else { throw SQLError(.syntax, "\(name) needs a list of values", at: position) }
            let type: SQLType = name == "rnd_symbol" ? .symbol : name == "rnd_varchar" ? .varchar : .string
            if case .integer? = bound[0].constantValue {
                // The generated forms: rnd_str(lo, hi, nullRate), rnd_symbol(count, lo, hi, nullRate).
                let symbol = name == "rnd_symbol"
                try arity(symbol ? 4...4 : 3...3)
                let numbers = try (0..<bound.count).map { (i) throws(SQLError) in try constantInteger(i) }
                let (low, high, nullRate) = symbol ? (numbers[1], numbers[2], numbers[3]) : (numbers[0], numbers[1], numbers[2])
                guard low >= 0, low <= high, high <= 1024, nullRate >= 0 else {
                    throw SQLError(.invalidValue, "invalid range [lo=\(low), hi=\(high), nullRate=\(nullRate)]", at: position)
                }
                if symbol {
                    guard (1...100_000).contains(numbers[0]) else { throw SQLError(.invalidValue, "symbol count must be 1…100000", at: arguments[0].position) }
                    let choices = (0..<numbers[0]).map { _ in FunctionEvaluator.randomLetters(low...high) }
                    return make(.randomChoice(choices, nullRate: nullRate), [], type)
                }
                return make(.randomText(low, high, nullRate: nullRate), [], type)
            }
            let values = try (0..<bound.count).map { (i) throws(SQLError) in try constantText(i) }
            return make(.randomChoice(values, nullRate: 0), [], type)
        case "rnd_char", "rnd_short", "rnd_byte", "rnd_ipv4":
            try arity(0...0)
            let (low, high, type): (Int64, Int64, SQLType) = switch name {
            case "rnd_char": (65, 90, .column(.char))
            case "rnd_short": (Int64(Int16.min), Int64(Int16.max), .short)
            case "rnd_byte": (Int64(Int8.min), Int64(Int8.max), .column(.byte))
            default: (1, Int64(UInt32.max), .column(.ipv4))
            }
            return make(.randomInt(low, high), [], type)
        case "rnd_float":
            try arity(0...1)
            return make(.randomDouble, [], .float)
        case "rnd_geohash":
            try arity(1...1)
            let bits = try constantInteger(0)
            guard (1...60).contains(bits) else { throw SQLError(.invalidValue, "precision must be 1…60 bits", at: arguments[0].position) }
            return make(.randomLong(0, (Int64(1) << bits) - 1), [], .column(.geohash(bits: Int(bits))))
        case "rnd_uuid4":
            try arity(0...0)
            return make(.randomUUID, [], .uuid)
        case "rnd_long256":
            try arity(0...1)
            return make(.randomLong256, [], .column(.long256))
        case "rnd_timestamp":
            try arity(3...3)
            return make(.randomTimestamp(try constantInteger(0), try constantInteger(1)), [], .timestamp)
        case "timestamp_sequence":
            try arity(2...2)
            return make(.timestampSequence, [try timestamp(0), try argument(1, as: .long)], .timestamp)
        // Session and server information PostgreSQL tools ask for (QUESTDB-COMPAT §5.4).
        case "version":
            try arity(0...0)
            return .constant(.text(Self.versionText), .string)
        case "build":
            // QuestDB's `SELECT build`: clients parse the `QuestDB x.y.z` in it.
            try arity(0...0)
            return .constant(.text(Self.buildText), .string)
        case "current_database", "current_catalog":
            try arity(0...0)
            return .constant(.text("qdb"), .string)
        case "current_schema":
            try arity(0...0)
            return .constant(.text("public"), .string)
        case "current_user", "session_user", "user", "getpgusername":
            try arity(0...0)
            return .constant(.text(binder.context.user), .string)
        case "pg_is_in_recovery":
            try arity(0...0)
            return .constant(.boolean(binder.context.readOnly), .boolean)
        case "current_setting":
            try arity(1...2)
            let setting = try constantText(0).lowercased()
            guard let value = SessionSettings.value(of: setting, readOnly: binder.context.readOnly) else {
                if bound.count == 2, case .boolean(true)? = bound[1].constantValue { return .constant(.null, .string) }
                throw SQLError(.undefinedObject, "unrecognized configuration parameter \"\(setting)\"", at: arguments[0].position)
            }
            return .constant(.text(value), .string)
        // Catalog helpers psql and ORMs call; every table is visible and owned by the one user.
        case "pg_table_is_visible", "has_table_privilege", "has_schema_privilege", "has_database_privilege":
            return .constant(.boolean(true), .boolean)
        case "pg_get_userbyid":
            try arity(1...1)
            return .constant(.text(binder.context.user), .string)
        case "pg_encoding_to_char":
            try arity(1...1)
            return .constant(.text("UTF8"), .string)
        case "pg_collation_is_visible":
            return .constant(.boolean(true), .boolean)
        case "pg_get_serial_sequence":
            // No column owns a sequence here.
            try arity(2...2)
            return .constant(.null, .string)
        case "json_build_object":
            guard bound.count % 2 == 0 else {
                throw SQLError(.syntax, "argument list must have even number of elements", at: position)
            }
            return make(.jsonBuildObject, bound, .string)
        case "pg_get_expr", "pg_get_indexdef", "pg_get_constraintdef", "obj_description", "col_description", "shobj_description",
             "pg_get_partkeydef", "pg_get_viewdef":
            return .constant(.null, .string)
        case "to_regtype":
            try arity(1...1)
            // Described without values, a `$1` argument is not known yet: the result type is.
            if binder.context.inference != nil, bound[0].constantValue == .null { return .constant(.null, .int) }
            let name = try constantText(0).lowercased()
            let oid = PostgresCatalog.types.first { $0.name == name }?.oid ?? PostgresCatalog.oid(ofTypeName: name)
            return .constant(oid.map(SQLValue.integer) ?? .null, .int)
        case "format_type":
            try arity(1...2)
            guard case .integer(let oid)? = bound[0].constantValue else {
                return make(.formatType, [try argument(0, as: .long)], .string)
            }
            return .constant(PostgresCatalog.typeName(oid: oid).map(SQLValue.text) ?? .null, .string)
        case "array_to_string":
            try arity(2...3)
            return try text(0)
        case "pg_backend_pid":
            try arity(0...0)
            return .constant(.integer(0), .int)
        case "txid_current":
            try arity(0...0)
            return .constant(.integer(binder.context.now), .long)
        default:
            throw SQLError(.undefinedFunction, "unknown function name: \(name)(\(bound.map(\.type.description).joined(separator: ",")))", at: position)
        }
    }

    /// Functions SQL lets a statement name without parentheses (`SELECT current_user`).
    private static func extract(_ part: String, _ ts: BoundExpression, at position: Int) throws(SQLError) -> BoundExpression {
        func int(_ n: Int64) -> BoundExpression { .constant(.integer(n), .int) }
        func long(_ n: Int64) -> BoundExpression { .constant(.integer(n), .long) }
        func call(_ function: ScalarFunction) -> BoundExpression { .function(function, [ts], .int) }
        func math(_ op: ArithmeticOperator, _ a: BoundExpression, _ b: BoundExpression, _ type: SQLType = .int) -> BoundExpression {
            .arithmetic(op, a, b, type)
        }
        func widened(_ e: BoundExpression) -> BoundExpression { .cast(e, to: .long, position: position) }
        let year = call(.year)
        switch part {
        case "year", "years": return year
        case "month", "months": return call(.month)
        case "day", "days": return call(.day)
        case "hour", "hours": return call(.hour)
        case "minute", "minutes": return call(.minute)
        case "second", "seconds": return call(.second)
        case "doy": return call(.dayOfYear)
        case "week", "weeks": return call(.weekOfYear)
        case "isodow": return call(.dayOfWeek)
        // Sunday is 0.
        case "dow": return math(.remainder, call(.dayOfWeek), int(7))
        case "quarter": return math(.divide, math(.add, call(.month), int(2)), int(3))
        case "decade", "decades": return math(.divide, year, int(10))
        // The 21st century and the 3rd millennium began in 2001.
        case "century", "centuries": return math(.divide, math(.add, year, int(99)), int(100))
        case "millennium", "millenniums", "millennia": return math(.divide, math(.add, year, int(999)), int(1000))
        case "epoch": return math(.divide, .cast(ts, to: .long, position: position), long(1_000_000), .long)
        // Of the minute, seconds included, as PostgreSQL and QuestDB count them.
        case "millisecond", "milliseconds":
            return math(.add, math(.multiply, widened(call(.second)), long(1000), .long), widened(call(.millis)), .long)
        case "microsecond", "microseconds":
            let millis = math(.add, math(.multiply, widened(call(.second)), long(1000), .long), widened(call(.millis)), .long)
            return math(.add, math(.multiply, millis, long(1000), .long), widened(call(.micros)), .long)
        case "isoyear":
            // January days in the previous year's last ISO week, December days in the next's first.
            let week = call(.weekOfYear), month = call(.month)
            let early = BoundExpression.and(.comparison(.greaterOrEqual, week, int(52)), .comparison(.equal, month, int(1)))
            let late = BoundExpression.and(.comparison(.equal, week, int(1)), .comparison(.equal, month, int(12)))
            return .caseWhen([(early, math(.subtract, year, int(1))), (late, math(.add, year, int(1)))], otherwise: year, .int)
        default:
            throw SQLError(.invalidValue, "unsupported part '\(part)'", at: position)
        }
    }

    static let bareFunctions: Set<String> = ["current_user", "session_user", "user", "current_schema", "current_catalog", "build"]
    static let buildText = "Build Information: QuestDB \(SundialVersion.questDBCompatible) (compatible), Sundial \(SundialVersion.current)"

    /// What `version()` answers: PostgreSQL's form first, which drivers parse for a version.
    static let versionText = "PostgreSQL 12.3 on x86_64-pc-linux-gnu, compiled by Sundial (QuestDB-compatible), 64-bit"

    /// `'h'`, `'15m'` (timestamp_floor) or `'hour'` (date_trunc) → unit and multiple.
    static func floorUnit(_ text: String, truncName: Bool, at position: Int) throws(SQLError) -> (TimeUnit, Int64) {
        if truncName {
            let names: [String: TimeUnit] = [
                "microseconds": .microsecond, "milliseconds": .millisecond, "second": .second, "minute": .minute,
                "hour": .hour, "day": .day, "week": .week, "month": .month, "year": .year,
            ]
            guard let unit = names[text.lowercased()] else { throw SQLError(.invalidValue, "invalid unit '\(text)'", at: position) }
            return (unit, 1)
        }
        let digits = text.prefix { $0.isNumber }
        let count = digits.isEmpty ? 1 : Int64(digits) ?? 0
        guard count > 0, let unit = TimeUnit(letter: String(text.dropFirst(digits.count))) else {
            throw SQLError(.invalidValue, "invalid unit '\(text)'", at: position)
        }
        return (unit, count)
    }

    static func unit(_ text: String, at position: Int) throws(SQLError) -> TimeUnit {
        guard let unit = TimeUnit(letter: text) else { throw SQLError(.invalidValue, "invalid time unit '\(text)'", at: position) }
        return unit
    }
}
