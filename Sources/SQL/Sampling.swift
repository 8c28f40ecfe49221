import Storage

/// SAMPLE BY: bucket boundaries (calendar-aligned by default, or from FROM / the first
/// observation, shifted by WITH OFFSET), the FROM/TO row range, and filling of empty buckets.
struct Sampling {
    let unit: TimeUnit
    let count: Int64
    let from: Int64?
    let to: Int64?
    let fills: [SampleBy.Fill]
    let fillValues: [SQLValue?]
    private var origin: Int64?
    private let position: Int
    /// ALIGN TO CALENDAR TIME ZONE (not UTC): buckets of a day or longer follow the zone's
    /// local calendar (a DST day is 23 or 25 hours); shorter ones are uniform in UTC, shifted
    /// by the zone's standard offset (QuestDB's rule). `origin` is then in local time.
    private var zone: ZoneRules?

    init(_ sample: SampleBy, timestampIndex: Int, executor: QueryExecutor) throws(SQLError) {
        unit = sample.unit
        count = sample.count
        position = sample.position
        guard unit != .nanosecond else { throw SQLError(.unsupported, "nanosecond sampling needs a TIMESTAMP_NS table", at: sample.position) }
        if let micros = unit.fixedMicros, count.multipliedReportingOverflow(by: micros).overflow {
            throw SQLError(.invalidValue, "sample interval is too large", at: sample.position)
        }
        let binder = Binder(scope: Scope(columns: [], timestampIndex: nil), context: executor.bindingContext)
        func instant(_ expression: SQLExpression?) throws(SQLError) -> Int64? {
            guard let expression else { return nil }
            let bound = try binder.coerce(try binder.bind(expression), to: .timestamp, at: expression.position)
            guard case .integer(let value)? = bound.constantValue else {
                throw SQLError(.invalidValue, "FROM and TO must be constant timestamps", at: expression.position)
            }
            return value
        }
        from = try instant(sample.from)
        to = try instant(sample.to)
        fills = sample.fill
        fillValues = try sample.fill.map { (fill) throws(SQLError) -> SQLValue? in
            if case .value(let expression) = fill { return try binder.bind(expression).constantValue }
            return nil
        }
        switch sample.alignment {
        case .firstObservation:
            origin = from
        case .calendar(let timeZone, let offset):
            if let timeZone {
                let rules = try TimeZones.zone(timeZone, at: sample.position)
                if !(rules.transitions.isEmpty && rules.tail == nil && rules.initialOffset == 0) { zone = rules }
            }
            var base: Int64 = unit == .week ? TimeArithmetic.weekOrigin : 0
            if let from {
                if let zone {
                    base = isSubDay ? ZoneRules.shifted(from, by: zone.standardOffset(atUTC: from)) : zone.local(fromUTC: from)
                } else {
                    base = from
                }
            }
            if let offset {
                guard let shift = Self.offset(offset) else {
                    throw SQLError(.invalidValue, "invalid offset '\(offset)': expected [+-]hh:mm", at: sample.position)
                }
                base += shift
            }
            origin = base
        }
    }

    /// `[+-]hh:mm` → µs.
    static func offset(_ text: String) -> Int64? {
        var rest = Substring(text)
        var sign: Int64 = 1
        if rest.hasPrefix("-") { sign = -1; rest = rest.dropFirst() } else if rest.hasPrefix("+") { rest = rest.dropFirst() }
        let parts = rest.split(separator: ":")
        guard parts.count == 2, let hours = Int64(parts[0]), let minutes = Int64(parts[1]), minutes < 60 else { return nil }
        return sign * (hours * 60 + minutes) * 60_000_000
    }

    /// Whether buckets are known before any row is seen (not ALIGN TO FIRST OBSERVATION
    /// without FROM), so scans over parts of the rows agree on them.
    var originIsFixed: Bool { origin != nil }

    /// Buckets of one fixed length from a known origin, in UTC — (step, origin) in µs, a bucket
    /// being `origin + ⌊(ts − origin) / step⌋ × step` — or nil for calendar months and years, time
    /// zones and alignment to a first observation not known yet (`DirectAggregation` takes these).
    var fixedBuckets: (step: Int64, origin: Int64)? {
        guard zone == nil, let origin, let micros = unit.fixedMicros else { return nil }
        let (step, overflow) = count.multipliedReportingOverflow(by: micros)
        return overflow || step <= 0 ? nil : (step, origin)
    }

    /// Rows outside [FROM, TO) are not sampled.
    var rowRange: Range<Int64>? {
        guard from != nil || to != nil else { return nil }
        return (from ?? Int64.min)..<(to ?? Int64.max)
    }

    /// Bucket start of each timestamp.
    mutating func buckets(_ timestamps: [Int64]) -> [Int64] {
        if origin == nil { origin = timestamps.first { $0 != Int64.min } ?? 0 }
        let origin = origin!
        if let zone {
            // Rows come mostly in time order: the last bucket's range answers most of them
            // without looking at the zone's rules.
            var last: Range<Int64> = 0..<0
            return timestamps.map { instant in
                if last.contains(instant) { return last.lowerBound }
                let bucket = zonedBucket(instant, zone, origin: origin)
                if bucket != Int64.min {
                    let end = isSubDay ? bucket &+ count &* unit.fixedMicros! : next(bucket)
                    last = end > bucket ? bucket..<end : 0..<0
                }
                return bucket
            }
        }
        switch unit {
        case .month, .year:
            return timestamps.map { TimeArithmetic.floor($0, unit, count: count, origin: origin) }
        default:
            let step = count &* unit.fixedMicros!
            return timestamps.map { $0 == Int64.min ? $0 : origin &+ TimeArithmetic.floorDivide($0 &- origin, step) &* step }
        }
    }

    private var isSubDay: Bool { unit.fixedMicros.map { $0 < TimeArithmetic.microsPerDay } ?? false }

    /// The bucket of `instant` in a time zone (see `zone`).
    private func zonedBucket(_ instant: Int64, _ zone: ZoneRules, origin: Int64) -> Int64 {
        guard instant != Int64.min else { return instant }
        if isSubDay {
            let standard = zone.standardOffset(atUTC: instant)
            let local = TimeArithmetic.floor(ZoneRules.shifted(instant, by: standard), unit, count: count, origin: origin)
            return local == Int64.min ? local : ZoneRules.shifted(local, by: -standard)
        }
        return zone.utc(fromLocal: TimeArithmetic.floor(zone.local(fromUTC: instant), unit, count: count, origin: origin))
    }

    private func next(_ bucket: Int64) -> Int64 {
        guard let zone, !isSubDay, let origin else { return TimeArithmetic.add(unit, count, to: bucket) }
        let following = TimeArithmetic.add(unit, count, to: zone.local(fromUTC: bucket))
        return zone.utc(fromLocal: TimeArithmetic.floor(following, unit, count: count, origin: origin))
    }

    /// Groups ordered by bucket (then key order of first appearance), with empty buckets
    /// filled as FILL asks.
    func complete(
        _ groups: ColumnBatch, bucketColumn: Int, keyColumns: [Int], aggregateColumns: [Int], types: [SQLType], context: QueryContext
    ) throws(SQLError) -> ColumnBatch {
        let buckets = groups.columns[bucketColumn].integers
        var order = Array(0..<groups.count)
        order.sort { buckets[$0] != buckets[$1] ? buckets[$0] < buckets[$1] : $0 < $1 }
        let sorted = groups.gather(order)
        let filling = fills.contains { $0 != .none }
        guard filling, !(sorted.count == 0 && (from == nil || to == nil)) else { return sorted }

        // Key combinations in order of first appearance.
        var atomizers = keyColumns.map { KeyAtomizer(type: types[$0]) }
        var table = GroupTable(width: keyColumns.count)
        let combos = table.groups(keyColumns.enumerated().map { atomizers[$0.offset].atoms(sorted.columns[$0.element]) }, rows: sorted.count)
        let comboCount = max(table.count, keyColumns.isEmpty ? 1 : 0)
        var representative = [Int](repeating: -1, count: comboCount)
        for (row, combo) in combos.enumerated() where representative[Int(combo)] < 0 { representative[Int(combo)] = row }

        let sortedBuckets = sorted.columns[bucketColumn].integers
        let first = from ?? sortedBuckets.first ?? 0
        let last = to ?? (sortedBuckets.last.map { next($0) } ?? first)
        var existing: [Int64: [Int32: Int]] = [:]
        for row in 0..<sorted.count { existing[sortedBuckets[row], default: [:]][combos.isEmpty ? 0 : combos[row]] = row }

        // Per output row: (bucket, combo, source row or −1).
        var plan: [(bucket: Int64, combo: Int, row: Int)] = []
        var bucket = first
        while bucket < last {
            for combo in 0..<comboCount {
                plan.append((bucket, combo, existing[bucket]?[Int32(combo)] ?? -1))
            }
            try context.checkMemory(plan.count * 64)
            bucket = next(bucket)
        }
        if plan.isEmpty { return sorted }

        var cells: [[SQLValue]] = Array(repeating: [], count: sorted.columns.count)
        for column in sorted.columns.indices { cells[column].reserveCapacity(plan.count) }
        var previous: [[SQLValue]] = Array(repeating: Array(repeating: .null, count: aggregateColumns.count), count: comboCount)
        for (index, entry) in plan.enumerated() {
            for column in sorted.columns.indices {
                let type = types[column]
                if column == bucketColumn {
                    cells[column].append(.integer(entry.bucket))
                } else if keyColumns.contains(column) {
                    let row = entry.row >= 0 ? entry.row : representative[entry.combo]
                    cells[column].append(row >= 0 ? sorted.columns[column].value(at: row, type: type) : .null)
                } else if let a = aggregateColumns.firstIndex(of: column) {
                    let value: SQLValue
                    if entry.row >= 0 {
                        value = sorted.columns[column].value(at: entry.row, type: type)
                    } else {
                        value = try fill(a, entry: index, plan: plan, previous: previous[entry.combo][a], column: sorted.columns[column], type: type)
                    }
                    previous[entry.combo][a] = value
                    cells[column].append(value)
                }
            }
        }
        let vectors = cells.enumerated().map { ColumnVector.from($0.element, type: types[$0.offset]) }
        return ColumnBatch(columns: vectors, count: plan.count)
    }

    private func fill(
        _ aggregate: Int, entry: Int, plan: [(bucket: Int64, combo: Int, row: Int)], previous: SQLValue, column: ColumnVector, type: SQLType
    ) throws(SQLError) -> SQLValue {
        let mode = aggregate < fills.count ? fills[aggregate] : fills.last ?? .none
        switch mode {
        case .none, .null: return .null
        case .previous: return previous
        case .value:
            let value = aggregate < fillValues.count ? fillValues[aggregate] : fillValues.last ?? nil
            return try ValueConversion.convert(value ?? .null, from: Binder.constant(value ?? .null).type, to: type, at: position)
        case .linear:
            // Interpolate between the nearest filled-in neighbours of the same key.
            let combo = plan[entry].combo
            if type.isDecimal { return linearDecimal(entry: entry, plan: plan, column: column, type: type) }
            var before: (Int64, Double)?
            var after: (Int64, Double)?
            func number(_ row: Int) -> Double? {
                if case .real(let v) = column.value(at: row, type: .double).asReal { return v }
                return nil
            }
            for index in stride(from: entry - 1, through: 0, by: -1) where plan[index].combo == combo && plan[index].row >= 0 {
                if let v = number(plan[index].row) { before = (plan[index].bucket, v); break }
            }
            for index in (entry + 1)..<plan.count where plan[index].combo == combo && plan[index].row >= 0 {
                if let v = number(plan[index].row) { after = (plan[index].bucket, v); break }
            }
            guard let (x0, y0) = before, let (x1, y1) = after, x1 != x0 else { return .null }
            let y = y0 + (y1 - y0) * Double(plan[entry].bucket - x0) / Double(x1 - x0)
            return type.representation == .integer ? .integer(Int64(y.rounded())) : .real(y)
        }
    }

    /// FILL(LINEAR) of a DECIMAL, exactly: y0 + (y1 − y0)(x − x0)/(x1 − x0) in scaled
    /// integers, rounded half away from zero to the type's scale.
    private func linearDecimal(entry: Int, plan: [(bucket: Int64, combo: Int, row: Int)], column: ColumnVector, type: SQLType) -> SQLValue {
        let combo = plan[entry].combo
        func scaled(_ index: Int) -> Int256? {
            guard plan[index].combo == combo, plan[index].row >= 0 else { return nil }
            switch column.value(at: plan[index].row, type: type) {
            case .integer(let value): return Int256(value)
            case .text(let text): return WideDecimal.parse(text, scale: type.decimalScale ?? 0)
            default: return nil
            }
        }
        guard let first = stride(from: entry - 1, through: 0, by: -1).first(where: { scaled($0) != nil }),
              let last = ((entry + 1)..<plan.count).first(where: { scaled($0) != nil }),
              let y0 = scaled(first), let y1 = scaled(last), plan[last].bucket != plan[first].bucket
        else { return .null }
        let span = Int256(plan[last].bucket - plan[first].bucket), offset = Int256(plan[entry].bucket - plan[first].bucket)
        let (rise, o1) = y1.subtractingReportingOverflow(y0)
        let (product, o2) = rise.multipliedReportingOverflow(by: offset)
        guard !o1, !o2, let (quotient, remainder) = product.quotientAndRemainder(dividingBy: span) else { return .null }
        // |remainder| < span, a bucket distance: 128 bits hold twice it.
        let half = (remainder.int128 ?? 0).magnitude * 2 >= UInt128(plan[last].bucket - plan[first].bucket)
        let rounded = half ? quotient.addingReportingOverflow(product.isNegative ? -1 : 1).partialValue : quotient
        let (y, o3) = y0.addingReportingOverflow(rounded)
        guard !o3, case .column(.decimal(let precision, _)) = type, WideDecimal.fits(y, precision: precision) else { return .null }
        if type.isWideDecimal { return DecimalText.sqlValue(y, type) }
        return DecimalValue.narrow(y).map(SQLValue.integer) ?? .null
    }
}

extension SQLValue {
    /// The value as a REAL (numbers only).
    var asReal: SQLValue {
        switch self {
        case .integer(let number): .real(Double(number))
        case .real: self
        default: .null
        }
    }
}

extension ColumnVector {
    /// A vector of `type` from single values.
    static func from(_ values: [SQLValue], type: SQLType) -> ColumnVector {
        switch type.representation {
        case .boolean: return .boolean(values.map { if case .boolean(let flag) = $0 { flag } else { false } })
        case .integer: return .integer(values.map { if case .integer(let number) = $0 { number } else { type.integerNull } })
        case .real:
            return .real(values.map { value in
                switch value {
                case .real(let number): number
                case .integer(let number): Double(number)
                default: .nan
                }
            })
        case .text: return .text(values.map { if case .text(let text) = $0 { text } else { nil } })
        case .wide: return .wide(values.map { DecimalText.wide($0, type) ?? .min })
        }
    }
}
