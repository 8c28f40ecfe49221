import NIOCore
import NIOSSL

/// First in a connection's pipeline when TLS is configured (`pg.tls.*`): reads the first
/// 8-byte packets. GSSENCRequest is answered `N`; SSLRequest is answered `S` and the handler
/// hands the socket to TLS — on the event loop, in one step, so no byte read after the `S`
/// can slip past TLS. Bytes that arrived together with the SSLRequest were sent before the
/// client could know the answer: they are refused (CVE-2021-23214) with FATAL 08P01. Any
/// other first packet passes through untouched and the handler leaves.
package final class PGTLSNegotiation: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private let context: NIOSSLContext
    private var buffered = ByteBuffer()
    private var done = false

    package init(context: NIOSSLContext) {
        self.context = context
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !done else { return context.fireChannelRead(data) }
        buffered.writeBuffer(&bytes)
        while !done, buffered.readableBytes >= 8 {
            let length = buffered.getInteger(at: buffered.readerIndex, as: Int32.self)!
            let code = buffered.getInteger(at: buffered.readerIndex + 4, as: Int32.self)!
            guard length == 8, code == PGStartupRequest.sslCode || code == PGStartupRequest.gssEncCode else {
                passThrough(context: context)
                return
            }
            buffered.moveReaderIndex(forwardBy: 8)
            if code == PGStartupRequest.gssEncCode {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [UInt8(ascii: "N")])), promise: nil)
                continue
            }
            done = true
            guard buffered.readableBytes == 0 else {
                var out = ByteBuffer()
                PGBackendMessage.error(PGErrorFields(severity: "FATAL", sqlState: "08P01", message: "received unencrypted data after SSL request"))
                    .write(into: &out)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [UInt8(ascii: "S")])), promise: nil)
            do {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: self.context), position: .before(self))
                context.pipeline.syncOperations.removeHandler(self, promise: nil)
            } catch {
                context.close(promise: nil)
            }
        }
        if !done, buffered.readableBytes > 0, !Self.mayBeRequest(buffered) { passThrough(context: context) }
    }

    /// Whether the bytes so far could still be the start of an 8-byte request.
    private static func mayBeRequest(_ bytes: ByteBuffer) -> Bool {
        let prefix: [UInt8] = [0, 0, 0, 8]
        return zip(bytes.readableBytesView, prefix).allSatisfy { $0 == $1 }
    }

    private func passThrough(context: ChannelHandlerContext) {
        done = true
        let rest = buffered
        buffered = ByteBuffer()
        // Forward first: once removed, this context no longer reaches the handlers after it.
        context.fireChannelRead(wrapInboundOut(rest))
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}
