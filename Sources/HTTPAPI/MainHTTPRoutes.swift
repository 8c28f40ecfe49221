import NIOHTTP1
import SQL
import Storage

/// The routes of the main HTTP server (9000). Later layers add `/write`, `/exec`, `/exp`, `/imp`.
package enum MainHTTPRoutes {
    /// `/ping` and `/settings`, both open even when HTTP authentication is on (QUESTDB-COMPAT §2.1),
    /// and `/warnings` (QUESTDB-COMPAT §3.5) behind it, answered from `warnings` per request.
    /// `acceptsWrites` is asked per request: a promotion or fencing changes `accepting.writes`.
    package static func router(
        settings: ServerSettings, pingVersion: String, acceptsWrites: (@Sendable () -> Bool)? = nil,
        warnings: @escaping @Sendable () -> [HostWarning] = { [] }
    ) -> HTTPRouter {
        var router = HTTPRouter()
        router.add(.GET, "/warnings", ClosureEndpoint { _, _ in
            let items = warnings().map { "{\"tag\":\(JSONText.quoted($0.tag)),\"warning\":\(JSONText.quoted($0.warning))}" }
            return .json(.ok, "[" + items.joined(separator: ",") + "]")
        })
        router.add(.GET, "/ping", ClosureEndpoint { _, _ in ping(version: pingVersion) }, open: true)
        let writable = settings.json()
        var readOnly = settings
        readOnly.acceptingWrites = []
        let unwritable = readOnly.json()
        router.add(.GET, "/settings", ClosureEndpoint { _, _ in
            .json(.ok, (acceptsWrites?() ?? !settings.acceptingWrites.isEmpty) ? writable : unwritable)
        }, open: true)
        return router
    }

    /// ILP over HTTP on both paths clients use: `/write` (QuestDB clients, InfluxDB v1) and
    /// `/api/v2/write` (InfluxDB v2 clients, Telegraf).
    package static func addLineProtocol(_ endpoint: LineHTTPEndpoint, to router: inout HTTPRouter) {
        router.add(.POST, "/write", endpoint)
        router.add(.POST, "/api/v2/write", endpoint)
    }

    /// The query endpoints: `/exec` (and its `/api/v1/sql/execute` alias), `/exp`, `/chk`, `/imp`,
    /// `/api/v1/sql/validate`.
    package static func addQueries(_ engine: SQLEngine, maxResponseRows: Int, to router: inout HTTPRouter) {
        let exec = ExecEndpoint(engine: engine, maxResponseRows: maxResponseRows)
        router.add(.GET, "/exec", exec)
        router.add(.GET, "/api/v1/sql/execute", exec)
        router.add(.GET, "/exp", ExportEndpoint(engine: engine))
        router.add(.GET, "/chk", CheckEndpoint(engine: engine))
        router.add(.GET, "/api/v1/sql/validate", ValidateEndpoint(engine: engine))
        let importer = ImportEndpoint(engine: engine)
        router.add(.POST, "/imp", importer)
        router.add(.PUT, "/imp", importer)
    }

    /// `204 OK` with the InfluxDB version header InfluxDB clients probe for.
    static func ping(version: String) -> HTTPResponse {
        HTTPResponse(status: .noContent, headers: ["x-influxdb-version": version])
    }
}
