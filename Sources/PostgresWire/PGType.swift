import SQL
import Storage

/// A PostgreSQL type as RowDescription and ParameterDescription report it (QUESTDB-COMPAT §5.3).
package struct PGType: Sendable, Equatable {
    package var oid: Int32
    package var size: Int16
    package var modifier: Int32 = -1

    package static let bool = PGType(oid: 16, size: 1)
    package static let bytea = PGType(oid: 17, size: -1)
    package static let int8 = PGType(oid: 20, size: 8)
    package static let int2 = PGType(oid: 21, size: 2)
    package static let int4 = PGType(oid: 23, size: 4)
    package static let text = PGType(oid: 25, size: -1)
    package static let float4 = PGType(oid: 700, size: 4)
    package static let float8 = PGType(oid: 701, size: 8)
    package static let unknown = PGType(oid: 705, size: -2)
    package static let bpchar = PGType(oid: 1042, size: -1, modifier: 5)
    package static let varchar = PGType(oid: 1043, size: -1)
    package static let date = PGType(oid: 1082, size: 4)
    package static let timestamp = PGType(oid: 1114, size: 8)
    package static let timestamptz = PGType(oid: 1184, size: 8)
    package static let numeric = PGType(oid: 1700, size: -1)
    package static let uuid = PGType(oid: 2950, size: 16)
    package static let float8Array = PGType(oid: 1022, size: -1)
    package static let int8Array = PGType(oid: 1016, size: -1)
    package static let varcharArray = PGType(oid: 1015, size: -1)
    package static let textArray = PGType(oid: 1009, size: -1)

    /// The type QuestDB reports for a column of `type`: symbols, IPv4, LONG256 and geohashes
    /// as varchar, every time type as `timestamp` (without time zone).
    package init(_ type: SQLType) {
        let oid = PostgresTypes.oid(of: type)
        var modifier: Int32 = oid == 1042 ? 5 : -1
        // numeric(p, s): PostgreSQL's typmod, (p << 16 | s) + 4.
        if case .column(.decimal(let precision, let scale)) = type { modifier = Int32(precision << 16 | scale) + 4 }
        self.init(oid: Int32(oid), size: Int16(PostgresTypes.length(of: oid)), modifier: modifier)
    }

    init(oid: Int32, size: Int16, modifier: Int32 = -1) {
        self.oid = oid
        self.size = size
        self.modifier = modifier
    }

    /// The SQL type a parameter declared with `oid` has once its value is known: a numeric is
    /// the DECIMAL its digits make (as the literal with QuestDB's `m` suffix would be), so
    /// `$1 * 2` with 1.5 is exact, and a column comparison with it stays on narrow decimals.
    package static func executionType(ofParameter oid: Int32, value: SQLValue) -> SQLType? {
        if oid == 1700, case .text(let text) = value, let type = DecimalText.literalType(text) { return type }
        return sqlType(ofParameter: oid)
    }

    /// The SQL type a parameter declared with `oid` has; nil for text types (their value is
    /// read as whatever its use needs) and for OIDs Sundial does not know.
    package static func sqlType(ofParameter oid: Int32) -> SQLType? {
        switch oid {
        case 16: .boolean
        case 21: .short
        case 23: .int
        case 20: .long
        case 700: .float
        case 701: .double
        // A numeric's precision and scale are its value's (`executionType`); until the value
        // is known (describing), a decimal with room on both sides of the point.
        case 1700: .column(.decimal(precision: ColumnType.maxDecimalPrecision, scale: 38))
        case 1114, 1184, 1082: .timestamp
        case 2950: .uuid
        case 1022: .doubleArray(dimensions: 1)
        default: nil
        }
    }
}

/// How values of a SQL type are laid out on the wire: one case per PostgreSQL encoding.
package enum PGValueKind: Sendable, Equatable {
    case boolean, int2, int4, int8, float4, float8, char
    /// An instant held in ticks of `perSecond` since the Unix epoch.
    case time(perSecond: Int64)
    case uuid, bytea
    case doubleArray(dimensions: Int)
    /// Text: strings, symbols, IPv4, LONG256, geohashes, NULL-typed columns.
    case varchar
    /// DECIMAL as `numeric`: its text, or PostgreSQL's base-10000 binary form.
    case numeric(scale: Int)

    package init(_ type: SQLType) {
        if let scale = type.decimalScale {
            self = .numeric(scale: scale)
            return
        }
        if let ticks = type.ticksPerSecond {
            self = .time(perSecond: ticks)
            return
        }
        if type.isUUID {
            self = .uuid
            return
        }
        switch type.wireKind {
        case .boolean: self = .boolean
        case .byte, .short: self = .int2
        case .int: self = .int4
        case .long: self = .int8
        case .float: self = .float4
        case .double: self = .float8
        case .char: self = .char
        case .binary: self = .bytea
        case .array(let dimensions): self = .doubleArray(dimensions: dimensions)
        case .text: self = .varchar
        }
    }
}

/// PostgreSQL's `numeric` binary form: digit count, weight (of the first base-10000 digit),
/// sign, display scale, then the base-10000 digits, all big-endian Int16.
enum PGNumeric {
    /// Computed group by group, with no array per value (a result's rows each write one).
    static func writeBinary(_ scaled: Int64, scale: Int, into out: inout [UInt8]) {
        let magnitude = scaled.magnitude
        let divisor = UInt64(DecimalValue.powers[scale])
        let whole = magnitude / divisor, fraction = magnitude % divisor
        var wholeGroups = 0
        var rest = whole
        while rest > 0 {
            wholeGroups += 1
            rest /= 10_000
        }
        let fractionGroups = (scale + 3) / 4
        // Base-10000 digit `index`: the whole part's first (most significant first), then the
        // fraction's, aligned on the point (the last one padded with zeros on the right).
        func group(_ index: Int) -> Int16 {
            if index < wholeGroups {
                var value = whole
                for _ in 0..<(wholeGroups - 1 - index) { value /= 10_000 }
                return Int16(value % 10_000)
            }
            let k = index - wholeGroups
            let below = scale - 4 * (k + 1)
            if below >= 0 { return Int16(fraction / UInt64(DecimalValue.powers[below]) % 10_000) }
            return Int16(fraction % UInt64(DecimalValue.powers[scale - 4 * k]) * UInt64(DecimalValue.powers[-below]))
        }
        var first = 0, last = wholeGroups + fractionGroups
        while first < last, group(first) == 0 { first += 1 }
        while last > first, group(last - 1) == 0 { last -= 1 }
        func put(_ value: Int16) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        put(Int16(last - first))
        put(Int16(first == last ? 0 : wholeGroups - 1 - first))
        put(scaled < 0 && first < last ? 0x4000 : 0)
        put(Int16(scale))
        for index in first..<last { put(group(index)) }
    }

    /// The same for a wide decimal, from its digits: its numbers are too large to take apart
    /// by 64-bit division, and such results are rare enough to afford the array.
    static func writeBinary(_ scaled: Int256, scale: Int, into out: inout [UInt8]) {
        let digits: [Int16] = scaled.magnitude.decimalDigits.map { Int16($0) - 48 }
        let whole: [Int16] = digits.count > scale ? Array(digits[..<(digits.count - scale)]) : []
        let fraction: [Int16] = Array(repeating: 0, count: max(0, scale - digits.count)) + digits.suffix(scale)
        // Whole part padded on the left, fraction on the right, to whole base-10000 digits.
        var padded: [Int16] = Array(repeating: 0, count: (4 - whole.count % 4) % 4)
        padded += whole
        padded += fraction
        padded += Array(repeating: 0, count: (4 - fraction.count % 4) % 4)
        var groups: [Int16] = []
        for start in stride(from: 0, to: padded.count, by: 4) {
            let high: Int16 = padded[start] * 1000 + padded[start + 1] * 100
            groups.append(high + padded[start + 2] * 10 + padded[start + 3])
        }
        let wholeGroups = (whole.count + 3) / 4
        var first = 0, last = groups.count
        while first < last, groups[first] == 0 { first += 1 }
        while last > first, groups[last - 1] == 0 { last -= 1 }
        func put(_ value: Int16) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        put(Int16(last - first))
        put(Int16(first == last ? 0 : wholeGroups - 1 - first))
        put(scaled.isNegative && first < last ? 0x4000 : 0)
        put(Int16(scale))
        for index in first..<last { put(groups[index]) }
    }
}
