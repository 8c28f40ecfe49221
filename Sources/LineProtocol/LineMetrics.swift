import Metrics

/// Metric names of ILP ingestion, in one place (STYLE): per transport (`http`, `tcp`).
package enum LineMetrics {
    private static let committedRows = Counter(label: "sundial_line_committed_rows_total")

    static func committed(rows: Int) {
        committedRows.increment(by: rows)
    }

    /// Rounds parsed on two lanes (decision 0023): `joined`, or `undone` when the cut lay
    /// inside an ILP v2 binary value and the second half was parsed again after the first.
    private static let splitsJoined = Counter(label: "sundial_line_parse_splits_total", dimensions: [("outcome", "joined")])
    private static let splitsUndone = Counter(label: "sundial_line_parse_splits_total", dimensions: [("outcome", "undone")])

    static func split(undone: Bool) {
        (undone ? splitsUndone : splitsJoined).increment()
    }

    /// Rounds parsed in one pass because SQL statements were running (decision 0028).
    private static let splitsYielded = Counter(label: "sundial_line_parse_splits_total", dimensions: [("outcome", "yielded")])

    static func yieldedToQueries() {
        splitsYielded.increment()
    }

    /// Counters of one transport.
    package struct Transport: Sendable {
        package let receivedBytes: Counter
        package let receivedLines: Counter
        package let connections: Meter
        let name: String

        init(_ name: String) {
            self.name = name
            receivedBytes = Counter(label: "sundial_line_received_bytes_total", dimensions: [("transport", name)])
            receivedLines = Counter(label: "sundial_line_received_lines_total", dimensions: [("transport", name)])
            connections = Meter(label: "sundial_line_connections", dimensions: [("transport", name)])
        }

        package func received(bytes: Int) { receivedBytes.increment(by: bytes) }
        package func parsed(lines: Int) { receivedLines.increment(by: lines) }
        package func connected() { connections.increment(by: 1) }
        package func disconnected() { connections.decrement(by: 1) }

        package func error(_ kind: LineIngestError.Kind) {
            let label: String
            switch kind {
            case .invalidLine: label = "invalid"
            case .tooLarge: label = "too_large"
            case .schemaChanged: label = "schema_changed"
            case .storage: label = "storage"
            case .unauthorized: label = "unauthorized"
            case .readOnly: label = "read_only"
            case .notReplicated: label = "not_replicated"
            }
            Counter(label: "sundial_line_errors_total", dimensions: [("transport", name), ("kind", label)]).increment()
        }
    }

    package static let http = Transport("http")
    package static let tcp = Transport("tcp")
}
