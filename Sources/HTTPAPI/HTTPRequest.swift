import NIOCore
import NIOHTTP1
import Synchronization

/// A decoded request head with its parsed target, as endpoints see it.
package struct HTTPRequest: Sendable {
    package var head: HTTPRequestHead
    package var target: HTTPRequestTarget
    /// The peer, for logs (`nil` for Unix sockets or when unknown).
    package var remoteAddress: SocketAddress?
    /// Tells a long-running endpoint that the client went away.
    package var connection: ConnectionWatch

    package var method: HTTPMethod { head.method }
    package var path: String { target.path }
    package var headers: HTTPHeaders { head.headers }

    package init(
        head: HTTPRequestHead, target: HTTPRequestTarget, remoteAddress: SocketAddress? = nil,
        connection: ConnectionWatch = ConnectionWatch()
    ) {
        self.head = head
        self.target = target
        self.remoteAddress = remoteAddress
        self.connection = connection
    }
}

/// Whether a request's connection is still open: an endpoint registers what to do when the
/// client goes away (cancel the statement it is running — a closed browser tab or a killed
/// script must not keep a query worker busy until `query.timeout`). One per connection, so a
/// keep-alive connection with many requests holds at most one action.
package final class ConnectionWatch: Sendable {
    private let state = Mutex<(closed: Bool, onClose: (@Sendable () -> Void)?)>((false, nil))

    package init() {}

    /// Called once, when the connection closed.
    package func closed() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            state.closed = true
            defer { state.onClose = nil }
            return state.onClose
        }
        action?()
    }

    /// Runs `body`; `onClose` runs if the connection closes meanwhile (at once if it already has).
    package func whileOpen<T, E: Error>(
        onClose: @escaping @Sendable () -> Void, _ body: () async throws(E) -> T
    ) async throws(E) -> T {
        let alreadyClosed = state.withLock { state -> Bool in
            if !state.closed { state.onClose = onClose }
            return state.closed
        }
        if alreadyClosed { onClose() }
        defer { state.withLock { $0.onClose = nil } }
        return try await body()
    }
}
