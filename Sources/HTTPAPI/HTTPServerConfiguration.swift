import NIOCore

/// Everything one HTTP listener needs, as typed values; `Node` builds it from `server.conf`.
package struct HTTPServerConfiguration: Sendable {
    /// Short name for logs and metrics: `http` (9000) or `http.min` (9003).
    package var name: String
    /// The configuration key that set the address, named in bind errors.
    package var bindKey: String
    package var host: String
    package var port: Int
    /// Connections beyond this are answered 503 and closed; the listener stays open.
    package var connectionLimit: Int
    /// Keep-alive wait between requests.
    package var idleTimeout: TimeAmount
    /// From the first byte of a request head to its end.
    package var headerTimeout: TimeAmount
    /// Longest pause between two pieces of a request body.
    package var bodyTimeout: TimeAmount
    /// Request line plus headers; more is 431 (414 when the request line alone is too long).
    package var maxHeaderBytes: Int
    /// Request line (method, target, version); more is 414.
    package var maxRequestLineBytes: Int
    /// Request body; a larger Content-Length is 413 before any body byte is read.
    package var maxBodyBytes: Int64
    /// How long a graceful shutdown waits for in-flight requests before closing them.
    package var shutdownGrace: TimeAmount
    /// Most bytes one read takes off a connection's socket (`http.recv.buffer.size`); reads
    /// grow to it while a large body streams in.
    package var receiveBufferBytes = 256 << 10

    package init(
        name: String, bindKey: String, host: String, port: Int,
        connectionLimit: Int = 64,
        idleTimeout: TimeAmount = .seconds(300),
        headerTimeout: TimeAmount = .seconds(10),
        bodyTimeout: TimeAmount = .seconds(30),
        maxHeaderBytes: Int = 64 * 1024,
        maxRequestLineBytes: Int = 16 * 1024,
        maxBodyBytes: Int64 = 1 << 30,
        shutdownGrace: TimeAmount = .seconds(3)
    ) {
        self.name = name
        self.bindKey = bindKey
        self.host = host
        self.port = port
        self.connectionLimit = connectionLimit
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGrace = shutdownGrace
    }

    func timeout(for deadline: HTTPConnectionStateMachine.Deadline) -> TimeAmount {
        switch deadline {
        case .idle: idleTimeout
        case .header: headerTimeout
        case .body: bodyTimeout
        }
    }
}
