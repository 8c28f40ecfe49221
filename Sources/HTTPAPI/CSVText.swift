import SQL

/// CSV as QuestDB's `/exp` writes it: quoted header, quoted text and timestamps (quotes
/// doubled), bare numbers and booleans, empty NULLs, `\r\n` line ends (QUESTDB-COMPAT §3.2).
enum CSVText {
    static func render(_ result: QueryResult, rows: Range<Int>, delimiter: String, header: Bool) -> String {
        var out = ""
        if header {
            out += result.columns.map { quoted($0.name) }.joined(separator: delimiter) + "\r\n"
        }
        let cells = result.columns.indices.map { cellTexts(result.batch.columns[$0], type: result.columns[$0].type, rows: rows) }
        for row in 0..<rows.count {
            for column in cells.indices {
                if column > 0 { out += delimiter }
                out += cells[column][row]
            }
            out += "\r\n"
        }
        return out
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacing("\"", with: "\"\"") + "\""
    }

    private static func cellTexts(_ vector: ColumnVector, type: SQLType, rows: Range<Int>) -> [String] {
        let texts = vector.asText(type)
        let bare: Bool
        switch type.wireKind {
        case .boolean, .byte, .short, .int, .long, .float, .double, .char: bare = true
        case .text, .array, .binary: bare = type.isDecimal  // numbers, however their type is held
        }
        return texts[rows].map { text in
            guard let text else { return "" }
            return bare ? text : quoted(text)
        }
    }
}
