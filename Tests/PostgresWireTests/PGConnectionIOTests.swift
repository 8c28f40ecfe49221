// Proves a PG connection's socket bridge (PGConnectionIO) on NIO's thread-safe testing
// channel: bytes reach the task in order whether they came before or after it asked, the end
// of input is seen after the bytes before it, reading pauses past the watermark and resumes
// when the task takes the bytes, and writes reach the socket.
import NIOCore
import NIOEmbedded
import PostgresWire
import Synchronization
import Testing

@Suite struct PGConnectionIOTests {
    /// Counts the reads the pipeline asks the socket for (it sits nearer the socket).
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let reads = Atomic<Int>(0)
        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    func connection() async throws -> (NIOAsyncTestingChannel, PGConnectionIO, ReadCounter) {
        let channel = NIOAsyncTestingChannel()
        let counter = ReadCounter()
        let io = PGConnectionIO(channel: channel)
        try await channel.pipeline.addHandler(counter)
        try await channel.pipeline.addHandler(io)
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 5432))
        return (channel, io, counter)
    }

    @Test func bytesReachTheTaskInOrder() async throws {
        let (channel, io, _) = try await connection()
        try await channel.writeInbound(ByteBuffer(string: "ab"))
        try await channel.writeInbound(ByteBuffer(string: "cd"))
        #expect(await io.next() == ByteBuffer(string: "abcd"))
        let waiting = Task { await io.next() }
        try await Task.sleep(for: .milliseconds(20))
        try await channel.writeInbound(ByteBuffer(string: "ef"))
        #expect(await waiting.value == ByteBuffer(string: "ef"))
        _ = try? await channel.finish()
    }

    @Test func theEndComesAfterTheBytesBeforeIt() async throws {
        let (channel, io, _) = try await connection()
        try await channel.writeInbound(ByteBuffer(string: "last"))
        try await channel.close()
        #expect(await io.next() == ByteBuffer(string: "last"))
        #expect(await io.next() == nil)
        #expect(await io.next() == nil)
    }

    @Test func aWaitingTaskSeesTheEnd() async throws {
        let (channel, io, _) = try await connection()
        let waiting = Task { await io.next() }
        try await Task.sleep(for: .milliseconds(20))
        try await channel.close()
        #expect(await waiting.value == nil)
    }

    @Test func readingPausesPastTheWatermarkUntilTheTaskTakesTheBytes() async throws {
        let (channel, io, counter) = try await connection()
        let before = counter.reads.load(ordering: .relaxed)
        channel.read()
        try await channel.testingEventLoop.executeInContext {}
        #expect(counter.reads.load(ordering: .relaxed) == before + 1)
        try await channel.writeInbound(ByteBuffer(repeating: 7, count: PGConnectionIO.highWatermark))
        channel.read()
        try await channel.testingEventLoop.executeInContext {}
        #expect(counter.reads.load(ordering: .relaxed) == before + 1, "a read past the watermark is held")
        #expect(await io.next()?.readableBytes == PGConnectionIO.highWatermark)
        try await channel.testingEventLoop.executeInContext {}
        #expect(counter.reads.load(ordering: .relaxed) == before + 2, "taking the bytes issues the held read")
        _ = try? await channel.finish()
    }

    @Test func writesReachTheSocketAndCloseEndsTheConnection() async throws {
        let (channel, io, _) = try await connection()
        try await io.write(ByteBuffer(string: "Z"))
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "Z"))
        await io.close()
        #expect(!channel.isActive)
        await #expect(throws: (any Error).self) { try await io.write(ByteBuffer(string: "late")) }
    }
}
