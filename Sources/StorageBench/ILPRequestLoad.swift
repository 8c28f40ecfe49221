import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `ilp-requests`: ILP/HTTP requests of `--rows-per-request` rows from `--clients` threads,
/// one connection each, every client waiting for its 204 before its next request. A loader in
/// a compiled language costs a few µs per request where Python's `requests` costs ~1.3 ms
/// (and two Python writer threads share one interpreter lock), so on a 2-core machine the
/// latency measured is the server's, not the loader's. Prints one JSON line.
///
/// Closed loop by default (the machine's maximum: latency there is mostly queueing). With
/// `--rate`, open loop: each client's requests are due on a fixed schedule and a latency runs
/// from the time its request was due, so a stall counts for every request it delays (no
/// coordinated omission).
struct ILPRequestLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ilp-requests", abstract: "Durable ILP/HTTP requests from several clients at once.")

    @Option(help: "HTTP port of the node on 127.0.0.1.") var port: Int
    @Option(help: "Concurrent clients (threads, one connection each).") var clients = 4
    @Option(help: "How long to send.") var seconds = 5.0
    @Option(help: "Rows in each request.") var rowsPerRequest = 1
    @Option(help: "Offered rows per second over all clients (open loop); 0 sends each request when the last is acknowledged.")
    var rate = 0.0
    @Option(help: "Table to write.") var table = "one"
    @Flag(help: "Each client writes its own table, TABLE followed by the client's number, in timestamp order.")
    var tablePerClient = false
    @Option(help: "Each client's first row number (its rows' values and timestamps go on from there).")
    var firstRow = 0
    @Option(help: "Nanoseconds between a client's rows with --table-per-client.")
    var timestampStep = 1_000
    @Flag(help: "Send no timestamps (the server's clock orders the rows) instead of interleaving the clients' timestamps.")
    var inOrder = false
    @Option(help: "Also write every request as a line: client, start (ns since the first was due), latency (ns).")
    var latencyLog: String?

    func run() throws {
        guard clients > 0, clients <= 1024, seconds > 0 else { throw ValidationError("1…1024 clients and a positive duration") }
        guard rowsPerRequest > 0, rowsPerRequest <= 1_000_000 else { throw ValidationError("1…1 000 000 rows per request") }
        guard rate >= 0 else { throw ValidationError("a rate of zero or more rows per second") }
        guard firstRow >= 0, firstRow <= 1 << 40 else { throw ValidationError("a first row of 0…2^40") }
        guard timestampStep > 0, timestampStep <= 1_000_000_000_000 else { throw ValidationError("a timestamp step of 1 ns…1 000 s") }
        let started = ILPRequestClient.now()
        let deadline = started + UInt64(seconds * 1e9)
        // Open loop: the clients' schedules are staggered evenly over one interval.
        let interval = rate > 0 ? UInt64(Double(clients * rowsPerRequest) / rate * 1e9) : 0
        let workers = (0..<clients).map { slot in
            ILPRequestClient(
                port: port, slot: slot, load: self, deadline: deadline, interval: interval,
                firstDue: started + 50_000_000 + interval * UInt64(slot) / UInt64(clients))
        }
        var threads: [pthread_t] = []
        for worker in workers {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(worker).toOpaque()
            guard pthread_create(&thread, nil, { argument in
                Unmanaged<ILPRequestClient>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box) == 0 else { throw ValidationError("cannot start a client thread") }
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        let elapsed = Double(ILPRequestClient.now() - started) / 1e9
        if let failure = workers.compactMap(\.failure).first { throw ValidationError(failure) }
        if let latencyLog { try writeLog(latencyLog, workers, since: started) }
        var latencies = workers.flatMap(\.latencies)
        latencies.sort()
        guard !latencies.isEmpty else { throw ValidationError("no request completed") }
        func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6 }
        print(#"{"requests":\#(latencies.count),"rows":\#(latencies.count * rowsPerRequest),"seconds":\#(elapsed),"#
            + #""p50_ms":\#(percentile(0.5)),"p99_ms":\#(percentile(0.99)),"max_ms":\#(percentile(1))}"#)
    }
}

extension ILPRequestLoad {
    private func writeLog(_ path: String, _ workers: [ILPRequestClient], since origin: UInt64) throws {
        guard let file = fopen(path, "w") else { throw ValidationError("cannot write \(path): errno \(errno)") }
        defer { fclose(file) }
        for worker in workers {
            for (start, latency) in zip(worker.starts, worker.latencies) {
                fputs("\(worker.slot) \(start - origin) \(latency)\n", file)
            }
        }
    }
}

/// One connection's loop; its results are read after its thread ends.
final class ILPRequestClient: @unchecked Sendable {
    let port: Int
    let slot: Int
    let load: ILPRequestLoad
    let deadline: UInt64
    let interval: UInt64
    let firstDue: UInt64
    private(set) var latencies: [UInt64] = []
    private(set) var starts: [UInt64] = []
    private(set) var failure: String?
    /// `TABLE,host=hSLOT v=`: what every line of this client starts with.
    private let linePrefix: [UInt8]

    init(port: Int, slot: Int, load: ILPRequestLoad, deadline: UInt64, interval: UInt64, firstDue: UInt64) {
        self.port = port
        self.slot = slot
        self.load = load
        self.deadline = deadline
        self.interval = interval
        self.firstDue = firstDue
        let table = load.tablePerClient ? "\(load.table)\(slot)" : load.table
        linePrefix = Array("\(table),host=h\(slot) v=".utf8)
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    func run() {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return fail("socket: errno \(errno)") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return fail("connect: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        latencies.reserveCapacity(100_000)
        var response = [UInt8](repeating: 0, count: 4096)
        var request: [UInt8] = []
        var body: [UInt8] = []
        var row = load.firstRow
        var due = firstDue
        while ILPRequestClient.now() < deadline {
            guard fillBody(&body, firstRow: row) else { return fail("timestamps past the year 2262") }
            row += load.rowsPerRequest
            request.removeAll(keepingCapacity: true)
            request.append(contentsOf: "POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            request.append(contentsOf: body)
            let started: UInt64
            if interval > 0 {
                let now = ILPRequestClient.now()
                if due > now { sleep(nanoseconds: due - now) }
                started = due
                due += interval
                guard started < deadline else { break }
            } else {
                started = ILPRequestClient.now()
            }
            guard sendAll(socket, request) else { return fail("send: errno \(errno)") }
            // A 204 has no body (Content-Length: 0): the answer ends at the blank line.
            var filled = 0
            while !endsHead(response, filled) {
                guard filled < response.count else { return fail("response head over \(response.count) bytes") }
                let count = response.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + filled, $0.count - filled, 0) }
                guard count > 0 else { return fail("connection closed (errno \(errno))") }
                filled += count
            }
            latencies.append(ILPRequestClient.now() - started)
            starts.append(started)
            guard response.starts(with: Array("HTTP/1.1 204".utf8)) else {
                return fail("not a 204: " + String(decoding: response[..<filled], as: UTF8.self))
            }
        }
    }

    /// The request's lines, from the client's running row number: the same as
    /// `ilp_bench.py`'s Python clients for one row (`one,host=hS v=Ri STAMP`).
    private func fillBody(_ body: inout [UInt8], firstRow: Int) -> Bool {
        body.removeAll(keepingCapacity: true)
        for row in firstRow..<(firstRow + load.rowsPerRequest) {
            body.append(contentsOf: linePrefix)
            appendDecimal(&body, row)
            body.append(UInt8(ascii: "i"))
            if !load.inOrder {
                // One table per client: its own rows `timestampStep` apart; one shared
                // table: the clients' rows interleaved.
                let stamp = load.tablePerClient
                    ? row.multipliedReportingOverflow(by: load.timestampStep)
                    : (partialValue: row * load.clients + slot, overflow: false)
                // Past the year 2262 nanoseconds no longer fit: the run is far too long.
                guard !stamp.overflow, stamp.partialValue <= Int.max - 1_700_000_000_000_000_000 else { return false }
                body.append(UInt8(ascii: " "))
                appendDecimal(&body, 1_700_000_000_000_000_000 + stamp.partialValue)
            }
            body.append(UInt8(ascii: "\n"))
        }
        return true
    }

    private func appendDecimal(_ bytes: inout [UInt8], _ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int's digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var rest = UInt64(value)
            var start = scratch.count
            repeat {
                start -= 1
                scratch[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: scratch[start...])
        }
    }

    private func sleep(nanoseconds: UInt64) {
        var wanted = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var left = timespec()
        while nanosleep(&wanted, &left) != 0 && errno == EINTR { wanted = left }
    }

    private func endsHead(_ bytes: [UInt8], _ count: Int) -> Bool {
        count >= 4 && bytes[count - 4] == 13 && bytes[count - 3] == 10 && bytes[count - 2] == 13 && bytes[count - 1] == 10
    }

    private func sendAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    private func fail(_ message: String) {
        failure = "client \(slot): \(message)"
    }
}
