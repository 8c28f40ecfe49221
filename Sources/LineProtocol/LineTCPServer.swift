import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Storage
import Synchronization

/// Settings of the ILP over TCP listener (`line.tcp.*`).
package struct LineTCPConfiguration: Sendable {
    package var host: String
    package var port: Int
    /// The key that set the address, for bind errors.
    package var bindKey = "line.tcp.net.bind.to"
    package var connectionLimit: Int
    /// Longest a received row waits before it is committed.
    package var commitInterval: TimeAmount
    /// Rows of one table that trigger a commit.
    package var maxUncommittedRows: Int
    /// Keys of the ECDSA challenge (`line.tcp.auth.db.path`); `nil`: no authentication.
    package var authKeys: LineTCPAuthKeys?
    /// How long a client has to finish the challenge.
    package var authTimeout: TimeAmount = .seconds(10)
    /// A connection that sends nothing for this long is closed; so is one whose current
    /// partial line is this old (a trickle must not hold a slot forever). `line.tcp.net.connection.timeout`.
    package var idleTimeout: TimeAmount = .seconds(300)
    /// Most bytes one read takes off a connection's socket (`line.tcp.recv.buffer.size`).
    package var receiveBufferBytes = 256 << 10

    package init(host: String, port: Int, connectionLimit: Int, commitInterval: TimeAmount, maxUncommittedRows: Int) {
        self.host = host
        self.port = port
        self.connectionLimit = connectionLimit
        self.commitInterval = commitInterval
        self.maxUncommittedRows = maxUncommittedRows
    }
}

/// ILP over TCP (QUESTDB-COMPAT §2.3): a stream of lines, committed per table by row count,
/// by interval and on disconnect. The server never writes to the socket; any bad line is
/// logged (rate-limited) and closes the connection, keeping the lines before it.
package struct LineTCPServer: Sendable {
    private let configuration: LineTCPConfiguration
    private let ingestion: LineIngestion
    private let group: any EventLoopGroup
    private let logger: Logger

    package init(configuration: LineTCPConfiguration, ingestion: LineIngestion, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.ingestion = ingestion
        self.group = group
        self.logger = logger
    }

    package func bind() async throws(LineTCPBindError) -> BoundLineTCPServer {
        let connections = LineTCPConnections(limit: configuration.connectionLimit)
        let tick = configuration.commitInterval.nanoseconds / 2
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // Larger reads than NIO's 64 KiB default: fewer pieces through the connection's
                // stream, fewer lines carried across them (as for HTTP, `http.recv.buffer.size`).
                .childChannelOption(
                    .recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: configuration.receiveBufferBytes))
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(LineTCPTicker(every: .nanoseconds(max(tick, 5_000_000))))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return BoundLineTCPServer(
                channel: channel, configuration: configuration, ingestion: ingestion, connections: connections, logger: logger)
        } catch {
            throw LineTCPBindError(key: configuration.bindKey, address: "\(configuration.host):\(configuration.port)", cause: error)
        }
    }
}

/// The TCP listener with its socket open; running it serves connections until shutdown.
package struct BoundLineTCPServer: Service {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let configuration: LineTCPConfiguration
    private let ingestion: LineIngestion
    private let connections: LineTCPConnections
    private let logger: Logger
    private let errorLog = RateLimitedLog(perSecond: 10)

    fileprivate init(
        channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, configuration: LineTCPConfiguration,
        ingestion: LineIngestion, connections: LineTCPConnections, logger: Logger
    ) {
        self.channel = channel
        self.configuration = configuration
        self.ingestion = ingestion
        self.connections = connections
        self.logger = logger
    }

    package var localAddress: SocketAddress? { channel.channel.localAddress }

    package func run() async throws {
        let listener = channel.channel
        let connections = self.connections
        try await withGracefulShutdownHandler {
            try await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
            // Connections stop reading, commit what they hold and close.
            connections.closeAllInputs()
        }
        logger.info("line.tcp server stopped")
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let role = ingestion.role
        guard role.acceptsWrites else {
            // A replica takes no ILP: the client learns it at once rather than after a batch.
            errorLog.log(logger, "ILP over TCP connection refused: \(role.writeRefusal)",
                         metadata: ["peer": "\(connection.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            try? await connection.channel.close()
            return
        }
        guard let id = connections.admit(connection.channel) else {
            logger.warning("ILP over TCP connection refused: connection limit reached",
                           metadata: ["limit": "\(configuration.connectionLimit)", "peer": "\(connection.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            try? await connection.channel.close()
            return
        }
        LineMetrics.tcp.connected()
        defer {
            connections.remove(id)
            LineMetrics.tcp.disconnected()
        }
        let ingestor = ingestion.makeIngestor()
        var lanes = LineLanes(ingestion: ingestion, ingestor: ingestor, defaultUnit: .nanos)
        var bytesReceived = 0
        var lastCommit = NIODeadline.now()
        var lastData = NIODeadline.now()
        var partialSince: NIODeadline?
        var authenticator = configuration.authKeys.map { LineTCPAuthenticator(keys: $0) }
        let connected = NIODeadline.now()
        let interval = configuration.commitInterval
        let batchBytes = ingestion.configuration.maxBatchBytes / 2
        // Nothing acknowledges a TCP commit, so the connection parses on while its last commit
        // settles (fsync, replication); the one before must have settled by then (at most two
        // in flight), and a failed one closes the connection like a bad line.
        var settling: Task<LineIngestError?, Never>?
        func settled() async throws(LineIngestError) {
            let failure = await settling?.value
            settling = nil
            if let failure { throw failure }
        }
        func handOff(_ commits: [UnsettledCommit]) async throws(LineIngestError) {
            guard !commits.isEmpty else { return }
            try await settled()
            settling = Task { [ingestion] in
                do throws(LineIngestError) {
                    try await ingestion.settle(commits)
                    return nil
                } catch {
                    return error
                }
            }
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                do throws(LineIngestError) {
                    do {
                        for try await received in inbound {
                            var chunk = received
                            if authenticator != nil {
                                guard let rest = try await authenticate(&authenticator, chunk, outbound, id: id, since: connected) else {
                                    return
                                }
                                chunk = rest
                            }
                            if chunk.readableBytes > 0 {
                                bytesReceived += chunk.readableBytes
                                lastData = .now()
                                LineMetrics.tcp.received(bytes: chunk.readableBytes)
                                try await lanes.feed(chunk)
                                try await handOff(ingestor.appendFull(rows: configuration.maxUncommittedRows, bytes: batchBytes))
                            } else {
                                // A tick: lines read ahead for the next split are parsed now.
                                try await lanes.flush()
                                if let reason = Self.idleReason(
                                    now: .now(), lastData: lastData, partialSince: partialSince, timeout: configuration.idleTimeout) {
                                    // Rows that arrived whole are kept; a partial line never is.
                                    logger.info("ILP over TCP connection closed: \(reason)", metadata: ["connection": "\(id)"])
                                    break
                                }
                            }
                            partialSince = lanes.hasPartialLine ? (partialSince ?? lastData) : nil
                            // An empty buffer is the ticker's (no read is ever empty): commit rows
                            // that have waited for the interval, even when the client went quiet.
                            if NIODeadline.now() - lastCommit >= interval {
                                try await lanes.flush()
                                try await handOff(ingestor.appendAll())
                                lastCommit = .now()
                            }
                        }
                    } catch let error as LineIngestError {
                        throw error
                    } catch {
                        // The peer reset the connection: what arrived whole is still committed.
                        logger.debug("ILP over TCP connection ended", metadata: ["connection": "\(id)", "error": "\(error)"])
                    }
                    try await lanes.flush()
                    try await settled()
                    try await ingestor.commitAll()
                    LineMetrics.tcp.parsed(lines: lanes.linesParsed)
                } catch {
                    LineMetrics.tcp.error(error.kind)
                    errorLog.log(logger, "ILP over TCP line refused, closing the connection", metadata: [
                        "connection": "\(id)", "peer": "\(connection.channel.remoteAddress.map { "\($0)" } ?? "?")",
                        "bytes-received": "\(bytesReceived)", "error": "\(error.description)", "table": "\(error.table)",
                    ])
                    // Lines before the bad one are kept (QuestDB's line.tcp.disconnect.on.error).
                    do {
                        try await settled()
                    } catch {
                        logger.error("ILP over TCP commit failed", metadata: ["connection": "\(id)", "error": "\(error)"])
                    }
                    do {
                        try await ingestor.commitAll()
                    } catch {
                        logger.error("ILP over TCP commit failed", metadata: ["connection": "\(id)", "error": "\(error)"])
                    }
                }
            }
        } catch {
            logger.debug("ILP over TCP connection closed with an error", metadata: ["connection": "\(id)", "error": "\(error)"])
        }
    }
}

extension BoundLineTCPServer {
    /// Why an idle or trickling connection should close now, if it should.
    static func idleReason(now: NIODeadline, lastData: NIODeadline, partialSince: NIODeadline?, timeout: TimeAmount) -> String? {
        if now - lastData >= timeout { return "idle for \(timeout.nanoseconds / 1_000_000) ms" }
        if let partialSince, now - partialSince >= timeout {
            return "a partial line has waited \(timeout.nanoseconds / 1_000_000) ms for its end"
        }
        return nil
    }

    /// Runs the ECDSA challenge with the bytes received so far. Returns the bytes to ingest
    /// (empty until authenticated, then whatever followed the signature line), or `nil` when
    /// the connection must close: bad key or signature, or no answer within the timeout.
    fileprivate func authenticate(
        _ authenticator: inout LineTCPAuthenticator?, _ chunk: ByteBuffer,
        _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, id: Int, since connected: NIODeadline
    ) async throws -> ByteBuffer? {
        guard chunk.readableBytes > 0 else {
            // A tick: give up on clients that never finish the challenge.
            if NIODeadline.now() - connected > configuration.authTimeout {
                errorLog.log(logger, "ILP over TCP authentication timed out, closing the connection", metadata: ["connection": "\(id)"])
                return nil
            }
            return ByteBuffer()
        }
        switch authenticator?.receive(chunk) {
        case .needMore, nil:
            return ByteBuffer()
        case .send(let bytes):
            try await outbound.write(ByteBuffer(bytes: bytes))
            return ByteBuffer()
        case .authenticated(let keyID, let remaining):
            logger.debug("ILP over TCP authenticated", metadata: ["connection": "\(id)", "key-id": "\(keyID)"])
            authenticator = nil
            return remaining
        case .reject(let reason):
            LineMetrics.tcp.error(.unauthorized)
            errorLog.log(logger, "ILP over TCP authentication failed, closing the connection", metadata: [
                "connection": "\(id)", "reason": "\(reason)",
            ])
            return nil
        }
    }
}

/// Open connections: the limit, ids for logs, and closing them all on shutdown.
final class LineTCPConnections: Sendable {
    private let limit: Int
    private let state = PlainMutex<(next: Int, open: [Int: any Channel])>((1, [:]))

    init(limit: Int) {
        self.limit = limit
    }

    func admit(_ channel: any Channel) -> Int? {
        state.withLock { state in
            guard state.open.count < limit else { return nil }
            let id = state.next
            state.next += 1
            state.open[id] = channel
            return id
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }

    func closeAllInputs() {
        for channel in state.withLock({ Array($0.open.values) }) {
            channel.close(mode: .input, promise: nil)
        }
    }
}

/// Injects an empty buffer into the inbound stream at a fixed period so a connection's task
/// wakes up to commit by interval while the client is idle (NIO never reads 0 bytes, so the
/// empty buffer cannot be confused with data).
final class LineTCPTicker: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let period: TimeAmount
    private var task: RepeatedTask?

    init(every period: TimeAmount) {
        self.period = period
    }

    // An accepted channel may already be active when the handler is added.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard task == nil else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        task = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            // NIOAsyncChannel hands reads over at read-complete: fire both.
            loopBound.value.fireChannelRead(NIOAny(ByteBuffer()))
            loopBound.value.fireChannelReadComplete()
        }
    }
}

/// At most `perSecond` log lines a second; the rest are counted and reported with the next one.
final class RateLimitedLog: Sendable {
    private let perSecond: Int
    private let state = PlainMutex<(second: Int64, count: Int, suppressed: Int)>((0, 0, 0))

    init(perSecond: Int) {
        self.perSecond = perSecond
    }

    func log(_ logger: Logger, _ message: Logger.Message, metadata: Logger.Metadata) {
        let second = NIODeadline.now().uptimeNanoseconds / 1_000_000_000
        let (allowed, suppressed) = state.withLock { state -> (Bool, Int) in
            if Int64(second) != state.second {
                state.second = Int64(second)
                state.count = 0
            }
            guard state.count < perSecond else {
                state.suppressed += 1
                return (false, 0)
            }
            state.count += 1
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
        guard allowed else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["suppressed-since-last"] = "\(suppressed)" }
        logger.error(message, metadata: metadata)
    }
}

/// The TCP listener could not open its socket.
package struct LineTCPBindError: Error, CustomStringConvertible {
    package var key: String
    package var address: String
    package var cause: any Error

    package var description: String {
        if let io = cause as? IOError, io.errnoCode == EADDRINUSE {
            return "cannot listen on \(key)=\(address): address already in use"
        }
        return "cannot listen on \(key)=\(address): \(cause)"
    }
}

#if canImport(Glibc)
import Glibc
#endif
