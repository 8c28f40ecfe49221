import NIOHTTP1

/// One HTTP endpoint. Existential dispatch happens once per request, never per row.
package protocol HTTPEndpoint: Sendable {
    func respond(to request: HTTPRequest, body: HTTPRequestBody) async throws -> HTTPResponse
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
    private var routes: [String: [(method: HTTPMethod, endpoint: any HTTPEndpoint)]] = [:]
    private var fallback: (any HTTPEndpoint)?

    package init(fallback: (any HTTPEndpoint)? = nil) {
        self.fallback = fallback
    }

    package mutating func add(_ method: HTTPMethod, _ path: String, _ endpoint: some HTTPEndpoint) {
        routes[path, default: []].append((method, endpoint))
    }

    /// The endpoint for a request; `nil` means the router answered itself (see `response(for:)`).
    package func endpoint(for request: HTTPRequest) -> (any HTTPEndpoint)? {
        guard let candidates = routes[request.path] else { return fallback }
        return candidates.first { $0.method == request.method }?.endpoint
    }

    /// The router's own answer when `endpoint(for:)` found nothing: 405 or 404.
    package func response(for request: HTTPRequest) -> HTTPResponse {
        if let candidates = routes[request.path] {
            var response = HTTPResponse.text(.methodNotAllowed, "method \(request.method.rawValue) not allowed on \(request.path)\n")
            response.headers.add(name: "allow", value: candidates.map(\.method.rawValue).joined(separator: ", "))
            return response
        }
        return HTTPResponse.text(.notFound, "Not Found\n")
    }
}
