import Logging
import NIOCore
import NIOHTTP1

/// Carries out `HTTPConnectionStateMachine`'s actions on one connection: forwards request
/// parts, answers protocol errors (400/408/413/414/431) and closes, runs the deadline timer
/// and marks responses `Connection: close` when the connection ends after them.
final class HTTPConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: HTTPConnectionStateMachine
    private let configuration: HTTPServerConfiguration
    private let tracker: HTTPRequestHeadTracker
    private let metrics: HTTPServerMetrics
    private let logger: Logger
    private var requestVersion = HTTPVersion.http1_1
    private var armed: HTTPConnectionStateMachine.Deadline?
    private var deadline = NIODeadline.distantFuture
    private var scheduled: Scheduled<Void>?
    private var scheduledAt = NIODeadline.distantFuture

    init(
        configuration: HTTPServerConfiguration, tracker: HTTPRequestHeadTracker,
        metrics: HTTPServerMetrics, logger: Logger
    ) {
        self.machine = HTTPConnectionStateMachine(maxBodyBytes: configuration.maxBodyBytes)
        self.configuration = configuration
        self.tracker = tracker
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { perform(machine.connectionActive(), context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.connectionActive(), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            tracker.awaitingHead = false
            requestVersion = head.version
            let expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
            let actions = machine.requestHead(
                contentLength: head.headers.first(name: "content-length").flatMap { Int64($0) },
                keepAlive: head.isKeepAlive, expectsContinue: expectsContinue)
            perform(actions, context: context, part: part)
        case .body(let buffer):
            perform(machine.requestBody(bytes: buffer.readableBytes), context: context, part: part)
        case .end:
            tracker.requestFinished()
            perform(machine.requestEnd(), context: context, part: part)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is HTTPHeadStartedEvent:
            perform(machine.headBytesArrived(), context: context)
        case is HTTPServerShutdownEvent:
            perform(machine.shutdownRequested(), context: context)
        case let channelEvent as ChannelEvent where channelEvent == .inputClosed:
            perform(machine.inputClosed(), context: context)
            context.fireUserInboundEventTriggered(event)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let rejection: HTTPConnectionStateMachine.Rejection
        switch error {
        case is HTTPRequestLineTooLongError:
            rejection = .uriTooLong
        case let parserError as HTTPParserError:
            rejection = parserError == .headerOverflow ? .headersTooLarge : .badRequest
        default:
            context.fireErrorCaught(error)
            return
        }
        logger.debug("HTTP protocol error", metadata: ["error": "\(error)"])
        perform(machine.parseError(rejection), context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let applicationCloses = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            machine.responseHeadWritten(closesConnection: applicationCloses)
            if machine.willClose { head.headers.replaceOrAdd(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            let actions = machine.responseEndWritten()
            guard actions.close else {
                context.write(data, promise: promise)
                perform(actions, context: context)
                return
            }
            // Close only once the response's last bytes are on the wire.
            cancelTimer()
            let channel = context.channel
            let written = promise ?? context.eventLoop.makePromise()
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.write(data, promise: written)
        }
    }

    private func perform(
        _ actions: HTTPConnectionStateMachine.Actions, context: ChannelHandlerContext,
        part: HTTPServerRequestPart? = nil
    ) {
        if actions.sendContinue {
            let head = HTTPResponseHead(version: requestVersion, status: .continue)
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        }
        if actions.forward, let part { context.fireChannelRead(wrapInboundOut(part)) }
        switch actions.timer {
        case .keep: break
        case .arm(let deadline): arm(deadline, context: context)
        case .cancel: cancelTimer()
        }
        if let rejection = actions.reject {
            metrics.rejected(rejection)
            respond(rejection, context: context)
        } else if actions.close {
            context.close(promise: nil)
        }
    }

    /// Writes the server's own error response, then closes.
    private func respond(_ rejection: HTTPConnectionStateMachine.Rejection, context: ChannelHandlerContext) {
        let response = HTTPResponse.rejection(rejection)
        var head = HTTPResponseHead(version: requestVersion, status: response.status, headers: response.headers)
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body = response.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func arm(_ kind: HTTPConnectionStateMachine.Deadline, context: ChannelHandlerContext) {
        armed = kind
        deadline = context.eventLoop.now + configuration.timeout(for: kind)
        // A task already due before the new deadline re-checks and re-schedules when it fires;
        // this keeps body chunks from scheduling a task each.
        if scheduled != nil && scheduledAt <= deadline { return }
        scheduled?.cancel()
        schedule(at: deadline, context: context)
    }

    private func schedule(at time: NIODeadline, context: ChannelHandlerContext) {
        scheduledAt = time
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        scheduled = context.eventLoop.scheduleTask(deadline: time) {
            let (handler, context) = bound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        scheduled = nil
        guard let kind = armed else { return }
        if context.eventLoop.now < deadline {
            schedule(at: deadline, context: context)
            return
        }
        armed = nil
        logger.debug("HTTP deadline reached", metadata: ["deadline": "\(kind)"])
        perform(machine.deadlineReached(kind), context: context)
    }

    private func cancelTimer() {
        armed = nil
        scheduled?.cancel()
        scheduled = nil
    }
}
