import NIOHTTP1
import SQL
import Storage

/// The one place SQL errors become HTTP answers: status by error kind, QuestDB's JSON shape
/// `{"query":…,"error":…,"position":…}` (QUESTDB-COMPAT §3.1).
enum SQLErrorResponse {
    static func response(_ error: SQLError, query: String, role: NodeRole) -> HTTPResponse {
        var body = "{\"query\":" + JSONText.quoted(query) + ",\"error\":" + JSONText.quoted(error.message)
        let status: HTTPResponseStatus
        switch error.code {
        case .syntax, .undefinedTable, .undefinedColumn, .undefinedFunction, .undefinedObject, .duplicateTable, .typeMismatch, .invalidValue,
             .unsupported, .limitExceeded, .timeout, .cancelled, .transactionAborted:
            status = .badRequest
            body += ",\"position\":\(error.position ?? 0)"
        case .readOnly:
            var response = HTTPResponse.json(.misdirectedRequest, body + "}")
            response.headers.add(name: "X-QuestDB-Role", value: role.rawValue.uppercased())
            return response
        case .wrongState:
            status = .conflict
        case .notReplicated:
            // Like a primary that lost its replicas: retry later (after checking what landed).
            status = .serviceUnavailable
        case .storage:
            status = .internalServerError
            if let position = error.position { body += ",\"position\":\(position)" }
        }
        return .json(status, body + "}")
    }
}
