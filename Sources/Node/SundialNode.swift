import HTTPAPI
import LineProtocol
import Logging
import Metrics
import NIOCore
import NIOPosix
import PostgresWire
import Prometheus
import Replication
import ServiceLifecycle
import SQL
import Storage
import Synchronization
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
        for warning in HostChecks.warnings(HostChecks.facts(dataDirectory: dataDirectory.root)) {
            logger.warning("\(warning.warning)", metadata: ["tag": "\(warning.tag)"])
        }

        let directory = try dataDirectory.open(initialRole: configuration.role)
        let start = StartRole.decide(
            identity: directory.identity, configuredRole: configuration.role, configuredUpstream: configuration.replication?.primaryAddress,
            peersConfigured: !(configuration.replication?.peers.isEmpty ?? true), fresh: directory.identityCreated)
        let opened = try directory.recording(start.identity)
        if let note = start.note { logger.warning("\(note)") }
        logger.info(
            "\(opened.identityCreated ? "created" : "opened") data directory",
            metadata: [
                "cluster": "\(opened.identity.clusterID)", "node": "\(opened.identity.nodeID)",
                "epoch": "\(opened.identity.epoch)", "role": "\(opened.identity.role.rawValue)",
            ])

        // A copy taken under CHECKPOINT CREATE, started with `_restore` in its root, becomes
        // the checkpoint's image before anything reads its tables (decision 0019).
        if let txn = try BackupCheckpoint.restoreIfRequested(opened.layout) {
            logger.warning("restored the data directory from its checkpoint", metadata: ["txn": "\(txn)"])
        }

        // Metrics come first: storage publishes gauges while it opens.
        let refreshes = MetricsRefreshes()
        let metricsText = configuration.metricsEnabled ? SundialNode.bootstrapMetrics(refreshes: refreshes) : nil
        // An empty replica whose primary lacks the WAL from txn 1 receives a snapshot first.
        var identity = opened.identity
        if let replication = configuration.replication {
            identity = try await StartRole.bootstrapIfEmpty(
                start, layout: opened.layout, configuration: replication, group: MultiThreadedEventLoopGroup.singleton,
                logger: Logger(label: "sundial.replication"))
        }
        // A primary that must first confirm its epoch with its peers starts read-only.
        let storage = try StorageEngine(
            layout: opened.layout, configuration: configuration.storage, role: start.needsPeerConfirmation ? .fenced : start.role)
        let replication = ReplicationMonitor(
            storage: storage,
            configuration: configuration.replication ?? ReplicationConfiguration(role: .standalone, bindHost: "", bindPort: 0),
            identity: identity,
            slots: configuration.replication != nil ? try ReplicationSlots.load(dataDirectory) : ReplicationSlots(),
            layout: opened.layout, upstream: start.upstream, logger: Logger(label: "sundial.replication"))
        if start.needsPeerConfirmation { replication.awaitConfirmation(ClusterController.confirming) }
        let controller = configuration.replication.map { _ in
            ClusterController(
                monitor: replication, group: MultiThreadedEventLoopGroup.singleton, confirmAtStart: start.needsPeerConfirmation,
                logger: Logger(label: "sundial.replication"))
        }
        refreshes.add { ReplicationMetrics.refresh(replication) }
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
        // PG wire has loops of its own, fewer than cores: a loop kept busy by several
        // connections answers them without sleeping between queries (decision 0042).
        let pgGroup = MultiThreadedEventLoopGroup(numberOfThreads: Self.pgEventLoops(configuration.pgEventLoops))
        do {
            try await serve(
                opened: opened, storage: storage, replication: replication, controller: controller, metricsText: metricsText,
                groups: Groups(main: mainGroup, health: healthGroup, pg: pgGroup))
        } catch {
            for group in [mainGroup, healthGroup, pgGroup] { try? await group.shutdownGracefully() }
            throw error
        }
        for group in [mainGroup, healthGroup, pgGroup] { try? await group.shutdownGracefully() }
        logger.info("sundial stopped")
    }

    /// The event loop threads of the node's servers.
    private struct Groups {
        var main: MultiThreadedEventLoopGroup
        var health: MultiThreadedEventLoopGroup
        var pg: MultiThreadedEventLoopGroup
    }

    /// `pg.worker.count`, 0 resolved: one loop per four cores, at least one.
    package static func pgEventLoops(_ configured: Int) -> Int {
        configured > 0 ? configured : max(1, System.coreCount / 4)
    }

    private func serve(
        opened: OpenDataDirectory, storage: StorageEngine, replication: ReplicationMonitor, controller: ClusterController?,
        metricsText: (@Sendable () -> [UInt8])?, groups: Groups
    ) async throws {
        // First in, last out: storage checkpoints after every listener has stopped.
        var services: [any Service] = [StorageService(engine: storage, logger: logger)]
        if let controller {
            services += try await replicationServices(replication, layout: opened.layout, group: groups.main)
            services.append(controller)
        }
        let sql = SQLEngine(
            storage: storage, configuration: configuration.sql, isReadOnly: { !storage.role.acceptsWrites },
            promote: controller.map { controller in
                { @Sendable () async -> String? in
                    do throws(ClusterController.Failure) {
                        _ = try await controller.promote(planned: false)
                        return nil
                    } catch {
                        return error.message
                    }
                }
            })
        if let http = configuration.http {
            let settings = ServerSettings(releaseVersion: SundialVersion.current)
            var router = MainHTTPRoutes.router(
                settings: settings, pingVersion: configuration.pingVersion, acceptsWrites: { storage.role.acceptsWrites },
                warnings: { HostChecks.warnings(HostChecks.facts(dataDirectory: dataDirectory.root)) })
            let ilp = LineHTTPEndpoint(
                ingestion: LineIngestion(
                    engine: storage, configuration: configuration.lineHTTP, nowNanos: Self.wallClockNanos,
                    queriesRunning: { [activity = sql.activity] in activity.isBusy }),
                maxBodyBytes: Int(http.maxBodyBytes), logger: Logger(label: "sundial.line.http"))
            MainHTTPRoutes.addLineProtocol(ilp, to: &router)
            MainHTTPRoutes.addQueries(sql, maxResponseRows: configuration.maxResponseRows, to: &router)
            ClusterRoutes.add(controller, to: &router)
            router.authentication = configuration.httpAuthentication.map { HTTPBasicAuth(user: $0.user, password: $0.password) }
            services.append(try await bind(http, router: router, group: groups.main))
        }
        if let tcp = configuration.lineTCP {
            let server = LineTCPServer(
                configuration: tcp,
                ingestion: LineIngestion(
                    engine: storage, configuration: configuration.lineTCPIngest, nowNanos: Self.wallClockNanos,
                    queriesRunning: { [activity = sql.activity] in activity.isBusy }),
                group: groups.main, logger: Logger(label: "sundial.line.tcp"))
            let bound = try await server.bind()
            logger.info("line.tcp server listening", metadata: [
                "address": "\(tcp.host):\(bound.localAddress?.port ?? tcp.port)", "key": "\(tcp.bindKey)",
            ])
            services.append(bound)
        }
        if var pg = configuration.pg {
            pg.releaseVersion = SundialVersion.current
            let bound = try await PGServer(configuration: pg, engine: sql, group: groups.pg, logger: Logger(label: "sundial.pg")).bind()
            logger.info("pg wire server listening", metadata: [
                "address": "\(pg.host):\(bound.localAddress?.port ?? pg.port)", "key": "\(pg.bindKey)",
                "auth": "\(pg.authMethod.rawValue)",
            ])
            services.append(bound)
        }
        if let health = configuration.health {
            let status = HealthRoutes.NodeStatus(
                json: { NodeStatusDocument.json(replication) }, text: { NodeStatusDocument.text(replication) },
                ready: { replication.isReady() })
            let count: @Sendable () -> Int = { StorageMetrics.unhandledErrors }
            let unhandledErrors = configuration.pessimisticHealthCheck ? count : nil
            let router = HealthRoutes.router(metricsText: metricsText, status: status, unhandledErrors: unhandledErrors)
            services.append(try await bind(health, router: router, group: groups.health))
        }

        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Requests in flight get a short grace; past this the group cancels what is left.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(4)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }

    /// The replication listener (every clustered node) and, on a replica, the link to the primary.
    private func replicationServices(
        _ monitor: ReplicationMonitor, layout: DataDirectory, group: MultiThreadedEventLoopGroup
    ) async throws -> [any Service] {
        let replication = monitor.configuration
        let server: BoundReplicationServer
        do {
            server = try await ReplicationServer(
                monitor: monitor, layout: layout, group: group, logger: Logger(label: "sundial.replication")
            ).bind()
        } catch {
            throw ReplicationBindError(
                key: replication.bindKey, address: "\(replication.bindHost):\(replication.bindPort)", cause: error)
        }
        logger.info(
            "replication server listening",
            metadata: [
                "address": "\(replication.bindHost):\(server.localAddress?.port ?? replication.bindPort)",
                "key": "\(replication.bindKey)", "tls": "\(replication.tls != nil ? "mutual TLS 1.3" : "off")",
                "role": "\(replication.role.rawValue)",
            ])
        // Every clustered node runs the client: it idles unless the node is a replica, which a
        // primary or fenced node can become at runtime (switchover, sundial follow).
        var services: [any Service] = [
            server, ReplicaClient(monitor: monitor, layout: layout, group: group, logger: Logger(label: "sundial.replication")),
        ]
        if let tls = replication.tls {
            services.append(ReplicationTLSReloader(
                tls: tls, intervalMillis: replication.tlsReloadIntervalMillis, logger: Logger(label: "sundial.replication")))
        }
        return services
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
    private static func bootstrapMetrics(refreshes: MetricsRefreshes) -> @Sendable () -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let process = ProcessMetrics(version: SundialVersion.current)
        return {
            process.refresh()
            refreshes.run()
            return registry.emitToBuffer()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The replication listener could not bind: names the key and address, like the other listeners.
package struct ReplicationBindError: Error, CustomStringConvertible {
    package var key: String
    package var address: String
    package var cause: any Error

    package var description: String { "cannot listen on \(address) (\(key)): \(cause)" }
}

/// Gauges computed at scrape time (lag grows with the clock), registered once their owners exist.
final class MetricsRefreshes: Sendable {
    private let refreshes = PlainMutex<[@Sendable () -> Void]>([])

    func add(_ refresh: @escaping @Sendable () -> Void) {
        refreshes.withLock { $0.append(refresh) }
    }

    func run() {
        for refresh in refreshes.withLock({ $0 }) { refresh() }
    }
}
