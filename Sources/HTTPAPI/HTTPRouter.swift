import NIOHTTP1

/// One HTTP endpoint. Existential dispatch happens once per request, never per row.
package protocol HTTPEndpoint: Sendable {
    func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse
    /// Whether the endpoint only does protocol work, handing statements to the SQL engine, so
    /// it may run on the connection's event loop; others (ILP, import, metrics) run on the
    /// global pool.
    var handlesOnEventLoop: Bool { get }
}

extension HTTPEndpoint {
    package var handlesOnEventLoop: Bool { false }
}

/// An endpoint made of a closure, for small handlers.
package struct ClosureEndpoint: HTTPEndpoint {
    private let handler: @Sendable (HTTPRequest, HTTPRequestBody) async throws -> HTTPResponse

    package init(_ handler: @escaping @Sendable (HTTPRequest, HTTPRequestBody) async throws -> HTTPResponse) {
        self.handler = handler
    }

    package func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse {
        try await handler(request, body)
    }
}

/// Maps method and exact path to an endpoint: unknown paths get 404 (or the fallback),
/// known paths with another method get 405 with `Allow`.
package struct HTTPRouter: Sendable {
    private var routes: [String: [(method: HTTPMethod, endpoint: any HTTPEndpoint, open: Bool)]] = [:]
    private var fallback: (any HTTPEndpoint)?
    /// When set, every route not added as `open` needs these credentials.
    package var authentication: HTTPBasicAuth?

    package init(fallback: (any HTTPEndpoint)? = nil) {
        self.fallback = fallback
    }

    /// Adds a route; `open` routes answer without authentication (QuestDB keeps `/ping` and
    /// `GET /settings` open so clients can probe before they authenticate).
    package mutating func add(_ method: HTTPMethod, _ path: String, _ endpoint: some HTTPEndpoint, open: Bool = false) {
        routes[path, default: []].append((method, endpoint, open))
    }

    /// The endpoint for a request; `nil` means the router answered itself (see `response(for:)`).
    package func endpoint(for request: HTTPRequest) -> (any HTTPEndpoint)? {
        guard let candidates = routes[request.path] else {
            return authentication.map { $0.admits(request.headers) } == false ? nil : fallback
        }
        guard let route = candidates.first(where: { $0.method == request.method }) else { return nil }
        if !route.open, let authentication, !authentication.admits(request.headers) { return nil }
        return route.endpoint
    }

    /// The router's own answer when `endpoint(for:)` found nothing: 401, 405 or 404.
    package func response(for request: HTTPRequest) -> HTTPResponse {
        if let authentication, !authentication.admits(request.headers) {
            let open = routes[request.path]?.first { $0.method == request.method }?.open ?? false
            if !open { return HTTPBasicAuth.unauthorized }
        }
        if let candidates = routes[request.path] {
            var response = HTTPResponse.text(.methodNotAllowed, "method \(request.method.rawValue) not allowed on \(request.path)\n")
            response.headers.add(name: "allow", value: candidates.map(\.method.rawValue).joined(separator: ", "))
            return response
        }
        return HTTPResponse.text(.notFound, "Not Found\n")
    }
}
