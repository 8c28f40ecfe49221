/// Bytes of one name or value in the buffer being parsed: `start..<end`, with `escaped` set
/// when backslashes inside must be dropped before use (`LineText.unescaped`).
package struct LineRange: Sendable, Equatable {
    package var start: Int
    package var end: Int
    package var escaped: Bool

    package init(start: Int, end: Int, escaped: Bool = false) {
        self.start = start
        self.end = end
        self.escaped = escaped
    }

    package var count: Int {
        @inline(__always) get { end - start }
    }
    package var isEmpty: Bool {
        @inline(__always) get { start == end }
    }
}

/// Units a timestamp can arrive in: suffixes `n`/`t`/`m`, binary unit bytes, or the HTTP
/// `precision` parameter (which adds seconds, minutes and hours).
package enum LineTimestampUnit: Sendable, Equatable {
    case nanos, micros, millis, seconds, minutes, hours

    /// Nanoseconds per unit.
    var nanosPerUnit: Int64 {
        switch self {
        case .nanos: 1
        case .micros: 1_000
        case .millis: 1_000_000
        case .seconds: 1_000_000_000
        case .minutes: 60_000_000_000
        case .hours: 3_600_000_000_000
        }
    }

    /// `value` in this unit converted to `target`; `nil` on overflow. Finer targets multiply,
    /// coarser ones truncate toward zero (QuestDB truncates to the column's precision).
    package func convert(_ value: Int64, to target: LineTimestampUnit) -> Int64? {
        let from = nanosPerUnit, to = target.nanosPerUnit
        if from == to { return value }
        if from > to {
            let (result, overflow) = value.multipliedReportingOverflow(by: from / to)
            return overflow ? nil : result
        }
        return value / (to / from)
    }
}

/// What a field or tag carries, with its value already decoded where it is a number.
package enum LineValueKind: UInt8, Sendable, Equatable {
    /// A tag: always text (symbol set), `range` holds it.
    case tag
    /// `123i` (or a binary INT/LONG): `integer`.
    case integer
    /// `0x…i`: `range` holds the hex digits after `0x`.
    case long256
    /// A number without suffix, `NaN`, `Infinity`, or a binary DOUBLE/FLOAT: `double`.
    case double
    /// `t`, `true`, `F`, …: `integer` is 0 or 1.
    case boolean
    /// `"…"`: `range` holds the text between the quotes.
    case string
    /// `123t`/`n`/`m` or a binary TIMESTAMP: `integer` in `unit`.
    case timestamp
    /// An empty value `a=`: the field is ignored.
    case null
    /// A binary array: `range` holds `nDims:u8`, the shape (u32 LE each) and the doubles,
    /// which is exactly how a DOUBLE[] value is stored (`DoubleArrayValue`). Empty range: NULL array.
    case doubleArray
    /// `1.25d` or a binary DECIMAL (protocol v3): `integer` is the unscaled value, `dimensions`
    /// the scale (digits after the point). At most 18 digits, like a narrow DECIMAL column.
    case decimal
    /// A DECIMAL past 18 digits (up to 76): `range` holds its text without the `d`
    /// (`integer` = `LineEntity.wideDecimalText`) or its big-endian two's-complement bytes
    /// (`wideDecimalBinary`); `dimensions` the scale.
    case wideDecimal
}

/// One tag or field of a parsed line.
package struct LineEntity: Sendable, Equatable {
    package var name: LineRange
    package var kind: LineValueKind
    package var range: LineRange
    package var integer: Int64
    package var double: Double
    package var unit: LineTimestampUnit
    /// Dimensions of a `doubleArray` value (0 for a NULL array); the scale of a `decimal`.
    package var dimensions: Int

    /// How a `wideDecimal`'s `range` is written.
    package static let wideDecimalText: Int64 = 0
    package static let wideDecimalBinary: Int64 = 1

    static let empty = LineEntity(
        name: LineRange(start: 0, end: 0), kind: .null, range: LineRange(start: 0, end: 0),
        integer: 0, double: 0, unit: .nanos, dimensions: 0)
}
