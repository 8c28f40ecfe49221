import NIOCore
import SQL

/// Writes a result's rows as DataRow messages. Each column of a run of rows is encoded in
/// one typed loop into its own buffer (lengths kept apart, −1 for NULL); the row loop then
/// only copies bytes. No per-cell dispatch on the column's type.
package struct PGRowWriter {
    package let kinds: [PGValueKind]
    package let formats: [PGFormat]
    /// Rows encoded per pass; bounds the memory a pass holds.
    static let rowsPerPass = 2048

    /// `formats` as Bind gave them: empty (all text), one for all, or one per column.
    package init(columns: [QueryResult.Column], formats: [PGFormat]) {
        kinds = columns.map { PGValueKind($0.type) }
        self.formats = columns.indices.map { index in
            formats.isEmpty ? .text : formats.count == 1 ? formats[0] : index < formats.count ? formats[index] : .text
        }
    }

    /// The RowDescription of `columns` in these formats.
    package func description(of columns: [QueryResult.Column]) -> [PGColumnDescription] {
        columns.enumerated().map { index, column in
            PGColumnDescription(name: column.name, type: PGType(column.type), format: formats[index])
        }
    }

    /// DataRow messages for `rows` of `result`, appended to `out`.
    package func write(_ result: QueryResult, rows: Range<Int>, into out: inout ByteBuffer) {
        var start = rows.lowerBound
        var cells = [EncodedCells](repeating: EncodedCells(), count: kinds.count)
        while start < rows.upperBound {
            let pass = start..<min(rows.upperBound, start + Self.rowsPerPass)
            for column in kinds.indices {
                cells[column].reset()
                encode(result.batch.columns[column], type: result.columns[column].type, column: column, rows: pass, into: &cells[column])
            }
            for row in 0..<pass.count {
                out.writeInteger(UInt8(ascii: "D"))
                let lengthIndex = out.writerIndex
                out.writeInteger(Int32(0))
                out.writeInteger(Int16(kinds.count))
                for column in cells.indices {
                    let length = cells[column].lengths[row]
                    out.writeInteger(length)
                    if length > 0 {
                        var bytes = cells[column].bytes.readSlice(length: Int(length))!
                        out.writeBuffer(&bytes)
                    }
                }
                out.setInteger(Int32(out.writerIndex - lengthIndex), at: lengthIndex)
            }
            start = pass.upperBound
        }
    }

    /// The encoded values of one column for one pass.
    struct EncodedCells {
        var bytes = ByteBuffer()
        var lengths: [Int32] = []

        mutating func reset() {
            bytes.clear()
            lengths.removeAll(keepingCapacity: true)
        }

        mutating func null() { lengths.append(-1) }

        mutating func append(_ write: (inout ByteBuffer) -> Void) {
            let before = bytes.writerIndex
            write(&bytes)
            lengths.append(Int32(bytes.writerIndex - before))
        }

        mutating func appendText(_ text: String) {
            append { $0.writeString(text) }
        }
    }

    private func encode(_ vector: ColumnVector, type: SQLType, column: Int, rows: Range<Int>, into cells: inout EncodedCells) {
        let binary = formats[column] == .binary
        switch (vector, kinds[column]) {
        case (.boolean(let values), _):
            for row in rows {
                let byte = binary ? UInt8(values[row] ? 1 : 0) : UInt8(ascii: values[row] ? "t" : "f")
                cells.append { $0.writeInteger(byte) }
            }
        case (.integer(let values), .int2):
            for row in rows {
                let value = values[row]
                if binary { cells.append { $0.writeInteger(Int16(truncatingIfNeeded: value)) } } else { cells.appendText(String(value)) }
            }
        case (.integer(let values), .int4):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.null(); continue }
                if binary { cells.append { $0.writeInteger(Int32(truncatingIfNeeded: value)) } } else { cells.appendText(String(value)) }
            }
        case (.integer(let values), .int8):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.null(); continue }
                if binary { cells.append { $0.writeInteger(value) } } else { cells.appendText(String(value)) }
            }
        case (.integer(let values), .time(let perSecond)):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.null(); continue }
                let micros = perSecond == 1_000_000 ? value : perSecond < 1_000_000 ? value &* (1_000_000 / perSecond) : value / (perSecond / 1_000_000)
                if binary {
                    cells.append { $0.writeInteger(micros &- PGTimestamp.unixToPostgresMicros) }
                } else {
                    cells.append { PGTimestamp.writeText(micros, fractionDigits: perSecond == 1_000 ? 3 : 6, into: &$0) }
                }
            }
        case (.real(let values), .float4):
            for row in rows {
                let value = values[row]
                if !value.isFinite { cells.null(); continue }
                if binary {
                    cells.append { $0.writeInteger(Float(value).bitPattern) }
                } else {
                    cells.appendText(JavaDoubleText.format(Float(value)))
                }
            }
        case (.real(let values), _):
            for row in rows {
                let value = values[row]
                if !value.isFinite { cells.null(); continue }
                if binary { cells.append { $0.writeInteger(value.bitPattern) } } else { cells.appendText(JavaDoubleText.format(value)) }
            }
        case (.integer(let values), _):
            // CHAR, IPv4, geohashes: their text form (CHAR's zero is NULL).
            for row in rows {
                guard let text = ValueText.integer(values[row], type), !text.isEmpty else { cells.null(); continue }
                cells.appendText(text)
            }
        case (_, .uuid):
            for text in vector.textValues(rows) {
                guard let text else { cells.null(); continue }
                if binary, let bytes = PGUUID.bytes(text) {
                    cells.append { $0.writeBytes(bytes) }
                } else {
                    cells.appendText(text)
                }
            }
        case (_, .doubleArray):
            for text in vector.textValues(rows) {
                guard let text else { cells.null(); continue }
                if binary {
                    cells.append { PGArray.writeBinaryDoubles(fromJSON: text, into: &$0) }
                } else {
                    cells.appendText(PGArray.text(fromJSON: text))
                }
            }
        case (_, .bytea):
            for text in vector.textValues(rows) {
                guard let text else { cells.null(); continue }
                if binary {
                    cells.append { $0.writeString(text) }
                } else {
                    cells.append { PGBytea.writeHex(Array(text.utf8), into: &$0) }
                }
            }
        default:
            for text in vector.textValues(rows) {
                guard let text else { cells.null(); continue }
                cells.appendText(text)
            }
        }
    }
}

/// PostgreSQL's `timestamp`: text `yyyy-MM-dd HH:mm:ss.ffffff`, binary µs since 2000-01-01.
package enum PGTimestamp {
    package static let unixToPostgresMicros: Int64 = 946_684_800_000_000

    package static func text(_ micros: Int64) -> String {
        var buffer = ByteBuffer()
        writeText(micros, fractionDigits: 6, into: &buffer)
        return buffer.readString(length: buffer.readableBytes)!
    }

    static func writeText(_ micros: Int64, fractionDigits: Int, into out: inout ByteBuffer) {
        let days = micros >= 0 ? micros / 86_400_000_000 : (micros + 1) / 86_400_000_000 - 1
        let inDay = micros - days * 86_400_000_000
        let (year, month, day) = civil(days)
        if year < 0 || year > 9999 {
            out.writeString(String(year))
        } else {
            digits(year, 4, &out)
        }
        out.writeInteger(UInt8(ascii: "-"))
        digits(month, 2, &out)
        out.writeInteger(UInt8(ascii: "-"))
        digits(day, 2, &out)
        out.writeInteger(UInt8(ascii: " "))
        let seconds = inDay / 1_000_000
        digits(seconds / 3600, 2, &out)
        out.writeInteger(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2, &out)
        out.writeInteger(UInt8(ascii: ":"))
        digits(seconds % 60, 2, &out)
        out.writeInteger(UInt8(ascii: "."))
        let fraction = inDay % 1_000_000
        digits(fractionDigits == 3 ? fraction / 1000 : fraction, fractionDigits, &out)
    }

    private static func digits(_ value: Int64, _ count: Int, _ out: inout ByteBuffer) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.writeInteger(UInt8(48 + rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Days since 1970-01-01 → proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

enum PGUUID {
    /// The 16 bytes of a canonical UUID text.
    static func bytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var high: UInt8?
        for unit in text.utf8 where unit != UInt8(ascii: "-") {
            guard let nibble = PGBytea.nibble(unit) else { return nil }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes.count == 16 && high == nil ? bytes : nil
    }

    static func text(_ bytes: [UInt8]) -> String {
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let characters = Array(hex)
        return String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-"
            + String(characters[16..<20]) + "-" + String(characters[20..<32])
    }
}

enum PGBytea {
    static func writeHex(_ bytes: [UInt8], into out: inout ByteBuffer) {
        let digits = Array("0123456789abcdef".utf8)
        out.writeInteger(UInt8(ascii: "\\"))
        out.writeInteger(UInt8(ascii: "x"))
        for byte in bytes {
            out.writeInteger(digits[Int(byte >> 4)])
            out.writeInteger(digits[Int(byte & 0xF)])
        }
    }

    static func nibble(_ unit: UInt8) -> UInt8? {
        switch unit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): unit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): unit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): unit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// DOUBLE arrays: the engine's text is JSON-like (`[[1.0,2.0],[3.0,4.0]]`); PostgreSQL's text
/// uses braces, its binary form is a header, the dimensions and the elements.
enum PGArray {
    static func text(fromJSON json: String) -> String {
        String(json.map { $0 == "[" ? "{" : $0 == "]" ? "}" : $0 }).replacing("null", with: "NULL")
    }

    static func writeBinaryDoubles(fromJSON json: String, into out: inout ByteBuffer) {
        var dimensions: [Int32] = []
        var counts: [Int32] = []
        var depth = 0
        var values: [Double?] = []
        var token = ""
        func flush() {
            guard !token.isEmpty else { return }
            values.append(Double(token))
            counts[depth - 1] += 1
            token = ""
        }
        for character in json {
            switch character {
            case "[":
                depth += 1
                if counts.count < depth { counts.append(0) } else { counts[depth - 1] = 0 }
                if depth > 1 { counts[depth - 2] += 1 }
            case "]":
                flush()
                if dimensions.count < depth { dimensions.append(contentsOf: repeatElement(0, count: depth - dimensions.count)) }
                dimensions[depth - 1] = counts[depth - 1]
                depth -= 1
            case ",":
                flush()
            case " ":
                break
            default:
                token.append(character)
            }
        }
        if values.isEmpty { dimensions = [] }
        out.writeInteger(Int32(dimensions.count))
        out.writeInteger(Int32(values.contains(nil) ? 1 : 0))
        out.writeInteger(PGType.float8.oid)
        for dimension in dimensions {
            out.writeInteger(dimension)
            out.writeInteger(Int32(1))
        }
        for value in values {
            if let value {
                out.writeInteger(Int32(8))
                out.writeInteger(value.bitPattern)
            } else {
                out.writeInteger(Int32(-1))
            }
        }
    }
}
