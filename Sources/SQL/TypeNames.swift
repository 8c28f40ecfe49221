import Storage

/// Type names of DDL and casts (`int`, `bigint`, `geohash(5c)`, `double[][]`) → column types.
enum TypeNames {
    static func resolve(_ name: ColumnTypeName) throws(SQLError) -> ColumnType {
        if name.arrayDimensions > 0 {
            guard name.name == "double" else {
                throw SQLError(.unsupported, "only DOUBLE arrays are supported", at: name.position)
            }
            return .doubleArray(dimensions: name.arrayDimensions)
        }
        switch name.name {
        case "boolean", "bool": return .boolean
        case "byte", "tinyint": return .byte
        case "short", "smallint": return .short
        case "char": return .char
        case "int", "integer", "int4", "oid", "regproc", "regclass", "regtype", "regnamespace", "xid": return .int
        case "long", "bigint", "int8": return .long
        case "float", "real", "float4": return .float
        case "double", "float8": return .double
        case "date": return .date
        case "timestamp": return .timestamp
        case "timestamp_ns": return .timestampNanos
        case "symbol": return .symbol
        case "varchar", "name", "bpchar": return .varchar
        case "string", "text": return .string
        case "uuid": return .uuid
        case "ipv4": return .ipv4
        case "long256": return .long256
        case "binary": return .binary
        case "geohash":
            guard let parameter = name.parameter, let unit = parameter.last, let count = Int(parameter.dropLast()) else {
                throw SQLError(.syntax, "geohash precision expected, such as geohash(5c) or geohash(20b)", at: name.position)
            }
            let bits = unit == "c" ? count * 5 : unit == "b" ? count : 0
            guard (1...60).contains(bits) else {
                throw SQLError(.invalidValue, "geohash precision must be 1…60 bits (1…12 chars)", at: name.position)
            }
            return .geohash(bits: bits)
        case "decimal", "numeric":
            // QuestDB's default is DECIMAL(18, 3); a scale alone is not allowed.
            guard let parameter = name.parameter else { return .decimal(precision: 18, scale: 3) }
            let parts = parameter.split(separator: ",").map { Int($0.trimmingSpaces) }
            guard (1...2).contains(parts.count), let precision = parts[0], let scale = parts.count == 2 ? parts[1] : 0 else {
                throw SQLError(.syntax, "DECIMAL(precision[, scale]) expected, such as DECIMAL(10, 2)", at: name.position)
            }
            guard precision >= 1, scale >= 0, scale <= precision else {
                throw SQLError(.invalidValue, "DECIMAL precision must be at least 1 and the scale between 0 and the precision", at: name.position)
            }
            guard precision <= ColumnType.maxDecimalPrecision else {
                throw SQLError(.invalidValue, "DECIMAL precision must be at most \(ColumnType.maxDecimalPrecision)", at: name.position)
            }
            return .decimal(precision: precision, scale: scale)
        default:
            throw SQLError(.syntax, "unsupported column type: \(name.name)", at: name.position)
        }
    }
}
