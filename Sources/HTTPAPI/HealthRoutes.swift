import NIOCore
import NIOHTTP1

/// The routes of the health server (9003): `Status: Healthy` on any path, as QuestDB answers,
/// and Prometheus text on `/metrics` when metrics are enabled.
package enum HealthRoutes {
    /// `metricsText` renders the current metrics; `nil` when `metrics.enabled=false`.
    package static func router(metricsText: (@Sendable () -> [UInt8])?) -> HTTPRouter {
        var router = HTTPRouter(fallback: ClosureEndpoint { _, _ in
            .text(.ok, "Status: Healthy", contentType: "text/plain")
        })
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
