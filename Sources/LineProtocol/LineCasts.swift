import Storage

/// Writing an ILP value into a column of a given type: QuestDB's cast table
/// (`LineWalAppender`, QUESTDB-COMPAT §1.5), its range checks and its error texts.
package enum LineCasts {
    /// Why a value could not be written; the caller adds table, column and line.
    enum Failure: Error {
        case cast(from: LineValueKind)
        case outOfBounds(value: String)
        case invalid(value: String)
    }

    /// The protocol type name QuestDB's errors use for a value kind.
    static func protocolTypeName(_ kind: LineValueKind) -> String {
        switch kind {
        case .tag: "TAG"
        case .integer: "INTEGER"
        case .long256: "LONG256"
        case .double: "FLOAT"
        case .boolean: "BOOLEAN"
        case .string: "STRING"
        case .timestamp: "TIMESTAMP"
        case .null: "NULL"
        case .doubleArray: "ARRAY"
        case .decimal, .wideDecimal: "DECIMAL"
        }
    }

    /// The column type a new column gets for a value (QuestDB `DefaultColumnTypes`);
    /// `nil` when the value cannot define one (NULL).
    static func newColumnType(for entity: LineEntity, integerType: ColumnType, stringType: ColumnType) -> ColumnType? {
        switch entity.kind {
        case .tag: .symbol
        case .integer: integerType
        case .long256: .long256
        case .double: .double
        case .boolean: .boolean
        case .string: stringType
        case .timestamp: entity.unit == .nanos ? .timestampNanos : .timestamp
        case .null: nil
        case .doubleArray: entity.dimensions > 0 ? .doubleArray(dimensions: entity.dimensions) : nil
        // The widest DECIMAL of the value's width, at its scale: 18 digits in one Int64, else 76.
        case .decimal: .decimal(precision: ColumnType.maxNarrowDecimalPrecision, scale: entity.dimensions)
        case .wideDecimal: .decimal(precision: ColumnType.maxDecimalPrecision, scale: entity.dimensions)
        }
    }

    /// Sets column `column` (of `type`) of the batch's current row from the entity at `entity`
    /// (read field by field: see `LineParser.entityPointer`).
    static func set(
        _ entity: UnsafePointer<LineEntity>, from buffer: UnsafeRawBufferPointer, column: Int, type: ColumnType,
        into batch: RowBatch, scratch: inout [UInt8]
    ) throws(Failure) {
        switch entity.pointee.kind {
        case .null:
            return
        case .tag, .string:
            try setText(entity.pointee.range, kind: entity.pointee.kind, buffer, column, type, batch, &scratch)
        case .integer:
            try setInteger(entity.pointee.integer, kind: .integer, column, type, batch, &scratch)
        case .boolean:
            switch type {
            case .boolean, .byte: batch.setInteger(column, UInt8(entity.pointee.integer))
            case .short: batch.setInteger(column, Int16(entity.pointee.integer))
            case .int: batch.setInteger(column, Int32(entity.pointee.integer))
            case .long: batch.setInteger(column, entity.pointee.integer)
            case .float: batch.setFloat(column, Float(entity.pointee.integer))
            case .double: batch.setDouble(column, Double(entity.pointee.integer))
            case .symbol: setStatic(entity.pointee.integer == 1 ? "true" : "false", column, batch)
            default: throw .cast(from: .boolean)
            }
        case .double:
            switch type {
            case .double: batch.setDouble(column, entity.pointee.double)
            case .float: batch.setFloat(column, Float(entity.pointee.double))
            case .decimal(let precision, let scale) where type.isWideDecimal:
                if entity.pointee.double.isNaN { return batch.setNull(column) }
                guard let scaled = WideDecimal.fromDouble(entity.pointee.double, scale: scale), WideDecimal.fits(scaled, precision: precision)
                else { throw .outOfBounds(value: "\(entity.pointee.double)") }
                setWide(scaled, column, type, batch)
            case .decimal(let precision, let scale):
                // Rounded half away from zero to the column's scale; NaN is NULL.
                if entity.pointee.double.isNaN { return batch.setNull(column) }
                guard let scaled = DecimalValue.fromDouble(entity.pointee.double, scale: scale), DecimalValue.fits(scaled, precision: precision)
                else { throw .outOfBounds(value: "\(entity.pointee.double)") }
                batch.setInteger(column, scaled)
            default: throw .cast(from: .double)
            }
        case .timestamp:
            let target: LineTimestampUnit
            switch type {
            case .timestamp: target = .micros
            case .timestampNanos: target = .nanos
            case .date: target = .millis
            case .symbol:
                LineText.unescaped(buffer, entity.pointee.range, into: &scratch)
                scratch.withUnsafeBytes { batch.setBytes(column, $0) }
                return
            default: throw .cast(from: .timestamp)
            }
            guard let value = entity.pointee.unit.convert(entity.pointee.integer, to: target) else {
                throw .outOfBounds(value: "\(entity.pointee.integer)")
            }
            batch.setInteger(column, value)
        case .long256:
            switch type {
            case .long256:
                let hex = UnsafeRawBufferPointer(rebasing: buffer[entity.pointee.range.start..<entity.pointee.range.end])
                guard let words = ColumnValueText.long256(hexDigits: hex) else { throw .invalid(value: LineText.string(buffer, entity.pointee.range)) }
                setLong256(words, column, batch)
            case .symbol:
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: "0x".utf8)
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[entity.pointee.range.start..<entity.pointee.range.end]))
                scratch.withUnsafeBytes { batch.setBytes(column, $0) }
            default: throw .cast(from: .long256)
            }
        case .wideDecimal:
            guard let value = wideValue(entity.pointee, buffer) else { throw .invalid(value: LineText.string(buffer, entity.pointee.range)) }
            switch type {
            case .decimal: try setDecimal(value, scale: entity.pointee.dimensions, column, type, batch)
            case .double: batch.setDouble(column, WideDecimal.toDouble(value, scale: entity.pointee.dimensions))
            case .float: batch.setFloat(column, Float(WideDecimal.toDouble(value, scale: entity.pointee.dimensions)))
            default: throw .cast(from: .decimal)
            }
        case .decimal:
            switch type {
            case .decimal where type.isWideDecimal:
                try setDecimal(Int256(entity.pointee.integer), scale: entity.pointee.dimensions, column, type, batch)
            case .decimal(let precision, let scale):
                // Rescaled to the column (rounded half away from zero when it has fewer digits).
                guard let scaled = DecimalValue.rescale(entity.pointee.integer, from: entity.pointee.dimensions, to: scale),
                      DecimalValue.fits(scaled, precision: precision)
                else { throw .outOfBounds(value: DecimalValue.text(entity.pointee.integer, scale: entity.pointee.dimensions)) }
                batch.setInteger(column, scaled)
            case .double: batch.setDouble(column, DecimalValue.toDouble(entity.pointee.integer, scale: entity.pointee.dimensions))
            case .float: batch.setFloat(column, Float(DecimalValue.toDouble(entity.pointee.integer, scale: entity.pointee.dimensions)))
            default: throw .cast(from: .decimal)
            }
        case .doubleArray:
            guard case .doubleArray(let dimensions) = type else { throw .cast(from: .doubleArray) }
            if entity.pointee.range.isEmpty { return }  // NULL array
            guard dimensions == entity.pointee.dimensions else { throw .cast(from: .doubleArray) }
            batch.setBytes(column, UnsafeRawBufferPointer(rebasing: buffer[entity.pointee.range.start..<entity.pointee.range.end]))
        }
    }

    private static func setInteger(
        _ value: Int64, kind: LineValueKind, _ column: Int, _ type: ColumnType, _ batch: RowBatch, _ scratch: inout [UInt8]
    ) throws(Failure) {
        switch type {
        case .long, .timestamp, .timestampNanos, .date:
            batch.setInteger(column, value)
        case .int:
            // Int32.min is INT's NULL: a real value must stay above it.
            guard value > Int64(Int32.min), value <= Int64(Int32.max) else { throw .outOfBounds(value: "\(value)") }
            batch.setInteger(column, Int32(value))
        case .short:
            guard let narrow = Int16(exactly: value) else { throw .outOfBounds(value: "\(value)") }
            batch.setInteger(column, narrow)
        case .byte:
            guard let narrow = Int8(exactly: value) else { throw .outOfBounds(value: "\(value)") }
            batch.setInteger(column, narrow)
        case .double:
            batch.setDouble(column, Double(value))
        case .float:
            batch.setFloat(column, Float(value))
        case .decimal where type.isWideDecimal:
            try setDecimal(Int256(value), scale: 0, column, type, batch)
        case .decimal(let precision, let scale):
            guard let scaled = DecimalValue.fromInteger(value, scale: scale), DecimalValue.fits(scaled, precision: precision) else {
                throw .outOfBounds(value: "\(value)")
            }
            batch.setInteger(column, scaled)
        case .symbol:
            scratch.removeAll(keepingCapacity: true)
            appendDecimal(value, to: &scratch)
            scratch.withUnsafeBytes { batch.setBytes(column, $0) }
        default:
            throw .cast(from: kind)
        }
    }

    private static func setText(
        _ range: LineRange, kind: LineValueKind, _ buffer: UnsafeRawBufferPointer, _ column: Int, _ type: ColumnType,
        _ batch: RowBatch, _ scratch: inout [UInt8]
    ) throws(Failure) {
        // Most values have no escapes: their bytes go straight from the receive buffer.
        guard range.escaped else {
            let text = UnsafeRawBufferPointer(rebasing: buffer[range.start..<range.end])
            return try setText(text, kind: kind, column, type, batch)
        }
        LineText.unescaped(buffer, range, into: &scratch)
        try scratch.withUnsafeBytes { text in
            Result { () throws(Failure) in try setText(text, kind: kind, column, type, batch) }
        }.get()
    }

    private static func setText(
        _ text: UnsafeRawBufferPointer, kind: LineValueKind, _ column: Int, _ type: ColumnType, _ batch: RowBatch
    ) throws(Failure) {
        func invalid() -> Failure { .invalid(value: String(decoding: text, as: UTF8.self)) }
        switch type {
        case .symbol, .varchar, .string:
            batch.setBytes(column, text)
        case .char where kind == .string:
            switch text.count {
            case 0: batch.setInteger(column, UInt16(0))
            case 1: batch.setInteger(column, UInt16(text[0]))
            default: throw .cast(from: .string)
            }
        case .uuid where kind == .string:
            guard let (low, high) = ColumnValueText.uuid(text) else { throw invalid() }
            withUnsafeBytes(of: (low.littleEndian, high.littleEndian)) { batch.setFixedBytes(column, $0) }
        case .ipv4 where kind == .string:
            guard let address = ColumnValueText.ipv4(text) else { throw invalid() }
            batch.setInteger(column, address)
        case .long256 where kind == .string:
            guard text.count > 2, text[0] == UInt8(ascii: "0"), text[1] | 0x20 == UInt8(ascii: "x"),
                  let words = ColumnValueText.long256(hexDigits: UnsafeRawBufferPointer(rebasing: text[2...]))
            else { throw invalid() }
            setLong256(words, column, batch)
        case .decimal(let precision, let scale) where kind == .string && type.isWideDecimal:
            guard let scaled = WideDecimal.parse(String(decoding: text, as: UTF8.self), scale: scale),
                  WideDecimal.fits(scaled, precision: precision)
            else { throw invalid() }
            setWide(scaled, column, type, batch)
        case .decimal(let precision, let scale) where kind == .string:
            guard let scaled = DecimalValue.parse(String(decoding: text, as: UTF8.self), scale: scale),
                  DecimalValue.fits(scaled, precision: precision)
            else { throw invalid() }
            batch.setInteger(column, scaled)
        case .geohash(let bits) where kind == .string:
            // QuestDB stores NULL for a geohash it cannot read rather than failing the line.
            guard let value = ColumnValueText.geohash(text, bits: bits) else { return }
            switch type.fixedWidthBytes {
            case 1: batch.setInteger(column, UInt8(truncatingIfNeeded: value))
            case 2: batch.setInteger(column, UInt16(truncatingIfNeeded: value))
            case 4: batch.setInteger(column, UInt32(truncatingIfNeeded: value))
            default: batch.setInteger(column, value)
            }
        default:
            throw .cast(from: kind)
        }
    }

    private static func setLong256(_ words: (UInt64, UInt64, UInt64, UInt64), _ column: Int, _ batch: RowBatch) {
        withUnsafeBytes(of: (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian, words.3.littleEndian)) {
            batch.setFixedBytes(column, $0)
        }
    }

    private static func setStatic(_ text: StaticString, _ column: Int, _ batch: RowBatch) {
        batch.setBytes(column, UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A wide decimal's unscaled value from its text or its big-endian bytes; nil when the
    /// text is not a number.
    package static func wideValue(_ entity: LineEntity, _ buffer: UnsafeRawBufferPointer) -> Int256? {
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[entity.range.start..<entity.range.end])
        guard entity.integer == LineEntity.wideDecimalBinary else {
            // The parser checked the shape: digits with one optional point, ≤ 76 digits.
            var text = String(decoding: bytes, as: UTF8.self)
            if let point = text.firstIndex(of: ".") { text.remove(at: point) }
            return WideDecimal.parse(text, scale: 0)
        }
        // Two's complement, most significant byte first, 1…32 bytes: shifted in, then the
        // sign extended over the bits the bytes did not fill.
        var high: UInt128 = 0, low: UInt128 = 0
        for byte in bytes {
            high = high << 8 | low >> 120
            low = low << 8 | UInt128(byte)
        }
        let bits = bytes.count * 8
        if let first = bytes.first, first & 0x80 != 0, bits < 256 {
            if bits < 128 {
                low |= UInt128.max << bits
                high = .max
            } else {
                high |= UInt128.max << (bits - 128)
            }
        }
        return Int256(high: Int128(bitPattern: high), low: low)
    }

    /// An exact decimal (`value` × 10^−scale) into a DECIMAL column of any width: rescaled
    /// (half away from zero), refused past the column's precision.
    private static func setDecimal(_ value: Int256, scale: Int, _ column: Int, _ type: ColumnType, _ batch: RowBatch) throws(Failure) {
        guard case .decimal(let precision, let target) = type else { throw .cast(from: .decimal) }
        guard let scaled = WideDecimal.rescale(value, from: scale, to: target), WideDecimal.fits(scaled, precision: precision) else {
            throw .outOfBounds(value: WideDecimal.text(value, scale: scale))
        }
        if type.isWideDecimal { return setWide(scaled, column, type, batch) }
        batch.setInteger(column, Int64(scaled.int128!))
    }

    private static func setWide(_ scaled: Int256, _ column: Int, _ type: ColumnType, _ batch: RowBatch) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        scaled.appendBytes(width: type.fixedWidthBytes!, to: &bytes)
        bytes.withUnsafeBytes { batch.setFixedBytes(column, $0) }
    }

    /// Decimal digits of `value` appended without going through String.
    static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }
}
