import Storage

extension ColumnVector {
    static func broadcast(_ value: SQLValue, _ type: SQLType, count: Int) -> ColumnVector {
        switch type.representation {
        case .boolean:
            if case .boolean(let flag) = value { return .boolean(Array(repeating: flag, count: count)) }
            return .boolean(Array(repeating: false, count: count))
        case .integer:
            if case .integer(let number) = value { return .integer(Array(repeating: number, count: count)) }
            return .integer(Array(repeating: type.integerNull, count: count))
        case .real:
            if case .real(let number) = value { return .real(Array(repeating: number, count: count)) }
            if case .integer(let number) = value { return .real(Array(repeating: Double(number), count: count)) }
            return .real(Array(repeating: .nan, count: count))
        case .text:
            if case .text(let text) = value { return .text(Array(repeating: text, count: count)) }
            return .text(Array(repeating: nil, count: count))
        case .wide:
            return .wide(Array(repeating: DecimalText.wide(value, type) ?? .min, count: count))
        }
    }

    var integers: [Int64] {
        switch self {
        case .integer(let values): values
        case .boolean(let values): values.map { $0 ? 1 : 0 }
        case .real(let values): values.map { $0.isNaN ? Int64.min : Int64($0) }
        case .symbol(let keys, _): keys.map { Int64($0) }
        case .text(let values): values.map { _ in Int64.min }
        case .wide(let values): values.map { DecimalValue.narrow($0) ?? Int64.min }
        }
    }

    var reals: [Double] {
        switch self {
        case .real(let values): values
        case .integer(let values): values.map { $0 == Int64.min ? .nan : Double($0) }
        case .boolean(let values): values.map { $0 ? 1 : 0 }
        case .symbol, .text: Array(repeating: .nan, count: count)
        case .wide(let values): values.map { $0 == .min ? .nan : $0.doubleValue }
        }
    }

    var booleans: [Bool] {
        switch self {
        case .boolean(let values): values
        case .integer(let values): values.map { $0 != 0 && $0 != Int64.min }
        default: Array(repeating: false, count: count)
        }
    }

    /// Values as text in `type`'s text form (timestamps as ISO, doubles Java-style).
    package func asText(_ type: SQLType) -> [String?] {
        switch self {
        case .integer(let values): values.map { ValueText.integer($0, type) }
        case .wide(let values):
            values.map { $0 == .min ? nil : WideDecimal.text($0, scale: type.decimalScale ?? 0) }
        case .real(let values):
            values.map { $0.isNaN ? nil : type == .column(.float) ? JavaDoubleText.format(Float($0)) : JavaDoubleText.format($0) }
        default: asText
        }
    }

    /// True where the value is NULL for `type`.
    func nullMask(_ type: SQLType) -> [Bool] {
        switch self {
        case .integer(let values):
            guard type.integerHasNull else { return Array(repeating: false, count: values.count) }
            let null = type.integerNull
            return values.map { $0 == null }
        case .real(let values): return values.map(\.isNaN)
        case .boolean(let values): return Array(repeating: false, count: values.count)
        case .text(let values): return values.map { $0 == nil }
        case .symbol(let keys, _): return keys.map { $0 < 0 }
        case .wide(let values): return values.map { $0 == .min }
        }
    }

    /// The value of one row.
    func value(at row: Int, type: SQLType) -> SQLValue {
        switch self {
        case .boolean(let values): return .boolean(values[row])
        case .integer(let values):
            return type.integerHasNull && values[row] == type.integerNull ? .null : .integer(values[row])
        case .real(let values): return values[row].isNaN ? .null : .real(values[row])
        case .text(let values): return values[row].map(SQLValue.text) ?? .null
        case .symbol(let keys, let table): return table.value(keys[row]).map(SQLValue.text) ?? .null
        case .wide(let values):
            return values[row] == .min ? .null : .text(WideDecimal.text(values[row], scale: type.decimalScale ?? 0))
        }
    }

    /// This vector with `other`'s values where `take` is true.
    func merging(_ other: ColumnVector, where take: [Bool], type: SQLType) -> ColumnVector {
        switch (self, other) {
        case (.boolean(var a), .boolean(let b)):
            for i in a.indices where take[i] { a[i] = b[i] }
            return .boolean(a)
        case (.integer(var a), .integer(let b)):
            for i in a.indices where take[i] { a[i] = b[i] }
            return .integer(a)
        case (.real(var a), .real(let b)):
            for i in a.indices where take[i] { a[i] = b[i] }
            return .real(a)
        case (.wide(var a), .wide(let b)):
            for i in a.indices where take[i] { a[i] = b[i] }
            return .wide(a)
        default:
            var a = asText(type)
            let b = other.asText(type)
            for i in a.indices where take[i] { a[i] = b[i] }
            return .text(a)
        }
    }
}

/// Vector casts between types. A value that cannot convert becomes NULL (constants are
/// converted at bind time, where a bad one is an error with its position).
enum VectorCast {
    static func cast(_ vector: ColumnVector, from: SQLType, to: SQLType, at position: Int) throws(SQLError) -> ColumnVector {
        if from == to { return vector }
        switch to.representation {
        case .text:
            if to == .symbol, case .symbol = vector { return vector }
            return .text(vector.asText(from))
        case .wide:
            return .wide(wideCast(vector, from: from, to: to))
        case .real:
            switch vector {
            case .wide(let values):
                let scale = from.decimalScale ?? 0
                return .real(values.map { WideDecimal.toDouble($0, scale: scale) })
            case .integer(let values) where from.isDecimal:
                let scale = from.decimalScale!
                return .real(values.map { DecimalValue.toDouble($0, scale: scale) })
            case .integer(let values):
                let null: Int64? = from.integerHasNull ? from.integerNull : nil
                return .real(values.map { $0 == null ? .nan : to == .column(.float) ? Double(Float($0)) : Double($0) })
            case .real(let values):
                return to == .column(.float) ? .real(values.map { Double(Float($0)) }) : vector
            default:
                return .real(perValue(vector, from, to, position).reals)
            }
        case .integer:
            if case .wide(let values) = vector {
                // Into a narrow DECIMAL rescaled (rounded), into integers truncated toward zero.
                let scale = from.decimalScale ?? 0
                let moved: [Int256] = to.isDecimal
                    ? wideCast(vector, from: from, to: .decimal(precision: ColumnType.maxDecimalPrecision, scale: to.decimalScale!))
                    : values.map { $0 == .min ? .min : WideDecimal.truncated($0, scale: scale) }
                let narrow = moved.map { DecimalValue.narrow($0) ?? Int64.min }
                return .integer(to.isDecimal ? decimalCast(narrow, from: to, to: to)
                                             : integerToInteger(narrow, from: .long, to: to))
            }
            if case .integer(let values) = vector, from.isDecimal || to.isDecimal, !from.isTemporal {
                return .integer(decimalCast(values, from: from, to: to))
            }
            if case .integer(let values) = vector, !to.isDecimal {
                return .integer(integerToInteger(values, from: from, to: to))
            }
            return perValue(vector, from, to, position)
        case .boolean:
            if case .integer(let values) = vector { return .boolean(values.map { $0 != 0 && $0 != Int64.min }) }
            return perValue(vector, from, to, position)
        }
    }

    /// Integers and decimals into decimals (rescaled; a value past the precision becomes NULL)
    /// or decimals into integers (truncated toward zero).
    private static func decimalCast(_ values: [Int64], from: SQLType, to: SQLType) -> [Int64] {
        let fromNull: Int64? = from.integerHasNull ? from.integerNull : nil
        if case .column(.decimal(let precision, let scale)) = to {
            let fromScale = from.decimalScale
            return values.map { value in
                guard value != fromNull else { return Int64.min }
                let scaled = fromScale.map { DecimalValue.rescale(value, from: $0, to: scale) } ?? DecimalValue.fromInteger(value, scale: scale)
                guard let scaled, DecimalValue.fits(scaled, precision: precision) else { return Int64.min }
                return scaled
            }
        }
        let scale = from.decimalScale!
        let narrowed = values.map { $0 == Int64.min ? Int64.min : DecimalValue.truncated($0, scale: scale) }
        return integerToInteger(narrowed, from: .long, to: to)
    }

    /// Into a wide DECIMAL: integers and decimals rescaled exactly (rounded half away from zero
    /// when the scale shrinks), doubles rounded; a value past the precision becomes NULL.
    private static func wideCast(_ vector: ColumnVector, from: SQLType, to: SQLType) -> [Int256] {
        guard case .column(.decimal(let precision, let scale)) = to else { return Array(repeating: .min, count: vector.count) }
        func fitted(_ value: Int256?) -> Int256 {
            guard let value, WideDecimal.fits(value, precision: precision) else { return .min }
            return value
        }
        let fromScale = from.decimalScale ?? 0
        switch vector {
        case .wide(let values):
            return values.map { $0 == .min ? .min : fitted(WideDecimal.rescale($0, from: fromScale, to: scale)) }
        case .integer(let values) where !from.isTemporal && (from.isDecimal || from.isNumeric):
            let null: Int64? = from.integerHasNull ? from.integerNull : nil
            return values.map { $0 == null ? .min : fitted(WideDecimal.rescale(Int256($0), from: fromScale, to: scale)) }
        case .real(let values):
            return values.map { fitted(WideDecimal.fromDouble($0, scale: scale)) }
        default:
            if case .wide(let values) = perValue(vector, from, to, 0) { return values }
            return Array(repeating: .min, count: vector.count)
        }
    }

    private static func integerToInteger(_ values: [Int64], from: SQLType, to: SQLType) -> [Int64] {
        let fromNull: Int64? = from.integerHasNull ? from.integerNull : nil
        let toNull = to.integerNull
        var scale: (multiply: Int64, divide: Int64) = (1, 1)
        if from == .column(.date), to == .timestamp { scale = (1000, 1) }
        if from == .timestamp, to == .column(.date) { scale = (1, 1000) }
        if from == .column(.timestampNanos), to == .timestamp { scale = (1, 1000) }
        if from == .timestamp, to == .column(.timestampNanos) { scale = (1000, 1) }
        let narrow: (Int64) -> Int64 =
            switch to {
            case .column(.byte): { Int64(Int8(truncatingIfNeeded: $0)) }
            case .column(.short): { Int64(Int16(truncatingIfNeeded: $0)) }
            case .column(.int): { Int64(Int32(truncatingIfNeeded: $0)) }
            default: { $0 }
            }
        return values.map { value in
            if value == fromNull { return toNull }
            var result = value &* scale.multiply
            if scale.divide != 1 { result = TimeArithmetic.floorDivide(value, scale.divide) }
            return narrow(result)
        }
    }

    /// The slow path: each value through `ValueConversion` (text parsing), failures → NULL.
    private static func perValue(_ vector: ColumnVector, _ from: SQLType, _ to: SQLType, _ position: Int) -> ColumnVector {
        var values: [SQLValue] = []
        values.reserveCapacity(vector.count)
        for row in 0..<vector.count {
            let value = vector.value(at: row, type: from)
            values.append((try? ValueConversion.convert(value, from: from.isText ? .string : from, to: to, at: position)) ?? .null)
        }
        switch to.representation {
        case .boolean: return .boolean(values.map { if case .boolean(let flag) = $0 { flag } else { false } })
        case .integer: return .integer(values.map { if case .integer(let n) = $0 { n } else { to.integerNull } })
        case .real: return .real(values.map { if case .real(let n) = $0 { n } else { .nan } })
        case .text: return .text(values.map { if case .text(let t) = $0 { t } else { nil } })
        case .wide: return .wide(values.map { DecimalText.wide($0, to) ?? .min })
        }
    }
}

extension ColumnVector {
    /// Text and symbol values of `rows` (nil for NULL); for other representations see `asText`.
    package func textValues(_ rows: Range<Int>) -> [String?] {
        switch self {
        case .text(let values): Array(values[rows])
        case .symbol(let keys, let table): keys[rows].map { table.value($0) }
        default: Array(asText[rows])
        }
    }
}

extension ColumnVector {
    /// The rows at `indices`, with −1 giving the NULL of `type` (outer joins).
    func gather(nullable indices: [Int], type: SQLType) -> ColumnVector {
        guard indices.contains(-1) else { return gather(indices) }
        switch self {
        case .boolean(let values): return .boolean(indices.map { $0 < 0 ? false : values[$0] })
        case .integer(let values): return .integer(indices.map { $0 < 0 ? type.integerNull : values[$0] })
        case .real(let values): return .real(indices.map { $0 < 0 ? .nan : values[$0] })
        case .text(let values): return .text(indices.map { $0 < 0 ? nil : values[$0] })
        case .symbol(let keys, let table): return .symbol(indices.map { $0 < 0 ? -1 : keys[$0] }, table)
        case .wide(let values): return .wide(indices.map { $0 < 0 ? .min : values[$0] })
        }
    }
}

extension ColumnVector {
    /// A SYMBOL vector's keys and its dictionary's values (key k is `values[k]`, −1 is NULL),
    /// for protocols that encode each distinct value once; nil for other vectors.
    package var symbolKeysAndValues: (keys: [Int32], values: [String])? {
        if case .symbol(let keys, let table) = self { return (keys, table.values) }
        return nil
    }
}
