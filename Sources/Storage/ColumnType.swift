/// The column types of QuestDB, with their storage width and NULL sentinels (DESIGN §3,
/// QUESTDB-COMPAT §6.1). NULL is a value in the column's own domain, so columns stay dense
/// fixed-width arrays.
package enum ColumnType: Sendable, Hashable, CustomStringConvertible {
    case boolean
    case byte
    case short
    case char
    case int
    case long
    case float
    case double
    /// Milliseconds since the Unix epoch.
    case date
    /// Microseconds since the Unix epoch.
    case timestamp
    /// Nanoseconds since the Unix epoch.
    case timestampNanos
    /// Interned string: an Int32 key into the table's symbol dictionary.
    case symbol
    case varchar
    case string
    case uuid
    case ipv4
    case long256
    case binary
    /// `bits` of precision, 1…60; stored in the smallest integer that holds them.
    case geohash(bits: Int)
    /// `dimensions` ≥ 1.
    case doubleArray(dimensions: Int)
    /// Exact decimal of `precision` digits (1…76), `scale` of them after the point: the value
    /// times 10^scale in an Int64 up to 18 digits (QuestDB's DECIMAL64), in 16 bytes up to 38
    /// (DECIMAL128) and in 32 beyond (DECIMAL256); see `isWideDecimal`.
    case decimal(precision: Int, scale: Int)

    /// Most digits a DECIMAL holds.
    package static let maxDecimalPrecision = 76
    /// Most digits a DECIMAL held in one Int64 holds.
    package static let maxNarrowDecimalPrecision = 18

    /// A DECIMAL past 18 digits: its values are `Int256`s (stored in 16 or 32 bytes).
    package var isWideDecimal: Bool {
        if case .decimal(let precision, _) = self { return precision > ColumnType.maxNarrowDecimalPrecision }
        return false
    }

    /// Bytes per row in the `.d` file of a fixed-width type; `nil` for var-size types.
    package var fixedWidthBytes: Int? {
        switch self {
        case .boolean, .byte: 1
        case .short, .char: 2
        case .int, .float, .symbol, .ipv4: 4
        case .long, .double, .date, .timestamp, .timestampNanos: 8
        case .decimal(let precision, _): precision <= 18 ? 8 : precision <= 38 ? 16 : 32
        case .uuid: 16
        case .long256: 32
        case .geohash(let bits): bits <= 7 ? 1 : bits <= 15 ? 2 : bits <= 31 ? 4 : 8
        case .varchar, .string, .binary, .doubleArray: nil
        }
    }

    /// Whether values live in a `.d` data file plus a `.i` offsets file.
    package var isVariableSize: Bool { fixedWidthBytes == nil }

    /// QuestDB's type name, as `table_columns()` and `SHOW COLUMNS` print it.
    package var description: String {
        switch self {
        case .boolean: "BOOLEAN"
        case .byte: "BYTE"
        case .short: "SHORT"
        case .char: "CHAR"
        case .int: "INT"
        case .long: "LONG"
        case .float: "FLOAT"
        case .double: "DOUBLE"
        case .date: "DATE"
        case .timestamp: "TIMESTAMP"
        case .timestampNanos: "TIMESTAMP_NS"
        case .symbol: "SYMBOL"
        case .varchar: "VARCHAR"
        case .string: "STRING"
        case .uuid: "UUID"
        case .ipv4: "IPv4"
        case .long256: "LONG256"
        case .binary: "BINARY"
        case .geohash(let bits): bits % 5 == 0 ? "GEOHASH(\(bits / 5)c)" : "GEOHASH(\(bits)b)"
        case .doubleArray(let dimensions): "DOUBLE" + String(repeating: "[]", count: dimensions)
        case .decimal(let precision, let scale): "DECIMAL(\(precision),\(scale))"
        }
    }

    /// Whether a column of this type can be the designated timestamp.
    package var canBeDesignatedTimestamp: Bool {
        self == .timestamp || self == .timestampNanos
    }

    /// The bytes of one NULL value in the `.d` file of a fixed-width type (little-endian).
    ///
    /// BOOLEAN, BYTE, SHORT and CHAR have no NULL in QuestDB: their "null" is 0/false.
    package var nullBytes: [UInt8] {
        func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        switch self {
        case .boolean, .byte: return [0]
        case .short, .char: return [0, 0]
        case .int: return le(Int32.min)
        case .long, .date, .timestamp, .timestampNanos: return le(Int64.min)
        case .decimal(let precision, _):
            if precision <= ColumnType.maxNarrowDecimalPrecision { return le(Int64.min) }
            var bytes: [UInt8] = []
            Int256.min.appendBytes(width: fixedWidthBytes!, to: &bytes)
            return bytes
        case .float: return le(Float.nan.bitPattern)
        case .double: return le(Double.nan.bitPattern)
        case .symbol: return le(Int32(-1))
        case .ipv4: return le(UInt32(0))
        case .uuid: return le(Int64.min) + le(Int64.min)
        case .long256: return [[UInt8]](repeating: le(Int64.min), count: 4).flatMap { $0 }
        case .geohash: return [UInt8](repeating: 0xFF, count: fixedWidthBytes ?? 8)
        case .varchar, .string, .binary, .doubleArray: return []
        }
    }
}

extension ColumnType {
    /// Persistent encoding in `_meta` and WAL payloads: a tag byte and a parameter byte.
    /// Tags are persistent: never renumber.
    package var encoded: (tag: UInt8, parameter: UInt8) {
        switch self {
        case .boolean: (1, 0)
        case .byte: (2, 0)
        case .short: (3, 0)
        case .char: (4, 0)
        case .int: (5, 0)
        case .long: (6, 0)
        case .float: (7, 0)
        case .double: (8, 0)
        case .date: (9, 0)
        case .timestamp: (10, 0)
        case .timestampNanos: (11, 0)
        case .symbol: (12, 0)
        case .varchar: (13, 0)
        case .string: (14, 0)
        case .uuid: (15, 0)
        case .ipv4: (16, 0)
        case .long256: (17, 0)
        case .binary: (18, 0)
        case .geohash(let bits): (19, UInt8(bits))
        case .doubleArray(let dimensions): (20, UInt8(dimensions))
        // Tags 33…108: the precision is tag − 32, the parameter the scale.
        case .decimal(let precision, let scale): (UInt8(32 + precision), UInt8(scale))
        }
    }

    /// The type for an encoded tag and parameter, or `nil` when they name none.
    package init?(tag: UInt8, parameter: UInt8) {
        let simple: [UInt8: ColumnType] = [
            1: .boolean, 2: .byte, 3: .short, 4: .char, 5: .int, 6: .long, 7: .float, 8: .double, 9: .date,
            10: .timestamp, 11: .timestampNanos, 12: .symbol, 13: .varchar, 14: .string, 15: .uuid, 16: .ipv4,
            17: .long256, 18: .binary,
        ]
        if let type = simple[tag], parameter == 0 {
            self = type
        } else if tag == 19, (1...60).contains(parameter) {
            self = .geohash(bits: Int(parameter))
        } else if tag == 20, (1...32).contains(parameter) {
            self = .doubleArray(dimensions: Int(parameter))
        } else if (33...(32 + UInt8(ColumnType.maxDecimalPrecision))).contains(tag), parameter <= tag - 32 {
            self = .decimal(precision: Int(tag) - 32, scale: Int(parameter))
        } else {
            return nil
        }
    }
}
