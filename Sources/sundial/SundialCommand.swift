import ArgumentParser
import HTTPAPI
import LineProtocol
import Logging
import Node
import PostgresWire
import Replication
import SQL
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// The `sundial` executable: a QuestDB-compatible, replicated time-series database node.
@main
struct SundialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial",
        abstract: "A QuestDB-compatible, replicated time-series database node.",
        subcommands: [
            ServeCommand.self, StatusCommand.self, PromoteCommand.self, FollowCommand.self, RejoinCommand.self, DumpCommand.self,
            VersionCommand.self,
        ])
}

/// `sundial serve --data-dir DIR [--config FILE]`.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a node until SIGTERM or SIGINT.")

    @Option(name: .long, help: "Data directory; created with its layout on first start.")
    var dataDir: String = "./sundial-data"

    @Option(name: .long, help: "Configuration file (default: DATA_DIR/conf/server.conf when present).")
    var config: String?

    func run() async throws {
        let environment = ProcessEnvironment.variables()
        HeapPolicy.apply(environment: environment)
        let dataDirectory = DataDirectory(root: dataDir)
        let configuration: NodeConfiguration
        do {
            configuration = try NodeConfiguration.load(
                explicitPath: config, dataDirectory: dataDirectory, environment: environment)
        } catch {
            fail("\(error)", exitCode: 2)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            try await SundialNode(configuration: configuration, dataDirectory: dataDirectory).run()
        } catch let error as StorageError {
            fail("cannot open data directory: \(error)", exitCode: 1)
        } catch let error as HTTPServerBindError {
            fail("\(error)", exitCode: 1)
        } catch let error as LineTCPBindError {
            fail("\(error)", exitCode: 1)
        } catch let error as PGBindError {
            fail("\(error)", exitCode: 1)
        } catch let error as ReplicationBindError {
            fail("\(error)", exitCode: 1)
        }
    }

    /// One line on standard error, then exit: startup failures are read by people and scripts.
    private func fail(_ message: String, exitCode: Int32) -> Never {
        let line = Array("sundial: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        Glibc.exit(exitCode)
    }
}

/// `sundial dump --data-dir DIR TABLE`: a stopped node's table as JSON (schema and rows), for
/// inspection and for tests until SQL exists. Replays the WAL like a start does.
struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump", abstract: "Print a table of a stopped node as JSON.")

    @Option(name: .long, help: "Data directory of a node that is not running.")
    var dataDir: String = "./sundial-data"

    @Argument(help: "Table name (case-insensitive).")
    var table: String

    func run() async throws {
        let layout = DataDirectory(root: dataDir)
        do {
            let opened = try layout.open(initialRole: .standalone)
            var configuration = StorageConfiguration()
            configuration.columnConverter = CastColumnConverter()
            let engine = try StorageEngine(layout: layout, configuration: configuration)
            engine.waitForApplier()
            guard let snapshot = engine.snapshot(ofTable: table) else {
                printError("sundial: table does not exist [table=\(table)]")
                Glibc.exit(1)
            }
            let columns = snapshot.schema.columns.map {
                "{\"name\":\(JSONText.quoted($0.name)),\"type\":\(JSONText.quoted("\($0.type)"))}"
            }
            let designated = snapshot.schema.designatedTimestamp.flatMap { id in snapshot.schema.column(id: id)?.name }
            var out = "{\"table\":\(JSONText.quoted(snapshot.schema.name)),\"partitionBy\":\(JSONText.quoted("\(snapshot.schema.partitionBy)")),"
            out += "\"designatedTimestamp\":\(designated.map(JSONText.quoted) ?? "null"),\"columns\":[\(columns.joined(separator: ","))],\"rows\":["
            out += try SnapshotText.rows(snapshot).map { row in
                "[" + snapshot.schema.columns.map { column in (row[column.name] ?? nil).map(JSONText.quoted) ?? "null" }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            print(out + "]}")
            withExtendedLifetime(opened) {}
        } catch {
            printError("sundial: cannot dump \(table): \(error)")
            Glibc.exit(1)
        }
    }

    private func printError(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// `sundial version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("sundial \(SundialVersion.current)")
    }
}

/// The process environment as a dictionary.
enum ProcessEnvironment {
    static func variables() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// `sundial status --url http://HOST:9003`: the node's role, positions, upstream or replicas and
/// lag, as the health server's `/status.txt` renders them.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Print a running node's role, replication positions and lag.")

    @Option(name: .long, help: "The node's health server (http.min.net.bind.to), e.g. http://127.0.0.1:9003.")
    var url: String = "http://127.0.0.1:9003"

    func run() throws {
        guard let (host, port) = Self.parse(url, defaultPort: 9003) else {
            throw ValidationError("--url must look like http://HOST:PORT (the health server, port 9003 by default)")
        }
        switch HealthClient.get(host: host, port: port, path: "/status.txt") {
        case .success(let (status, body)) where status == 200:
            print(body, terminator: "")
        case .success(let (status, _)):
            throw ValidationError("\(url)/status.txt answered HTTP \(status): is this the health server (9003)?")
        case .failure(let error):
            throw ValidationError("cannot reach \(url): \(error.reason)")
        }
    }

    static func parse(_ url: String, defaultPort: Int) -> (String, Int)? {
        var rest = Substring(url)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
        else { return rest.isEmpty ? nil : (String(rest), defaultPort) }
        return (String(rest[..<colon]), port)
    }
}

/// Operator commands on the main HTTP server (9000): `POST /api/v1/cluster/…`, printing the
/// node's JSON answer; a refusal exits non-zero with the node's error text.
struct ClusterRequest: ParsableArguments {
    @Option(name: .long, help: "The node's main HTTP server (http.net.bind.to), e.g. http://127.0.0.1:9000.")
    var url: String = "http://127.0.0.1:9000"

    @Option(name: .long, help: "http.user of the node, when it requires authentication.")
    var user: String?

    @Option(name: .long, help: "http.password of the node.")
    var password: String?

    func post(_ path: String, timeoutSeconds: Int) throws {
        guard let (host, port) = StatusCommand.parse(url, defaultPort: 9000) else {
            throw ValidationError("--url must look like http://HOST:PORT (the main HTTP server, port 9000 by default)")
        }
        let authorization = user.map { HTTPBasicAuth.header(user: $0, password: password ?? "") }
        switch HealthClient.request(
            "POST", host: host, port: port, path: path, authorization: authorization, timeoutSeconds: timeoutSeconds)
        {
        case .success(let (status, body)) where status == 200:
            print(body)
        case .success(let (status, body)):
            throw ValidationError("\(url)\(path) answered HTTP \(status): \(body)")
        case .failure(let error):
            throw ValidationError("cannot reach \(url): \(error.reason)")
        }
    }
}

/// `sundial promote --url http://HOST:9000 [--planned]`: makes a replica the primary.
struct PromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Promote a replica to primary (emergency failover, or --planned switchover with zero loss).",
        discussion: "See Docs/operations/failover.md. Prints the new epoch, the fork txn and which peers learned of it.")

    @OptionGroup var request: ClusterRequest

    @Flag(name: .long, help: "Planned switchover: the primary stops writes, this replica applies everything, then is promoted.")
    var planned = false

    func run() throws {
        try request.post("/api/v1/cluster/promote" + (planned ? "?planned=true" : ""), timeoutSeconds: 60)
    }
}

/// `sundial follow --url http://HOST:9000 --primary HOST:PORT`: re-points a replica (or lets
/// a fenced old primary rejoin) at runtime.
struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Make a replica (or a fenced former primary) follow another primary, without a restart.")

    @OptionGroup var request: ClusterRequest

    @Option(name: .long, help: "HOST:PORT of the new primary's replication listener (replication.bind.to).")
    var primary: String

    func run() throws {
        try request.post("/api/v1/cluster/follow?primary=" + primary, timeoutSeconds: 10)
    }
}

/// `sundial rejoin --data-dir DIR --primary HOST:PORT [--resync]`, on a stopped former primary
/// (or any stopped member): it starts next as a replica of HOST:PORT. Without `--resync` it
/// follows from its own WAL, which the new primary accepts only at or before the fork point;
/// with it, its tables and WAL are moved aside (`before-resync-…/`) and it receives a snapshot.
struct RejoinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejoin", abstract: "Make a stopped node start as a replica of a new primary (--resync: from a fresh snapshot).")

    @Option(name: .long, help: "Data directory of the node (it must not be running).")
    var dataDir: String = "./sundial-data"

    @Option(name: .long, help: "HOST:PORT of the new primary's replication listener (replication.bind.to).")
    var primary: String

    @Flag(name: .long, help: "Move the node's tables and WAL aside and bootstrap from a snapshot of the primary.")
    var resync = false

    func run() throws {
        guard ReplicationAddress.parse(primary) != nil else { throw ValidationError("--primary must be HOST:PORT") }
        let layout = DataDirectory(root: dataDir)
        do {
            let opened = try layout.open(initialRole: .replica)
            if resync {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let aside = try opened.moveAsideForResync(now: Int(now.tv_sec))
                print("moved the tables, WAL and replication state to \(aside) (delete it once the node has caught up)")
            }
            var identity = opened.identity
            identity.role = .replica
            identity.upstream = primary
            _ = try opened.recording(identity)
            print("on its next start the node follows \(primary) as a replica\(resync ? ", from a snapshot" : "")")
        } catch {
            throw ValidationError("cannot prepare \(dataDir): \(error)")
        }
    }
}

/// A minimal HTTP/1.1 client over a blocking socket: the operator commands need nothing more.
enum HealthClient {
    struct Failure: Error {
        var reason: String
    }

    static func get(host: String, port: Int, path: String) -> Result<(Int, String), Failure> {
        request("GET", host: host, port: port, path: path, authorization: nil, timeoutSeconds: 10)
    }

    static func request(
        _ method: String, host: String, port: Int, path: String, authorization: String?, timeoutSeconds: Int
    ) -> Result<(Int, String), Failure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            return .failure(Failure(reason: "cannot resolve \(host)"))
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(Failure(reason: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure(Failure(reason: String(cString: strerror(errno))))
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: 0\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        let request = Array((head + "\r\n").utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            return .failure(Failure(reason: "cannot send the request"))
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while response.count < 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let headerEnd = text.firstRange(of: "\r\n\r\n"), let statusLine = text.split(separator: "\r\n").first,
              let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { return .failure(Failure(reason: "not an HTTP answer")) }
        var body = String(text[headerEnd.upperBound...])
        if text[..<headerEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
        return .success((status, body))
    }

    /// Joins a chunked body's chunks.
    private static func dechunk(_ body: String) -> String {
        var out = ""
        var rest = Substring(body)
        while let lineEnd = rest.firstRange(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let utf8 = rest.utf8
            let end = utf8.index(start, offsetBy: size, limitedBy: utf8.endIndex) ?? utf8.endIndex
            out += rest[start..<end]
            rest = rest[end...].dropFirst(2)
        }
        return out
    }
}
