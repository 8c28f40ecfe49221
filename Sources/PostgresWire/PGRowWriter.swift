import NIOCore
import SQL
import Storage

/// Writes a result's rows as DataRow messages. Each column of a run of rows is encoded in
/// one typed loop into its own raw buffer (lengths kept apart, −1 for NULL); the row loop then
/// only copies bytes into the output, sized once per run. No per-cell dispatch on the
/// column's type, no per-cell allocation; SYMBOL dictionaries are encoded once per writer.
package struct PGRowWriter {
    package let kinds: [PGValueKind]
    package let formats: [PGFormat]
    /// Rows encoded per pass; bounds the memory a pass holds.
    package static let rowsPerPass = 4096
    /// The per-column stores, made on the first write of more than one row.
    private let pool = CellStorePool()

    /// `formats` as Bind gave them: empty (all text), one for all, or one per column.
    package init(columns: [QueryResult.Column], formats: [PGFormat]) {
        kinds = columns.map { PGValueKind($0.type) }
        self.formats = Self.formats(columnCount: columns.count, requested: formats)
    }

    /// Each column's format, from Bind's list: empty (all text), one for all, or one per column.
    static func formats(columnCount: Int, requested formats: [PGFormat]) -> [PGFormat] {
        (0..<columnCount).map { index in
            formats.isEmpty ? .text : formats.count == 1 ? formats[0] : index < formats.count ? formats[index] : .text
        }
    }

    /// The RowDescription of `columns` in these formats.
    package func description(of columns: [QueryResult.Column]) -> [PGColumnDescription] {
        Self.description(of: columns, formats: formats)
    }

    /// The RowDescription of `columns` in `formats` as Bind gave them, without making a writer
    /// (Describe answers it for every unprepared statement).
    package static func description(of columns: [QueryResult.Column], requested formats: [PGFormat]) -> [PGColumnDescription] {
        description(of: columns, formats: Self.formats(columnCount: columns.count, requested: formats))
    }

    private static func description(of columns: [QueryResult.Column], formats: [PGFormat]) -> [PGColumnDescription] {
        columns.enumerated().map { index, column in
            PGColumnDescription(name: column.name, type: PGType(column.type), format: formats[index])
        }
    }

    /// DataRow messages for `rows` of `result`, appended to `out`.
    package func write(_ result: QueryResult, rows: Range<Int>, into out: inout ByteBuffer) {
        if rows.count == 1 { return writeOne(result, row: rows.lowerBound, into: &out) }
        var start = rows.lowerBound
        let columnCount = kinds.count
        let stores = pool.stores(columnCount)
        var offsets = [Int](repeating: 0, count: columnCount)
        while start < rows.upperBound {
            let pass = start..<min(rows.upperBound, start + Self.rowsPerPass)
            var payload = 0
            for column in 0..<columnCount {
                let store = stores[column]
                store.reset(rows: pass.count)
                encode(result.batch.columns[column], type: result.columns[column].type, column: column, rows: pass, into: store)
                payload += store.used
                offsets[column] = 0
            }
            let total = payload + pass.count * (7 + 4 * columnCount)
            out.reserveCapacity(minimumWritableBytes: total)
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { buffer in
                guard let base = buffer.baseAddress else { return 0 }
                var at = 0
                for row in 0..<pass.count {
                    var size = 4 + 2
                    for column in 0..<columnCount { size += 4 + max(0, Int(stores[column].lengths[row])) }
                    base.storeBytes(of: UInt8(ascii: "D"), toByteOffset: at, as: UInt8.self)
                    base.storeBytes(of: Int32(size).bigEndian, toByteOffset: at + 1, as: Int32.self)
                    base.storeBytes(of: Int16(columnCount).bigEndian, toByteOffset: at + 5, as: Int16.self)
                    at += 7
                    for column in 0..<columnCount {
                        let store = stores[column]
                        let length = store.lengths[row]
                        base.storeBytes(of: length.bigEndian, toByteOffset: at, as: Int32.self)
                        at += 4
                        if length > 0 {
                            (base + at).copyMemory(from: store.bytes + offsets[column], byteCount: Int(length))
                            offsets[column] += Int(length)
                            at += Int(length)
                        }
                    }
                }
                return at
            }
            start = pass.upperBound
        }
    }

    /// One row (a point query's answer): its cells encoded one after another into a single
    /// store, which then holds them in row order — no store per column.
    private func writeOne(_ result: QueryResult, row: Int, into out: inout ByteBuffer) {
        let columnCount = kinds.count
        let store = pool.single
        store.reset(rows: columnCount)
        for column in 0..<columnCount {
            encode(result.batch.columns[column], type: result.columns[column].type, column: column, rows: row..<(row + 1),
                   into: store, dictionaries: false)
        }
        let size = 4 + 2 + 4 * columnCount + store.used
        out.reserveCapacity(minimumWritableBytes: 1 + size)
        out.writeInteger(UInt8(ascii: "D"))
        out.writeInteger(Int32(size))
        out.writeInteger(Int16(columnCount))
        var offset = 0
        for column in 0..<columnCount {
            let length = store.lengths[column]
            out.writeInteger(length)
            if length > 0 {
                out.writeBytes(UnsafeRawBufferPointer(start: store.bytes + offset, count: Int(length)))
                offset += Int(length)
            }
        }
    }

    private func encode(_ vector: ColumnVector, type: SQLType, column: Int, rows: Range<Int>, into cells: CellStore,
                        dictionaries: Bool = true) {
        let binary = formats[column] == .binary
        // A column the engine left unread is an empty placeholder: its values are NULL, never
        // an out-of-bounds read.
        guard vector.count >= rows.upperBound else {
            for _ in rows { cells.appendNull() }
            return
        }
        // Encoding the whole dictionary once pays off only when the rows outnumber its values
        // (a point query over 1,000 hosts would otherwise encode all 1,000 names).
        // (Not for a single store shared by all columns: its cached dictionary is one column's.)
        if dictionaries, kinds[column] == .varchar, let (keys, values) = vector.symbolKeysAndValues, rows.count * 4 >= values.count {
            let dictionary = cells.dictionary(for: values)
            dictionary.bytes.withUnsafeBytes { all in
                for row in rows {
                    let key = Int(keys[row])
                    guard key >= 0, key < dictionary.ends.count else { cells.appendNull(); continue }
                    let from = key == 0 ? 0 : dictionary.ends[key - 1]
                    cells.append(bytes: UnsafeRawBufferPointer(rebasing: all[from..<dictionary.ends[key]]))
                }
            }
            return
        }
        switch (vector, kinds[column]) {
        case (.boolean(let values), _):
            for row in rows {
                cells.append(integer: binary ? UInt8(values[row] ? 1 : 0) : UInt8(ascii: values[row] ? "t" : "f"))
            }
        case (.integer(let values), .int2):
            for row in rows {
                if binary { cells.append(integer: Int16(truncatingIfNeeded: values[row])) } else { cells.appendDecimal(values[row]) }
            }
        case (.integer(let values), .int4):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.appendNull(); continue }
                if binary { cells.append(integer: Int32(truncatingIfNeeded: value)) } else { cells.appendDecimal(value) }
            }
        case (.integer(let values), .int8):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.appendNull(); continue }
                if binary { cells.append(integer: value) } else { cells.appendDecimal(value) }
            }
        case (.integer(let values), .time(let perSecond)):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.appendNull(); continue }
                let micros = perSecond == 1_000_000 ? value : perSecond < 1_000_000 ? value &* (1_000_000 / perSecond) : value / (perSecond / 1_000_000)
                if binary {
                    cells.append(integer: micros &- PGTimestamp.unixToPostgresMicros)
                } else {
                    cells.appendTimestamp(micros, fractionDigits: perSecond == 1_000 ? 3 : 6)
                }
            }
        case (.real(let values), .float4):
            for row in rows {
                let value = values[row]
                if !value.isFinite { cells.appendNull(); continue }
                if binary { cells.append(integer: Float(value).bitPattern) } else { cells.appendDouble(Float(value)) }
            }
        case (.real(let values), _):
            for row in rows {
                let value = values[row]
                if !value.isFinite { cells.appendNull(); continue }
                if binary { cells.append(integer: value.bitPattern) } else { cells.appendDouble(value) }
            }
        case (.wide(let values), _):
            let scale = type.decimalScale ?? 0
            for row in rows {
                let value = values[row]
                if value == .min { cells.appendNull(); continue }
                cells.appendNumeric(value, scale: scale, binary: binary)
            }
        case (.integer(let values), .numeric(let scale)):
            for row in rows {
                let value = values[row]
                if value == Int64.min { cells.appendNull(); continue }
                cells.appendNumeric(value, scale: scale, binary: binary)
            }
        case (.integer(let values), _):
            // CHAR, IPv4, geohashes: their text form (CHAR's zero is NULL).
            for row in rows {
                guard let text = ValueText.integer(values[row], type), !text.isEmpty else { cells.appendNull(); continue }
                cells.append(text: text)
            }
        case (_, .uuid):
            for text in vector.textValues(rows) {
                guard let text else { cells.appendNull(); continue }
                if binary, let bytes = PGUUID.bytes(text) {
                    bytes.withUnsafeBytes { cells.append(bytes: $0) }
                } else {
                    cells.append(text: text)
                }
            }
        case (_, .doubleArray):
            for text in vector.textValues(rows) {
                guard let text else { cells.appendNull(); continue }
                if binary {
                    var buffer = ByteBuffer()
                    PGArray.writeBinaryDoubles(fromJSON: text, into: &buffer)
                    buffer.withUnsafeReadableBytes { cells.append(bytes: $0) }
                } else {
                    cells.append(text: PGArray.text(fromJSON: text))
                }
            }
        case (_, .bytea):
            for text in vector.textValues(rows) {
                guard let text else { cells.appendNull(); continue }
                if binary {
                    cells.append(text: text)
                } else {
                    var buffer = ByteBuffer()
                    PGBytea.writeHex(Array(text.utf8), into: &buffer)
                    buffer.withUnsafeReadableBytes { cells.append(bytes: $0) }
                }
            }
        default:
            for text in vector.textValues(rows) {
                guard let text else { cells.appendNull(); continue }
                cells.append(text: text)
            }
        }
    }
}

/// A writer's cell stores, made when first needed.
final class CellStorePool {
    private var perColumn: [CellStore] = []
    private var one: CellStore?

    /// One store per column (made on first use, then reused by every pass of the writer).
    func stores(_ count: Int) -> [CellStore] {
        if perColumn.count != count { perColumn = (0..<count).map { _ in CellStore() } }
        return perColumn
    }

    /// One store for all the cells of a single row.
    var single: CellStore {
        if let one { return one }
        let made = CellStore()
        one = made
        return made
    }
}

/// One column's encoded cells for a pass (or, for a one-row answer, every column's cells in
/// row order): raw bytes and a length per cell (−1: NULL). Reused from pass to pass; grows,
/// never shrinks.
final class CellStore {
    private(set) var bytes: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var used = 0
    private(set) var lengths: [Int32] = []
    /// The UTF-8 of a SYMBOL dictionary's values, end offsets by key (built once per writer).
    private var cachedDictionary: (count: Int, bytes: [UInt8], ends: [Int])?
    /// Reused for the text of one double (no String per value).
    private var scratch: [UInt8] = []

    /// Small at first: a writer is made per execution, and a point query's one row in 21
    /// columns must not allocate 21 pass-sized buffers (1.7 MB a query, freed again, cost
    /// page faults and TLB shootdowns on every statement). Large results grow it in a few steps.
    init() {
        capacity = 256
        bytes = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { bytes.deallocate() }

    /// Empties the store for a pass of `rows` rows.
    func reset(rows: Int) {
        used = 0
        lengths.removeAll(keepingCapacity: true)
        lengths.reserveCapacity(rows)
    }

    private func reserve(_ count: Int) {
        guard used + count > capacity else { return }
        var grown = capacity * 2
        while grown < used + count { grown *= 2 }
        let larger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        larger.copyMemory(from: bytes, byteCount: used)
        bytes.deallocate()
        bytes = larger
        capacity = grown
    }

    func appendNull() { lengths.append(-1) }

    func append<T: FixedWidthInteger>(integer value: T) {
        reserve(MemoryLayout<T>.size)
        bytes.storeBytes(of: value.bigEndian, toByteOffset: used, as: T.self)
        used += MemoryLayout<T>.size
        lengths.append(Int32(MemoryLayout<T>.size))
    }

    func append(bytes source: UnsafeRawBufferPointer) {
        reserve(source.count)
        if let address = source.baseAddress { (bytes + used).copyMemory(from: address, byteCount: source.count) }
        used += source.count
        lengths.append(Int32(source.count))
    }

    func append(text: String) {
        var text = text
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// A double's text (Java's form, as QuestDB sends it).
    func appendDouble(_ value: Double) {
        scratch.removeAll(keepingCapacity: true)
        JavaDoubleText.append(value, to: &scratch)
        scratch.withUnsafeBytes { append(bytes: $0) }
    }

    func appendNumeric(_ value: Int64, scale: Int, binary: Bool) {
        scratch.removeAll(keepingCapacity: true)
        if binary { PGNumeric.writeBinary(value, scale: scale, into: &scratch) } else { DecimalValue.append(value, scale: scale, to: &scratch) }
        scratch.withUnsafeBytes { append(bytes: $0) }
    }

    func appendNumeric(_ value: Int256, scale: Int, binary: Bool) {
        scratch.removeAll(keepingCapacity: true)
        if binary { PGNumeric.writeBinary(value, scale: scale, into: &scratch) } else { WideDecimal.append(value, scale: scale, to: &scratch) }
        scratch.withUnsafeBytes { append(bytes: $0) }
    }

    func appendDouble(_ value: Float) {
        scratch.removeAll(keepingCapacity: true)
        JavaDoubleText.append(value, to: &scratch)
        scratch.withUnsafeBytes { append(bytes: $0) }
    }

    /// An integer in decimal, written straight into the buffer.
    func appendDecimal(_ value: Int64) {
        reserve(20)
        var magnitude = value.magnitude
        let length = TextBytes.digitCount(magnitude) + (value < 0 ? 1 : 0)
        var at = used + length - 1
        repeat {
            bytes.storeBytes(of: UInt8(48 + magnitude % 10), toByteOffset: at, as: UInt8.self)
            magnitude /= 10
            at -= 1
        } while magnitude > 0
        if value < 0 { bytes.storeBytes(of: UInt8(ascii: "-"), toByteOffset: used, as: UInt8.self) }
        used += length
        lengths.append(Int32(length))
    }

    /// A timestamp's text, formatted straight into the buffer (no allocation per row).
    func appendTimestamp(_ micros: Int64, fractionDigits: Int) {
        reserve(PGTimestamp.maxTextBytes)
        let length = PGTimestamp.write(micros, fractionDigits: fractionDigits, to: bytes + used)
        used += length
        lengths.append(Int32(length))
    }

    /// A result's column has one dictionary, so the first one seen is kept for the writer's life.
    func dictionary(for values: [String]) -> (bytes: [UInt8], ends: [Int]) {
        if let cached = cachedDictionary, cached.count == values.count { return (cached.bytes, cached.ends) }
        var bytes: [UInt8] = []
        var ends: [Int] = []
        ends.reserveCapacity(values.count)
        for value in values {
            bytes.append(contentsOf: value.utf8)
            ends.append(bytes.count)
        }
        cachedDictionary = (values.count, bytes, ends)
        return (bytes, ends)
    }
}

/// PostgreSQL's `timestamp`: text `yyyy-MM-dd HH:mm:ss.ffffff`, binary µs since 2000-01-01.
package enum PGTimestamp {
    package static let unixToPostgresMicros: Int64 = 946_684_800_000_000
    /// Longest text `write` produces (a six-digit year is the widest).
    static let maxTextBytes = 32

    package static func text(_ micros: Int64) -> String {
        withUnsafeTemporaryAllocation(byteCount: maxTextBytes, alignment: 1) { buffer in
            let count = write(micros, fractionDigits: 6, to: buffer.baseAddress!)
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[..<count]), as: UTF8.self)
        }
    }

    /// Writes the text of `micros` at `out` (room for `maxTextBytes`); returns its length.
    static func write(_ micros: Int64, fractionDigits: Int, to out: UnsafeMutableRawPointer) -> Int {
        let days = micros >= 0 ? micros / 86_400_000_000 : (micros + 1) / 86_400_000_000 - 1
        let inDay = micros - days * 86_400_000_000
        let date = TimestampText.civil(fromDays: days)
        var at = 0
        func put(_ byte: UInt8) {
            out.storeBytes(of: byte, toByteOffset: at, as: UInt8.self)
            at += 1
        }
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                put(UInt8(48 + rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        if date.year < 0 || date.year > 9999 {
            for byte in String(date.year).utf8 { put(byte) }
        } else {
            digits(Int64(date.year), 4)
        }
        put(UInt8(ascii: "-"))
        digits(Int64(date.month), 2)
        put(UInt8(ascii: "-"))
        digits(Int64(date.day), 2)
        put(UInt8(ascii: " "))
        let seconds = inDay / 1_000_000
        digits(seconds / 3600, 2)
        put(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2)
        put(UInt8(ascii: ":"))
        digits(seconds % 60, 2)
        put(UInt8(ascii: "."))
        let fraction = inDay % 1_000_000
        digits(fractionDigits == 3 ? fraction / 1000 : fraction, fractionDigits)
        return at
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
