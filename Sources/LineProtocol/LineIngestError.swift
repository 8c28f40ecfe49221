import Storage

/// Why ILP input was refused, in the terms both transports report: HTTP maps `kind` to a
/// status and the JSON error shape (QUESTDB-COMPAT §2.1), TCP logs it and disconnects.
package struct LineIngestError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// The line is malformed or its values do not fit the table (400 `invalid`).
        case invalidLine
        /// Bigger than a configured limit (413 `request too large`).
        case tooLarge
        /// The table changed under the writer in a way it cannot adapt to (503 `retry operation`).
        case schemaChanged
        /// The storage engine failed (500 `internal error`).
        case storage
        /// Authentication failed (TCP: the challenge; HTTP answers 401 before ILP starts).
        case unauthorized
        /// The node is a replica (or fenced) and refuses writes (HTTP 421 + `X-QuestDB-Role`).
        case readOnly
        /// Synchronous replication did not confirm the commit in time (HTTP 503 `not replicated`).
        case notReplicated
    }

    package var kind: Kind
    /// 1-based line number in the request or connection, when the error belongs to a line.
    package var line: Int?
    package var message: String
    package var table: String

    package init(_ kind: Kind, line: Int?, table: String, _ message: String) {
        self.kind = kind
        self.line = line
        self.table = table
        self.message = message
    }

    /// A storage failure in ILP's terms: a read-only node, or the engine failing.
    package static func storage(_ error: StorageError, line: Int?, table: String, _ message: String) -> LineIngestError {
        switch error.code {
        case .readOnly: LineIngestError(.readOnly, line: line, table: table, error.message)
        case .notReplicated: LineIngestError(.notReplicated, line: line, table: table, error.message)
        case .limitExceeded: LineIngestError(.tooLarge, line: line, table: table, error.message)
        default: LineIngestError(.storage, line: line, table: table, message)
        }
    }

    /// A commit of `table` (one or several tables, comma-separated) that failed.
    package static func commit(_ error: StorageError, table: String) -> LineIngestError {
        storage(error, line: nil, table: table, "commit error for table: \(table), error: \(error.message)")
    }

    package static func parse(_ error: LineParseError, line: Int) -> LineIngestError {
        LineIngestError(error.code == .lineTooLong ? .tooLarge : .invalidLine, line: line, table: error.table, error.description)
    }

    /// The same error with its line number `lines` further on: a lane numbers the lines of
    /// its part of a body from 1, and the lines before that part are counted later.
    package func shifted(by lines: Int) -> LineIngestError {
        var shifted = self
        shifted.line = line.map { $0 + lines }
        return shifted
    }

    package var description: String {
        if let line { return "error in line \(line): \(message)" }
        return message
    }
}
