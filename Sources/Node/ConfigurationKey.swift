/// One `server.conf` key: its name, the form of its value, its default and what it does.
///
/// The registry `ConfigurationKey.all` is the single source of truth for validation, the
/// environment-variable names and `Docs/configuration.md` (a test keeps the doc in step).
package struct ConfigurationKey: Sendable {
    package enum Kind: Sendable {
        case boolean
        case integer(ClosedRange<Int64>)
        /// Bytes; accepts `k`, `m`, `g` suffixes (powers of 1024) as QuestDB does.
        case byteSize(ClosedRange<Int64>)
        /// Milliseconds; accepts `ms`, `s`, `m`, `h` suffixes.
        case milliseconds(ClosedRange<Int64>)
        /// `host:port` (IPv6 hosts in brackets).
        case address
        case text
        case choice([String])
    }

    package let name: String
    package let kind: Kind
    package let defaultValue: String
    package let summary: String
    /// Older names QuestDB still reads for the same setting.
    package let aliases: [String]

    package init(_ name: String, _ kind: Kind, default defaultValue: String, aliases: [String] = [], _ summary: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.summary = summary
        self.aliases = aliases
    }

    /// QuestDB's environment form: `http.net.bind.to` ← `QDB_HTTP_NET_BIND_TO`.
    package static func environmentName(of key: String) -> String {
        "QDB_" + String(key.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    /// The expected form, for error messages and docs.
    package var expectedForm: String {
        switch kind {
        case .boolean: "true or false"
        case .integer(let range): "an integer from \(range.lowerBound) to \(range.upperBound)"
        case .byteSize(let range):
            "a size in bytes from \(range.lowerBound) to \(range.upperBound), optionally with a k, m or g suffix"
        case .milliseconds(let range):
            "a duration in milliseconds from \(range.lowerBound) to \(range.upperBound), optionally with an ms, s, m or h suffix"
        case .address: "host:port, e.g. 0.0.0.0:9000 or [::1]:9000"
        case .text: "text"
        case .choice(let options): "one of " + options.joined(separator: ", ")
        }
    }
}

extension ConfigurationKey {
    /// Every key Sundial reads. Names are QuestDB's where the feature exists.
    package static let all: [ConfigurationKey] = [
        // Main HTTP server (9000).
        .init("http.enabled", .boolean, default: "true", "Run the main HTTP server (REST, ILP over HTTP, /ping, /settings)."),
        .init("http.net.bind.to", .address, default: "0.0.0.0:9000", aliases: ["http.bind.to"],
              "Address of the main HTTP server."),
        .init("http.net.connection.limit", .integer(1...100_000), default: "64",
              "Concurrent connections; more are answered 503 with Retry-After and closed."),
        .init("http.net.connection.timeout", .milliseconds(100...86_400_000), default: "300000",
              "Keep-alive wait for the next request before the server closes an idle connection."),
        .init("http.recv.buffer.size", .byteSize((4 << 10)...(64 << 20)), default: "256k",
              "Most bytes one read takes off an HTTP connection (reads grow to it while a large body streams in)."),
        .init("http.request.header.buffer.size", .byteSize(1024...(16 << 20)), default: "64k",
              "Largest request line plus headers; larger is 431 (414 when the request line alone is too long)."),
        .init("http.request.header.timeout", .milliseconds(100...3_600_000), default: "10000",
              "Time from a request's first byte to the end of its headers; slower is 408 (slowloris guard)."),
        .init("http.request.body.timeout", .milliseconds(100...3_600_000), default: "30000",
              "Longest pause between two pieces of a request body; longer is 408."),
        .init("http.request.body.max.size", .byteSize(1024...(1 << 40)), default: "1g",
              "Largest request body; a larger Content-Length is 413 before any of the body is read."),
        .init("http.user", .text, default: "",
              "HTTP Basic user for every main-server endpoint but /ping and GET /settings; empty: no authentication."),
        .init("http.password", .text, default: "",
              "HTTP Basic password (set with http.user)."),
        .init("http.password.file", .text, default: "",
              "File holding the HTTP Basic password (instead of http.password; one line, trailing newline ignored)."),
        .init("line.http.ping.version", .text, default: "v2.7.4",
              "Value of the X-Influxdb-Version header on GET /ping."),

        // ILP (both transports, then HTTP and TCP).
        .init("line.auto.create.new.tables", .boolean, default: "true",
              "Create a table from the first ILP line that names an unknown one."),
        .init("line.auto.create.new.columns", .boolean, default: "true",
              "Add columns that ILP lines bring to an existing table."),
        .init("line.default.partition.by", .choice(["hour", "day", "week", "month", "year"]), default: "DAY",
              "Partitioning of tables ILP creates."),
        .init("line.integer.default.column.type", .choice(["long", "int", "short", "byte"]), default: "LONG",
              "Type of a new column created for an integer value (123i)."),
        .init("line.http.max.recv.buffer.size", .byteSize(1024...(1 << 30)), default: "1m",
              "Longest ILP line over HTTP; a longer one fails the request with 413."),
        .init("line.tcp.enabled", .boolean, default: "true", "Run the ILP over TCP server."),
        .init("line.tcp.net.bind.to", .address, default: "0.0.0.0:9009", aliases: ["line.tcp.bind.to"],
              "Address of the ILP over TCP server."),
        .init("line.tcp.net.connection.limit", .integer(1...100_000), default: "256",
              "Concurrent ILP over TCP connections; more are closed at once."),
        .init("line.tcp.net.connection.timeout", .milliseconds(100...86_400_000), default: "300000",
              "An ILP over TCP connection that sends nothing, or holds a partial line, this long is closed."),
        .init("line.tcp.recv.buffer.size", .byteSize((4 << 10)...(64 << 20)), default: "256k",
              "Most bytes one read takes off an ILP over TCP connection."),
        .init("line.tcp.max.measurement.size", .byteSize(256...(1 << 30)), default: "1m",
              "Longest ILP line over TCP; a longer one closes the connection."),
        .init("line.tcp.commit.interval.default", .milliseconds(10...3_600_000), default: "1000",
              "Longest time rows received over TCP wait before they are committed."),
        .init("line.tcp.auth.db.path", .text, default: "",
              "Key file of the ECDSA challenge for ILP over TCP (relative to the data directory); empty: no authentication."),
        .init("cairo.max.uncommitted.rows", .integer(1...100_000_000), default: "500000",
              "Rows of one table received over TCP that trigger a commit."),

        // PostgreSQL wire protocol (8812).
        .init("pg.enabled", .boolean, default: "true", "Run the PostgreSQL wire protocol server."),
        .init("pg.net.bind.to", .address, default: "0.0.0.0:8812", "Address the PostgreSQL wire protocol server listens on."),
        .init("pg.net.connection.limit", .integer(1...100_000), default: "64",
              "Most PG wire connections at once, counting those still authenticating; more are refused with 53300."),
        .init("pg.net.connection.timeout", .milliseconds(0...86_400_000), default: "300000",
              "A PG wire connection idle this long (no message, no running statement) is closed; 0 never."),
        .init("pg.authentication.timeout", .milliseconds(100...600_000), default: "60000",
              "Start-up and authentication of a PG wire connection must finish within this."),
        .init("pg.recv.buffer.size", .byteSize((64 << 10)...(1 << 30)), default: "1m",
              "Largest PG wire message accepted; a longer one closes the connection."),
        .init("pg.worker.count", .integer(0...256), default: "0",
              "Event loop threads of the PG wire server (its connections' protocol work and point lookups); 0: one per four cores, at least one."),
        .init("pg.user", .text, default: "admin", "PG wire user name."),
        .init("pg.password", .text, default: "quest", "PG wire password of pg.user."),
        .init("pg.readonly.user.enabled", .boolean, default: "false", "Also accept the read-only user pg.readonly.user."),
        .init("pg.readonly.user", .text, default: "user", "PG wire read-only user name (writes fail with 25006)."),
        .init("pg.readonly.password", .text, default: "quest", "Password of pg.readonly.user."),
        .init("pg.auth.method", .choice(["password", "scram-sha-256"]), default: "password",
              "How PG wire clients authenticate: cleartext password (QuestDB's way) or SCRAM-SHA-256."),
        .init("pg.tls.enabled", .boolean, default: "false", "Answer SSLRequest with TLS (pg.tls.cert.path, pg.tls.private.key.path)."),
        .init("pg.tls.cert.path", .text, default: "", "PEM certificate chain for PG wire TLS (relative to the data directory)."),
        .init("pg.tls.private.key.path", .text, default: "", "PEM private key for PG wire TLS (relative to the data directory)."),
        .init("pg.tls.required", .boolean, default: "false", "Refuse PG wire clients that do not use TLS (FATAL 28000)."),

        // Replication (Docs/operations/replication.md).
        .init("replication.role", .choice(["none", "primary", "replica"]), default: "none",
              "The node's cluster role: none (standalone), primary (ships its WAL), or replica (follows replication.primary; read-only: writes fail with 25006 / 421)."),
        .init("replication.bind.to", .address, default: "0.0.0.0:9005",
              "Where a clustered node listens for replication connections (mutual TLS)."),
        .init("replication.primary", .text, default: "",
              "host:port of the primary's replication.bind.to; required on a replica."),
        .init("replication.peers", .text, default: "",
              "Comma-separated host:port of the other members' replication.bind.to (shown in status; used by failover)."),
        .init("replication.tls.enabled", .boolean, default: "true",
              "Mutual TLS 1.3 on the replication channel; false sends the WAL in plain TCP (tests only; logged as a warning)."),
        .init("replication.tls.ca", .text, default: "",
              "PEM certificate(s) of the cluster CA: the only roots trusted for peers (relative to the data directory)."),
        .init("replication.tls.cert", .text, default: "",
              "PEM certificate chain of this node, signed by the cluster CA (relative to the data directory)."),
        .init("replication.tls.key", .text, default: "", "PEM private key of replication.tls.cert (relative to the data directory)."),
        .init("replication.tls.reload.interval", .milliseconds(0...86_400_000), default: "30000",
              "How often the CA, certificate and key files are checked; changed files are loaded for new connections without a restart (0 = never)."),
        .init("replication.tls.pins", .text, default: "",
              "Optional comma-separated sha256/BASE64 SubjectPublicKeyInfo pins: peers' certificates must also carry one of these keys."),
        .init("replication.max.retained.bytes", .byteSize((1 << 20)...(1 << 50)), default: "1g",
              "WAL a primary keeps for replicas that are behind; past it the slowest replica loses its slot and must be re-bootstrapped."),
        .init("replication.chunk.max.bytes", .byteSize((64 << 10)...(64 << 20)), default: "1m",
              "Largest uncompressed WAL chunk shipped in one frame (a larger single record still travels whole)."),
        .init("replication.keepalive.interval", .milliseconds(10...60_000), default: "1000",
              "How often an idle primary sends KEEPALIVE and a replica sends STATUS."),
        .init("replication.keepalive.timeout", .milliseconds(100...600_000), default: "10000",
              "A replication connection silent this long is closed (and a replica reconnects)."),
        .init("replication.reconnect.max.backoff", .milliseconds(10...600_000), default: "5000",
              "Cap of a replica's exponential reconnect back-off."),
        .init("replication.max.ready.lag", .milliseconds(0...86_400_000), default: "10000",
              "GET /ready on 9003 answers 503 on a replica whose apply lag is larger (or unknown)."),
        .init("replication.sync.mode", .choice(["async", "received", "durable", "applied"]), default: "async",
              "When the primary acknowledges a write: async (durable here), or once replication.sync.count replicas received, made durable, or applied it (Docs/operations/failover.md)."),
        .init("replication.sync.count", .integer(1...64), default: "1",
              "How many replicas must reach replication.sync.mode before a write is acknowledged (like PostgreSQL's ANY n)."),
        .init("replication.sync.timeout", .milliseconds(1...3_600_000), default: "5000",
              "A write not confirmed by enough replicas within this fails (40003 / HTTP 503); it is never silently acknowledged as async."),
        .init("replication.peer.probe.interval", .milliseconds(100...600_000), default: "1000",
              "How often a primary asks replication.peers for their epochs (it fences itself when one is newer)."),

        .init("query.timeout", .milliseconds(1...86_400_000), default: "60000", aliases: ["query.timeout.sec"],
              "Longest a statement may run; /exec's Statement-Timeout header overrides it per request."),
        .init("sql.query.memory.limit", .byteSize((1 << 20)...(1 << 40)), default: "1g",
              "Most memory one query's results and group tables may hold; more fails the query with a clear error."),
        .init("sql.worker.count", .integer(1...256), default: "2",
              "Threads that run queries (off the network event loops)."),
        .init("sql.worker.spin.micros", .integer(0...10_000), default: "50",
              "How long a query worker that ran out of work keeps looking for more (yielding the core) before it sleeps; 0 sleeps at once."),
        .init("sql.symbol.postings.cache.size", .byteSize(0...(1 << 40)), default: "256m",
              "Memory for in-memory symbol indexes (row lists per key) built when queries filter by a symbol; 0 turns them off."),
        .init("sql.statement.cache.size", .integer(0...1_000_000), default: "1024",
              "Statements kept parsed and described by their text, shared by every connection; 0 turns the cache off."),
        .init("http.security.max.response.rows", .integer(1...Int64(Int32.max)), default: "2147483647",
              "Most rows one /exec response carries."),

        // Health and metrics server (9003).
        .init("http.min.enabled", .boolean, default: "true", "Run the health and metrics server."),
        .init("http.min.net.bind.to", .address, default: "0.0.0.0:9003", aliases: ["http.min.bind.to"],
              "Address of the health and metrics server."),
        .init("http.min.net.connection.limit", .integer(1...10_000), default: "64",
              "Concurrent connections to the health server, counted apart from the main server's."),
        .init("http.min.net.connection.timeout", .milliseconds(100...86_400_000), default: "300000",
              "Keep-alive wait on the health server."),
        .init("http.pessimistic.health.check.enabled", .boolean, default: "false",
              "The health server answers 500 \"Status: Unhealthy\" once any unhandled error was counted (questdb_unhandled_errors_total: a table suspended by a failed apply or damaged files, a failed WAL fsync, a failed TTL pass, an endpoint that failed with 500)."),
        .init("metrics.enabled", .boolean, default: "true",
              "Serve Prometheus metrics on GET /metrics of the health server (QuestDB's default is false)."),

        // Storage.
        .init("cairo.commit.mode", .choice(["sync", "async", "nosync"]), default: "sync",
              "When a commit is acknowledged: sync fsyncs the WAL first (group commit), async fsyncs in the background within 100 ms, nosync leaves it to the OS."),
        .init("cairo.max.symbol.values", .integer(1...Int64(Int32.max)), default: "4194304",
              "Most distinct values one SYMBOL column may hold (its dictionary lives in memory); a write that would pass it is refused (ILP 413, SQL error)."),
        .init("cairo.wal.apply.late.hold.micros", .integer(0...1_000_000), default: "50000",
              "Longest a small run of late commits (rows before ones already applied) waits at the WAL's end for the commits after it, so they are merged into their partition once; 0 merges each at once. Rows waiting are durable, not yet visible; INSERT, /imp and DDL never wait."),
        .init("cairo.direct.io.min.size", .byteSize(0...(1 << 40)), default: "1m",
              "A column append at least this large within a backlog (a replica catching up, WAL replay, an applier far behind; a run of several commits) writes its whole 4 KiB blocks with direct I/O, past the page cache: no CPU spent on page-cache pages, and the rows are read from disk the first time. 0 writes everything through the page cache."),
        .init("cairo.wal.checkpoint.txns", .integer(1...1_000_000), default: "2048",
              "Transactions applied between checkpoints (column files fsynced, WAL purged); a checkpoint also follows every two segments of WAL. Fewer checkpoints cost fewer fsyncs (each one briefly slows the commits beside it); more shorten the replay after a crash."),
        .init("cairo.wal.segment.rollover.size", .byteSize((1 << 20)...(1 << 34)), default: "64m",
              "Size at which a WAL segment is sealed and the next begins; whole sealed segments are what purge deletes."),
        .init("cairo.wal.recycled.segments", .integer(0...4096), default: "8",
              "Most purged WAL segments kept as spare files that new segments reuse, overwriting pages already in the page cache and blocks already allocated (cheaper writes and fsyncs, as PostgreSQL's wal_recycle); 0 deletes every purged segment. Spares take up to this many segments of disk and are deleted at start-up."),

        // Process.
        .init("log.level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
              default: "info", "Lowest level written to standard error."),
    ]

    /// QuestDB tuning keys with no meaning in Sundial: accepted with a warning so an existing
    /// QuestDB `server.conf` still starts. Keys that change behaviour or security are never here.
    package static let ignoredQuestDBKeys: Set<String> = [
        "shared.worker.count", "shared.worker.affinity", "shared.worker.haltOnError",
        "http.worker.count", "http.worker.affinity", "http.worker.haltOnError",
        "http.min.worker.count", "http.min.worker.affinity", "http.min.worker.haltOnError",
        "telemetry.enabled", "telemetry.hide.tables", "http.frozen.clock",
    ]

    /// Looks a key up by name or alias.
    package static func named(_ name: String) -> ConfigurationKey? {
        byName[name]
    }

    private static let byName: [String: ConfigurationKey] = {
        var map: [String: ConfigurationKey] = [:]
        for key in all {
            map[key.name] = key
            for alias in key.aliases { map[alias] = key }
        }
        return map
    }()
}
