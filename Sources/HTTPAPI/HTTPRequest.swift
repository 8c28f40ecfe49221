import NIOCore
import NIOHTTP1

/// A decoded request head with its parsed target, as endpoints see it.
package struct HTTPRequest: Sendable {
    package var head: HTTPRequestHead
    package var target: HTTPRequestTarget
    /// The peer, for logs (`nil` for Unix sockets or when unknown).
    package var remoteAddress: SocketAddress?

    package var method: HTTPMethod { head.method }
    package var path: String { target.path }
    package var headers: HTTPHeaders { head.headers }

    package init(head: HTTPRequestHead, target: HTTPRequestTarget, remoteAddress: SocketAddress? = nil) {
        self.head = head
        self.target = target
        self.remoteAddress = remoteAddress
    }
}
