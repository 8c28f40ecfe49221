// HTTP Basic authentication: the right credentials pass, anything else is 401, open routes stay open.
import HTTPAPI
import NIOCore
import NIOHTTP1
import Testing

@Suite struct HTTPBasicAuthTests {
    static func request(_ method: HTTPMethod, _ path: String, authorization: String? = nil) -> HTTPRequest {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        if let authorization { head.headers.add(name: "authorization", value: authorization) }
        return HTTPRequest(head: head, target: HTTPRequestTarget(path)!)
    }

    static func router() -> HTTPRouter {
        var router = HTTPRouter()
        router.add(.GET, "/open", ClosureEndpoint { _, _ in .text(.ok, "open") }, open: true)
        router.add(.POST, "/closed", ClosureEndpoint { _, _ in .text(.ok, "closed") })
        router.authentication = HTTPBasicAuth(user: "admin", password: "s3cret:x")
        return router
    }

    @Test func credentialsAreCheckedExactly() {
        let auth = HTTPBasicAuth(user: "admin", password: "s3cret:x")
        // base64("admin:s3cret:x")
        var headers = HTTPHeaders([("authorization", "Basic YWRtaW46czNjcmV0Ong=")])
        #expect(auth.admits(headers))
        for wrong in ["Basic YWRtaW46czNjcmV0Onk=", "Basic YWRtaW46czNjcmV0Ong", "Basic YWRtaW46czNjcmV0Ong==", "Bearer YWRtaW46czNjcmV0Ong=", "", "basic YWRtaW46czNjcmV0Ong="] {
            headers.replaceOrAdd(name: "authorization", value: wrong)
            #expect(!auth.admits(headers), "\(wrong)")
        }
        #expect(!auth.admits(HTTPHeaders()))
    }

    @Test func closedRoutesAnswer401AndOpenOnesStayOpen() async throws {
        let router = Self.router()
        let denied = Self.request(.POST, "/closed")
        #expect(router.endpoint(for: denied) == nil)
        let response = router.response(for: denied)
        #expect(response.status == .unauthorized)
        #expect(response.body.map { String(buffer: $0) } == "Unauthorized")
        #expect(response.headers.first(name: "www-authenticate") == "Basic realm=\"questdb\"")
        #expect(router.endpoint(for: Self.request(.POST, "/closed", authorization: "Basic YWRtaW46czNjcmV0Ong=")) != nil)
        #expect(router.endpoint(for: Self.request(.GET, "/open")) != nil)
        // Unknown paths do not reveal themselves before authentication either.
        #expect(router.response(for: Self.request(.GET, "/nowhere")).status == .unauthorized)
        #expect(router.response(for: Self.request(.GET, "/nowhere", authorization: "Basic YWRtaW46czNjcmV0Ong=")).status == .notFound)
    }
}
