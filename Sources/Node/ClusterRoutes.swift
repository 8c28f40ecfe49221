import HTTPAPI
import NIOHTTP1
import Replication
import SQL

/// Operator endpoints on the main HTTP server (9000), behind `http.user`/`http.password`
/// when set (DESIGN §5: promotion with admin auth):
///
/// - `POST /api/v1/cluster/promote[?planned=true]` → `{"status":"promoted","epoch":…,"forkTxn":…,…}`
/// - `POST /api/v1/cluster/follow?primary=HOST:PORT` → `{"status":"following","primary":…}`
///
/// A request the node's state does not allow answers 409 with `{"error":…}`; a failure
/// midway 500. On a node that is not clustered both answer 409.
enum ClusterRoutes {
    static func add(_ controller: ClusterController?, to router: inout HTTPRouter) {
        router.add(.POST, "/api/v1/cluster/promote", ClosureEndpoint { request, _ in
            guard let controller else { return notClustered }
            let planned = ["true", "1", "yes"].contains(request.target.parameter("planned")?.lowercased() ?? "")
            do throws(ClusterController.Failure) {
                let promotion = try await controller.promote(planned: planned)
                var body = "{\"status\":\"promoted\",\"epoch\":\(promotion.epoch),\"forkTxn\":\(promotion.forkTxn)"
                body += ",\"planned\":\(promotion.planned),\"drainedTxn\":\(promotion.drainedTxn.map { "\($0)" } ?? "null")"
                body += ",\"announcedTo\":[" + promotion.announcedTo.map(JSONText.quoted).joined(separator: ",") + "]"
                body += ",\"unreachable\":[" + promotion.unreachable.map(JSONText.quoted).joined(separator: ",") + "]"
                body += ",\"durationMs\":\(promotion.durationMillis)}"
                return .json(.ok, body)
            } catch {
                return failure(error)
            }
        })
        router.add(.POST, "/api/v1/cluster/follow", ClosureEndpoint { request, _ in
            guard let controller else { return notClustered }
            guard let primary = request.target.parameter("primary"), !primary.isEmpty else {
                return .json(.badRequest, "{\"error\":\"the primary parameter (HOST:PORT of its replication.bind.to) is required\"}")
            }
            do throws(ClusterController.Failure) {
                try controller.follow(primary)
                return .json(.ok, "{\"status\":\"following\",\"primary\":\(JSONText.quoted(primary))}")
            } catch {
                return failure(error)
            }
        })
    }

    private static var notClustered: HTTPResponse {
        .json(.conflict, "{\"error\":\"this node is not clustered (replication.role=none)\"}")
    }

    private static func failure(_ error: ClusterController.Failure) -> HTTPResponse {
        .json(error.conflict ? .conflict : .internalServerError, "{\"error\":\(JSONText.quoted(error.message))}")
    }
}
