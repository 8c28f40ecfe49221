import NIOCore

/// A PG connection's socket as its task sees it: the bytes received since it last asked, and
/// writes that wait while the socket is not writable.
///
/// It replaces `NIOAsyncChannel` for PG connections: the inbound sequence's and outbound
/// writer's locks, state machines and generic dispatch were ~16 % of a prepared point query's
/// server CPU (`Docs/benchmarks.md`, PG wire 2026-11-28). The connection's task runs on its
/// channel's event loop (`EventLoopTaskExecutor`), so reads and writes are plain calls on the
/// handler there; a call from another thread hops to the loop first. State is only touched on
/// the loop — hence `@unchecked Sendable`.
///
/// Backpressure both ways, as `NIOAsyncChannel` had it: past `highWatermark` received bytes the
/// handler stops asking the socket for more until the task takes them, and a write that leaves
/// the channel unwritable suspends the task until it drains.
package final class PGConnectionIO: ChannelDuplexHandler, @unchecked Sendable {
    package typealias InboundIn = ByteBuffer
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// Received bytes held for the task beyond which reading from the socket pauses.
    package static let highWatermark = 1 << 20

    package let channel: any Channel
    private var context: ChannelHandlerContext?
    private var received: ByteBuffer?
    private var inputEnded = false
    /// A read NIO asked for while `received` was past the watermark: issued once it is taken.
    private var readHeld = false
    private var reader: CheckedContinuation<ByteBuffer?, Never>?
    private var writer: CheckedContinuation<Void, any Error>?

    package init(channel: any Channel) {
        self.channel = channel
    }

    // MARK: The channel's side (event loop)

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        endInput()
        failWriter()
        self.context = nil
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if let reader {
            self.reader = nil
            reader.resume(returning: bytes)
        } else if received == nil {
            received = bytes
        } else {
            received!.writeBuffer(&bytes)
        }
    }

    package func read(context: ChannelHandlerContext) {
        if (received?.readableBytes ?? 0) >= Self.highWatermark {
            readHeld = true
        } else {
            context.read()
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        endInput()
        failWriter()
        context.fireChannelInactive()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The input was shut (graceful shutdown closes every connection's input): what was
        // received still gets answered, then the task sees the end.
        if let event = event as? ChannelEvent, event == .inputClosed { endInput() }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endInput()
        context.close(promise: nil)
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let writer {
            self.writer = nil
            writer.resume()
        }
        context.fireChannelWritabilityChanged()
    }

    private func endInput() {
        inputEnded = true
        if let reader {
            self.reader = nil
            reader.resume(returning: nil)
        }
    }

    private func failWriter() {
        if let writer {
            self.writer = nil
            writer.resume(throwing: ChannelError.ioOnClosedChannel)
        }
    }

    // MARK: The task's side

    /// The bytes received since the last call, waiting for some; nil once the input ended.
    package func next() async -> ByteBuffer? {
        if channel.eventLoop.inEventLoop, let bytes = takeReceived() { return bytes }
        return await withCheckedContinuation { continuation in
            if channel.eventLoop.inEventLoop {
                wait(continuation)
            } else {
                channel.eventLoop.execute { self.wait(continuation) }
            }
        }
    }

    private func takeReceived() -> ByteBuffer? {
        guard let bytes = received else { return nil }
        received = nil
        if readHeld {
            readHeld = false
            context?.read()
        }
        return bytes
    }

    private func wait(_ continuation: CheckedContinuation<ByteBuffer?, Never>) {
        if let bytes = takeReceived() {
            continuation.resume(returning: bytes)
        } else if inputEnded || context == nil {
            continuation.resume(returning: nil)
        } else {
            reader = continuation
        }
    }

    /// Writes and flushes `bytes`; returns once the channel can take more (at once, unless the
    /// client stopped reading). Throws when the connection closed.
    package func write(_ bytes: ByteBuffer) async throws {
        guard channel.eventLoop.inEventLoop else {
            try await channel.writeAndFlush(bytes)
            return
        }
        guard let context else { throw ChannelError.ioOnClosedChannel }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        guard !context.channel.isWritable else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if self.context == nil || !channel.isActive {
                continuation.resume(throwing: ChannelError.ioOnClosedChannel)
            } else if channel.isWritable {
                continuation.resume()
            } else {
                writer = continuation
            }
        }
    }

    /// Closes the connection once the bytes already written went out (within `grace`; a client
    /// that stopped reading does not hold the connection open).
    package func close(grace: TimeAmount = .seconds(10)) async {
        let channel = self.channel
        let deadline = channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        // Writes complete in order: an empty one completes after everything before it.
        try? await channel.writeAndFlush(ByteBuffer())
        deadline.cancel()
        try? await channel.close()
    }
}
