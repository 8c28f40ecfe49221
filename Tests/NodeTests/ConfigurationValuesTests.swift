// Proves configuration layering (defaults < server.conf < QDB_* env) and that every bad input stops startup with a line naming key, source and form.
import HTTPAPI
import Logging
import NIOCore
import LineProtocol
import Node
import PostgresWire
import Replication
import Storage
import Testing

@Suite struct ConfigurationValuesTests {
    func load(_ text: String? = nil, env: [String: String] = [:]) throws(ConfigurationError) -> NodeConfiguration {
        try NodeConfiguration(values: ConfigurationValues(file: text.map { ("/etc/server.conf", $0) }, environment: env))
    }

    @Test func defaultsNeedNoFile() throws {
        let configuration = try load()
        #expect(configuration.http?.host == "0.0.0.0" && configuration.http?.port == 9000)
        #expect(configuration.health?.port == 9003)
        #expect(configuration.http?.connectionLimit == 64)
        #expect(configuration.http?.maxHeaderBytes == 64 * 1024)
        #expect(configuration.metricsEnabled)
        #expect(configuration.pingVersion == "v2.7.4")
        #expect(configuration.logLevel == .info)
        // QuestDB's defaults listen on every address without authentication: said once at start,
        // once for HTTP and once for PG wire's default password.
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings.first?.contains("HTTP has no authentication") == true)
        #expect(configuration.warnings.last?.contains("pg.password is the default") == true)
        #expect(configuration.pg?.port == 8812 && configuration.pg?.connectionLimit == 64 && configuration.pg?.authMethod == .cleartext)
        #expect(configuration.pg?.credentials.map(\.user) == ["admin"] && configuration.role == .standalone)
        #expect(configuration.httpAuthentication == nil)
    }

    @Test func lineProtocolKeysReachTheirModules() throws {
        let defaults = try load(nil)
        #expect(defaults.lineHTTP.partitionBy == .day && defaults.lineHTTP.integerColumnType == .long)
        #expect(defaults.lineHTTP.maxLineBytes == 1 << 20 && defaults.lineTCPIngest.maxLineBytes == 1 << 20)
        #expect(defaults.lineTCP?.port == 9009 && defaults.lineTCP?.authKeys == nil)
        let configured = try load(
            "line.default.partition.by=HOUR\nline.integer.default.column.type=INT\nline.auto.create.new.columns=false\n"
                + "line.http.max.recv.buffer.size=64k\nline.tcp.max.measurement.size=8k\nline.tcp.net.bind.to=127.0.0.1:19009\n"
                + "line.tcp.commit.interval.default=250\nline.tcp.net.connection.timeout=5000\ncairo.max.uncommitted.rows=1000")
        #expect(configured.lineHTTP.partitionBy == .hour && configured.lineTCPIngest.partitionBy == .hour)
        #expect(configured.lineHTTP.integerColumnType == .int && !configured.lineHTTP.autoCreateColumns)
        #expect(configured.lineHTTP.maxLineBytes == 64 << 10 && configured.lineTCPIngest.maxLineBytes == 8 << 10)
        #expect(configured.lineTCP?.host == "127.0.0.1" && configured.lineTCP?.port == 19009)
        #expect(configured.lineTCP?.commitInterval == .milliseconds(250) && configured.lineTCP?.idleTimeout == .seconds(5))
        #expect(configured.lineTCP?.maxUncommittedRows == 1000)
        #expect(try load("line.tcp.enabled=false").lineTCP == nil)
        // How much one read takes off a socket, per listener.
        #expect(defaults.lineTCP?.receiveBufferBytes == 256 << 10 && defaults.http?.receiveBufferBytes == 256 << 10)
        let reads = try load("line.tcp.recv.buffer.size=64k\nhttp.recv.buffer.size=1m")
        #expect(reads.lineTCP?.receiveBufferBytes == 64 << 10 && reads.http?.receiveBufferBytes == 1 << 20)
        #expect(throws: ConfigurationError.self) { try load("http.recv.buffer.size=1k") }
        let error = #expect(throws: ConfigurationError.self) { try load("line.default.partition.by=NONE") }
        #expect(error?.description.contains("line.default.partition.by") == true)
        let missing = #expect(throws: ConfigurationError.self) { try load("line.tcp.auth.db.path=/nonexistent/auth.txt") }
        #expect(missing?.description.contains("/nonexistent/auth.txt") == true)
    }

    /// Large column appends go past the page cache from 1 MiB on by default (decision 0045);
    /// another size moves the line, 0 turns direct writes off.
    @Test func directWritesAreConfigured() throws {
        let defaults = try load("")
        #expect(defaults.storage.io.setDirectIO != nil && defaults.storage.io.directWriteMinBytes == 1 << 20)
        #expect(try load("cairo.direct.io.min.size=64m").storage.io.directWriteMinBytes == 64 << 20)
        #expect(try load("cairo.direct.io.min.size=0").storage.io.setDirectIO == nil)
        #expect(throws: ConfigurationError.self) { try load("cairo.direct.io.min.size=-1") }
    }

    @Test func pgWireKeysReachTheServer() throws {
        let configured = try load(
            "pg.net.bind.to=127.0.0.1:18812\npg.net.connection.limit=5\npg.readonly.user.enabled=true\npg.auth.method=scram-sha-256\n"
                + "pg.recv.buffer.size=128k\npg.authentication.timeout=5s\nreplication.role=replica\n"
                + "replication.primary=db1:9005\nreplication.tls.enabled=false")
        #expect(configured.pg?.host == "127.0.0.1" && configured.pg?.port == 18812 && configured.pg?.connectionLimit == 5)
        #expect(configured.pg?.credentials.map(\.user) == ["admin", "user"] && configured.pg?.credentials.map(\.readOnly) == [false, true])
        #expect(configured.pg?.authMethod == .scramSHA256 && configured.pg?.maxMessageBytes == 128 << 10)
        #expect(configured.pg?.authenticationTimeout == .seconds(5) && configured.role == .replica)
        #expect(try load("pg.enabled=false").pg == nil)
        // The PG wire loops: configured, or one per four cores (at least one) when 0.
        #expect(try load("").pgEventLoops == 0 && SundialNode.pgEventLoops(0) == max(1, System.coreCount / 4))
        #expect(try load("pg.worker.count=3").pgEventLoops == 3 && SundialNode.pgEventLoops(3) == 3)
        #expect(throws: ConfigurationError.self) { try load("pg.worker.count=-1") }
    }

    @Test func replicationKeysAreCheckedTogether() throws {
        let replica = try load("replication.role=replica\nreplication.primary=db1.example:9105\nreplication.tls.enabled=false\n"
            + "replication.peers=a:1, b:2\nreplication.max.retained.bytes=64m\nreplication.keepalive.interval=250")
        #expect(replica.replication?.primaryHost == "db1.example" && replica.replication?.primaryPort == 9105)
        #expect(replica.replication?.peers == ["a:1", "b:2"] && replica.replication?.maxRetainedBytes == 64 << 20)
        #expect(replica.replication?.keepaliveIntervalMillis == 250 && replica.replication?.tls == nil)
        #expect(replica.warnings.contains { $0.contains("replication.tls.enabled=false") })
        #expect(try load().replication == nil)
        let missing = #expect(throws: ConfigurationError.self) { try load("replication.role=replica\nreplication.tls.enabled=false") }
        #expect(missing?.description.contains("replication.primary") == true)
        let noCertificates = #expect(throws: ConfigurationError.self) { try load("replication.role=primary") }
        #expect(noCertificates?.description.contains("replication.tls.ca") == true)
        let unreadable = #expect(throws: ConfigurationError.self) {
            try load("replication.role=primary\nreplication.tls.ca=/nonexistent/ca.pem\nreplication.tls.cert=/x\nreplication.tls.key=/y")
        }
        #expect(unreadable?.description.contains("/nonexistent/ca.pem") == true)
        #expect(throws: ConfigurationError.self) {
            try load("replication.role=primary\nreplication.tls.enabled=false\nreplication.keepalive.interval=5000\nreplication.keepalive.timeout=1000")
        }
    }

    @Test func credentialsComeInPairsAndSilenceTheWarning() throws {
        let configured = try load("http.user=admin\nhttp.password=quest\npg.password=secret\npg.auth.method=scram-sha-256")
        #expect(configured.httpAuthentication?.user == "admin" && configured.httpAuthentication?.password == "quest")
        #expect(configured.warnings.isEmpty)
        #expect(try load("http.net.bind.to=127.0.0.1:9000\npg.net.bind.to=127.0.0.1:8812").warnings.isEmpty)
        let error = #expect(throws: ConfigurationError.self) { try load("http.user=admin") }
        #expect(error?.description == "configuration error: /etc/server.conf:1: http.user: http.user and http.password must be set together")
    }

    @Test func theFileOverridesDefaultsAndTheEnvironmentOverridesTheFile() throws {
        let configuration = try load(
            "http.net.bind.to=127.0.0.1:19000\nhttp.min.net.bind.to=127.0.0.1:19003\nlog.level=debug",
            env: ["QDB_HTTP_NET_BIND_TO": "127.0.0.1:29000", "QDB_HTTP_REQUEST_BODY_MAX_SIZE": "2m"])
        #expect(configuration.http?.port == 29000)
        #expect(configuration.health?.port == 19003)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.http?.maxBodyBytes == 2 << 20)
    }

    @Test func aliasesAndSuffixesWork() throws {
        let configuration = try load(
            "http.min.bind.to=[::1]:9100\nhttp.net.connection.timeout=5s\nhttp.request.header.buffer.size=8k")
        #expect(configuration.health?.host == "::1" && configuration.health?.port == 9100)
        #expect(configuration.http?.idleTimeout == .seconds(5))
        #expect(configuration.http?.maxHeaderBytes == 8192)
    }

    @Test func disabledServersAreAbsent() throws {
        let configuration = try load("http.enabled=false\nhttp.min.enabled=FALSE")
        #expect(configuration.http == nil && configuration.health == nil)
    }

    @Test func anUnknownKeyInTheFileStopsStartupWithAHint() {
        let error = #expect(throws: ConfigurationError.self) { try load("log.level=info\nhttp.net.bind.too=x") }
        #expect(error?.description.hasPrefix("configuration error: /etc/server.conf:2: http.net.bind.too: unknown configuration key (did you mean http.net.bind.to?)") == true)
    }

    @Test func ignoredQuestDBKeysAndUnknownEnvironmentVariablesOnlyWarn() throws {
        let configuration = try load("shared.worker.count=4\nhttp.net.bind.to=127.0.0.1:9000\npg.enabled=false", env: ["QDB_NOT_A_KEY": "1", "PATH": "/bin"])
        #expect(configuration.warnings.count == 2)
        #expect(configuration.warnings.contains { $0.contains("shared.worker.count") })
        #expect(configuration.warnings.contains { $0.contains("QDB_NOT_A_KEY") })
    }

    @Test(arguments: [
        ("http.net.bind.to=9000", "http.net.bind.to: '9000' is not valid; expected host:port"),
        ("http.net.bind.to=0.0.0.0:70000", "http.net.bind.to: '0.0.0.0:70000' is not valid"),
        ("http.enabled=yes", "http.enabled: 'yes' is not valid; expected true or false"),
        ("http.net.connection.limit=0", "expected an integer from 1 to 100000"),
        ("http.net.connection.limit=abc", "http.net.connection.limit: 'abc' is not valid"),
        ("http.request.header.buffer.size=12q", "optionally with a k, m or g suffix"),
        ("http.request.body.max.size=99999999999g", "http.request.body.max.size"),
        ("http.net.connection.timeout=-5", "expected a duration in milliseconds"),
        ("log.level=loud", "expected one of trace, debug, info"),
    ])
    func badValuesNameTheKeyAndTheExpectedForm(line: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try load(line) }
        #expect(error?.description.contains(message) == true, "\(error.map { "\($0)" } ?? "no error")")
        #expect(error?.description.contains("/etc/server.conf:1") == true)
    }

    @Test func badEnvironmentValuesNameTheVariable() {
        let error = #expect(throws: ConfigurationError.self) {
            try load(env: ["QDB_HTTP_MIN_NET_CONNECTION_LIMIT": "many"])
        }
        #expect(error?.description == "configuration error: QDB_HTTP_MIN_NET_CONNECTION_LIMIT (http.min.net.connection.limit): 'many' is not valid; expected an integer from 1 to 10000")
    }

    @Test func environmentNamesFollowQuestDB() {
        #expect(ConfigurationKey.environmentName(of: "http.net.bind.to") == "QDB_HTTP_NET_BIND_TO")
    }

    @Test func everyDefaultIsValid() throws {
        // Each key's default parses as its own kind: a bad default would be a crash at startup.
        for key in ConfigurationKey.all {
            _ = try ConfigurationValues(file: ("f", "\(key.name)=\(key.defaultValue)"), environment: [:])
        }
        _ = try load()
    }
}
