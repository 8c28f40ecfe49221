import NIOCore
import NIOHTTP1

/// A request body as it streams in. Endpoints that need the body read it chunk by chunk (ILP
/// parses while bytes arrive) or collect it under a cap; if they leave some unread, the server
/// closes the connection after the response.
///
/// Not `Sendable`: it belongs to the task serving the connection.
package final class HTTPRequestBody {
    private let reader: HTTPRequestReader

    init(reader: HTTPRequestReader) {
        self.reader = reader
    }

    /// The next piece of the body, or `nil` at its end.
    package func next() async throws -> ByteBuffer? {
        try await reader.nextBodyChunk()
    }

    /// The whole body; throws `HTTPBodyTooLargeError` past `maxBytes`.
    package func collect(maxBytes: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        while var chunk = try await next() {
            guard collected.readableBytes + chunk.readableBytes <= maxBytes else {
                throw HTTPBodyTooLargeError(limit: maxBytes)
            }
            collected.writeBuffer(&chunk)
        }
        return collected
    }
}

/// A body was larger than the endpoint accepts.
package struct HTTPBodyTooLargeError: Error, Sendable {
    package var limit: Int
}

/// Pulls request parts off a connection: heads for the server loop, body chunks for endpoints.
final class HTTPRequestReader {
    private var iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    private var inBody = false

    /// The current request's body has not been read to its end.
    var isInBody: Bool { inBody }

    init(_ iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator) {
        self.iterator = iterator
    }

    /// The next request's head, skipping whatever is left of the previous body.
    func nextHead() async throws -> HTTPRequestHead? {
        while let part = try await iterator.next() {
            if case .head(let head) = part {
                inBody = true
                return head
            }
        }
        return nil
    }

    /// Consumes the end marker of a request without a body.
    func skipToEnd() async throws {
        while try await nextBodyChunk() != nil {}
    }

    func nextBodyChunk() async throws -> ByteBuffer? {
        guard inBody else { return nil }
        while let part = try await iterator.next() {
            switch part {
            case .body(let buffer):
                return buffer
            case .end:
                inBody = false
                return nil
            case .head:
                preconditionFailure("request head inside a body: the decoder emitted parts out of order")
            }
        }
        inBody = false
        return nil
    }
}
