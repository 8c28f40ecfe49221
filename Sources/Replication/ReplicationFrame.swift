import NIOCore
import Storage

/// One message of the replication protocol (DESIGN §5), after TLS.
///
/// Every frame carries the sender's epoch. The frame layout (little-endian):
/// ```
///  0 length u32   bytes after this field (type … CRC)
///  4 type u8      5 version u8      6 flags u16 (0)      8 epoch u64
/// 16 body …       CRC32C u32 of bytes 4 ..< end-4
/// ```
/// The CRC makes a flipped bit on a plain-TCP test link (or a bug) a refused frame, not a
/// wrong txn number; WAL chunks carry LZ4 checksums and record CRCs on top.
package struct ReplicationFrame: Sendable, Equatable {
    package var epoch: UInt64
    package var body: Body

    package init(epoch: UInt64, _ body: Body) {
        self.epoch = epoch
        self.body = body
    }

    package enum Body: Sendable, Equatable {
        /// Replica → primary, first frame: who it is and where its WAL ends.
        case hello(Hello)
        /// Primary → replica: streaming starts at `fromTxn`.
        case start(Start)
        /// Primary → replica: the WAL the replica needs is gone or its history diverges.
        case snapshotRequired(oldestTxn: UInt64, reason: String)
        /// Primary → replica: committed WAL records `firstTxn…lastTxn` as one LZ4 frame.
        case walChunk(WALChunk)
        /// Primary → replica: nothing new; the primary's last committed txn and clock.
        case keepalive(Keepalive)
        /// Replica → primary: its positions.
        case status(ReplicaPositions)
        /// Either side: the connection is refused for `reason` and will be closed.
        case refused(reason: String)
        /// Any member → any member, first frame of a short connection: who the sender is and
        /// the newest epoch it has seen (the frame's epoch). Asks for the receiver's state and
        /// tells it of a newer epoch at once (a promotion announces itself this way; a primary
        /// that learns of a newer epoch fences itself).
        case peer(PeerState)
        /// The answer to `peer`: the receiver's state.
        case peerReply(PeerState)
        /// Replica → primary while streaming: a planned switchover to this replica; the
        /// primary stops taking writes and answers `drained`.
        case switchover
        /// Primary → replica: writes are stopped; `committedTxn` is the last txn there will be.
        case drained(committedTxn: UInt64)
        /// Replica → primary, first frame: send a snapshot of every table (bootstrap).
        case snapshotRequest(Hello)
        /// Primary → replica: a snapshot at `txn` follows, `files` files of `totalBytes` bytes.
        case snapshotBegin(SnapshotBegin)
        /// Primary → replica: the next file (path under `db/`, size); its data frames follow.
        case snapshotFile(path: String, size: UInt64)
        /// Primary → replica: bytes of the current file, in order.
        case snapshotData([UInt8])
        /// Primary → replica: the current file is complete; CRC32C of its bytes.
        case snapshotFileEnd(crc: UInt32)
        /// Primary → replica: every file was sent; continue with HELLO from the snapshot's txn.
        case snapshotEnd
    }

    package struct SnapshotBegin: Sendable, Equatable {
        package var txn: UInt64
        package var files: UInt32
        package var totalBytes: UInt64
        package var clusterID: String
        package var nodeID: String
        /// The sender's fork history (`EpochHistory`), as (epoch, first txn) pairs.
        package var forks: [EpochHistory.Fork]

        package init(txn: UInt64, files: UInt32, totalBytes: UInt64, clusterID: String, nodeID: String, forks: [EpochHistory.Fork]) {
            self.txn = txn
            self.files = files
            self.totalBytes = totalBytes
            self.clusterID = clusterID
            self.nodeID = nodeID
            self.forks = forks
        }
    }

    /// A member's state as the peer exchange carries it.
    package struct PeerState: Sendable, Equatable {
        package var clusterID: String
        package var nodeID: String
        /// `NodeRole.rawValue` of the sender.
        package var role: String
        /// The epoch the sender's WAL writes (its last fork point's).
        package var writingEpoch: UInt64
        package var committedTxn: UInt64
        /// The first txn still in the sender's WAL (an empty replica needs a snapshot when > 1).
        package var oldestTxn: UInt64
        /// The sender's replication port (`replication.bind.to`): with the connection's source
        /// address, where to follow it.
        package var replicationPort: UInt16

        package init(
            clusterID: String, nodeID: String, role: String, writingEpoch: UInt64, committedTxn: UInt64, oldestTxn: UInt64 = 1,
            replicationPort: UInt16
        ) {
            self.oldestTxn = oldestTxn
            self.clusterID = clusterID
            self.nodeID = nodeID
            self.role = role
            self.writingEpoch = writingEpoch
            self.committedTxn = committedTxn
            self.replicationPort = replicationPort
        }
    }

    package struct Hello: Sendable, Equatable {
        package var protocolVersion: UInt16
        package var clusterID: String
        package var nodeID: String
        /// Highest txn on the replica's stable storage.
        package var durableTxn: UInt64
        /// The epoch of the replica's history at `durableTxn` (its WAL's writing epoch): the
        /// primary checks it against its fork points (rejoin after a promotion).
        package var lastEpoch: UInt64

        package init(
            protocolVersion: UInt16 = ReplicationFrame.protocolVersion, clusterID: String, nodeID: String, durableTxn: UInt64,
            lastEpoch: UInt64 = 0
        ) {
            self.protocolVersion = protocolVersion
            self.clusterID = clusterID
            self.nodeID = nodeID
            self.durableTxn = durableTxn
            self.lastEpoch = lastEpoch
        }
    }

    package struct Start: Sendable, Equatable {
        package var fromTxn: UInt64
        package var primaryCommittedTxn: UInt64
        package var clusterID: String
        package var nodeID: String

        package init(fromTxn: UInt64, primaryCommittedTxn: UInt64, clusterID: String, nodeID: String) {
            self.fromTxn = fromTxn
            self.primaryCommittedTxn = primaryCommittedTxn
            self.clusterID = clusterID
            self.nodeID = nodeID
        }
    }

    package struct WALChunk: Sendable, Equatable {
        package var firstTxn: UInt64
        package var lastTxn: UInt64
        /// Bytes of the records once decompressed.
        package var rawLength: UInt32
        /// One LZ4 frame (`LZ4Frame`).
        package var compressed: [UInt8]

        package init(firstTxn: UInt64, lastTxn: UInt64, rawLength: UInt32, compressed: [UInt8]) {
            self.firstTxn = firstTxn
            self.lastTxn = lastTxn
            self.rawLength = rawLength
            self.compressed = compressed
        }
    }

    package struct Keepalive: Sendable, Equatable {
        package var committedTxn: UInt64
        package var primaryTimeMicros: Int64

        package init(committedTxn: UInt64, primaryTimeMicros: Int64) {
            self.committedTxn = committedTxn
            self.primaryTimeMicros = primaryTimeMicros
        }
    }

    /// The protocol spoken; a HELLO with another version is refused (forward compatibility is a
    /// versioned HELLO, not tolerance of unknown frames).
    package static let protocolVersion: UInt16 = 2
    /// Version of the frame layout itself.
    package static let frameVersion: UInt8 = 1
    /// Bytes around a body: length, type, version, flags, epoch, CRC.
    package static let overhead = 20
    /// Longest string field (ids, reasons).
    package static let maxStringBytes = 1024

    package var typeName: String {
        switch body {
        case .hello: "HELLO"
        case .start: "START"
        case .snapshotRequired: "SNAPSHOT_REQUIRED"
        case .walChunk: "WAL_CHUNK"
        case .keepalive: "KEEPALIVE"
        case .status: "STATUS"
        case .refused: "REFUSED"
        case .peer: "PEER"
        case .peerReply: "PEER_REPLY"
        case .switchover: "SWITCHOVER"
        case .drained: "DRAINED"
        case .snapshotRequest: "SNAPSHOT_REQUEST"
        case .snapshotBegin: "SNAPSHOT_BEGIN"
        case .snapshotFile: "SNAPSHOT_FILE"
        case .snapshotData: "SNAPSHOT_DATA"
        case .snapshotFileEnd: "SNAPSHOT_FILE_END"
        case .snapshotEnd: "SNAPSHOT_END"
        }
    }

    fileprivate var typeCode: UInt8 {
        switch body {
        case .hello: 1
        case .start: 2
        case .snapshotRequired: 3
        case .walChunk: 4
        case .keepalive: 5
        case .status: 6
        case .refused: 7
        case .peer: 8
        case .peerReply: 9
        case .switchover: 10
        case .drained: 11
        case .snapshotRequest: 12
        case .snapshotBegin: 13
        case .snapshotFile: 14
        case .snapshotData: 15
        case .snapshotFileEnd: 16
        case .snapshotEnd: 17
        }
    }
}

/// A replica's positions, as STATUS carries them and the primary's slot keeps them.
package struct ReplicaPositions: Sendable, Equatable, Codable {
    /// Highest txn received and verified.
    package var receivedTxn: UInt64
    /// Highest txn on the replica's stable storage.
    package var durableTxn: UInt64
    /// Highest txn applied to the replica's tables (visible to its queries).
    package var appliedTxn: UInt64
    /// The replica's clock when it sent these (µs since the epoch).
    package var timeMicros: Int64

    package init(receivedTxn: UInt64, durableTxn: UInt64, appliedTxn: UInt64, timeMicros: Int64) {
        self.receivedTxn = receivedTxn
        self.durableTxn = durableTxn
        self.appliedTxn = appliedTxn
        self.timeMicros = timeMicros
    }
}

/// Why bytes are not a frame. Any of these ends the connection (RELIABILITY §3.5 R1, R14).
package struct ReplicationFrameError: Error, Sendable, Equatable, CustomStringConvertible {
    package var reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { "bad replication frame: \(reason)" }
}

/// Encoding and decoding of frames as pure functions over bytes.
package enum ReplicationFrameCodec {
    /// Appends `frame` to `buffer`.
    package static func encode(_ frame: ReplicationFrame, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0), endianness: .little)  // patched below
        buffer.writeInteger(frame.typeCode)
        buffer.writeInteger(ReplicationFrame.frameVersion)
        buffer.writeInteger(UInt16(0), endianness: .little)
        buffer.writeInteger(frame.epoch, endianness: .little)
        switch frame.body {
        case .hello(let hello), .snapshotRequest(let hello):
            buffer.writeInteger(hello.protocolVersion, endianness: .little)
            writeString(hello.clusterID, into: &buffer)
            writeString(hello.nodeID, into: &buffer)
            buffer.writeInteger(hello.durableTxn, endianness: .little)
            if hello.protocolVersion >= 2 { buffer.writeInteger(hello.lastEpoch, endianness: .little) }
        case .start(let start):
            buffer.writeInteger(start.fromTxn, endianness: .little)
            buffer.writeInteger(start.primaryCommittedTxn, endianness: .little)
            writeString(start.clusterID, into: &buffer)
            writeString(start.nodeID, into: &buffer)
        case .snapshotRequired(let oldest, let reason):
            buffer.writeInteger(oldest, endianness: .little)
            writeString(reason, into: &buffer)
        case .walChunk(let chunk):
            buffer.writeInteger(chunk.firstTxn, endianness: .little)
            buffer.writeInteger(chunk.lastTxn, endianness: .little)
            buffer.writeInteger(chunk.rawLength, endianness: .little)
            buffer.writeBytes(chunk.compressed)
        case .keepalive(let keepalive):
            buffer.writeInteger(keepalive.committedTxn, endianness: .little)
            buffer.writeInteger(keepalive.primaryTimeMicros, endianness: .little)
        case .status(let positions):
            buffer.writeInteger(positions.receivedTxn, endianness: .little)
            buffer.writeInteger(positions.durableTxn, endianness: .little)
            buffer.writeInteger(positions.appliedTxn, endianness: .little)
            buffer.writeInteger(positions.timeMicros, endianness: .little)
        case .refused(let reason):
            writeString(reason, into: &buffer)
        case .peer(let state), .peerReply(let state):
            writeString(state.clusterID, into: &buffer)
            writeString(state.nodeID, into: &buffer)
            writeString(state.role, into: &buffer)
            buffer.writeInteger(state.writingEpoch, endianness: .little)
            buffer.writeInteger(state.committedTxn, endianness: .little)
            buffer.writeInteger(state.oldestTxn, endianness: .little)
            buffer.writeInteger(state.replicationPort, endianness: .little)
        case .switchover:
            break
        case .drained(let committed):
            buffer.writeInteger(committed, endianness: .little)
        case .snapshotBegin(let begin):
            buffer.writeInteger(begin.txn, endianness: .little)
            buffer.writeInteger(begin.files, endianness: .little)
            buffer.writeInteger(begin.totalBytes, endianness: .little)
            writeString(begin.clusterID, into: &buffer)
            writeString(begin.nodeID, into: &buffer)
            buffer.writeInteger(UInt32(begin.forks.count), endianness: .little)
            for fork in begin.forks {
                buffer.writeInteger(fork.epoch, endianness: .little)
                buffer.writeInteger(fork.firstTxn, endianness: .little)
            }
        case .snapshotFile(let path, let size):
            writeString(path, into: &buffer)
            buffer.writeInteger(size, endianness: .little)
        case .snapshotData(let bytes):
            buffer.writeBytes(bytes)
        case .snapshotFileEnd(let crc):
            buffer.writeInteger(crc, endianness: .little)
        case .snapshotEnd:
            break
        }
        let crc = buffer.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex + 4)...]))
        }
        buffer.writeInteger(crc, endianness: .little)
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start, endianness: .little)
    }

    /// Decodes one frame from the front of `buffer` if it is all there (consuming it), `nil`
    /// when more bytes are needed. A declared length over `maxFrameBytes` is refused before
    /// anything is allocated.
    package static func decode(_ buffer: inout ByteBuffer, maxFrameBytes: Int) throws(ReplicationFrameError) -> ReplicationFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        guard Int(length) >= ReplicationFrame.overhead - 4 else {
            throw ReplicationFrameError("declared length \(length) is shorter than a frame header")
        }
        guard Int(length) <= maxFrameBytes else {
            throw ReplicationFrameError("declared length \(length) exceeds the limit of \(maxFrameBytes) bytes")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        let frameStart = buffer.readerIndex + 4
        let bodyEnd = frameStart + Int(length) - 4
        let stored = buffer.getInteger(at: bodyEnd, endianness: .little, as: UInt32.self)!
        let actual = buffer.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4..<(4 + Int(length) - 4)]))
        }
        guard stored == actual else { throw ReplicationFrameError("frame checksum mismatch") }
        var frame = buffer.getSlice(at: frameStart, length: Int(length) - 4)!
        buffer.moveReaderIndex(forwardBy: 4 + Int(length))
        let type: UInt8 = frame.readInteger()!
        let version: UInt8 = frame.readInteger()!
        let flags: UInt16 = frame.readInteger(endianness: .little)!
        let epoch: UInt64 = frame.readInteger(endianness: .little)!
        guard version == ReplicationFrame.frameVersion else { throw ReplicationFrameError("frame version \(version) is not supported") }
        guard flags == 0 else { throw ReplicationFrameError("reserved flags \(flags) are set") }
        let body: ReplicationFrame.Body
        switch type {
        case 1, 12:
            let protocolVersion = try integer(&frame, UInt16.self)
            let cluster = try string(&frame)
            let node = try string(&frame)
            let durable = try integer(&frame, UInt64.self)
            // Protocol 1 had no last epoch: such a HELLO still decodes, so the primary can
            // answer REFUSED naming the version instead of a bad-frame close.
            let lastEpoch = protocolVersion >= 2 ? try integer(&frame, UInt64.self) : 0
            let hello = ReplicationFrame.Hello(
                protocolVersion: protocolVersion, clusterID: cluster, nodeID: node, durableTxn: durable, lastEpoch: lastEpoch)
            body = type == 1 ? .hello(hello) : .snapshotRequest(hello)
        case 2:
            let from = try integer(&frame, UInt64.self)
            let committed = try integer(&frame, UInt64.self)
            body = .start(ReplicationFrame.Start(
                fromTxn: from, primaryCommittedTxn: committed, clusterID: try string(&frame), nodeID: try string(&frame)))
        case 3:
            let oldest = try integer(&frame, UInt64.self)
            body = .snapshotRequired(oldestTxn: oldest, reason: try string(&frame))
        case 4:
            let first = try integer(&frame, UInt64.self)
            let last = try integer(&frame, UInt64.self)
            let raw = try integer(&frame, UInt32.self)
            guard first >= 1, last >= first else { throw ReplicationFrameError("WAL_CHUNK txn range \(first)…\(last) is invalid") }
            body = .walChunk(ReplicationFrame.WALChunk(
                firstTxn: first, lastTxn: last, rawLength: raw, compressed: frame.readBytes(length: frame.readableBytes)!))
        case 5:
            let committed = try integer(&frame, UInt64.self)
            body = .keepalive(ReplicationFrame.Keepalive(committedTxn: committed, primaryTimeMicros: try integer(&frame, Int64.self)))
        case 6:
            let received = try integer(&frame, UInt64.self)
            let durable = try integer(&frame, UInt64.self)
            let applied = try integer(&frame, UInt64.self)
            body = .status(ReplicaPositions(
                receivedTxn: received, durableTxn: durable, appliedTxn: applied, timeMicros: try integer(&frame, Int64.self)))
        case 7:
            body = .refused(reason: try string(&frame))
        case 8, 9:
            let cluster = try string(&frame)
            let node = try string(&frame)
            let role = try string(&frame)
            let epoch = try integer(&frame, UInt64.self)
            let committed = try integer(&frame, UInt64.self)
            let oldest = try integer(&frame, UInt64.self)
            let state = ReplicationFrame.PeerState(
                clusterID: cluster, nodeID: node, role: role, writingEpoch: epoch, committedTxn: committed, oldestTxn: oldest,
                replicationPort: try integer(&frame, UInt16.self))
            body = type == 8 ? .peer(state) : .peerReply(state)
        case 10:
            body = .switchover
        case 11:
            body = .drained(committedTxn: try integer(&frame, UInt64.self))
        case 13:
            let txn = try integer(&frame, UInt64.self)
            let files = try integer(&frame, UInt32.self)
            let total = try integer(&frame, UInt64.self)
            let cluster = try string(&frame)
            let node = try string(&frame)
            let count = try integer(&frame, UInt32.self)
            guard Int(count) <= EpochHistory.maxForks, Int(count) * 16 <= frame.readableBytes else {
                throw ReplicationFrameError("SNAPSHOT_BEGIN declares \(count) fork points")
            }
            var forks: [EpochHistory.Fork] = []
            for _ in 0..<count {
                let epoch = try integer(&frame, UInt64.self)
                forks.append(EpochHistory.Fork(epoch: epoch, firstTxn: try integer(&frame, UInt64.self)))
            }
            body = .snapshotBegin(ReplicationFrame.SnapshotBegin(
                txn: txn, files: files, totalBytes: total, clusterID: cluster, nodeID: node, forks: forks))
        case 14:
            let path = try string(&frame)
            body = .snapshotFile(path: path, size: try integer(&frame, UInt64.self))
        case 15:
            body = .snapshotData(frame.readBytes(length: frame.readableBytes)!)
        case 16:
            body = .snapshotFileEnd(crc: try integer(&frame, UInt32.self))
        case 17:
            body = .snapshotEnd
        default:
            throw ReplicationFrameError("unknown frame type \(type)")
        }
        guard frame.readableBytes == 0 else {
            throw ReplicationFrameError("\(frame.readableBytes) bytes after the body of a type \(type) frame")
        }
        return ReplicationFrame(epoch: epoch, body)
    }

    private static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        var utf8 = Array(text.utf8.prefix(ReplicationFrame.maxStringBytes))
        // Never cut a multi-byte character: drop continuation bytes left at the end.
        while utf8.count == ReplicationFrame.maxStringBytes, let last = utf8.last, last & 0xC0 == 0x80 { utf8.removeLast() }
        if utf8.count == ReplicationFrame.maxStringBytes, let last = utf8.last, last >= 0xC0 { utf8.removeLast() }
        buffer.writeInteger(UInt16(utf8.count), endianness: .little)
        buffer.writeBytes(utf8)
    }

    private static func string(_ frame: inout ByteBuffer) throws(ReplicationFrameError) -> String {
        let length = Int(try integer(&frame, UInt16.self))
        guard length <= ReplicationFrame.maxStringBytes else { throw ReplicationFrameError("string of \(length) bytes is too long") }
        guard let bytes = frame.readBytes(length: length) else { throw ReplicationFrameError("string runs past the frame") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ReplicationFrameError("string is not UTF-8") }
        return text
    }

    private static func integer<T: FixedWidthInteger>(_ frame: inout ByteBuffer, _: T.Type) throws(ReplicationFrameError) -> T {
        guard let value = frame.readInteger(endianness: .little, as: T.self) else {
            throw ReplicationFrameError("frame body is too short")
        }
        return value
    }
}
