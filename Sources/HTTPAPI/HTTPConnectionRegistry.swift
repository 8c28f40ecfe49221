import NIOCore
import Synchronization

/// The open connections of one listener: enforces the connection limit and reaches every
/// connection at shutdown.
final class HTTPConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    private let state = Mutex(State())
    private let limit: Int
    private let metrics: HTTPServerMetrics

    init(limit: Int, metrics: HTTPServerMetrics) {
        self.limit = limit
        self.metrics = metrics
    }

    /// Registers `channel` unless the listener is full or stopping; it leaves on close.
    func admit(_ channel: any Channel) -> Bool {
        let count: Int? = state.withLock { state in
            guard !state.shuttingDown, state.channels.count < limit else { return nil }
            state.channels[ObjectIdentifier(channel)] = channel
            return state.channels.count
        }
        guard let count else {
            metrics.connectionRefused()
            return false
        }
        metrics.connectionCount(count)
        channel.closeFuture.whenComplete { [self] _ in
            let remaining = state.withLock { state in
                state.channels.removeValue(forKey: ObjectIdentifier(channel))
                return state.channels.count
            }
            metrics.connectionCount(remaining)
        }
        return true
    }

    /// Asks every connection to finish its request and close; closes the rest after `grace`.
    func shutDown(grace: TimeAmount) {
        let channels = state.withLock { state in
            state.shuttingDown = true
            return Array(state.channels.values)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(HTTPServerShutdownEvent())
        }
        guard let loop = channels.first?.eventLoop else { return }
        loop.scheduleTask(in: grace) { [self] in
            let stragglers = state.withLock { Array($0.channels.values) }
            for channel in stragglers { channel.close(promise: nil) }
        }
    }
}

/// Answers a connection over the limit with 503 and `Retry-After`, then closes it, without
/// reading its request: the listener itself stays open (QuestDB PR #5108).
final class HTTPOverloadResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private static let response = """
        HTTP/1.1 503 Service Unavailable\r
        Server: questDB/1.0\r
        Content-Type: text/plain; charset=utf-8\r
        Retry-After: 1\r
        Connection: close\r
        Content-Length: 33\r
        \r
        too many connections, retry later
        """

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let bytes = context.channel.allocator.buffer(string: HTTPOverloadResponder.response)
        context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
