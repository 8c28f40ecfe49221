import Metrics

/// Metric names of the HTTP listeners, in one place (STYLE). QuestDB's names where the concept
/// exists (`questdb_http_connections`), `sundial_*` otherwise.
package enum HTTPAPIMetrics {
    static let connectionsGauge: [String: String] = [
        "http": "questdb_http_connections",
        "http.min": "sundial_http_min_connections",
    ]
    static let refusedConnections = "sundial_http_refused_connections_total"
    static let rejectedRequests = "sundial_http_rejected_requests_total"
}

/// The metrics one listener updates.
struct HTTPServerMetrics: Sendable {
    private let connections: Gauge
    private let refused: Counter
    private let rejectedBadRequest: Counter
    private let rejectedTimeout: Counter
    private let rejectedTooLarge: Counter
    private let rejectedURITooLong: Counter
    private let rejectedHeadersTooLarge: Counter

    init(server: String) {
        let gauge = HTTPAPIMetrics.connectionsGauge[server] ?? "sundial_\(server.replacingDots())_connections"
        connections = Gauge(label: gauge)
        refused = Counter(label: HTTPAPIMetrics.refusedConnections, dimensions: [("server", server)])
        func rejected(_ reason: String) -> Counter {
            Counter(label: HTTPAPIMetrics.rejectedRequests, dimensions: [("server", server), ("reason", reason)])
        }
        rejectedBadRequest = rejected("bad_request")
        rejectedTimeout = rejected("timeout")
        rejectedTooLarge = rejected("body_too_large")
        rejectedURITooLong = rejected("uri_too_long")
        rejectedHeadersTooLarge = rejected("headers_too_large")
    }

    func connectionCount(_ count: Int) {
        connections.record(count)
    }

    func connectionRefused() {
        refused.increment()
    }

    func rejected(_ rejection: HTTPConnectionStateMachine.Rejection) {
        switch rejection {
        case .badRequest: rejectedBadRequest.increment()
        case .requestTimeout: rejectedTimeout.increment()
        case .contentTooLarge: rejectedTooLarge.increment()
        case .uriTooLong: rejectedURITooLong.increment()
        case .headersTooLarge: rejectedHeadersTooLarge.increment()
        }
    }
}

extension String {
    fileprivate func replacingDots() -> String {
        String(map { $0 == "." ? "_" : $0 })
    }
}
