import Storage

/// The type of a value in SQL: a column type, or the type of a bare `NULL`.
package enum SQLType: Sendable, Equatable, CustomStringConvertible {
    case null
    case column(ColumnType)

    package static let boolean = SQLType.column(.boolean)
    package static let short = SQLType.column(.short)
    package static let int = SQLType.column(.int)
    package static let long = SQLType.column(.long)
    package static let float = SQLType.column(.float)
    package static let double = SQLType.column(.double)
    package static let timestamp = SQLType.column(.timestamp)
    package static let date = SQLType.column(.date)
    package static let string = SQLType.column(.string)
    package static let varchar = SQLType.column(.varchar)
    package static let symbol = SQLType.column(.symbol)
    package static let uuid = SQLType.column(.uuid)
    package static let binary = SQLType.column(.binary)
    package static func doubleArray(dimensions: Int) -> SQLType { .column(.doubleArray(dimensions: dimensions)) }

    /// For an integer-backed time type, its ticks per second (DATE ms, TIMESTAMP µs,
    /// TIMESTAMP_NS ns); nil for other types. Binary protocols convert instants with it.
    package var ticksPerSecond: Int64? {
        switch self {
        case .column(.date): 1_000
        case .column(.timestamp): 1_000_000
        case .column(.timestampNanos): 1_000_000_000
        default: nil
        }
    }

    package var isUUID: Bool { self == .uuid }

    /// QuestDB's name (a NULL-typed column reports `STRING`, as QuestDB does).
    package var description: String {
        switch self {
        case .null: return "STRING"
        case .column(let type):
            if case .doubleArray = type { return "ARRAY" }
            return type.description
        }
    }

    /// How values of the type are held in a `ColumnVector`.
    var representation: Representation {
        switch self {
        case .null: .text
        case .column(let type):
            switch type {
            case .boolean: .boolean
            case .decimal where type.isWideDecimal: .wide
            case .byte, .short, .char, .int, .long, .date, .timestamp, .timestampNanos, .ipv4, .geohash, .decimal: .integer
            case .float, .double: .real
            case .symbol, .varchar, .string, .uuid, .long256, .binary, .doubleArray: .text
            }
        }
    }

    enum Representation: Equatable {
        case boolean, integer, real, text
        /// DECIMAL past 18 digits: `Int256`s.
        case wide
    }

    var isNumeric: Bool {
        switch self {
        case .column(.byte), .column(.short), .column(.int), .column(.long), .column(.float), .column(.double): true
        default: false
        }
    }

    /// DECIMAL(p, s): integer-represented (the value × 10^s; up to 18 digits an Int64, beyond
    /// an `Int256`), so every generic integer path must scale it; it is not `isNumeric`, and
    /// the binder gives it its own rules.
    package var decimalScale: Int? {
        if case .column(.decimal(_, let scale)) = self { return scale }
        return nil
    }

    package var isDecimal: Bool { decimalScale != nil }

    /// DECIMAL past 18 digits (`Int256` values).
    package var isWideDecimal: Bool {
        if case .column(let type) = self { return type.isWideDecimal }
        return false
    }

    /// DECIMAL(p, s) with p capped at 76 and at least s.
    static func decimal(precision: Int, scale: Int) -> SQLType {
        .column(.decimal(precision: min(ColumnType.maxDecimalPrecision, max(precision, scale, 1)), scale: scale))
    }

    /// The (precision, scale) a value of this type has as a decimal: integers are DECIMAL(n, 0)
    /// with n their widest value's digits (LONG 19, as QuestDB widens it); nil for others.
    var decimalShape: (precision: Int, scale: Int)? {
        switch self {
        case .column(.decimal(let precision, let scale)): (precision, scale)
        case .column(.byte): (3, 0)
        case .column(.short): (5, 0)
        case .column(.int): (10, 0)
        case .column(.long): (19, 0)
        case .null: (1, 0)
        default: nil
        }
    }

    var isTemporal: Bool {
        self == .timestamp || self == .column(.date) || self == .column(.timestampNanos)
    }

    var isText: Bool {
        self == .string || self == .varchar || self == .symbol
    }

    /// The sentinel an integer-represented value uses for NULL. BYTE, SHORT, CHAR and
    /// BOOLEAN have none in QuestDB (their "null" is 0).
    var integerNull: Int64 {
        switch self {
        case .column(.ipv4): 0
        case .column(.geohash): -1
        default: Int64.min
        }
    }

    /// Whether integer values of this type can be NULL.
    var integerHasNull: Bool {
        switch self {
        case .column(.byte), .column(.short), .column(.char), .column(.boolean): false
        default: true
        }
    }
}

extension SQLType {
    /// How text protocols lay a value out: protocols switch on this instead of column types.
    package enum WireKind: Sendable, Equatable {
        case boolean, byte, short, int, long, float, double, char
        /// Quoted text in JSON and CSV: strings, symbols, timestamps, UUIDs, IPv4, …
        case text
        case array(dimensions: Int)
        case binary
    }

    package var wireKind: WireKind {
        switch self {
        case .null: return .text
        case .column(let type):
            switch type {
            case .boolean: return .boolean
            case .byte: return .byte
            case .short: return .short
            case .int: return .int
            case .long: return .long
            case .float: return .float
            case .double: return .double
            case .char: return .char
            case .doubleArray(let dimensions): return .array(dimensions: dimensions)
            case .binary: return .binary
            default: return .text
            }
        }
    }
}
