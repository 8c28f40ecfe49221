import NIOCore

/// Sits before NIO's HTTP decoder to do what the decoder cannot: tell the connection guard
/// when the first byte of a request head arrives (so the header deadline starts there), and
/// refuse an over-long request line with 414 rather than the decoder's generic overflow.
final class HTTPRequestLineGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let tracker: HTTPRequestHeadTracker
    private let maxRequestLineBytes: Int
    private var requestLineBytes = 0
    private var sawLineEnd = false
    private var tripped = false

    init(tracker: HTTPRequestHeadTracker, maxRequestLineBytes: Int) {
        self.tracker = tracker
        self.maxRequestLineBytes = maxRequestLineBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !tripped else { return }
        let buffer = unwrapInboundIn(data)
        if tracker.awaitingHead && buffer.readableBytes > 0 {
            if !tracker.headStarted {
                tracker.headStarted = true
                requestLineBytes = 0
                sawLineEnd = false
                context.fireUserInboundEventTriggered(HTTPHeadStartedEvent())
            }
            if !sawLineEnd {
                if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    requestLineBytes += newline - buffer.readerIndex
                    sawLineEnd = true
                } else {
                    requestLineBytes += buffer.readableBytes
                }
                if requestLineBytes > maxRequestLineBytes {
                    tripped = true
                    context.fireErrorCaught(HTTPRequestLineTooLongError())
                    return
                }
            }
        }
        context.fireChannelRead(data)
    }
}

/// Shared by the two guards of one connection (same event loop, so no locking).
final class HTTPRequestHeadTracker {
    /// The decoder is between requests: the next bytes belong to a request head.
    var awaitingHead = true
    /// The current head's first byte has been seen.
    var headStarted = false

    func requestFinished() {
        awaitingHead = true
        headStarted = false
    }
}

/// Fired by `HTTPRequestLineGuard` on the first byte of a request head.
struct HTTPHeadStartedEvent: Sendable {}

/// The request line exceeded `maxRequestLineBytes`.
struct HTTPRequestLineTooLongError: Error {}

/// Asks a connection to finish its in-flight request and close: the server is stopping.
struct HTTPServerShutdownEvent: Sendable {}
