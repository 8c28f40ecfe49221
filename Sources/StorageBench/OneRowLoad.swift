import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `ilp-one-row`: 1-row ILP/HTTP requests from `--clients` threads, each waiting for its 204
/// before the next (what `ilp_bench.py --one-row-only` does with Python processes). A
/// loader in a compiled language costs a few µs per request instead of Python's tens, so on a
/// 2-core machine the measurement is of the server, not of the loader. Prints one JSON line.
struct OneRowLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ilp-one-row", abstract: "Durable 1-row ILP/HTTP requests from several clients at once.")

    @Option(help: "HTTP port of the node on 127.0.0.1.") var port: Int
    @Option(help: "Concurrent clients (threads, one connection each).") var clients = 4
    @Option(help: "How long to send.") var seconds = 5.0
    @Flag(help: "Send no timestamps (the server's clock orders the rows) instead of interleaving the clients' timestamps.")
    var inOrder = false

    func run() throws {
        guard clients > 0, clients <= 1024, seconds > 0 else { throw ValidationError("1…1024 clients and a positive duration") }
        let deadline = OneRowClient.now() + UInt64(seconds * 1e9)
        let workers = (0..<clients).map { OneRowClient(port: port, slot: $0, clients: clients, deadline: deadline, inOrder: inOrder) }
        var threads: [pthread_t] = []
        for worker in workers {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(worker).toOpaque()
            guard pthread_create(&thread, nil, { argument in
                Unmanaged<OneRowClient>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box) == 0 else { throw ValidationError("cannot start a client thread") }
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        if let failure = workers.compactMap(\.failure).first { throw ValidationError(failure) }
        var latencies = workers.flatMap(\.latencies)
        latencies.sort()
        guard !latencies.isEmpty else { throw ValidationError("no request completed") }
        func percentile(_ p: Double) -> Double { Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1e6 }
        print(#"{"requests":\#(latencies.count),"seconds":\#(seconds),"p50_ms":\#(percentile(0.5)),"p99_ms":\#(percentile(0.99))}"#)
    }
}

/// One connection's loop; its results are read after its thread ends.
final class OneRowClient: @unchecked Sendable {
    let port: Int
    let slot: Int
    let clients: Int
    let deadline: UInt64
    let inOrder: Bool
    private(set) var latencies: [UInt64] = []
    private(set) var failure: String?

    init(port: Int, slot: Int, clients: Int, deadline: UInt64, inOrder: Bool) {
        self.port = port
        self.slot = slot
        self.clients = clients
        self.deadline = deadline
        self.inOrder = inOrder
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
        var row = 0
        while OneRowClient.now() < deadline {
            // The same lines as ilp_bench.py's Python clients.
            let stamp = inOrder ? "" : " \(1_700_000_000_000_000_000 + row * clients + slot)"
            let body = "one,host=h\(slot) v=\(row)i\(stamp)\n"
            let request = Array("POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            let started = OneRowClient.now()
            guard sendAll(socket, request) else { return fail("send: errno \(errno)") }
            // A 204 has no body (Content-Length: 0): the answer ends at the blank line.
            var filled = 0
            while !endsHead(response, filled) {
                guard filled < response.count else { return fail("response head over \(response.count) bytes") }
                let count = response.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + filled, $0.count - filled, 0) }
                guard count > 0 else { return fail("connection closed (errno \(errno))") }
                filled += count
            }
            latencies.append(OneRowClient.now() - started)
            guard response.starts(with: Array("HTTP/1.1 204".utf8)) else {
                return fail("not a 204: " + String(decoding: response[..<filled], as: UTF8.self))
            }
            row += 1
        }
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
