import NIOCore
import NIOHTTP1
import Storage

/// The routes of the health server (9003): `Status: Healthy` on any path, as QuestDB answers,
/// Prometheus text on `/metrics` when metrics are enabled, the node's role, positions and
/// replication lag on `/status.json` (or any path with `Accept: application/json`), and
/// `/ready` for load balancers (DESIGN §4).
package enum HealthRoutes {
    /// What `/status.json` and `/ready` report, handed over by `Node` (HTTPAPI does not import Replication).
    package struct NodeStatus: Sendable {
        package var json: @Sendable () -> String
        /// The same for a person (`/status.txt`, `sundial status`).
        package var text: @Sendable () -> String
        /// Whether the node can serve reads, and why not.
        package var ready: @Sendable () -> (Bool, String)

        package init(
            json: @escaping @Sendable () -> String, text: @escaping @Sendable () -> String,
            ready: @escaping @Sendable () -> (Bool, String)
        ) {
            self.json = json
            self.text = text
            self.ready = ready
        }
    }

    /// `metricsText` renders the current metrics; `nil` when `metrics.enabled=false`.
    /// `unhandledErrors` (QuestDB's `http.pessimistic.health.check.enabled`): health turns red,
    /// 500 `Status: Unhealthy`, once any unhandled error was counted.
    package static func router(
        metricsText: (@Sendable () -> [UInt8])?, status: NodeStatus? = nil, unhandledErrors: (@Sendable () -> Int)? = nil
    ) -> HTTPRouter {
        var router = HTTPRouter(fallback: ClosureEndpoint { request, _ in
            if let status, request.headers["accept"].contains(where: { $0.contains("application/json") }) {
                return .json(.ok, status.json())
            }
            if let errors = unhandledErrors?(), errors > 0 {
                return .text(.internalServerError, "Status: Unhealthy\nUnhandled errors: \(errors)", contentType: "text/plain")
            }
            return .text(.ok, "Status: Healthy", contentType: "text/plain")
        })
        if let status {
            router.add(.GET, "/status.json", ClosureEndpoint { _, _ in .json(.ok, status.json()) })
            router.add(.GET, "/status.txt", ClosureEndpoint { _, _ in .text(.ok, status.text()) })
            router.add(.GET, "/ready", ClosureEndpoint { _, _ in
                let (ready, reason) = status.ready()
                return .text(ready ? .ok : .serviceUnavailable, reason + "\n")
            })
        }
        if let metricsText {
            router.add(.GET, "/metrics", ClosureEndpoint { _, _ in
                HTTPResponse(
                    status: .ok, headers: ["content-type": "text/plain; version=0.0.4; charset=utf-8"],
                    body: ByteBuffer(bytes: metricsText()))
            })
        }
        return router
    }
}
