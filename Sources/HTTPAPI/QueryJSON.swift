import SQL

/// QuestDB's `/exec` JSON for a query result (QUESTDB-COMPAT §3.1): fixed key order
/// `query, columns, timestamp, dataset, count[, timings][, explain]`, values encoded per type.
struct QueryJSON {
    var includeMetadata = true
    var quoteLargeNumbers = false

    /// The rendered response body for rows `rows` of `result`, `count` reported as given.
    func render(
        query: String, result: QueryResult, columns selected: [Int], rows: Range<Int>, count: Int, timings: String?, explain: Bool
    ) -> String {
        var out = "{"
        if includeMetadata {
            out += "\"query\":" + JSONText.quoted(query) + ",\"columns\":["
            for (position, index) in selected.enumerated() {
                if position > 0 { out += "," }
                out += Self.columnJSON(result.columns[index])
            }
            let timestamp = result.timestampIndex.flatMap { selected.firstIndex(of: $0) } ?? -1
            out += "],\"timestamp\":\(timestamp),"
        }
        out += "\"dataset\":["
        let cells = selected.map { index in cellTexts(result.batch.columns[index], type: result.columns[index].type, rows: rows) }
        for row in 0..<rows.count {
            if row > 0 { out += "," }
            out += "["
            for column in cells.indices {
                if column > 0 { out += "," }
                out += cells[column][row]
            }
            out += "]"
        }
        out += "],\"count\":\(count)"
        if let timings { out += ",\"timings\":" + timings }
        if explain { out += ",\"explain\":{\"jitCompiled\":false}" }
        return out + "}"
    }

    static func columnJSON(_ column: QueryResult.Column) -> String {
        if case .array(let dimensions) = column.type.wireKind {
            return "{\"name\":\(JSONText.quoted(column.name)),\"type\":\"ARRAY\",\"dim\":\(dimensions),\"elemType\":\"DOUBLE\"}"
        }
        return "{\"name\":\(JSONText.quoted(column.name)),\"type\":\(JSONText.quoted(column.type.description))}"
    }

    /// JSON text of every value of one column in `rows`: one typed loop per column.
    func cellTexts(_ vector: ColumnVector, type: SQLType, rows: Range<Int>) -> [String] {
        switch (vector, type.wireKind) {
        case (.boolean(let values), _):
            return values[rows].map { $0 ? "true" : "false" }
        case (.integer(let values), .byte), (.integer(let values), .short):
            return values[rows].map { String($0) }
        case (.integer(let values), .int):
            return values[rows].map { $0 == Int64.min ? "null" : String($0) }
        case (.integer(let values), .long):
            return values[rows].map { $0 == Int64.min ? "null" : quoteLargeNumbers ? "\"\($0)\"" : String($0) }
        case (.real(let values), .float):
            return values[rows].map { $0.isFinite ? JavaDoubleText.format(Float($0)) : "null" }
        case (.real(let values), _):
            return values[rows].map { $0.isFinite ? JavaDoubleText.format($0) : "null" }
        case (.integer(let values), .char):
            return values[rows].map { value in
                value == 0 ? "\"\"" : JSONText.quoted(ValueText.integer(value, type) ?? "")
            }
        case (.integer(let values), _):
            return values[rows].map { ValueText.integer($0, type).map(JSONText.quoted) ?? "null" }
        case (.text(let values), .array):
            return values[rows].map { $0 ?? "null" }
        case (.text, .binary):
            return rows.map { _ in "[]" }
        case (.text(let values), _):
            return values[rows].map { $0.map(JSONText.quoted) ?? "null" }
        case (.symbol, _):
            return vector.textValues(rows).map { $0.map(JSONText.quoted) ?? "null" }
        }
    }
}
