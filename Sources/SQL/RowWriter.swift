import Storage

/// Puts one row of SQL values into a `RowBatch`, converting each to its column's type.
enum RowWriter {
    static func write(_ values: [(SQLValue, SQLType, Int)], into batch: RowBatch, schema: TableSchema, columns: [Int]) throws(SQLError) {
        batch.beginRow()
        do throws(SQLError) {
            var timestampSet = false
            for (index, column) in columns.enumerated() {
                let (value, type, position) = values[index]
                let target = schema.columns[column]
                let converted = try ValueConversion.convert(value, from: type, to: .column(target.type), at: position)
                if target.id == schema.designatedTimestamp {
                    guard case .integer(let instant) = converted, instant != Int64.min else {
                        throw SQLError(.invalidValue, "designated timestamp column cannot be NULL", at: position)
                    }
                    guard instant >= 0 else {
                        throw SQLError(.invalidValue, "designated timestamp before 1970-01-01 is not allowed", at: position)
                    }
                    timestampSet = true
                }
                try set(converted, column: column, type: target.type, batch: batch, at: position)
            }
            if let designated = schema.designatedTimestamp, !timestampSet {
                let name = schema.column(id: designated)?.name ?? "timestamp"
                throw SQLError(.invalidValue, "designated timestamp column \(name) must be given a value", at: values.first?.2 ?? 0)
            }
            do { try batch.endRow() } catch {
                throw SQLError(.limitExceeded, error.message)
            }
        } catch {
            batch.cancelRow()
            throw error
        }
    }

    private static func set(_ value: SQLValue, column: Int, type: ColumnType, batch: RowBatch, at position: Int) throws(SQLError) {
        switch value {
        case .null:
            batch.setNull(column)
        case .boolean(let flag):
            batch.setInteger(column, UInt8(flag ? 1 : 0))
        case .integer(let number):
            switch type {
            case .boolean: batch.setInteger(column, UInt8(number != 0 ? 1 : 0))
            case .byte: batch.setInteger(column, Int8(truncatingIfNeeded: number))
            case .short: batch.setInteger(column, Int16(truncatingIfNeeded: number))
            case .char: batch.setInteger(column, UInt16(truncatingIfNeeded: number))
            case .int: batch.setInteger(column, Int32(truncatingIfNeeded: number))
            case .ipv4: batch.setInteger(column, UInt32(truncatingIfNeeded: number))
            case .geohash:
                switch type.fixedWidthBytes! {
                case 1: batch.setInteger(column, Int8(truncatingIfNeeded: number))
                case 2: batch.setInteger(column, Int16(truncatingIfNeeded: number))
                case 4: batch.setInteger(column, Int32(truncatingIfNeeded: number))
                default: batch.setInteger(column, number)
                }
            default: batch.setInteger(column, number)
            }
        case .real(let number):
            if type == .float { batch.setFloat(column, Float(number)) } else { batch.setDouble(column, number) }
        case .text(let text):
            switch type {
            case .uuid:
                guard let (low, high) = Array(text.utf8).withUnsafeBytes({ ColumnValueText.uuid($0) }) else {
                    throw SQLError(.invalidValue, "inconvertible value: `\(text)` [STRING -> UUID]", at: position)
                }
                withUnsafeBytes(of: (low.littleEndian, high.littleEndian)) { batch.setFixedBytes(column, $0) }
            case .long256:
                let digits = text.hasPrefix("0x") ? Array(text.utf8.dropFirst(2)) : Array(text.utf8)
                guard let words = digits.withUnsafeBytes({ ColumnValueText.long256(hexDigits: $0) }) else {
                    throw SQLError(.invalidValue, "inconvertible value: `\(text)` [STRING -> LONG256]", at: position)
                }
                withUnsafeBytes(of: (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian, words.3.littleEndian)) {
                    batch.setFixedBytes(column, $0)
                }
            case .decimal(let precision, let scale) where type.isWideDecimal:
                // A wide decimal's SQL value is its text (`DecimalText`).
                guard let scaled = WideDecimal.parse(text, scale: scale), WideDecimal.fits(scaled, precision: precision) else {
                    throw SQLError(.invalidValue, "inconvertible value: `\(text)` [STRING -> \(type)]", at: position)
                }
                var bytes: [UInt8] = []
                scaled.appendBytes(width: type.fixedWidthBytes!, to: &bytes)
                bytes.withUnsafeBytes { batch.setFixedBytes(column, $0) }
            case .symbol, .varchar, .string:
                var copy = text
                copy.withUTF8 { batch.setBytes(column, UnsafeRawBufferPointer($0)) }
            case .doubleArray(let dimensions):
                guard let (shape, values) = ArrayText.parse(text), shape.count == dimensions else {
                    throw SQLError(.invalidValue, "inconvertible value: `\(text)` [STRING -> DOUBLE[]\(String(repeating: "[]", count: dimensions - 1))]", at: position)
                }
                DoubleArrayValue.encode(shape: shape, values: values).withUnsafeBytes { batch.setBytes(column, $0) }
            default:
                throw SQLError(.unsupported, "cannot insert text into a \(type) column", at: position)
            }
        }
    }
}

extension ArrayText {
    /// Array text (`[1.5,2.5]`, `[[1,2],[3,4]]`, PostgreSQL's `{…}` too) → shape and row-major values.
    static func parse(_ text: String) -> (shape: [Int], values: [Double])? {
        var shape: [Int] = []
        var values: [Double] = []
        var counts: [Int] = []
        var token = ""
        var depth = 0
        var closedAny = false
        func flush() -> Bool {
            guard !token.isEmpty else { return true }
            guard let value = Double(token) ?? (token.lowercased() == "null" ? Double.nan : nil), depth > 0 else { return false }
            values.append(value)
            counts[depth - 1] += 1
            token = ""
            return true
        }
        for character in text {
            switch character {
            case "[", "{":
                guard token.isEmpty else { return nil }
                if depth > 0 { counts[depth - 1] += 1 }
                depth += 1
                if counts.count < depth { counts.append(0) } else { counts[depth - 1] = 0 }
            case "]", "}":
                guard depth > 0, flush() else { return nil }
                if shape.count < depth { shape.append(contentsOf: repeatElement(-1, count: depth - shape.count)) }
                if shape[depth - 1] == -1 { shape[depth - 1] = counts[depth - 1] } else if shape[depth - 1] != counts[depth - 1] { return nil }
                depth -= 1
                closedAny = true
            case ",":
                guard flush() else { return nil }
            case " ", "\n", "\t":
                continue
            default:
                token.append(character)
            }
        }
        guard depth == 0, closedAny, token.isEmpty, shape.allSatisfy({ $0 >= 0 }) else { return nil }
        return (shape, values)
    }
}
