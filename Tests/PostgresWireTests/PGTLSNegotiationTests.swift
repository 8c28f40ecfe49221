// Proves the pre-startup TLS negotiation handler on an EmbeddedChannel: GSS refused, SSL
// accepted with TLS taking over, plaintext sent with the SSLRequest refused, other first
// packets passed through whole (split anywhere).
import NIOCore
import NIOEmbedded
import NIOSSL
import PostgresWire
import Testing

@Suite struct PGTLSNegotiationTests {
    static let ssl = Frontend.int32(8) + Frontend.int32(80_877_103)
    static let gss = Frontend.int32(8) + Frontend.int32(80_877_104)

    func channel() throws -> EmbeddedChannel {
        // The handshake is not exercised here, so any context will do.
        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(PGTLSNegotiation(context: context))
        return channel
    }

    func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
        return bytes
    }

    func read(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
        return bytes
    }

    @Test func gssIsRefusedAndSSLHandsOverToTLS() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(bytes: Self.gss))
        #expect(try written(channel) == [UInt8(ascii: "N")])
        try channel.writeInbound(ByteBuffer(bytes: Self.ssl))
        #expect(try written(channel) == [UInt8(ascii: "S")])
        #expect(throws: Never.self) { try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self) }
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: PGTLSNegotiation.self) }
        #expect(try read(channel).isEmpty)
        _ = try? channel.finish()
    }

    @Test func plaintextAfterTheSSLRequestIsRefused() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(bytes: Self.ssl + Frontend.startup([("user", "admin")])))
        let answer = try written(channel)
        #expect(answer.first == UInt8(ascii: "E"))
        #expect(String(decoding: answer, as: UTF8.self).contains("received unencrypted data after SSL request"))
        #expect(try read(channel).isEmpty)
        #expect(!channel.isActive)
    }

    @Test func aStartupPacketPassesThroughWholeWhereverItIsSplit() throws {
        let startup = Frontend.startup([("user", "admin"), ("database", "qdb")]) + Frontend.frame("Q", Frontend.cstring("select 1"))
        for split in 1..<startup.count {
            let channel = try channel()
            try channel.writeInbound(ByteBuffer(bytes: Array(startup[..<split])))
            try channel.writeInbound(ByteBuffer(bytes: Array(startup[split...])))
            #expect(try read(channel) == startup, "split at \(split)")
            #expect(try written(channel).isEmpty)
            _ = try? channel.finish()
        }
    }
}
