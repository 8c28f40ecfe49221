import NIOCore
import SQL
import Storage

/// QuestDB's `/exec` JSON for a query result (QUESTDB-COMPAT §3.1): fixed key order
/// `query, columns, timestamp, dataset, count[, timings][, explain]`, values encoded per type.
/// Written straight into bytes, row by row, each column by a writer chosen once: no String per
/// value (it made `/exec` 3× slower than PG wire on a 21-column result).
struct QueryJSON {
    var includeMetadata = true
    var quoteLargeNumbers = false

    /// The rendered response body for rows `rows` of `result`, `count` reported as given.
    func render(
        query: String, result: QueryResult, columns selected: [Int], rows: Range<Int>, count: Int, timings: String?, explain: Bool
    ) -> ByteBuffer {
        var out: [UInt8] = []
        out.reserveCapacity(256 + rows.count * (selected.count * 12 + 4))
        out.append(UInt8(ascii: "{"))
        if includeMetadata {
            out.append(contentsOf: "\"query\":".utf8)
            TextBytes.appendJSONQuoted(query, to: &out)
            out.append(contentsOf: ",\"columns\":[".utf8)
            for (position, index) in selected.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: Self.columnJSON(result.columns[index]).utf8)
            }
            let timestamp = result.timestampIndex.flatMap { selected.firstIndex(of: $0) } ?? -1
            out.append(contentsOf: "],\"timestamp\":\(timestamp),".utf8)
        }
        out.append(contentsOf: "\"dataset\":[".utf8)
        let writers = selected.map { CellWriter(result.batch.columns[$0], type: result.columns[$0].type, rows: rows, quoteLargeNumbers: quoteLargeNumbers) }
        for row in rows {
            if row > rows.lowerBound { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            for column in writers.indices {
                if column > 0 { out.append(UInt8(ascii: ",")) }
                writers[column].write(row, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(contentsOf: "],\"count\":\(count)".utf8)
        if let timings { out.append(contentsOf: ",\"timings\":\(timings)".utf8) }
        if explain { out.append(contentsOf: ",\"explain\":{\"jitCompiled\":false}".utf8) }
        out.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: out)
    }

    static func columnJSON(_ column: QueryResult.Column) -> String {
        if case .array(let dimensions) = column.type.wireKind {
            return "{\"name\":\(JSONText.quoted(column.name)),\"type\":\"ARRAY\",\"dim\":\(dimensions),\"elemType\":\"DOUBLE\"}"
        }
        return "{\"name\":\(JSONText.quoted(column.name)),\"type\":\(JSONText.quoted(column.type.description))}"
    }
}

/// The JSON of one column's values, chosen once per column (QuestDB's per-type encodings).
private struct CellWriter {
    private enum Kind {
        case boolean([Bool])
        /// BYTE and SHORT: no NULL.
        case plainInteger([Int64])
        /// INT and LONG: NULL as `null`; LONG quoted when asked (`quoteLargeNum`).
        case nullableInteger([Int64], quoted: Bool)
        case double([Double])
        case float([Double])
        case timestamp([Int64], fractionDigits: Int, perSecond: Int64)
        case char([Int64], SQLType)
        /// Other integer-represented types as quoted text (IPv4, geohash, …).
        case integerText([Int64], SQLType)
        /// DECIMAL: a JSON number with exactly its scale's digits.
        case decimal([Int64], scale: Int)
        case wideDecimal([Int256], scale: Int)
        /// Arrays: their JSON text as it is.
        case raw([String?])
        case binary
        case text([String?])
        /// Symbols: each dictionary value quoted once, rows copy its bytes.
        case symbol(keys: [Int32], encoded: [UInt8], ends: [Int])
        case symbolLookup(keys: [Int32], table: SymbolTable)
    }

    private let kind: Kind

    init(_ vector: ColumnVector, type: SQLType, rows: Range<Int>, quoteLargeNumbers: Bool) {
        switch (vector, type.wireKind) {
        case (.boolean(let values), _): kind = .boolean(values)
        case (.wide(let values), _): kind = .wideDecimal(values, scale: type.decimalScale ?? 0)
        case (.integer(let values), .byte), (.integer(let values), .short): kind = .plainInteger(values)
        case (.integer(let values), .int): kind = .nullableInteger(values, quoted: false)
        case (.integer(let values), .long): kind = .nullableInteger(values, quoted: quoteLargeNumbers)
        case (.real(let values), .float): kind = .float(values)
        case (.real(let values), _): kind = .double(values)
        case (.integer(let values), .char): kind = .char(values, type)
        case (.integer(let values), _):
            switch type {
            case .column(.timestamp): kind = .timestamp(values, fractionDigits: 6, perSecond: 1_000_000)
            case .column(.date): kind = .timestamp(values, fractionDigits: 3, perSecond: 1_000)
            case .column(.timestampNanos): kind = .timestamp(values, fractionDigits: 9, perSecond: 1_000_000_000)
            case .column(.decimal(_, let scale)): kind = .decimal(values, scale: scale)
            default: kind = .integerText(values, type)
            }
        case (.text(let values), .array): kind = .raw(values)
        case (.text, .binary): kind = .binary
        case (.text(let values), _): kind = .text(values)
        case (.symbol(let keys, let table), _):
            // Quoting the whole dictionary once pays off when the rows outnumber its values.
            if rows.count * 4 >= table.values.count {
                var encoded: [UInt8] = []
                var ends: [Int] = []
                ends.reserveCapacity(table.values.count)
                for value in table.values {
                    TextBytes.appendJSONQuoted(value, to: &encoded)
                    ends.append(encoded.count)
                }
                kind = .symbol(keys: keys, encoded: encoded, ends: ends)
            } else {
                kind = .symbolLookup(keys: keys, table: table)
            }
        }
    }

    func write(_ row: Int, to out: inout [UInt8]) {
        switch kind {
        case .boolean(let values):
            out.append(contentsOf: values[row] ? "true".utf8 : "false".utf8)
        case .plainInteger(let values):
            TextBytes.appendInteger(values[row], to: &out)
        case .nullableInteger(let values, let quoted):
            let value = values[row]
            if value == Int64.min { return null(&out) }
            if quoted { out.append(UInt8(ascii: "\"")) }
            TextBytes.appendInteger(value, to: &out)
            if quoted { out.append(UInt8(ascii: "\"")) }
        case .double(let values):
            let value = values[row]
            value.isFinite ? JavaDoubleText.append(value, to: &out) : null(&out)
        case .float(let values):
            let value = values[row]
            value.isFinite ? JavaDoubleText.append(Float(value), to: &out) : null(&out)
        case .timestamp(let values, let fractionDigits, let perSecond):
            let value = values[row]
            if value == Int64.min { return null(&out) }
            out.append(UInt8(ascii: "\""))
            TextBytes.appendTimestamp(value, fractionDigits: fractionDigits, perSecond: perSecond, to: &out)
            out.append(UInt8(ascii: "\""))
        case .char(let values, let type):
            let value = values[row]
            value == 0 ? out.append(contentsOf: "\"\"".utf8) : TextBytes.appendJSONQuoted(ValueText.integer(value, type) ?? "", to: &out)
        case .decimal(let values, let scale):
            let value = values[row]
            if value == Int64.min { return null(&out) }
            // Quoted, as QuestDB writes it: a JSON number would be read as a double by most
            // clients and lose digits past the 15th.
            out.append(UInt8(ascii: "\""))
            DecimalValue.append(value, scale: scale, to: &out)
            out.append(UInt8(ascii: "\""))
        case .wideDecimal(let values, let scale):
            let value = values[row]
            if value == .min { return null(&out) }
            out.append(UInt8(ascii: "\""))
            WideDecimal.append(value, scale: scale, to: &out)
            out.append(UInt8(ascii: "\""))
        case .integerText(let values, let type):
            guard let text = ValueText.integer(values[row], type) else { return null(&out) }
            TextBytes.appendJSONQuoted(text, to: &out)
        case .raw(let values):
            out.append(contentsOf: (values[row] ?? "null").utf8)
        case .binary:
            out.append(contentsOf: "[]".utf8)
        case .text(let values):
            guard let text = values[row] else { return null(&out) }
            TextBytes.appendJSONQuoted(text, to: &out)
        case .symbol(let keys, let encoded, let ends):
            let key = Int(keys[row])
            guard key >= 0, key < ends.count else { return null(&out) }
            out.append(contentsOf: encoded[(key == 0 ? 0 : ends[key - 1])..<ends[key]])
        case .symbolLookup(let keys, let table):
            guard let text = table.value(keys[row]) else { return null(&out) }
            TextBytes.appendJSONQuoted(text, to: &out)
        }
    }

    private func null(_ out: inout [UInt8]) { out.append(contentsOf: "null".utf8) }
}
