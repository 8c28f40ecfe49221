import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SQL
import ServiceLifecycle
import Synchronization

/// Settings of the PG wire listener (`pg.*`).
package struct PGServerConfiguration: Sendable {
    package var host = "0.0.0.0"
    package var port = 8812
    package var bindKey = "pg.net.bind.to"
    /// Connections at once, counting those still authenticating (`pg.net.connection.limit`).
    package var connectionLimit = 64
    /// Start-up and authentication must finish within this (PostgreSQL's authentication_timeout).
    package var authenticationTimeout: TimeAmount = .seconds(60)
    /// An idle connection (no message, no running query) closes after this (`pg.net.connection.timeout`).
    package var idleTimeout: TimeAmount = .seconds(300)
    /// Largest frontend message (`pg.recv.buffer.size`).
    package var maxMessageBytes = 1 << 20
    package var authMethod = PGAuthMethod.cleartext
    package var credentials: [PGCredential] = []
    package var limits = PGSessionLimits()
    /// The server version reported in ParameterStatus `questdb_version`.
    package var releaseVersion = "0.0.0"
    /// TLS for clients that ask with SSLRequest (`pg.tls.*`); nil: every SSLRequest gets `N`.
    package var tls: NIOSSLContext?
    /// Refuse clients that do not use TLS (`pg.tls.required`).
    package var tlsRequired = false

    package init() {}
}

/// The context of the query a connection is running, for CancelRequest from another connection.
package final class RunningQuery: Sendable {
    private let context = Mutex<QueryContext?>(nil)

    package init() {}

    func set(_ value: QueryContext) { context.withLock { $0 = value } }
    func clear() { context.withLock { $0 = nil } }
    func cancel() { context.withLock { $0?.cancel() } }
}

/// Open connections: the limit, and the (process id, secret) keys CancelRequest names.
final class PGConnectionRegistry: Sendable {
    struct Entry: Sendable {
        var channel: any Channel
        var secret: Int32
        var running: RunningQuery
    }

    private let limit: Int
    private let state = Mutex<(next: Int32, open: [Int32: Entry])>((1000, [:]))

    init(limit: Int) {
        self.limit = limit
    }

    /// A process id for a new connection, or nil at the limit.
    func admit(_ channel: any Channel, running: RunningQuery) -> (Int32, Int32)? {
        let secret = Int32(bitPattern: UInt32.random(in: .min ... .max))
        return state.withLock { state in
            guard state.open.count < limit else { return nil }
            var id = state.next
            while state.open[id] != nil { id = id == Int32.max ? 1000 : id + 1 }
            state.next = id == Int32.max ? 1000 : id + 1
            state.open[id] = Entry(channel: channel, secret: secret, running: running)
            return (id, secret)
        }
    }

    func remove(_ id: Int32) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }

    /// Cancels the query of `processID` when `secret` matches; says nothing either way.
    func cancel(processID: Int32, secret: Int32) -> Bool {
        guard let entry = state.withLock({ $0.open[processID] }) else { return false }
        var a = entry.secret.bigEndian, b = secret.bigEndian
        let matches = withUnsafeBytes(of: &a) { x in withUnsafeBytes(of: &b) { y in PGCrypto.constantTimeEqual(Array(x), Array(y)) } }
        if matches { entry.running.cancel() }
        return matches
    }

    func closeAllInputs() {
        for entry in state.withLock({ Array($0.open.values) }) {
            entry.channel.close(mode: .input, promise: nil)
        }
    }
}

package struct PGBindError: Error, CustomStringConvertible {
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

/// The PostgreSQL wire protocol server (QUESTDB-COMPAT §5): protocol 3.0, cleartext or
/// SCRAM-SHA-256 authentication, simple and extended query over the shared SQL engine.
package struct PGServer: Sendable {
    private let configuration: PGServerConfiguration
    private let engine: SQLEngine
    private let group: any EventLoopGroup
    private let logger: Logger

    package init(configuration: PGServerConfiguration, engine: SQLEngine, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.engine = engine
        self.group = group
        self.logger = logger
    }

    package func bind() async throws(PGBindError) -> BoundPGServer {
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { [tls = configuration.tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(PGTLSNegotiation(context: tls)) }
                        let connection = PGConnectionIO(channel: channel)
                        try channel.pipeline.syncOperations.addHandler(connection)
                        return connection
                    }
                }
            return BoundPGServer(channel: channel, configuration: configuration, engine: engine, logger: logger)
        } catch {
            throw PGBindError(key: configuration.bindKey, address: "\(configuration.host):\(configuration.port)", cause: error)
        }
    }
}

/// The PG wire listener with its socket open; running it serves connections until shutdown.
package struct BoundPGServer: Service {
    private let channel: NIOAsyncChannel<PGConnectionIO, Never>
    private let configuration: PGServerConfiguration
    private let engine: SQLEngine
    private let logger: Logger
    private let registry: PGConnectionRegistry

    fileprivate init(
        channel: NIOAsyncChannel<PGConnectionIO, Never>, configuration: PGServerConfiguration,
        engine: SQLEngine, logger: Logger
    ) {
        self.channel = channel
        self.configuration = configuration
        self.engine = engine
        self.logger = logger
        self.registry = PGConnectionRegistry(limit: configuration.connectionLimit)
    }

    package var localAddress: SocketAddress? { channel.channel.localAddress }

    package func run() async throws {
        let listener = channel.channel
        let registry = self.registry
        try await withGracefulShutdownHandler {
            try await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        // The connection's task runs on its channel's event loop (see EventLoopTaskExecutor).
                        group.addTask(executorPreference: EventLoopTaskExecutor(connection.channel.eventLoop)) { await serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            listener.close(promise: nil)
            registry.closeAllInputs()
        }
        logger.info("pg wire server stopped")
    }

    private func serve(_ connection: PGConnectionIO) async {
        let running = RunningQuery()
        guard let (processID, secret) = registry.admit(connection.channel, running: running) else {
            PGMetrics.refused()
            var out = ByteBuffer()
            PGBackendMessage.error(PGErrorFields(severity: "FATAL", sqlState: "53300", message: "sorry, too many clients already"))
                .write(into: &out)
            try? await connection.write(out)
            await connection.close()
            logger.warning("pg wire connection refused: connection limit reached", metadata: ["limit": "\(configuration.connectionLimit)"])
            return
        }
        PGMetrics.connected()
        defer {
            registry.remove(processID)
            PGMetrics.disconnected()
        }
        let session = PGSession(engine: engine, limits: configuration.limits, running: running)
        let activity = PGActivity(channel: connection.channel, authenticationTimeout: configuration.authenticationTimeout,
                                  idleTimeout: configuration.idleTimeout)
        defer { activity.stop() }
        var connectionLog = logger
        connectionLog[metadataKey: "connection"] = "\(processID)"
        let channel = connection.channel
        var driver = PGConnectionDriver(
            session: session, configuration: configuration, processID: processID, secret: secret,
            registry: registry, activity: activity, logger: connectionLog,
            encrypted: { (try? await channel.pipeline.containsHandler(type: NIOSSLServerHandler.self).get()) != nil })
        let flush: (inout ByteBuffer) async throws -> Void = { buffer in
            guard buffer.readableBytes > 0 else { return }
            let chunk = buffer
            // A fresh buffer grows as needed: reserving here cost an allocation per reply.
            buffer = ByteBuffer()
            try await connection.write(chunk)
        }
        do {
            while let chunk = await connection.next() {
                activity.touch()
                let keepGoing = await driver.received(chunk, flush: flush)
                try await flush(&session.out)
                if !keepGoing { break }
            }
        } catch {
            connectionLog.debug("pg wire connection ended", metadata: ["error": "\(error)"])
        }
        await connection.close()
    }
}

/// Deadlines of one connection: authentication must finish in time, and an idle connection
/// (no input, no running statement) closes. One repeating check on the channel's event loop.
final class PGActivity: Sendable {
    private struct State {
        var lastInput = NIODeadline.now()
        var authenticated = false
        var busy = false
    }

    private let state = Mutex(State())
    private let task: Mutex<RepeatedTask?> = Mutex(nil)

    private let started = NIODeadline.now()
    private let authenticationTimeout: TimeAmount
    private let idleTimeout: TimeAmount

    init(channel: any Channel, authenticationTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.authenticationTimeout = authenticationTimeout
        self.idleTimeout = idleTimeout
        let period = TimeAmount.milliseconds(min(1000, max(50, authenticationTimeout.nanoseconds / 5_000_000)))
        let repeated = channel.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] task in
            guard let self else { return task.cancel() }
            if self.expired(now: .now()) {
                task.cancel()
                channel.close(promise: nil)
            }
        }
        task.withLock { $0 = repeated }
    }

    private func expired(now: NIODeadline) -> Bool {
        state.withLock { state in
            if !state.authenticated { return now - started >= authenticationTimeout }
            return !state.busy && idleTimeout.nanoseconds > 0 && now - state.lastInput >= idleTimeout
        }
    }

    func touch() { state.withLock { $0.lastInput = .now() } }
    func authenticated() { state.withLock { $0.authenticated = true } }

    func busy(_ value: Bool) {
        state.withLock {
            $0.busy = value
            $0.lastInput = .now()
        }
    }

    func stop() { task.withLock { $0?.cancel() } }
}

#if canImport(Glibc)
import Glibc
#endif
