import Metrics

/// Metric names of the PG wire server, in one place (STYLE): QuestDB's `questdb_pg_wire_*`.
package enum PGMetrics {
    private static let connections = Meter(label: "questdb_pg_wire_connections")
    private static let refusedConnections = Counter(label: "questdb_pg_wire_connections_refused_total")
    private static let authenticationFailures = Counter(label: "questdb_pg_wire_auth_failures_total")
    private static let cancelRequests = Counter(label: "questdb_pg_wire_cancel_requests_total")

    static func connected() { connections.increment(by: 1) }
    static func disconnected() { connections.decrement(by: 1) }
    static func refused() { refusedConnections.increment() }
    static func authenticationFailed() { authenticationFailures.increment() }
    static func cancelRequested() { cancelRequests.increment() }

    /// The protocol path a statement came by.
    enum QueryKind {
        case simple, parse, extended
    }

    // Made once: building a counter looks it up in the registry under a lock and checks its
    // name, which cost more than some queries do.
    private static let simpleQueries = Counter(label: "questdb_pg_wire_queries_total", dimensions: [("kind", "simple")])
    private static let parsedQueries = Counter(label: "questdb_pg_wire_queries_total", dimensions: [("kind", "parse")])
    private static let extendedQueries = Counter(label: "questdb_pg_wire_queries_total", dimensions: [("kind", "extended")])

    static func query(_ kind: QueryKind) {
        switch kind {
        case .simple: simpleQueries.increment()
        case .parse: parsedQueries.increment()
        case .extended: extendedQueries.increment()
        }
    }

    /// Errors by SQLSTATE class (its first two characters).
    static func error(_ sqlState: String) {
        Counter(label: "questdb_pg_wire_errors_total", dimensions: [("class", String(sqlState.prefix(2)))]).increment()
    }
}
