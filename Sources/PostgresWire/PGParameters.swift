import SQL

/// Bind parameter values → SQL values, by the parameter's type OID and format (QUESTDB-COMPAT
/// §5.2). Text values stay text unless their type says otherwise; the SQL binder converts them
/// to what their use needs. Bad values are 22P02 (text) or 22P03 (binary) errors.
package enum PGParameters {
    package static func decode(_ bytes: [UInt8]?, oid: Int32, format: PGFormat, index: Int) throws(PGProtocolError) -> SQLValue {
        guard let bytes else { return .null }
        return format == .text ? try text(bytes, oid: oid, index: index) : try binary(bytes, oid: oid, index: index)
    }

    private static func text(_ bytes: [UInt8], oid: Int32, index: Int) throws(PGProtocolError) -> SQLValue {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PGProtocolError("22021", "invalid byte sequence for encoding \"UTF8\" in bind parameter \(index + 1)", fatal: false)
        }
        func invalid(_ type: String) -> PGProtocolError {
            PGProtocolError("22P02", "invalid input syntax for type \(type): \"\(text)\"", fatal: false)
        }
        switch oid {
        case 16:
            switch text.lowercased() {
            case "t", "true", "1", "yes", "on", "y": return .boolean(true)
            case "f", "false", "0", "no", "off", "n": return .boolean(false)
            default: throw invalid("boolean")
            }
        case 20, 21, 23:
            guard let value = Int64(text.trimmingSpaces) else { throw invalid(oid == 20 ? "bigint" : oid == 21 ? "smallint" : "integer") }
            return .integer(value)
        case 700, 701:
            guard let value = Double(text.trimmingSpaces) else { throw invalid("double precision") }
            return .real(value)
        case 1700:
            // Kept as text: a DECIMAL column takes every digit of it, where a double would keep 15–17.
            guard Double(text.trimmingSpaces) != nil else { throw invalid("numeric") }
            return .text(String(text.trimmingSpaces))
        case 1022, 1016:
            // `{1,2}` → the engine's array text.
            return .text(String(text.map { $0 == "{" ? "[" : $0 == "}" ? "]" : $0 }))
        default:
            return .text(text)
        }
    }

    private static func binary(_ bytes: [UInt8], oid: Int32, index: Int) throws(PGProtocolError) -> SQLValue {
        // Too few bytes is a short message, too many a bad format (PostgreSQL's two answers).
        func width(_ expected: Int) throws(PGProtocolError) {
            guard bytes.count >= expected else { throw .violation("insufficient data left in message") }
            guard bytes.count == expected else {
                throw PGProtocolError("22P03", "incorrect binary data format in bind parameter \(index + 1)", fatal: false)
            }
        }
        func integer(_ count: Int) -> Int64 {
            var value: UInt64 = 0
            for byte in bytes.prefix(count) { value = value << 8 | UInt64(byte) }
            let shift = UInt64(64 - count * 8)
            return Int64(bitPattern: value << shift) >> Int64(shift)
        }
        switch oid {
        case 16:
            try width(1)
            return .boolean(bytes[0] != 0)
        case 21:
            try width(2)
            return .integer(integer(2))
        case 23:
            try width(4)
            return .integer(integer(4))
        case 20:
            try width(8)
            return .integer(integer(8))
        case 700:
            try width(4)
            return .real(Double(Float(bitPattern: UInt32(truncatingIfNeeded: integer(4)))))
        case 701:
            try width(8)
            return .real(Double(bitPattern: UInt64(bitPattern: integer(8))))
        case 1114, 1184:
            try width(8)
            return .integer(integer(8) &+ PGTimestamp.unixToPostgresMicros)
        case 1082:
            try width(4)
            return .integer(integer(4) &* 86_400_000_000 &+ PGTimestamp.unixToPostgresMicros)
        case 2950:
            try width(16)
            return .text(PGUUID.text(bytes))
        case 1700:
            return .text(try numeric(bytes, index: index))
        case 0, 17, 18, 19, 25, 705, 1042, 1043:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw PGProtocolError("22021", "invalid byte sequence for encoding \"UTF8\" in bind parameter \(index + 1)", fatal: false)
            }
            return .text(text)
        case 1022, 1016, 1015, 1009, 1028, 1007:
            return .text(try array(bytes, index: index))
        default:
            throw PGProtocolError("0A000", "binary format of type oid \(oid) is not supported (bind parameter \(index + 1))", fatal: false)
        }
    }

    /// PostgreSQL's binary NUMERIC (base-10000 digits) as exact decimal text (`NaN` for NaN).
    private static func numeric(_ bytes: [UInt8], index: Int) throws(PGProtocolError) -> String {
        let bad = PGProtocolError("22P03", "incorrect binary data format in bind parameter \(index + 1)", fatal: false)
        func word(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        guard bytes.count >= 8 else { throw bad }
        let count = word(0), weight = Int(Int16(bitPattern: UInt16(word(2)))), sign = word(4), scale = word(6)
        guard bytes.count == 8 + count * 2, scale <= 16383, abs(weight) <= 4096 else { throw bad }
        if sign == 0xC000 { return "NaN" }
        guard sign == 0 || sign == 0x4000 else { throw bad }
        // Digit k is worth 10000^(weight − k): whole digits first, then the fraction's.
        var whole = ""
        var fraction = ""
        for k in 0...max(weight, count - 1) {
            let digit = k < count ? word(8 + k * 2) : 0
            guard digit < 10_000 else { throw bad }
            let text = String(digit)
            let padded = String(repeating: "0", count: 4 - text.count) + text
            if k <= weight { whole += whole.isEmpty ? text : padded } else { fraction += padded }
        }
        if weight < 0 { fraction = String(repeating: "0000", count: -weight - 1) + fraction }
        // The display scale says how many fraction digits the value has.
        fraction = fraction.count >= scale ? String(fraction.prefix(scale)) : fraction + String(repeating: "0", count: scale - fraction.count)
        if whole.isEmpty { whole = "0" }
        return (sign == 0x4000 ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// A one-dimensional binary array of float8, int8 or text as the engine's array text.
    private static func array(_ bytes: [UInt8], index: Int) throws(PGProtocolError) -> String {
        let bad = PGProtocolError("22P03", "incorrect binary data format in bind parameter \(index + 1)", fatal: false)
        var offset = 0
        func int32() throws(PGProtocolError) -> Int32 {
            guard offset + 4 <= bytes.count else { throw bad }
            defer { offset += 4 }
            return Int32(bitPattern: UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3]))
        }
        let dimensions = try int32()
        _ = try int32()
        let element = try int32()
        guard dimensions <= 1 else { throw PGProtocolError("0A000", "only one-dimensional array parameters are supported", fatal: false) }
        var count = 0
        if dimensions == 1 {
            count = Int(try int32())
            _ = try int32()
        }
        var items: [String] = []
        for _ in 0..<count {
            let length = Int(try int32())
            if length < 0 {
                items.append("null")
                continue
            }
            guard offset + length <= bytes.count else { throw bad }
            let item = Array(bytes[offset..<offset + length])
            offset += length
            switch element {
            case 701:
                guard length == 8 else { throw bad }
                items.append(String(Double(bitPattern: item.reduce(0) { $0 << 8 | UInt64($1) })))
            case 20:
                guard length == 8 else { throw bad }
                items.append(String(Int64(bitPattern: item.reduce(0) { $0 << 8 | UInt64($1) })))
            case 23, 26:
                guard length == 4 else { throw bad }
                let word = item.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                items.append(element == 26 ? String(word) : String(Int32(bitPattern: word)))
            default:
                items.append("\"" + String(decoding: item, as: UTF8.self) + "\"")
            }
        }
        return "[" + items.joined(separator: ",") + "]"
    }
}

extension String {
    var trimmingSpaces: Substring {
        var text = self[...]
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}
