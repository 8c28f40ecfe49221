#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Storage

/// Evaluates scalar functions over a batch, one typed loop per call.
struct FunctionEvaluator {
    let evaluator: ExpressionEvaluator

    var count: Int { evaluator.count }

    func evaluate(_ function: ScalarFunction, _ arguments: [BoundExpression], _ type: SQLType) throws(SQLError) -> ColumnVector {
        var values: [ColumnVector] = []
        for argument in arguments { values.append(try evaluator.evaluate(argument)) }
        switch function {
        case .abs:
            if type.representation == .real { return .real(values[0].reals.map { Swift.abs($0) }) }
            if case .wide(let wides) = values[0] { return .wide(wides.map { $0.isNegative && $0 != .min ? $0.negated : $0 }) }
            let null = type.integerNull
            return .integer(values[0].integers.map { $0 == null ? null : Swift.abs($0) })
        case .round(let digits):
            let scale = pow10(digits)
            return .real(values[0].reals.map { ($0 * scale).rounded(.toNearestOrAwayFromZero) / scale })
        case .floor: return .real(values[0].reals.map { $0.rounded(.down) })
        case .ceil: return .real(values[0].reals.map { $0.rounded(.up) })
        case .sqrt: return .real(values[0].reals.map { $0 < 0 ? .nan : $0.squareRoot() })
        case .sign: return .real(values[0].reals.map { $0.isNaN ? .nan : $0 > 0 ? 1 : $0 < 0 ? -1 : 0 })
        case .ln: return .real(values[0].reals.map { Self.naturalLog($0) })
        case .log10: return .real(values[0].reals.map { $0 < 0 ? .nan : log10($0) })
        case .exp: return .real(values[0].reals.map { Self.exponential($0) })
        case .power:
            return .real(zip(values[0].reals, values[1].reals).map { Self.power($0, $1) })
        case .length:
            // QuestDB's length of a NULL string is -1.
            return .integer(values[0].asText(arguments[0].type).map { $0.map { Int64($0.count) } ?? -1 })
        case .upper: return .text(values[0].asText(arguments[0].type).map { $0?.uppercased() })
        case .formatType: return .text(values[0].integers.map { PostgresCatalog.typeName(oid: $0) })
        case .jsonBuildObject: return .text(Self.jsonObjects(values, arguments.map(\.type), count: count))
        case .lower: return .text(values[0].asText(arguments[0].type).map { $0?.lowercased() })
        case .trim: return .text(values[0].asText(arguments[0].type).map { $0?.trimmingCharacters(in: " ") })
        case .substring:
            let texts = values[0].asText(arguments[0].type), starts = values[1].integers, lengths = values[2].integers
            return .text((0..<count).map { i in
                guard let text = texts[i], starts[i] != Int64.min, lengths[i] != Int64.min else { return nil }
                let characters = Array(text)
                let start = max(0, Int(clamping: starts[i]) - 1)
                let end = min(characters.count, start + Int(clamping: max(0, lengths[i])))
                return start < end ? String(characters[start..<end]) : ""
            })
        case .replace:
            let texts = values[0].asText(arguments[0].type), from = values[1].asText(arguments[1].type), to = values[2].asText(arguments[2].type)
            return .text((0..<count).map { i in
                guard let text = texts[i], let f = from[i], let t = to[i] else { return nil }
                return f.isEmpty ? text : text.replacing(f, with: t)
            })
        case .left, .right:
            let texts = values[0].asText(arguments[0].type), lengths = values[1].integers
            return .text((0..<count).map { i in
                guard let text = texts[i], lengths[i] != Int64.min else { return nil }
                let n = max(0, Int(clamping: lengths[i]))
                return String(function.isLeft ? text.prefix(n) : text.suffix(n))
            })
        case .position:
            let texts = values[0].asText(arguments[0].type), parts = values[1].asText(arguments[1].type)
            return .integer((0..<count).map { i in
                guard let text = texts[i], let part = parts[i] else { return Int64.min }
                guard let range = text.firstRange(of: part) else { return 0 }
                return Int64(text.distance(from: text.startIndex, to: range.lowerBound) + 1)
            })
        case .startsWith:
            let texts = values[0].asText(arguments[0].type), prefixes = values[1].asText(arguments[1].type)
            return .boolean((0..<count).map { i in texts[i].flatMap { t in prefixes[i].map { t.hasPrefix($0) } } ?? false })
        case .concat:
            var out = [String](repeating: "", count: count)
            for (index, vector) in values.enumerated() {
                let texts = vector.asText(arguments[index].type)
                for i in 0..<count { out[i] += texts[i] ?? "" }
            }
            return .text(out)
        case .coalesce, .greatest, .least, .nullif:
            return choose(function, values, type)
        case .now, .today, .toDate, .toTimestamp:
            let texts = values.first?.asText(arguments[0].type) ?? []
            return .integer(texts.map { text in
                guard let text, let period = TimestampText.parse(text) else { return Int64.min }
                return function.isToDate ? TimeArithmetic.floorDivide(period.start, 1000) : period.start
            })
        case .parseTimestamp(let pattern, let date):
            return .integer(values[0].asText(arguments[0].type).map { text in
                guard let text, let instant = pattern.parse(text) else { return Int64.min }
                return date ? TimeArithmetic.floorDivide(instant, 1000) : instant
            })
        case .formatTimestamp(let pattern):
            return .text(values[0].integers.map { $0 == Int64.min ? nil : pattern.format($0) })
        case .timestampFloor(let unit, let count, let origin):
            return .integer(values[0].integers.map { TimeArithmetic.floor($0, unit, count: count, origin: origin) })
        case .timestampCeil(let unit, let count):
            return .integer(values[0].integers.map { value in
                let floor = TimeArithmetic.floor(value, unit, count: count, origin: unit == .week ? TimeArithmetic.weekOrigin : 0)
                return floor == value || value == Int64.min ? value : TimeArithmetic.add(unit, count, to: floor)
            })
        case .dateadd(let unit, let zone):
            let amounts = values[0].integers, instants = values[1].integers
            var cursor = zone.map(ZoneCursor.init)
            return .integer((0..<count).map { i in
                guard amounts[i] != Int64.min else { return Int64.min }
                guard cursor != nil, instants[i] != Int64.min else { return TimeArithmetic.add(unit, amounts[i], to: instants[i]) }
                let local = TimeArithmetic.add(unit, amounts[i], to: cursor!.local(fromUTC: instants[i]))
                return local == Int64.min ? local : cursor!.utc(fromLocal: local)
            })
        case .toTimezone(let zone, let position), .toUTC(let zone, let position):
            let instants = values[0].integers
            let toLocal = if case .toTimezone = function { true } else { false }
            if let zone {
                var cursor = ZoneCursor(zone)
                return .integer(instants.map { toLocal ? cursor.local(fromUTC: $0) : cursor.utc(fromLocal: $0) })
            }
            let zones = try Self.zones(values[1], arguments[1].type, at: position)
            var cursors = zones.cursors
            return .integer((0..<count).map { i in
                guard instants[i] != Int64.min, let index = zones.rows[i] else { return Int64.min }
                return toLocal ? cursors[index].local(fromUTC: instants[i]) : cursors[index].utc(fromLocal: instants[i])
            })
        case .intervalText(let position):
            let lows = values[0].integers, highs = values[1].integers
            var texts: [String?] = []
            texts.reserveCapacity(count)
            for i in 0..<count {
                if lows[i] == Int64.min || highs[i] == Int64.min {
                    texts.append(nil)
                    continue
                }
                guard lows[i] <= highs[i] else { throw SQLError(.invalidValue, "invalid interval boundaries", at: position) }
                texts.append(IntervalText.format(lo: lows[i], hi: highs[i]))
            }
            return .text(texts)
        case .datediff(let unit):
            let a = values[0].integers, b = values[1].integers
            return .integer((0..<count).map { i in Self.difference(unit, a[i], b[i]) })
        case .year, .month, .day, .hour, .minute, .second, .millis, .micros, .dayOfWeek, .dayOfYear, .weekOfYear:
            return .integer(values[0].integers.map { Self.field(function, $0) })
        case .randomDouble:
            var generator = SystemRandomNumberGenerator()
            return .real((0..<count).map { _ in Double.random(in: 0..<1, using: &generator) })
        case .randomInt(let low, let high), .randomLong(let low, let high), .randomTimestamp(let low, let high):
            var generator = SystemRandomNumberGenerator()
            return .integer((0..<count).map { _ in Int64.random(in: low...high, using: &generator) })
        case .randomBoolean:
            return .boolean((0..<count).map { _ in Bool.random() })
        case .randomChoice(let choices, let nullRate):
            return .text((0..<count).map { _ in nullRate > 0 && Int64.random(in: 0..<nullRate) == 0 ? nil : choices.randomElement() })
        case .randomText(let low, let high, let nullRate):
            return .text((0..<count).map { _ in
                if nullRate > 0 && Int64.random(in: 0..<nullRate) == 0 { return nil }
                return Self.randomLetters(low...high)
            })
        case .randomUUID:
            return .text((0..<count).map { _ in
                // Version 4 (the high half's nibble 12–15), variant 1 (the low half's top bits), as
                // QuestDB's rnd_uuid4.
                let high = UInt64.random(in: 0...UInt64.max) & ~0xF000 | 0x4000
                let low = UInt64.random(in: 0...UInt64.max) & ~(0xC0 << 56) | (0x80 << 56)
                return ColumnReader.uuidText(high: high, low: low)
            })
        case .randomLong256:
            return .text((0..<count).map { _ in "0x" + (0..<4).map { _ in
                let word = String(UInt64.random(in: 0...UInt64.max), radix: 16)
                return String(repeating: "0", count: 16 - word.count) + word
            }.joined() })
        case .timestampSequence:
            let starts = values[0].integers, steps = values[1].integers
            return .integer((0..<count).map { i in starts[i] &+ steps[i] &* (evaluator.firstRow + Int64(i)) })
        case .rowNumber:
            return .integer((0..<count).map { evaluator.firstRow + Int64($0) + 1 })
        }
    }

    /// Each row's zone named by text: one cursor per distinct name, and per row the index of
    /// its cursor (nil for NULL).
    private static func zones(
        _ names: ColumnVector, _ type: SQLType, at position: Int
    ) throws(SQLError) -> (cursors: [ZoneCursor], rows: [Int?]) {
        var known: [String: Int] = [:]
        var cursors: [ZoneCursor] = []
        var rows: [Int?] = []
        for name in names.asText(type) {
            guard let name else {
                rows.append(nil)
                continue
            }
            if let index = known[name] {
                rows.append(index)
            } else {
                known[name] = cursors.count
                rows.append(cursors.count)
                cursors.append(ZoneCursor(try TimeZones.zone(name, at: position)))
            }
        }
        return (cursors, rows)
    }

    private func choose(_ function: ScalarFunction, _ values: [ColumnVector], _ type: SQLType) -> ColumnVector {
        var result = values[0]
        if case .nullif = function {
            let equal = Self.equalMask(values[0], values[1], type)
            return result.merging(ColumnVector.nulls(type, count: count), where: equal, type: type)
        }
        for candidate in values.dropFirst() {
            let resultNull = result.nullMask(type)
            let candidateNull = candidate.nullMask(type)
            var take = [Bool](repeating: false, count: count)
            switch function {
            case .coalesce:
                for i in 0..<count { take[i] = resultNull[i] && !candidateNull[i] }
            default:
                let greater = function.isGreatest
                switch (result, candidate) {
                case (.integer(let a), .integer(let b)):
                    for i in 0..<count where !candidateNull[i] { take[i] = resultNull[i] || (greater ? b[i] > a[i] : b[i] < a[i]) }
                case (.real(let a), .real(let b)):
                    for i in 0..<count where !candidateNull[i] { take[i] = resultNull[i] || (greater ? b[i] > a[i] : b[i] < a[i]) }
                default:
                    let a = result.asText(type), b = candidate.asText(type)
                    for i in 0..<count where !candidateNull[i] {
                        take[i] = resultNull[i] || (greater ? b[i]! > a[i]! : b[i]! < a[i]!)
                    }
                }
            }
            result = result.merging(candidate, where: take, type: type)
        }
        return result
    }

    private static func equalMask(_ a: ColumnVector, _ b: ColumnVector, _ type: SQLType) -> [Bool] {
        switch (a, b) {
        case (.integer(let x), .integer(let y)): zip(x, y).map { $0 == $1 }
        case (.real(let x), .real(let y)): zip(x, y).map { $0 == $1 }
        case (.boolean(let x), .boolean(let y)): zip(x, y).map { $0 == $1 }
        default: zip(a.asText(type), b.asText(type)).map { $0 != nil && $0 == $1 }
        }
    }

    private func pow10(_ digits: Int) -> Double {
        var scale = 1.0
        for _ in 0..<Swift.abs(digits) { scale *= 10 }
        return digits >= 0 ? scale : 1 / scale
    }

    /// A–Z letters, as many as a random pick from `lengths` (QuestDB's rnd_str alphabet).
    static func randomLetters(_ lengths: ClosedRange<Int64>) -> String {
        String((0..<Int64.random(in: lengths)).map { _ in Character(UnicodeScalar(UInt8.random(in: 65...90))) })
    }

    static func field(_ function: ScalarFunction, _ instant: Int64) -> Int64 {
        // NULL in, NULL out (an INT vector's NULL is Int64.min, like every integer vector's).
        guard instant != Int64.min else { return Int64.min }
        let (days, within) = TimeArithmetic.split(instant)
        let date = PartitionTime.civil(fromDays: days)
        switch function {
        case .year: return Int64(date.year)
        case .month: return Int64(date.month)
        case .day: return Int64(date.day)
        case .hour: return within / 3_600_000_000
        case .minute: return within / 60_000_000 % 60
        case .second: return within / 1_000_000 % 60
        case .millis: return within / 1000 % 1000
        case .micros: return within % 1000
        case .dayOfWeek: return (days + 3) %% 7 + 1  // 1 = Monday … 7 = Sunday
        case .dayOfYear: return days - PartitionTime.days(fromYear: date.year, month: 1, day: 1) + 1
        case .weekOfYear: return Int64(PartitionTime.isoWeek(ofDays: days).week)
        default: return Int64.min
        }
    }

    static func difference(_ unit: TimeUnit, _ a: Int64, _ b: Int64) -> Int64 {
        guard a != Int64.min, b != Int64.min else { return Int64.min }
        switch unit {
        case .month, .year:
            let months = TimeArithmetic.monthIndex(a) - TimeArithmetic.monthIndex(b)
            return Swift.abs(unit == .year ? months / 12 : months)
        case .nanosecond: return Swift.abs(a - b) * 1000
        default: return Swift.abs(a - b) / unit.fixedMicros!
        }
    }

    static func naturalLog(_ x: Double) -> Double { x < 0 ? .nan : log(x) }

    static func exponential(_ x: Double) -> Double { exp(x) }

    static func power(_ base: Double, _ exponent: Double) -> Double { pow(base, exponent) }

    /// `json_build_object` rows: keys as JSON strings; numbers and booleans bare, NULL as
    /// `null`, everything else a JSON string.
    static func jsonObjects(_ values: [ColumnVector], _ types: [SQLType], count: Int) -> [String?] {
        var out = [String](repeating: "{", count: count)
        for pair in stride(from: 0, to: values.count, by: 2) {
            let keys = values[pair].asText(types[pair]), texts = values[pair + 1].asText(types[pair + 1])
            let bare = types[pair + 1].isNumeric || types[pair + 1] == .boolean
            for row in 0..<count {
                if pair > 0 { out[row] += ", " }
                out[row] += JSONText.quoted(keys[row] ?? "") + " : " + (texts[row].map { bare ? $0 : JSONText.quoted($0) } ?? "null")
            }
        }
        return out.map { $0 + "}" }
    }
}

infix operator %% : MultiplicationPrecedence

/// Modulo with a non-negative result.
func %% (value: Int64, divisor: Int64) -> Int64 {
    let remainder = value % divisor
    return remainder < 0 ? remainder + divisor : remainder
}

extension ScalarFunction {
    var isLeft: Bool { if case .left = self { true } else { false } }
    var isToDate: Bool { if case .toDate = self { true } else { false } }
    var isGreatest: Bool { if case .greatest = self { true } else { false } }
}
