import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SQL
import Storage
import ServiceLifecycle

/// One HTTP/1.1 listener (the main server on 9000 or the health server on 9003).
///
/// Pipeline per connection: request-line guard → NIO's decoder (header limits) → encoder →
/// connection guard (deadlines, body limit, close on error) → async handling, where each
/// request runs in the connection's task, off the event loop.
package struct HTTPServer: Sendable {
    private let configuration: HTTPServerConfiguration
    private let router: HTTPRouter
    private let group: any EventLoopGroup
    private let logger: Logger

    package init(
        configuration: HTTPServerConfiguration, router: HTTPRouter, group: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.router = router
        self.group = group
        self.logger = logger
    }

    /// Opens the listening socket; a failure names the configuration key and address.
    package func bind() async throws(HTTPServerBindError) -> BoundHTTPServer {
        let metrics = HTTPServerMetrics(server: configuration.name)
        let registry = HTTPConnectionRegistry(limit: configuration.connectionLimit, metrics: metrics)
        let configuration = self.configuration
        let logger = self.logger
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                // NIO's default caps a read at 64 KiB. A 10 000-line ILP request (~1.2 MB) then
                // reaches its parser in ~19 pieces, each a resumption of the request's task and
                // a line carried across the cut; 256 KiB reads cut ILP over HTTP's CPU by ~9 %.
                .childChannelOption(
                    .recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: configuration.receiveBufferBytes))
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try HTTPServer.configure(
                            channel, configuration: configuration, registry: registry, metrics: metrics,
                            logger: logger)
                    }
                }
            return BoundHTTPServer(
                channel: channel, configuration: configuration, router: router, registry: registry, logger: logger)
        } catch {
            throw HTTPServerBindError(
                key: configuration.bindKey, address: "\(configuration.host):\(configuration.port)", cause: error)
        }
    }

    /// The HTTP/1.1 handlers of one connection: guards around NIO's codec.
    static func addProtocolHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, configuration: HTTPServerConfiguration,
        metrics: HTTPServerMetrics, logger: Logger
    ) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = configuration.maxHeaderBytes
        limits.maxHeaderFieldSize = configuration.maxHeaderBytes
        let tracker = HTTPRequestHeadTracker()
        try pipeline.addHandler(
            HTTPRequestLineGuard(tracker: tracker, maxRequestLineBytes: configuration.maxRequestLineBytes))
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        try pipeline.addHandler(HTTPResponseEncoder())
        try pipeline.addHandler(
            HTTPConnectionGuard(configuration: configuration, tracker: tracker, metrics: metrics, logger: logger))
    }

    /// Whether a request carries body bytes (as opposed to only the end marker).
    static func declaresBody(_ head: HTTPRequestHead) -> Bool {
        if head.headers.contains(name: "transfer-encoding") { return true }
        return head.headers.first(name: "content-length").map { $0 != "0" } ?? false
    }

    private static func configure(
        _ channel: any Channel, configuration: HTTPServerConfiguration, registry: HTTPConnectionRegistry,
        metrics: HTTPServerMetrics, logger: Logger
    ) throws -> NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart> {
        let pipeline = channel.pipeline.syncOperations
        guard registry.admit(channel) else {
            try pipeline.addHandler(HTTPOverloadResponder())
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
        }
        try addProtocolHandlers(to: pipeline, configuration: configuration, metrics: metrics, logger: logger)
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
    }
}

/// A listener whose socket is open; running it serves connections until graceful shutdown.
package struct BoundHTTPServer: Service {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let configuration: HTTPServerConfiguration
    private let router: HTTPRouter
    private let registry: HTTPConnectionRegistry
    private let logger: Logger

    fileprivate init(
        channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
        configuration: HTTPServerConfiguration, router: HTTPRouter, registry: HTTPConnectionRegistry, logger: Logger
    ) {
        self.channel = channel
        self.configuration = configuration
        self.router = router
        self.registry = registry
        self.logger = logger
    }

    /// The address actually bound (differs from the configured one for port 0).
    package var localAddress: SocketAddress? { channel.channel.localAddress }

    package func run() async throws {
        let listener = channel.channel
        let registry = self.registry
        let grace = configuration.shutdownGrace
        try await withGracefulShutdownHandler {
            try await channel.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        // The connection's task runs on its channel's event loop; endpoints that
                        // do more than protocol work move to the global pool (`respond`).
                        group.addTask(executorPreference: EventLoopTaskExecutor(connection.channel.eventLoop)) { await serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
            registry.shutDown(grace: grace)
        }
        logger.info("\(configuration.name) server stopped")
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let remote = connection.channel.remoteAddress
        let watch = ConnectionWatch()
        connection.channel.closeFuture.whenComplete { _ in watch.closed() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                let reader = HTTPRequestReader(inbound.makeAsyncIterator())
                while let head = try await reader.nextHead() {
                    var response = await respond(to: head, reader: reader, remote: remote, watch: watch)
                    // A body the endpoint left unread is not drained (it may be a gigabyte):
                    // the connection closes after the response instead.
                    let bodyUnread = reader.isInBody && HTTPServer.declaresBody(head)
                    if bodyUnread { response.headers.replaceOrAdd(name: "connection", value: "close") }
                    var responseHead = HTTPResponseHead(version: head.version, status: response.status)
                    responseHead.headers = response.headers
                    var parts: [HTTPServerResponsePart] = [.head(responseHead)]
                    if let body = response.body { parts.append(.body(.byteBuffer(body))) }
                    parts.append(.end(nil))
                    try await outbound.write(contentsOf: parts)
                    if bodyUnread { return }
                    try await reader.skipToEnd()
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["peer": "\(remote.map { "\($0)" } ?? "?")", "error": "\(error)"])
        }
    }

    private func respond(to head: HTTPRequestHead, reader: HTTPRequestReader, remote: SocketAddress?, watch: ConnectionWatch) async
        -> HTTPResponse
    {
        guard let target = HTTPRequestTarget(head.uri) else {
            // QuestDB's answer for a query that is not UTF-8; other paths get plain text.
            if head.uri.hasPrefix("/exec") || head.uri.hasPrefix("/api/v1/sql/execute") || head.uri.hasPrefix("/exp") {
                return .json(.badRequest, "{\"query\":\"\",\"error\":\"Bad UTF8 encoding in query text\",\"position\":0}")
            }
            return .text(.badRequest, "malformed request target\n")
        }
        let request = HTTPRequest(head: head, target: target, remoteAddress: remote, connection: watch)
        guard let endpoint = router.endpoint(for: request) else { return router.response(for: request) }
        do {
            let body = HTTPRequestBody(reader: reader)
            if endpoint.handlesOnEventLoop { return try await endpoint.respond(to: request, body: body) }
            return try await withTaskExecutorPreference(globalConcurrentExecutor) { try await endpoint.respond(to: request, body: body) }
        } catch let error as HTTPBodyTooLargeError {
            return .text(.payloadTooLarge, "request body exceeds \(error.limit) bytes\n")
        } catch {
            logger.error("endpoint failed", metadata: ["path": "\(target.path)", "error": "\(error)"])
            StorageMetrics.unhandledError()
            return .json(.internalServerError, #"{"code":"internal error","message":"internal server error"}"#)
        }
    }
}

/// A listener could not open its socket (port in use, bad address, no permission).
package struct HTTPServerBindError: Error, CustomStringConvertible {
    package var key: String
    package var address: String
    package var cause: any Error

    package var description: String {
        let reason: String
        if let io = cause as? IOError {
            reason = io.errnoCode == EADDRINUSE ? "address already in use" : "\(io)"
        } else {
            reason = "\(cause)"
        }
        return "cannot listen on \(key)=\(address): \(reason)"
    }
}

#if canImport(Glibc)
import Glibc
#endif
