import Storage

/// One token of a statement with its 0-based character position.
struct SQLToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// A bare word: keyword or identifier (keywords are recognised by the parser, so any
        /// non-reserved word can name a column).
        case word
        /// `"quoted identifier"` (quotes removed, `""` unescaped).
        case quotedIdentifier
        /// `'string literal'` (quotes removed, `''` unescaped).
        case string
        case integer
        case decimal
        /// Punctuation and operators: `( ) , . ; * + - / % = != <> < <= > >= :: || ~ !~ [ ]`.
        case symbol
        case end
    }

    var kind: Kind
    var text: String
    var position: Int

    /// Whether this is the bare word `keyword` (ASCII case-insensitive).
    func isWord(_ keyword: String) -> Bool {
        kind == .word && text.count == keyword.count && text.lowercased() == keyword
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }
}

/// Splits a statement into tokens. Pure; positions count Unicode scalars from 0.
enum SQLLexer {
    static func tokens(_ sql: String) throws(SQLError) -> [SQLToken] {
        let scalars = Array(sql.unicodeScalars)
        var tokens: [SQLToken] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar.properties.isWhitespace {
                index += 1
                continue
            }
            if scalar == "-", index + 1 < scalars.count, scalars[index + 1] == "-" {
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                continue
            }
            if scalar == "/", index + 1 < scalars.count, scalars[index + 1] == "*" {
                let start = index
                index += 2
                while index + 1 < scalars.count, !(scalars[index] == "*" && scalars[index + 1] == "/") { index += 1 }
                guard index + 1 < scalars.count else { throw .syntax("unterminated comment", at: start) }
                index += 2
                continue
            }
            let start = index
            if scalar == "E" || scalar == "e", index + 1 < scalars.count, scalars[index + 1] == "'" {
                // PostgreSQL's escape string `E'…\n…'` (psql sends them in catalog queries).
                index += 1
                tokens.append(SQLToken(kind: .string, text: try escapeString(scalars, &index), position: start))
            } else if scalar == "'" || scalar == "\"" {
                let text = try quoted(scalars, &index, quote: scalar)
                tokens.append(SQLToken(kind: scalar == "'" ? .string : .quotedIdentifier, text: text, position: start))
            } else if isDigit(scalar) || (scalar == "." && index + 1 < scalars.count && isDigit(scalars[index + 1])) {
                tokens.append(number(scalars, &index))
            } else if isWordStart(scalar) {
                while index < scalars.count, isWordPart(scalars[index]) { index += 1 }
                tokens.append(SQLToken(kind: .word, text: String(String.UnicodeScalarView(scalars[start..<index])), position: start))
            } else {
                tokens.append(SQLToken(kind: .symbol, text: try symbol(scalars, &index), position: start))
            }
        }
        tokens.append(SQLToken(kind: .end, text: "", position: scalars.count))
        return tokens
    }

    private static func quoted(_ scalars: [Unicode.Scalar], _ index: inout Int, quote: Unicode.Scalar) throws(SQLError) -> String {
        let start = index
        index += 1
        var text = String.UnicodeScalarView()
        while true {
            guard index < scalars.count else {
                throw .syntax(quote == "'" ? "unclosed quoted string" : "unclosed quoted identifier", at: start)
            }
            let scalar = scalars[index]
            index += 1
            if scalar == quote {
                if index < scalars.count, scalars[index] == quote {
                    text.append(quote)
                    index += 1
                    continue
                }
                return String(text)
            }
            text.append(scalar)
        }
    }

    /// The body of an `E'…'` string from its opening quote: backslash escapes (`\n`, `\t`,
    /// `\r`, `\b`, `\f`, `\\`, `\'`) and doubled quotes.
    private static func escapeString(_ scalars: [Unicode.Scalar], _ index: inout Int) throws(SQLError) -> String {
        let start = index
        index += 1
        var text = String.UnicodeScalarView()
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\\", index < scalars.count {
                let escaped = scalars[index]
                index += 1
                switch escaped {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "b": text.append("\u{8}")
                case "f": text.append("\u{C}")
                default: text.append(escaped)
                }
            } else if scalar == "'" {
                guard index < scalars.count, scalars[index] == "'" else { return String(text) }
                text.append("'")
                index += 1
            } else {
                text.append(scalar)
            }
        }
        throw .syntax("unclosed quoted string", at: start)
    }

    private static func number(_ scalars: [Unicode.Scalar], _ index: inout Int) -> SQLToken {
        let start = index
        var isDecimal = false
        if scalars[index] == "0", index + 1 < scalars.count, scalars[index + 1] == "x" || scalars[index + 1] == "X" {
            index += 2
            while index < scalars.count, scalars[index].properties.isASCIIHexDigit { index += 1 }
            return SQLToken(kind: .integer, text: String(String.UnicodeScalarView(scalars[start..<index])), position: start)
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if isDigit(scalar) || scalar == "_" {
                index += 1
            } else if scalar == ".", !isDecimal, index + 1 >= scalars.count || scalars[index + 1] != "." {
                isDecimal = true
                index += 1
            } else if scalar == "e" || scalar == "E",
                      index + 1 < scalars.count,
                      isDigit(scalars[index + 1]) || ((scalars[index + 1] == "-" || scalars[index + 1] == "+")
                          && index + 2 < scalars.count && isDigit(scalars[index + 2]))
            {
                isDecimal = true
                index += 2
            } else {
                break
            }
        }
        // A trailing letter run is a type suffix (`10L`, `1.5f`) or a SAMPLE BY unit (`1h`):
        // keep it in the token; the parser decides.
        while index < scalars.count, isWordStart(scalars[index]) { index += 1 }
        let text = String(String.UnicodeScalarView(scalars[start..<index])).filter { $0 != "_" }
        return SQLToken(kind: isDecimal ? .decimal : .integer, text: text, position: start)
    }

    private static func symbol(_ scalars: [Unicode.Scalar], _ index: inout Int) throws(SQLError) -> String {
        let two = index + 1 < scalars.count ? String(String.UnicodeScalarView([scalars[index], scalars[index + 1]])) : ""
        if ["::", "!=", "<>", "<=", ">=", "||", "!~"].contains(two) {
            index += 2
            return two
        }
        let scalar = scalars[index]
        guard "(),.;*+-/%=<>~[]".unicodeScalars.contains(scalar) else {
            throw .syntax("unexpected character '\(scalar)'", at: index)
        }
        index += 1
        return String(scalar)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }

    private static func isWordStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar == "$" || scalar.properties.isAlphabetic
    }

    private static func isWordPart(_ scalar: Unicode.Scalar) -> Bool {
        isWordStart(scalar) || isDigit(scalar)
    }
}
