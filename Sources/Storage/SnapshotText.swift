

/// A table snapshot rendered as text rows (tests, `sundial dump`) until SQL exists:
/// one `[column: value]` dictionary per row in storage order, `nil` for NULL.
package enum SnapshotText {
    package static func rows(_ snapshot: TableSnapshot) throws -> [[String: String?]] {
        var rows: [[String: String?]] = []
        for partition in snapshot.partitions {
            var columns: [(String, [String?])] = []
            for column in snapshot.schema.columns {
                columns.append((column.name, try values(of: column, in: partition, snapshot)))
            }
            for row in 0..<partition.rowCount {
                var values: [String: String?] = [:]
                for (name, column) in columns { values[name] = column[row] }
                rows.append(values)
            }
        }
        return rows
    }

    private static func values(of column: ColumnSchema, in partition: TableSnapshot.Partition, _ snapshot: TableSnapshot) throws -> [String?] {
        if column.type.isVariableSize {
            let mapped = try snapshot.mapVariableColumn(column.id, in: partition)
            return (0..<partition.rowCount).map { row in
                mapped.withValue(row: row) { bytes -> String? in
                    guard let bytes else { return nil }
                    if case .doubleArray(let dimensions) = column.type {
                        guard let (shape, values) = DoubleArrayValue.decode(bytes, dimensions: dimensions) else { return "invalid" }
                        return "\(shape)\(values)"
                    }
                    return String(decoding: bytes, as: UTF8.self)
                }
            }
        }
        let mapped = try snapshot.mapColumn(column.id, in: partition)
        let width = column.type.fixedWidthBytes!
        return mapped.withUnsafeBytes { raw in
            (0..<partition.rowCount).map { row -> String? in
                let offset = row * width
                func load<T: FixedWidthInteger>(_: T.Type) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self)) }
                switch column.type {
                case .boolean: return load(UInt8.self) == 0 ? "false" : "true"
                case .byte: return "\(load(Int8.self))"
                case .short: return "\(load(Int16.self))"
                case .char: return String(UnicodeScalar(UInt8(truncatingIfNeeded: load(UInt16.self))))
                case .int: let value = load(Int32.self); return value == .min ? nil : "\(value)"
                case .long, .date, .timestamp, .timestampNanos:
                    let value = load(Int64.self); return value == .min ? nil : "\(value)"
                case .decimal(_, let scale) where column.type.isWideDecimal:
                    let value = Int256.load(from: raw.baseAddress! + offset, width: width)
                    return value == .min ? nil : WideDecimal.text(value, scale: scale)
                case .decimal(_, let scale):
                    let value = load(Int64.self); return value == .min ? nil : DecimalValue.text(value, scale: scale)
                case .float: let value = Float(bitPattern: load(UInt32.self)); return value.isNaN ? nil : "\(value)"
                case .double: let value = Double(bitPattern: load(UInt64.self)); return value.isNaN ? nil : "\(value)"
                case .symbol: let key = load(Int32.self); return key < 0 ? nil : snapshot.symbols[column.id]?.value(key)
                case .ipv4:
                    let value = load(UInt32.self)
                    return value == 0 ? nil : "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
                case .uuid:
                    let low = load(UInt64.self)
                    let high = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                    if low == UInt64(bitPattern: Int64.min) && high == UInt64(bitPattern: Int64.min) { return nil }
                    return hex(high, 16) + hex(low, 16)
                case .long256:
                    let words = (0..<4).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + $0 * 8, as: UInt64.self)) }
                    if words.allSatisfy({ $0 == UInt64(bitPattern: Int64.min) }) { return nil }
                    return "0x" + words.reversed().map { hex($0, 16) }.joined()
                case .geohash:
                    var value: UInt64 = 0
                    for index in (0..<width).reversed() { value = value << 8 | UInt64(raw[offset + index]) }
                    return value == UInt64.max >> (64 - width * 8) ? nil : "\(value)"
                default: return "?"
                }
            }
        }
    }

    private static func hex(_ value: UInt64, _ digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
