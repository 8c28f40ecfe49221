import HTTPAPI
import LineProtocol
import Logging
import NIOCore
import NIOSSL
import PostgresWire
import Replication
import SQL
import Storage

/// The node's whole configuration as typed per-module values. Only `Node` reads files and the
/// environment; every other module receives its part of this value.
package struct NodeConfiguration: Sendable {
    /// The main HTTP server, or `nil` when `http.enabled=false`.
    package var http: HTTPServerConfiguration?
    /// The health and metrics server, or `nil` when `http.min.enabled=false`.
    package var health: HTTPServerConfiguration?
    package var storage: StorageConfiguration
    /// HTTP Basic credentials of the main server, when configured.
    package var httpAuthentication: (user: String, password: String)?
    /// ILP settings over HTTP (`maxLineBytes` from `line.http.max.recv.buffer.size`).
    package var lineHTTP: LineIngestConfiguration
    /// ILP settings over TCP (`maxLineBytes` from `line.tcp.max.measurement.size`).
    package var lineTCPIngest: LineIngestConfiguration
    /// The ILP over TCP listener, or `nil` when `line.tcp.enabled=false`.
    package var lineTCP: LineTCPConfiguration?
    package var metricsEnabled: Bool
    /// `http.pessimistic.health.check.enabled`: health answers 500 after any unhandled error.
    package var pessimisticHealthCheck: Bool
    /// The PG wire listener, or `nil` when `pg.enabled=false`.
    package var pg: PGServerConfiguration?
    /// `pg.worker.count`: event loop threads of the PG wire listener; 0 picks one per four
    /// cores, at least one (decision 0042).
    package var pgEventLoops = 0
    /// `replication.role`: a replica refuses writes on every protocol.
    package var role: NodeRole
    /// The replication channel, or `nil` on a standalone node (`replication.role=none`).
    package var replication: ReplicationConfiguration?
    package var sql: SQLConfiguration
    /// `http.security.max.response.rows`.
    package var maxResponseRows: Int
    package var pingVersion: String
    package var logLevel: Logger.Level
    /// Findings to log once logging is up.
    package var warnings: [String]

    /// `root` resolves relative paths in values (`line.tcp.auth.db.path`): the data directory.
    package init(values: ConfigurationValues, root: String = ".") throws(ConfigurationError) {
        let httpAddress = try values.address("http.net.bind.to")
        var http = HTTPServerConfiguration(
            name: "http", bindKey: "http.net.bind.to", host: httpAddress.host, port: httpAddress.port,
            connectionLimit: Int(try values.integer("http.net.connection.limit")),
            idleTimeout: .milliseconds(try values.milliseconds("http.net.connection.timeout")),
            headerTimeout: .milliseconds(try values.milliseconds("http.request.header.timeout")),
            bodyTimeout: .milliseconds(try values.milliseconds("http.request.body.timeout")),
            maxHeaderBytes: Int(try values.byteSize("http.request.header.buffer.size")),
            maxRequestLineBytes: Int(try values.byteSize("http.request.header.buffer.size")),
            maxBodyBytes: try values.byteSize("http.request.body.max.size"))
        http.receiveBufferBytes = Int(try values.byteSize("http.recv.buffer.size"))
        self.http = try values.boolean("http.enabled") ? http : nil

        httpAuthentication = try Self.credentials(values)
        var warnings = values.warnings
        if self.http != nil && httpAuthentication == nil && !Self.isLoopback(httpAddress.host) {
            warnings.append(
                "http.net.bind.to=\(httpAddress.host):\(httpAddress.port) is reachable from other hosts and HTTP has no "
                    + "authentication: anyone who can connect can write; set http.user and http.password")
        }

        let healthAddress = try values.address("http.min.net.bind.to")
        // The health server shares the main server's header limits and deadlines; it never
        // takes a body, so its body cap is small.
        let health = HTTPServerConfiguration(
            name: "http.min", bindKey: "http.min.net.bind.to", host: healthAddress.host, port: healthAddress.port,
            connectionLimit: Int(try values.integer("http.min.net.connection.limit")),
            idleTimeout: .milliseconds(try values.milliseconds("http.min.net.connection.timeout")),
            headerTimeout: http.headerTimeout, bodyTimeout: http.bodyTimeout,
            maxHeaderBytes: http.maxHeaderBytes, maxRequestLineBytes: http.maxRequestLineBytes,
            maxBodyBytes: 64 * 1024)
        self.health = try values.boolean("http.min.enabled") ? health : nil

        let commitMode = WALConfiguration.CommitMode(rawValue: try values.choice("cairo.commit.mode")) ?? .sync
        storage = StorageConfiguration(wal: WALConfiguration(
            commitMode: commitMode, segmentSizeBytes: Int(try values.byteSize("cairo.wal.segment.rollover.size")),
            recycledSegments: Int(try values.integer("cairo.wal.recycled.segments"))))
        storage.maxSymbolValues = Int(try values.integer("cairo.max.symbol.values"))
        storage.checkpointEveryTxns = Int(try values.integer("cairo.wal.checkpoint.txns"))
        storage.lateApplyHoldNanos = UInt64(try values.integer("cairo.wal.apply.late.hold.micros")) * 1_000
        let directWriteMinBytes = Int(try values.byteSize("cairo.direct.io.min.size"))
        if directWriteMinBytes == 0 { storage.io.setDirectIO = nil } else { storage.io.directWriteMinBytes = directWriteMinBytes }
        storage.columnConverter = CastColumnConverter()
        var line = LineIngestConfiguration()
        line.autoCreateTables = try values.boolean("line.auto.create.new.tables")
        line.autoCreateColumns = try values.boolean("line.auto.create.new.columns")
        let partitionBy = try values.choice("line.default.partition.by")
        line.partitionBy = PartitionBy.allCases.first { "\($0)".lowercased() == partitionBy } ?? .day
        switch try values.choice("line.integer.default.column.type") {
        case "int": line.integerColumnType = .int
        case "short": line.integerColumnType = .short
        case "byte": line.integerColumnType = .byte
        default: line.integerColumnType = .long
        }
        lineHTTP = line
        lineHTTP.maxLineBytes = Int(try values.byteSize("line.http.max.recv.buffer.size"))
        lineTCPIngest = line
        lineTCPIngest.maxLineBytes = Int(try values.byteSize("line.tcp.max.measurement.size"))
        let tcpAddress = try values.address("line.tcp.net.bind.to")
        let tcp = LineTCPConfiguration(
            host: tcpAddress.host, port: tcpAddress.port,
            connectionLimit: Int(try values.integer("line.tcp.net.connection.limit")),
            commitInterval: .milliseconds(try values.milliseconds("line.tcp.commit.interval.default")),
            maxUncommittedRows: Int(try values.integer("cairo.max.uncommitted.rows")))
        var tcpWithAuth = tcp
        tcpWithAuth.authKeys = try Self.lineAuthKeys(values, root: root)
        tcpWithAuth.idleTimeout = .milliseconds(try values.milliseconds("line.tcp.net.connection.timeout"))
        tcpWithAuth.receiveBufferBytes = Int(try values.byteSize("line.tcp.recv.buffer.size"))
        lineTCP = try values.boolean("line.tcp.enabled") ? tcpWithAuth : nil
        metricsEnabled = try values.boolean("metrics.enabled")
        pessimisticHealthCheck = try values.boolean("http.pessimistic.health.check.enabled")
        sql = SQLConfiguration()
        sql.queryTimeout = .milliseconds(try values.milliseconds("query.timeout"))
        sql.maxQueryMemoryBytes = Int(try values.byteSize("sql.query.memory.limit"))
        sql.workerThreads = Int(try values.integer("sql.worker.count"))
        sql.workerSpin = .microseconds(try values.integer("sql.worker.spin.micros"))
        sql.symbolPostingsCacheBytes = Int(try values.byteSize("sql.symbol.postings.cache.size"))
        sql.statementCacheSize = Int(try values.integer("sql.statement.cache.size"))
        maxResponseRows = Int(try values.integer("http.security.max.response.rows"))
        pg = try values.boolean("pg.enabled") ? try Self.pgConfiguration(values, root: root, warnings: &warnings) : nil
        pgEventLoops = Int(try values.integer("pg.worker.count"))
        role = ["primary": .primary, "replica": .replica][try values.choice("replication.role")] ?? .standalone
        replication = try Self.replicationConfiguration(values, role: role, root: root, warnings: &warnings)
        replication?.maxRecordBytes = storage.wal.maxRecordBytes
        pingVersion = values.text("line.http.ping.version")
        logLevel = Logger.Level(rawValue: try values.choice("log.level")) ?? .info
        self.warnings = warnings
    }

    private static func pgConfiguration(_ values: ConfigurationValues, root: String, warnings: inout [String]) throws(ConfigurationError)
        -> PGServerConfiguration
    {
        var pg = PGServerConfiguration()
        if try values.boolean("pg.tls.enabled") {
            pg.tls = try tlsContext(values, root: root, certificateKey: "pg.tls.cert.path", keyKey: "pg.tls.private.key.path")
        }
        pg.tlsRequired = try values.boolean("pg.tls.required")
        if pg.tlsRequired && pg.tls == nil {
            throw ConfigurationError(source: origin(values, "pg.tls.required"), key: "pg.tls.required", "needs pg.tls.enabled=true")
        }
        let address = try values.address("pg.net.bind.to")
        pg.host = address.host
        pg.port = address.port
        pg.connectionLimit = Int(try values.integer("pg.net.connection.limit"))
        pg.idleTimeout = .milliseconds(try values.milliseconds("pg.net.connection.timeout"))
        pg.authenticationTimeout = .milliseconds(try values.milliseconds("pg.authentication.timeout"))
        pg.maxMessageBytes = Int(try values.byteSize("pg.recv.buffer.size"))
        pg.authMethod = PGAuthMethod(rawValue: try values.choice("pg.auth.method")) ?? .cleartext
        let user = values.text("pg.user"), password = values.text("pg.password")
        pg.credentials = [PGCredential(user: user, password: password, readOnly: false)]
        if try values.boolean("pg.readonly.user.enabled") {
            pg.credentials.append(PGCredential(user: values.text("pg.readonly.user"), password: values.text("pg.readonly.password"), readOnly: true))
        }
        let clearOnTheWire = pg.authMethod == .cleartext && !pg.tlsRequired
        if !isLoopback(address.host) && (password == "quest" || clearOnTheWire) {
            var findings: [String] = []
            if password == "quest" { findings.append("pg.password is the default 'quest'") }
            if clearOnTheWire { findings.append("clients may send it in clear text (set pg.auth.method=scram-sha-256 or pg.tls.required=true)") }
            warnings.append(
                "pg.net.bind.to=\(address.host):\(address.port) is reachable from other hosts and " + findings.joined(separator: " and "))
        }
        return pg
    }

    private static func replicationConfiguration(
        _ values: ConfigurationValues, role: NodeRole, root: String, warnings: inout [String]
    ) throws(ConfigurationError) -> ReplicationConfiguration? {
        guard role != .standalone else { return nil }
        let bind = try values.address("replication.bind.to")
        var replication = ReplicationConfiguration(role: role, bindHost: bind.host, bindPort: bind.port)
        let primary = values.text("replication.primary")
        if role == .replica {
            guard let address = ConfigurationValues.parseAddress(primary), !address.host.isEmpty, address.host != "0.0.0.0" else {
                throw ConfigurationError(
                    source: origin(values, "replication.primary"), key: "replication.primary",
                    primary.isEmpty ? "must be set on a replica (host:port of the primary's replication.bind.to)"
                        : "'\(primary)' is not a host:port to connect to")
            }
            replication.primaryHost = address.host
            replication.primaryPort = address.port
        }
        replication.peers = values.text("replication.peers").split(separator: ",").map { String($0.filter { $0 != " " }) }
            .filter { !$0.isEmpty }
        for peer in replication.peers where ConfigurationValues.parseAddress(peer) == nil {
            throw ConfigurationError(source: origin(values, "replication.peers"), key: "replication.peers", "'\(peer)' is not host:port")
        }
        replication.maxRetainedBytes = Int(try values.byteSize("replication.max.retained.bytes"))
        replication.maxChunkBytes = Int(try values.byteSize("replication.chunk.max.bytes"))
        replication.keepaliveIntervalMillis = Int(try values.milliseconds("replication.keepalive.interval"))
        replication.keepaliveTimeoutMillis = Int(try values.milliseconds("replication.keepalive.timeout"))
        replication.reconnectMaxBackoffMillis = Int(try values.milliseconds("replication.reconnect.max.backoff"))
        replication.maxReadyLagMillis = Int(try values.milliseconds("replication.max.ready.lag"))
        replication.syncMode = ReplicationConfiguration.SyncMode(rawValue: try values.choice("replication.sync.mode")) ?? .async
        replication.syncCount = Int(try values.integer("replication.sync.count"))
        replication.syncTimeoutMillis = Int(try values.milliseconds("replication.sync.timeout"))
        replication.peerProbeIntervalMillis = Int(try values.milliseconds("replication.peer.probe.interval"))
        guard replication.keepaliveTimeoutMillis > replication.keepaliveIntervalMillis else {
            throw ConfigurationError(
                source: origin(values, "replication.keepalive.timeout"), key: "replication.keepalive.timeout",
                "must be longer than replication.keepalive.interval")
        }
        if try values.boolean("replication.tls.enabled") {
            replication.tls = try replicationTLS(values, root: root)
            replication.tlsReloadIntervalMillis = Int(try values.milliseconds("replication.tls.reload.interval"))
            let pinsText = values.text("replication.tls.pins")
            if !pinsText.isEmpty {
                switch SPKIPins.parse(pinsText) {
                case .success(let pins): replication.pins = pins
                case .failure(let error):
                    throw ConfigurationError(
                        source: origin(values, "replication.tls.pins"), key: "replication.tls.pins",
                        "'\(error.entry)' is not sha256/BASE64 of a 32-byte SubjectPublicKeyInfo hash")
                }
            }
        } else {
            warnings.append(
                "replication.tls.enabled=false: the WAL travels in plain TCP, unauthenticated; use this only on a trusted test network")
        }
        return replication
    }

    /// Mutual TLS 1.3 for replication: the cluster CA is the only trust root, the server
    /// requires a client certificate, the client verifies the primary's certificate and name.
    private static func replicationTLS(_ values: ConfigurationValues, root: String) throws(ConfigurationError)
        -> ReplicationTLS
    {
        func path(_ key: String) throws(ConfigurationError) -> String {
            let configured = values.text(key)
            guard !configured.isEmpty else {
                throw ConfigurationError(
                    source: origin(values, key), key: key,
                    "must be set when replication.tls.enabled=true (make them with deploy/tls/make-certs.sh)")
            }
            return configured.hasPrefix("/") ? configured : root + "/" + configured
        }
        let files = ReplicationTLS.Files(
            ca: try path("replication.tls.ca"), certificate: try path("replication.tls.cert"), key: try path("replication.tls.key"))
        do throws(ReplicationTLS.LoadError) {
            return try ReplicationTLS(files: files)
        } catch {
            let key = switch error.file {
            case .ca: "replication.tls.ca"
            case .certificate: "replication.tls.cert"
            case .key: "replication.tls.key"
            }
            throw ConfigurationError(source: .unreadableFile(path: error.path), key: key, error.reason)
        }
    }

    /// Where a key's value came from (its environment variable when it was never set).
    private static func origin(_ values: ConfigurationValues, _ key: String) -> ConfigurationError.Source {
        values.source(key) ?? .environment(variable: ConfigurationKey.environmentName(of: key))
    }

    /// A TLS server context from a PEM certificate chain and private key (paths relative to
    /// the data directory); TLS 1.2 at least.
    private static func tlsContext(_ values: ConfigurationValues, root: String, certificateKey: String, keyKey: String)
        throws(ConfigurationError) -> NIOSSLContext
    {
        func path(_ key: String) throws(ConfigurationError) -> String {
            let configured = values.text(key)
            guard !configured.isEmpty else {
                throw ConfigurationError(source: origin(values, "pg.tls.enabled"), key: key, "must be set when TLS is enabled")
            }
            return configured.hasPrefix("/") ? configured : root + "/" + configured
        }
        let certificatePath = try path(certificateKey), keyPath = try path(keyKey)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: certificatePath), key: certificateKey, "\(certificateKey): not a readable PEM certificate chain (\(error))")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: keyPath), key: keyKey, "\(keyKey): not a readable PEM private key (\(error))")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: keyPath), key: keyKey, "\(certificateKey) and \(keyKey) do not make a TLS context (\(error))")
        }
    }

    /// `http.user` with `http.password` or the file `http.password.file`; both or neither.
    private static func credentials(_ values: ConfigurationValues) throws(ConfigurationError) -> (user: String, password: String)? {
        let user = values.text("http.user")
        var password = values.text("http.password")
        let file = values.text("http.password.file")
        if !file.isEmpty {
            let bytes: [UInt8]?
            do {
                bytes = try DurableFile.read(file, maxBytes: 64 * 1024)
            } catch {
                throw ConfigurationError(source: .unreadableFile(path: file), key: "http.password.file", error.message)
            }
            guard let bytes, let text = String(validating: bytes, as: UTF8.self) else {
                throw ConfigurationError(source: .unreadableFile(path: file), key: "http.password.file", "no such file, or not UTF-8 text")
            }
            password = text
            while password.last == "\n" || password.last == "\r" { password.removeLast() }
        }
        if user.isEmpty && password.isEmpty { return nil }
        guard !user.isEmpty, !password.isEmpty else {
            let given = user.isEmpty ? "http.password" : "http.user"
            throw ConfigurationError(
                source: values.source(given) ?? values.source("http.password.file") ?? .environment(variable: "QDB_HTTP_USER"),
                key: given, "http.user and http.password must be set together")
        }
        return (user, password)
    }

    /// The ILP/TCP key file, when `line.tcp.auth.db.path` names one (relative to the data directory).
    private static func lineAuthKeys(_ values: ConfigurationValues, root: String) throws(ConfigurationError) -> LineTCPAuthKeys? {
        let configured = values.text("line.tcp.auth.db.path")
        guard !configured.isEmpty else { return nil }
        let path = configured.hasPrefix("/") ? configured : root + "/" + configured
        let bytes: [UInt8]?
        do {
            bytes = try DurableFile.read(path, maxBytes: 16 << 20)
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: path), key: "line.tcp.auth.db.path", error.message)
        }
        guard let bytes, let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(source: .unreadableFile(path: path), key: "line.tcp.auth.db.path", "no such file, or not UTF-8 text")
        }
        do throws(LineTCPAuthKeysError) {
            let keys = try LineTCPAuthKeys.parse(text)
            guard !keys.keys.isEmpty else {
                throw LineTCPAuthKeysError(line: 0, "holds no key: no client could connect")
            }
            return keys
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: path), key: "line.tcp.auth.db.path", error.description)
        }
    }

    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Reads `server.conf` and the environment.
    ///
    /// `explicitPath` is `--config`: it must exist. Without it, `DIR/conf/server.conf` is read
    /// when present, and defaults apply when it is not.
    package static func load(
        explicitPath: String?, dataDirectory: DataDirectory, environment: [String: String]
    ) throws(ConfigurationError) -> NodeConfiguration {
        let path = explicitPath ?? dataDirectory.defaultConfigurationPath
        let bytes: [UInt8]?
        do {
            bytes = try DurableFile.read(path, maxBytes: 1 << 20)
        } catch {
            throw ConfigurationError(source: .unreadableFile(path: path), key: "", error.errno.map(StorageError.describe) ?? error.message)
        }
        if bytes == nil && explicitPath != nil {
            throw ConfigurationError(source: .unreadableFile(path: path), key: "", "no such file")
        }
        let file = try bytes.map { (bytes) throws(ConfigurationError) -> (path: String, text: String) in
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ConfigurationError(source: .unreadableFile(path: path), key: "", "not valid UTF-8 text")
            }
            return (path, text)
        }
        return try NodeConfiguration(values: ConfigurationValues(file: file, environment: environment), root: dataDirectory.root)
    }
}
