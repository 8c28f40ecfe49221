import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Storage
import Synchronization

/// The replication listener (`replication.bind.to`): every clustered node runs it. A primary
/// answers a replica's HELLO and ships its WAL; other roles refuse (no cascading yet).
package struct ReplicationServer {
    private let monitor: ReplicationMonitor
    private let layout: DataDirectory
    private let group: any EventLoopGroup
    private let logger: Logger

    package init(monitor: ReplicationMonitor, layout: DataDirectory, group: any EventLoopGroup, logger: Logger) {
        self.monitor = monitor
        self.layout = layout
        self.group = group
        self.logger = logger
    }

    package func bind() async throws -> BoundReplicationServer {
        let configuration = monitor.configuration
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.bindHost, port: configuration.bindPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ReplicationPipeline.configure(
                        channel, tls: configuration.tls.map { NIOSSLServerHandler(context: $0.contexts.server) },
                        configuration: configuration)
                }
            }
        return BoundReplicationServer(channel: channel, monitor: monitor, layout: layout, logger: logger)
    }
}

/// The handlers every replication connection has, client or server side.
enum ReplicationPipeline {
    /// Opens a client connection (mutual TLS unless disabled) to another member.
    static func connect(
        host: String, port: Int, configuration: ReplicationConfiguration, group: any EventLoopGroup, timeout: TimeAmount = .seconds(5)
    ) async throws -> NIOAsyncChannel<ReplicationFrame, ReplicationFrame> {
        // SNI and host-name checks need a name; for an IP address the certificate's IP SANs
        // are checked against the peer address instead.
        let serverHostname = ReplicaClient.isIPAddress(host) ? nil : host
        return try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try configuration.tls.map {
                        try NIOSSLClientHandler(context: $0.contexts.client, serverHostname: serverHostname)
                    }
                    return try configure(channel, tls: tls, configuration: configuration)
                }
            }
    }

    static func configure(
        _ channel: any Channel, tls: (any ChannelHandler)?, configuration: ReplicationConfiguration
    ) throws -> NIOAsyncChannel<ReplicationFrame, ReplicationFrame> {
        let operations = channel.pipeline.syncOperations
        if let tls {
            try operations.addHandler(tls)
            if let pins = configuration.pins { try operations.addHandler(SPKIPinCheck(pins: pins)) }
        }
        try operations.addHandler(IdleStateHandler(readTimeout: .milliseconds(Int64(configuration.keepaliveTimeoutMillis))))
        try operations.addHandler(ReplicationIdleCloser())
        try operations.addHandler(ByteToMessageHandler(ReplicationFrameDecoder(maxFrameBytes: configuration.maxFrameBytes)))
        try operations.addHandler(MessageToByteHandler(ReplicationFrameEncoder()))
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
    }
}

/// Ends a connection that stayed silent past the keepalive timeout (RELIABILITY §3.5 R17):
/// both sides send something at least every keepalive interval.
final class ReplicationIdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(ReplicationProtocolError.timeout("nothing received within the keepalive timeout"))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// The listener with its socket open; running it serves replicas until shutdown.
package struct BoundReplicationServer: Service {
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ReplicationFrame, ReplicationFrame>, Never>
    private let monitor: ReplicationMonitor
    private let layout: DataDirectory
    private let logger: Logger

    fileprivate init(
        channel: NIOAsyncChannel<NIOAsyncChannel<ReplicationFrame, ReplicationFrame>, Never>, monitor: ReplicationMonitor,
        layout: DataDirectory, logger: Logger
    ) {
        self.channel = channel
        self.monitor = monitor
        self.layout = layout
        self.logger = logger
    }

    package var localAddress: SocketAddress? { channel.channel.localAddress }

    package func run() async throws {
        let listener = channel.channel
        let sessions = ReplicationSessions()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await retentionLoop() }
                try await channel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await serve(connection, sessions: sessions) }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
            sessions.closeAll()
        }
        try? monitor.saveSlots()
        logger.info("replication server stopped")
    }

    /// Once a second: keeps the WAL for the slowest replica, or drops its slot past the cap.
    private func retentionLoop() async {
        var saved = monitor.slots
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let storage = monitor.storage
            let committed = storage.wal.committedTxn
            if storage.wal.retainedBytes > monitor.configuration.maxRetainedBytes, let hold = monitor.retentionHold,
               hold < committed, let (dropped, position) = monitor.dropSlowestSlot()
            {
                ReplicationMetrics.slotDropped()
                logger.error(
                    "replica lost its replication slot: the WAL it needs exceeds replication.max.retained.bytes; it must be re-bootstrapped from a snapshot",
                    metadata: [
                        "replica": "\(dropped)", "replica-durable-txn": "\(position)", "primary-committed-txn": "\(committed)",
                        "retained-bytes": "\(storage.wal.retainedBytes)", "cap": "\(monitor.configuration.maxRetainedBytes)",
                    ])
            }
            let slots = monitor.slots
            if slots != saved {
                do {
                    try monitor.saveSlots()
                    saved = slots
                } catch {
                    logger.error("cannot save replication slots", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ReplicationFrame, ReplicationFrame>, sessions: ReplicationSessions) async {
        let remote = connection.channel.remoteAddress
        let peer = remote.map { address in
            address.ipAddress.map { "\($0):\(address.port ?? 0)" } ?? "\(address)"
        } ?? "?"
        let peerHost = remote?.ipAddress
        let id = sessions.add(connection.channel)
        defer { sessions.remove(id) }
        let replica = ReplicaName()
        let channel = connection.channel
        let tls = monitor.configuration.tls != nil
        // Read when HELLO arrives (the handshake is done by then), on the channel's loop.
        let certificateName: @Sendable () async -> String? = {
            guard tls else { return nil }
            return try? await channel.eventLoop.submit { () throws -> String? in
                let handler = try channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
                return handler.peerCertificate.flatMap(CertificateName.commonName(of:))
            }.get()
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await PrimarySession(
                    monitor: monitor, outbound: outbound, peer: peer, peerHost: peerHost, certificateName: certificateName, logger: logger
                ).run(inbound, replica: replica)
            }
        } catch NIOSSLError.uncleanShutdown {
            logger.info("replica disconnected", metadata: ["peer": "\(peer)", "replica": "\(replica.value ?? "-")"])
        } catch {
            ReplicationMetrics.connectionFailed(ReplicationProtocolError.kind(of: error))
            logger.warning(
                "replica connection ended", metadata: ["peer": "\(peer)", "replica": "\(replica.value ?? "-")", "reason": "\(error)"])
        }
        if let name = replica.value { monitor.replicaDisconnected(nodeID: name) }
    }
}

/// Open replica connections, closed together at shutdown.
final class ReplicationSessions: Sendable {
    private let channels = PlainMutex<(next: Int, open: [Int: any Channel])>((0, [:]))

    func add(_ channel: any Channel) -> Int {
        channels.withLock { state in
            state.next += 1
            state.open[state.next] = channel
            return state.next
        }
    }

    func remove(_ id: Int) {
        _ = channels.withLock { $0.open.removeValue(forKey: id) }
    }

    func closeAll() {
        for channel in channels.withLock({ Array($0.open.values) }) { channel.close(promise: nil) }
    }
}
