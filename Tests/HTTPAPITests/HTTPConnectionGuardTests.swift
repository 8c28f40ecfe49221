// Proves the HTTP pipeline (our guards around NIO's codec) enforces limits and deadlines and closes after errors, in memory.
@testable import HTTPAPI
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@Suite struct HTTPConnectionGuardTests {
    static let configuration = HTTPServerConfiguration(
        name: "test", bindKey: "test.bind", host: "127.0.0.1", port: 0,
        idleTimeout: .seconds(60), headerTimeout: .seconds(5), bodyTimeout: .seconds(7),
        maxHeaderBytes: 1024, maxRequestLineBytes: 512, maxBodyBytes: 100)

    static func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try HTTPServer.addProtocolHandlers(
            to: channel.pipeline.syncOperations, configuration: configuration,
            metrics: HTTPServerMetrics(server: "test"), logger: Logger(label: "test"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    /// Everything the server wrote, as text.
    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            text += String(buffer: buffer)
        }
        return text
    }

    static func forwarded(_ channel: EmbeddedChannel) throws -> [HTTPServerRequestPart] {
        var parts: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        return parts
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) {
        // A closed channel refuses input; tests check the state afterwards.
        _ = try? channel.writeInbound(ByteBuffer(string: text))
    }

    @Test func aRequestSplitAtEveryByteIsForwardedWhole() throws {
        let request = "POST /write?precision=n HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        let bytes = Array(request.utf8)
        for split in 1..<bytes.count {
            let channel = try Self.makeChannel()
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
            let parts = try Self.forwarded(channel)
            guard case .head(let head) = parts.first else {
                Issue.record("no head at split \(split)")
                continue
            }
            #expect(head.uri == "/write?precision=n")
            var body = ByteBuffer()
            for case .body(var chunk) in parts { body.writeBuffer(&chunk) }
            #expect(String(buffer: body) == "hello world", "split \(split)")
            #expect(parts.last.map { if case .end = $0 { true } else { false } } == true)
            #expect(channel.isActive)
        }
    }

    @Test func headersOverTheLimitAre431AndClose() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET / HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n")
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(!channel.isActive)
        #expect(try Self.forwarded(channel).isEmpty)
    }

    @Test func aRequestLineOverTheLimitIs414AndClose() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET /\(String(repeating: "a", count: 600)) HTTP/1.1\r\n\r\n")
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 414 URI Too Long\r\n"))
        #expect(!channel.isActive)
    }

    @Test func aDeclaredBodyOverTheLimitIs413BeforeReadingIt() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "POST /write HTTP/1.1\r\nContent-Length: 1000000000000\r\n\r\nabcde")
        let response = try Self.written(channel)
        #expect(response.hasPrefix("HTTP/1.1 413 Content Too Large\r\n"))
        #expect(response.lowercased().contains("connection: close"))
        #expect(!channel.isActive)
        #expect(try Self.forwarded(channel).isEmpty)
    }

    @Test func aChunkedBodyGrowingPastTheLimitIs413() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n\(String(repeating: "x", count: 80))\r\n")
        #expect(channel.isActive)
        Self.send(channel, "50\r\n\(String(repeating: "x", count: 80))\r\n")
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 413 "))
        #expect(!channel.isActive)
    }

    @Test(arguments: [
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{fc}\u{03}\u{03}\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ])
    func malformedRequestsAre400AndClose(request: String) throws {
        let channel = try Self.makeChannel()
        Self.send(channel, request)
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 400 Bad request\r\n"))
        #expect(!channel.isActive)
    }

    @Test func aSlowHeadIs408AtTheHeaderDeadline() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET / HTTP/1.1\r\nHost: ")
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        Self.send(channel, "x")
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(!channel.isActive)
    }

    @Test func aStalledBodyIs408AtTheBodyDeadline() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        Self.send(channel, "6")
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 408 "))
        #expect(!channel.isActive)
    }

    @Test func anIdleConnectionClosesSilently() throws {
        let channel = try Self.makeChannel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(try Self.written(channel).isEmpty)
    }

    @Test func expectContinueIsAnswered() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        #expect(try Self.written(channel) == "HTTP/1.1 100 Continue\r\n\r\n")
    }

    @Test func shutdownClosesAfterTheResponseInFlight() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET /ping HTTP/1.1\r\n\r\n")
        channel.pipeline.fireUserInboundEventTriggered(HTTPServerShutdownEvent())
        #expect(channel.isActive)
        let response = HTTPResponse(status: .noContent)
        try channel.writeOutbound(HTTPServerResponsePart.head(.init(version: .http1_1, status: response.status, headers: response.headers)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        let written = try Self.written(channel)
        #expect(written.hasPrefix("HTTP/1.1 204 OK\r\n"))
        #expect(written.lowercased().contains("connection: close"))
        #expect(!channel.isActive)
    }

    @Test func shutdownClosesAnIdleConnectionAtOnce() throws {
        let channel = try Self.makeChannel()
        channel.pipeline.fireUserInboundEventTriggered(HTTPServerShutdownEvent())
        #expect(!channel.isActive)
    }

    @Test func pipelinedRequestsAreAllForwarded() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        let heads = try Self.forwarded(channel).compactMap { part -> String? in
            if case .head(let head) = part { head.uri } else { nil }
        }
        #expect(heads == ["/a", "/b"])
    }

    @Test func http10WithoutKeepAliveClosesAfterTheResponse() throws {
        let channel = try Self.makeChannel()
        Self.send(channel, "GET /ping HTTP/1.0\r\n\r\n")
        try channel.writeOutbound(HTTPServerResponsePart.head(.init(version: .http1_0, status: .ok, headers: ["content-length": "0"])))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        #expect(!channel.isActive)
    }
}
