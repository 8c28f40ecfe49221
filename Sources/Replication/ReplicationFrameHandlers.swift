import NIOCore

/// Bytes → frames on a replication channel; a bad frame closes the channel (RELIABILITY §3.5 R1, R14).
final class ReplicationFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ReplicationFrame

    private let maxFrameBytes: Int

    init(maxFrameBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try ReplicationFrameCodec.decode(&buffer, maxFrameBytes: maxFrameBytes) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A frame cut off by the peer's close is discarded (R2): only whole frames count.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Frames → bytes.
final class ReplicationFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = ReplicationFrame

    func encode(data: ReplicationFrame, out: inout ByteBuffer) throws {
        ReplicationFrameCodec.encode(data, into: &out)
    }
}
