import HTTPAPI
import LineProtocol
import Logging
import Metrics
import NIOCore
import NIOPosix
import PostgresWire
import Prometheus
import ServiceLifecycle
import SQL
import Storage
import UnixSignals

/// A running node: opens the data directory, binds the listeners and runs the services under
/// swift-service-lifecycle until SIGTERM or SIGINT, then shuts down gracefully.
///
/// Start order: storage → (replication) → listeners → health; shutdown in reverse.
package struct SundialNode {
    private let configuration: NodeConfiguration
    private let dataDirectory: DataDirectory
    private let logger = Logger(label: "sundial.node")

    package init(configuration: NodeConfiguration, dataDirectory: DataDirectory) {
        self.configuration = configuration
        self.dataDirectory = dataDirectory
    }

    /// Runs until a graceful shutdown completes. Throws `StorageError` or `HTTPServerBindError`
    /// when the node cannot start; nothing is left running then.
    package func run() async throws {
        logger.info("starting sundial \(SundialVersion.current)", metadata: ["data-dir": "\(dataDirectory.root)"])
        for warning in configuration.warnings { logger.warning("\(warning)") }

        let opened = try dataDirectory.open(initialRole: .standalone)
        logger.info(
            "\(opened.identityCreated ? "created" : "opened") data directory",
            metadata: [
                "cluster": "\(opened.identity.clusterID)", "node": "\(opened.identity.nodeID)",
                "epoch": "\(opened.identity.epoch)", "role": "\(opened.identity.role.rawValue)",
            ])

        let metricsText = configuration.metricsEnabled ? SundialNode.bootstrapMetrics() : nil
        let storage = try StorageEngine(layout: opened.layout, configuration: configuration.storage)
        logger.info(
            "storage opened",
            metadata: [
                "applied-txn": "\(storage.appliedTxn)", "next-txn": "\(storage.wal.nextTxn)",
                "commit-mode": "\(configuration.storage.wal.commitMode.rawValue)",
                "wal-torn-bytes-cut": "\(storage.wal.truncatedBytesAtOpen)",
            ])
        for table in storage.damagedTables {
            logger.error(
                "table is damaged and refuses writes",
                metadata: ["table": "\(table.name)", "directory": "\(table.directoryName)", "reason": "\(table.reason)"])
        }
        let mainGroup = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        // The health server has its own thread so it answers while the main server is saturated.
        let healthGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await serve(
                opened: opened, storage: storage, metricsText: metricsText, mainGroup: mainGroup,
                healthGroup: healthGroup)
        } catch {
            try? await mainGroup.shutdownGracefully()
            try? await healthGroup.shutdownGracefully()
            throw error
        }
        try? await mainGroup.shutdownGracefully()
        try? await healthGroup.shutdownGracefully()
        logger.info("sundial stopped")
    }

    private func serve(
        opened: OpenDataDirectory, storage: StorageEngine, metricsText: (@Sendable () -> [UInt8])?,
        mainGroup: MultiThreadedEventLoopGroup, healthGroup: MultiThreadedEventLoopGroup
    ) async throws {
        // First in, last out: storage checkpoints after every listener has stopped.
        var services: [any Service] = [StorageService(engine: storage, logger: logger)]
        // The configured role wins over the stored one until replication manages roles (issue 7).
        let role = configuration.role == .standalone ? opened.identity.role : configuration.role
        let sql = SQLEngine(storage: storage, configuration: configuration.sql, isReadOnly: { !role.acceptsWrites })
        if let http = configuration.http {
            let settings = ServerSettings(
                releaseVersion: SundialVersion.current,
                acceptingWrites: role.acceptsWrites ? ["http", "tcp", "pgwire"] : [])
            var router = MainHTTPRoutes.router(settings: settings, pingVersion: configuration.pingVersion)
            let ilp = LineHTTPEndpoint(
                ingestion: LineIngestion(engine: storage, configuration: configuration.lineHTTP, nowNanos: Self.wallClockNanos),
                maxBodyBytes: Int(http.maxBodyBytes), logger: Logger(label: "sundial.line.http"))
            MainHTTPRoutes.addLineProtocol(ilp, to: &router)
            MainHTTPRoutes.addQueries(sql, maxResponseRows: configuration.maxResponseRows, to: &router)
            router.authentication = configuration.httpAuthentication.map { HTTPBasicAuth(user: $0.user, password: $0.password) }
            services.append(try await bind(http, router: router, group: mainGroup))
        }
        if let tcp = configuration.lineTCP {
            let server = LineTCPServer(
                configuration: tcp,
                ingestion: LineIngestion(engine: storage, configuration: configuration.lineTCPIngest, nowNanos: Self.wallClockNanos),
                group: mainGroup, logger: Logger(label: "sundial.line.tcp"))
            let bound = try await server.bind()
            logger.info("line.tcp server listening", metadata: [
                "address": "\(tcp.host):\(bound.localAddress?.port ?? tcp.port)", "key": "\(tcp.bindKey)",
            ])
            services.append(bound)
        }
        if var pg = configuration.pg {
            pg.releaseVersion = SundialVersion.current
            let bound = try await PGServer(configuration: pg, engine: sql, group: mainGroup, logger: Logger(label: "sundial.pg")).bind()
            logger.info("pg wire server listening", metadata: [
                "address": "\(pg.host):\(bound.localAddress?.port ?? pg.port)", "key": "\(pg.bindKey)",
                "auth": "\(pg.authMethod.rawValue)",
            ])
            services.append(bound)
        }
        if let health = configuration.health {
            let router = HealthRoutes.router(metricsText: metricsText)
            services.append(try await bind(health, router: router, group: healthGroup))
        }

        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Requests in flight get a short grace; past this the group cancels what is left.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(4)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }

    /// The wall clock in nanoseconds since the epoch: the designated timestamp of ILP rows
    /// that carry none.
    @Sendable static func wallClockNanos() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    private func bind(_ configuration: HTTPServerConfiguration, router: HTTPRouter, group: any EventLoopGroup)
        async throws -> BoundHTTPServer
    {
        let server = HTTPServer(
            configuration: configuration, router: router, group: group,
            logger: Logger(label: "sundial.\(configuration.name)"))
        let bound = try await server.bind()
        logger.info(
            "\(configuration.name) server listening",
            metadata: [
                "address": "\(configuration.host):\(bound.localAddress?.port ?? configuration.port)",
                "key": "\(configuration.bindKey)",
            ])
        return bound
    }

    /// Installs the Prometheus backend for swift-metrics (once per process) and returns the
    /// renderer `/metrics` calls.
    private static func bootstrapMetrics() -> @Sendable () -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let process = ProcessMetrics(version: SundialVersion.current)
        return {
            process.refresh()
            return registry.emitToBuffer()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
