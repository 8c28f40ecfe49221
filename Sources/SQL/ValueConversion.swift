import Storage

/// Converts single values between types (constants, bind parameters, INSERT values) with
/// QuestDB's error text for values that do not fit: "inconvertible value: `abc` [STRING -> INT]".
enum ValueConversion {
    static func convert(_ value: SQLValue, from: SQLType, to: SQLType, at position: Int) throws(SQLError) -> SQLValue {
        if value == .null || from == to { return value }
        func fail() -> SQLError {
            let text = ValueText.render(value, from) ?? "null"
            return SQLError(.invalidValue, "inconvertible value: `\(text)` [\(from) -> \(to)]", at: position)
        }
        switch to.representation {
        case .boolean:
            switch value {
            case .boolean: return value
            case .integer(let number): return .boolean(number != 0)
            case .text(let text) where text.lowercased() == "true": return .boolean(true)
            case .text(let text) where text.lowercased() == "false": return .boolean(false)
            default: throw fail()
            }
        case .real:
            switch value {
            case .real(let number): return .real(to == .column(.float) ? Double(Float(number)) : number)
            case .integer(let number) where from.isDecimal:
                return number == Int64.min ? .null : .real(DecimalValue.toDouble(number, scale: from.decimalScale!))
            case .integer(let number): return from.integerHasNull && number == from.integerNull ? .null : .real(Double(number))
            case .boolean(let flag): return .real(flag ? 1 : 0)
            case .text(let text):
                guard let number = Double(text.trimmingCharacters(in: " ")) else { throw fail() }
                return .real(number)
            case .null: return .null
            }
        case .integer:
            return try toInteger(value, from: from, to: to, fail: fail)
        case .wide:
            return try toWideDecimal(value, from: from, to: to, fail: fail)
        case .text:
            if case .column(.uuid) = to {
                guard case .text(let text) = value, text.utf8.count == 36,
                      text.utf8.withContiguousStorageIfAvailable({ ColumnValueText.uuid(UnsafeRawBufferPointer($0)) }) != nil
                else { throw fail() }
                return .text(text.lowercased())
            }
            return ValueText.render(value, from).map(SQLValue.text) ?? .null
        }
    }

    /// Into a DECIMAL past 18 digits (its value is its text; see `DecimalText`). A wide
    /// decimal's value arrives as text too, so rescaling is parsing at the new scale.
    private static func toWideDecimal(_ value: SQLValue, from: SQLType, to: SQLType, fail: () -> SQLError) throws(SQLError) -> SQLValue {
        guard case .column(.decimal(let precision, let scale)) = to else { throw fail() }
        let scaled: Int256?
        switch value {
        case .null: return .null
        case .integer(let n) where from.integerHasNull && n == from.integerNull: return .null
        case .integer(let n):
            guard !from.isTemporal else { throw fail() }
            scaled = WideDecimal.rescale(Int256(n), from: from.decimalScale ?? 0, to: scale)
        case .real(let r):
            if r.isNaN { return .null }
            scaled = WideDecimal.fromDouble(r, scale: scale)
        case .text(let text): scaled = WideDecimal.parse(text, scale: scale)
        case .boolean: throw fail()
        }
        guard let scaled, WideDecimal.fits(scaled, precision: precision) else { throw fail() }
        return .text(WideDecimal.text(scaled, scale: scale))
    }

    private static func toDecimal(
        _ value: SQLValue, from: SQLType, precision: Int, scale: Int, fail: () -> SQLError
    ) throws(SQLError) -> SQLValue {
        let scaled: Int64?
        switch value {
        case .null: return .null
        case .integer(let n) where from.integerHasNull && n == from.integerNull: return .integer(Int64.min)
        case .integer(let n):
            guard !from.isTemporal else { throw fail() }
            scaled = from.decimalScale.map { DecimalValue.rescale(n, from: $0, to: scale) } ?? DecimalValue.fromInteger(n, scale: scale)
        case .real(let r):
            if r.isNaN { return .integer(Int64.min) }
            scaled = DecimalValue.fromDouble(r, scale: scale)
        case .text(let text): scaled = DecimalValue.parse(text, scale: scale)
        case .boolean: throw fail()
        }
        guard let scaled, DecimalValue.fits(scaled, precision: precision) else { throw fail() }
        return .integer(scaled)
    }

    private static func toInteger(_ value: SQLValue, from: SQLType, to: SQLType, fail: () -> SQLError) throws(SQLError) -> SQLValue {
        if case .column(.decimal(let precision, let scale)) = to {
            return try toDecimal(value, from: from, precision: precision, scale: scale, fail: fail)
        }
        var number: Int64
        switch value {
        case .null: return .null
        case .integer(let n) where from.isDecimal:
            if n == Int64.min { return .integer(to.integerNull) }
            number = DecimalValue.truncated(n, scale: from.decimalScale!)
        case .text(let text) where from.isWideDecimal:
            guard let scaled = WideDecimal.parse(text, scale: from.decimalScale!),
                  let whole = DecimalValue.narrow(WideDecimal.truncated(scaled, scale: from.decimalScale!))
            else { throw fail() }
            number = whole
        case .boolean(let flag): number = flag ? 1 : 0
        case .integer(let n):
            if from.integerHasNull && n == from.integerNull { return .integer(to.integerNull) }
            number = n
            if from == .column(.date) && (to == .timestamp) { number = n * 1000 }
            if from == .timestamp && to == .column(.date) { number = TimeArithmetic.floorDivide(n, 1000) }
            if from == .column(.timestampNanos) && to == .timestamp { number = TimeArithmetic.floorDivide(n, 1000) }
            if from == .timestamp && to == .column(.timestampNanos) { number = n * 1000 }
        case .real(let r):
            if r.isNaN { return .integer(to.integerNull) }
            guard r.isFinite, r >= -9.2e18, r <= 9.2e18 else { throw fail() }
            number = Int64(r.rounded(.towardZero))
        case .text(let text):
            switch to {
            case .timestamp, .column(.date), .column(.timestampNanos):
                if let period = TimestampText.parse(text) {
                    number = to == .column(.date) ? TimeArithmetic.floorDivide(period.start, 1000)
                        : to == .column(.timestampNanos) ? period.start * 1000 + period.nanos : period.start
                } else if let raw = Int64(text) {
                    number = raw
                } else {
                    throw fail()
                }
            case .column(.ipv4):
                guard let address = Array(text.utf8).withUnsafeBytes({ ColumnValueText.ipv4($0) }) else { throw fail() }
                return .integer(Int64(address))
            case .column(.geohash(let bits)):
                guard let hash = Array(text.utf8).withUnsafeBytes({ ColumnValueText.geohash($0, bits: bits) }) else { throw fail() }
                return .integer(Int64(bitPattern: hash))
            case .column(.char):
                // The empty string is CHAR's zero value (its "null"), as `''::char` in PostgreSQL.
                if text.isEmpty { return .integer(0) }
                guard text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first, scalar.value <= 0xFFFF else {
                    throw fail()
                }
                return .integer(Int64(scalar.value))
            default:
                guard let parsed = Int64(text.trimmingCharacters(in: " ")) else { throw fail() }
                number = parsed
            }
        }
        let range: ClosedRange<Int64>? =
            switch to {
            case .column(.byte): Int64(Int8.min)...Int64(Int8.max)
            case .column(.short): Int64(Int16.min)...Int64(Int16.max)
            case .column(.int): Int64(Int32.min) + 1...Int64(Int32.max)
            case .column(.char): 0...Int64(UInt16.max)
            case .column(.ipv4): 0...Int64(UInt32.max)
            default: nil
            }
        if let range, !range.contains(number) { throw fail() }
        return .integer(number)
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        // Most text has nothing to trim: skip the Character walk (grapheme breaking) for it.
        if let byte = set.asciiValue, utf8.first != byte, utf8.last != byte { return self }
        return String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}

/// Text forms of values as QuestDB prints them in casts and CSV: ISO timestamps, Java-style
/// doubles, dotted IPv4, characters.
package enum ValueText {
    static func render(_ value: SQLValue, _ type: SQLType) -> String? {
        switch value {
        case .null: return nil
        case .boolean(let flag): return flag ? "true" : "false"
        case .real(let number):
            if number.isNaN { return nil }
            return type == .column(.float) ? JavaDoubleText.format(Float(number)) : JavaDoubleText.format(number)
        case .text(let text): return text
        case .integer(let number): return integer(number, type)
        }
    }

    /// An integer-represented value of `type` as text; nil for its NULL.
    package static func integer(_ number: Int64, _ type: SQLType) -> String? {
        if type.integerHasNull && number == type.integerNull { return nil }
        switch type {
        case .timestamp: return TimestampText.micros(number)
        case .column(.date): return TimestampText.millis(number)
        case .column(.timestampNanos): return TimestampText.nanos(number)
        case .column(.char):
            // CHAR has no NULL: its zero value prints as empty text.
            return number == 0 ? "" : Unicode.Scalar(UInt32(truncatingIfNeeded: number)).map { String(Character($0)) } ?? ""
        case .column(.ipv4):
            let address = UInt32(truncatingIfNeeded: number)
            return "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
        case .column(.boolean): return number != 0 ? "true" : "false"
        case .column(.geohash(let bits)): return GeohashText.format(number, bits: bits)
        case .column(.decimal(_, let scale)): return DecimalValue.text(number, scale: scale)
        default: return String(number)
        }
    }
}

/// Geohash values as text: base-32 characters for whole-character precisions, else bits.
enum GeohashText {
    static let alphabet = Array("0123456789bcdefghjkmnpqrstuvwxyz")

    static func format(_ value: Int64, bits: Int) -> String {
        if bits % 5 == 0 {
            var text = ""
            for index in stride(from: bits / 5 - 1, through: 0, by: -1) {
                text.append(alphabet[Int((value >> (index * 5)) & 31)])
            }
            return text
        }
        var text = ""
        for index in stride(from: bits - 1, through: 0, by: -1) { text.append((value >> index) & 1 == 1 ? "1" : "0") }
        return text
    }
}
