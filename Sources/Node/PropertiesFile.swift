/// Parses `server.conf`, a Java properties file as QuestDB reads it: `key=value` (or
/// `key: value`, or `key value`), `#` and `!` comments, backslash line continuations.
///
/// Pure code over text; keys and values are trimmed.
package enum PropertiesFile {
    package struct Entry: Sendable, Equatable {
        package var key: String
        package var value: String
        /// 1-based line where the entry starts.
        package var line: Int

        package init(key: String, value: String, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// The entries in file order; a key alone on its line has an empty value (as in Java).
    package static func parse(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        var pending = ""
        var pendingLine = 0
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty {
                let trimmed = line.drop { $0 == " " || $0 == "\t" }
                if trimmed.isEmpty || trimmed.first == "#" || trimmed.first == "!" { continue }
                pendingLine = lineNumber
                line = trimmed
            } else {
                line = line.drop { $0 == " " || $0 == "\t" }
            }
            if endsWithContinuation(line) {
                pending += line.dropLast()
                continue
            }
            pending += line
            entries.append(entry(pending, line: pendingLine))
            pending = ""
        }
        if !pending.isEmpty { entries.append(entry(pending, line: pendingLine)) }
        return entries
    }

    private static func entry(_ text: String, line: Int) -> Entry {
        let keyEnd = text.firstIndex { $0 == "=" || $0 == ":" || $0 == " " || $0 == "\t" } ?? text.endIndex
        var rest = text[keyEnd...].drop { $0 == " " || $0 == "\t" }
        if let first = rest.first, first == "=" || first == ":" { rest = rest.dropFirst() }
        return Entry(key: String(text[..<keyEnd]), value: String(rest.trimmingWhitespace()), line: line)
    }

    /// An odd number of trailing backslashes continues the line.
    private static func endsWithContinuation(_ line: Substring) -> Bool {
        var count = 0
        for character in line.reversed() {
            guard character == "\\" else { break }
            count += 1
        }
        return count % 2 == 1
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        let view = Substring(self)
        let start = view.firstIndex { !$0.isWhitespace } ?? view.endIndex
        let end = view.lastIndex { !$0.isWhitespace }.map { view.index(after: $0) } ?? start
        return view[start..<Swift.max(start, end)]
    }
}
