import NIOCore
import NIOHTTP1

/// A complete response from an endpoint: status, headers and an optional body.
package struct HTTPResponse: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer?

    package init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer? = nil) {
        self.status = HTTPResponse.questDBStatus(status)
        self.headers = headers
        self.body = body
        self.headers.replaceOrAdd(name: "server", value: "questDB/1.0")
        // Always framed by Content-Length, also for `204 OK`: QuestDB's reason phrase makes NIO
        // treat 204 as a custom status that may carry a body, and it would add chunked framing
        // whose terminator a client reads as garbage before the next response.
        self.headers.replaceOrAdd(name: "content-length", value: String(body?.readableBytes ?? 0))
    }

    /// A `text/plain` response.
    package static func text(_ status: HTTPResponseStatus, _ text: String, contentType: String = "text/plain; charset=utf-8")
        -> HTTPResponse
    {
        HTTPResponse(
            status: status, headers: ["content-type": contentType], body: ByteBuffer(string: text))
    }

    /// An `application/json` response from already-encoded JSON text.
    package static func json(_ status: HTTPResponseStatus, _ json: String) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["content-type": "application/json; charset=utf-8"],
            body: ByteBuffer(string: json))
    }

    /// An `application/json` response from an already-encoded body.
    package static func json(_ status: HTTPResponseStatus, body: ByteBuffer) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["content-type": "application/json; charset=utf-8"], body: body)
    }

    /// The server's own answer to a protocol error; always followed by a close.
    static func rejection(_ rejection: HTTPConnectionStateMachine.Rejection) -> HTTPResponse {
        switch rejection {
        case .badRequest: text(.badRequest, "malformed HTTP request\n")
        case .requestTimeout: text(.requestTimeout, "request not received in time\n")
        case .contentTooLarge: text(.payloadTooLarge, "request body exceeds the server's limit\n")
        case .uriTooLong: text(.uriTooLong, "request line exceeds the server's limit\n")
        case .headersTooLarge:
            text(.requestHeaderFieldsTooLarge, "request headers exceed the server's limit\n")
        }
    }

    /// QuestDB's reason phrases (`HttpResponseSink`), which differ from RFC's in places:
    /// clients only read the code, but byte-level tools compare whole status lines.
    static func questDBStatus(_ status: HTTPResponseStatus) -> HTTPResponseStatus {
        switch status.code {
        case 200, 204: .custom(code: status.code, reasonPhrase: "OK")
        case 400: .custom(code: 400, reasonPhrase: "Bad request")
        case 413: .custom(code: 413, reasonPhrase: "Content Too Large")
        case 500: .custom(code: 500, reasonPhrase: "Internal server error")
        default: status
        }
    }
}
