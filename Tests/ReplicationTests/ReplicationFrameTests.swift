// Proves the replication frame codec: every frame round-trips whole and split at every byte, and
// truncation, bit flips, oversized or undersized lengths, unknown types and versions are refused.
import NIOCore
import Replication
import Storage
import Testing

@Suite struct ReplicationFrameTests {
    static let frames: [ReplicationFrame] = [
        ReplicationFrame(epoch: 0, .hello(.init(clusterID: "c1", nodeID: "n1", durableTxn: 42))),
        ReplicationFrame(epoch: 3, .start(.init(fromTxn: 43, primaryCommittedTxn: 99, clusterID: "c1", nodeID: "p"))),
        ReplicationFrame(epoch: 3, .snapshotRequired(oldestTxn: 1000, reason: "WAL purged — ünïcode")),
        ReplicationFrame(epoch: 3, .walChunk(.init(firstTxn: 43, lastTxn: 50, rawLength: 5, compressed: [1, 2, 3, 4, 5]))),
        ReplicationFrame(epoch: 3, .keepalive(.init(committedTxn: 99, primaryTimeMicros: 1_700_000_000_000_000))),
        ReplicationFrame(epoch: 3, .status(ReplicaPositions(receivedTxn: 50, durableTxn: 49, appliedTxn: 48, timeMicros: -1))),
        ReplicationFrame(epoch: .max, .refused(reason: "")),
        ReplicationFrame(epoch: 2, .hello(.init(clusterID: "c1", nodeID: "n1", durableTxn: 42, lastEpoch: 1))),
        ReplicationFrame(epoch: 4, .peer(.init(
            clusterID: "c1", nodeID: "n2", role: "primary", writingEpoch: 4, committedTxn: 77, oldestTxn: 12, replicationPort: 9005))),
        ReplicationFrame(epoch: 4, .peerReply(.init(
            clusterID: "c1", nodeID: "n3", role: "replica", writingEpoch: 3, committedTxn: 70, replicationPort: 65535))),
        ReplicationFrame(epoch: 4, .switchover),
        ReplicationFrame(epoch: 4, .drained(committedTxn: 77)),
        ReplicationFrame(epoch: 4, .snapshotRequest(.init(clusterID: "c", nodeID: "n", durableTxn: 0))),
        ReplicationFrame(epoch: 4, .snapshotBegin(.init(
            txn: 99, files: 3, totalBytes: 12345, clusterID: "c", nodeID: "p", forks: [.init(epoch: 1, firstTxn: 5), .init(epoch: 4, firstTxn: 60)]))),
        ReplicationFrame(epoch: 4, .snapshotFile(path: "trades~1/2024-01-01/col0.d", size: 8)),
        ReplicationFrame(epoch: 4, .snapshotData([1, 2, 3, 4, 5, 6, 7, 8])),
        ReplicationFrame(epoch: 4, .snapshotFileEnd(crc: 0xDEAD_BEEF)),
        ReplicationFrame(epoch: 4, .snapshotEnd),
    ]

    static func encoded(_ frame: ReplicationFrame) -> [UInt8] {
        var buffer = ByteBuffer()
        ReplicationFrameCodec.encode(frame, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func decodeAll(_ bytes: [UInt8], splitAt split: Int? = nil) throws -> [ReplicationFrame] {
        var buffer = ByteBuffer()
        var frames: [ReplicationFrame] = []
        let pieces = split.map { [Array(bytes[..<$0]), Array(bytes[$0...])] } ?? [bytes]
        for piece in pieces {
            buffer.writeBytes(piece)
            while let frame = try ReplicationFrameCodec.decode(&buffer, maxFrameBytes: 1 << 20) { frames.append(frame) }
        }
        #expect(buffer.readableBytes == 0)
        return frames
    }

    @Test func everyFrameRoundTripsWholeAndSplitAtEveryByte() throws {
        let stream = Self.frames.flatMap(Self.encoded)
        #expect(try Self.decodeAll(stream) == Self.frames)
        for split in 0...stream.count {
            #expect(try Self.decodeAll(stream, splitAt: split) == Self.frames, "split at \(split)")
        }
    }

    @Test func aTruncatedFrameWaitsForMoreBytes() throws {
        let bytes = Self.encoded(Self.frames[3])
        for length in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<length])
            #expect(try ReplicationFrameCodec.decode(&buffer, maxFrameBytes: 1 << 20) == nil)
            #expect(buffer.readableBytes == length, "nothing is consumed from a partial frame")
        }
    }

    @Test func everyBitFlipIsRefusedOrChangesNothingSilently() throws {
        for frame in Self.frames {
            let bytes = Self.encoded(frame)
            for index in 0..<bytes.count {
                for bit in 0..<8 {
                    var damaged = bytes
                    damaged[index] ^= UInt8(1 << bit)
                    var buffer = ByteBuffer(bytes: damaged)
                    // A flip in the length field can make the frame look incomplete or too long;
                    // anywhere else the CRC (or a structural check) refuses it. It never decodes.
                    let decoded = try? ReplicationFrameCodec.decode(&buffer, maxFrameBytes: 1 << 20)
                    #expect(decoded == nil, "byte \(index) bit \(bit) of \(frame.typeName)")
                }
            }
        }
    }

    @Test func lengthsOutsideTheLimitsAreRefusedBeforeAllocation() {
        for length: UInt32 in [0, 1, 15, 1 << 20 + 1, .max] {
            var buffer = ByteBuffer()
            buffer.writeInteger(length, endianness: .little)
            #expect(throws: ReplicationFrameError.self) { try ReplicationFrameCodec.decode(&buffer, maxFrameBytes: 1 << 20) }
        }
    }

    @Test func unknownTypesVersionsAndFlagsAreRefused() throws {
        let bytes = Self.encoded(Self.frames[4])
        for (offset, value) in [(4, UInt8(99)), (5, UInt8(2)), (6, UInt8(1))] {
            var damaged = bytes
            damaged[offset] = value
            // Recompute the CRC so only the field itself is wrong.
            let crc = CRC32CForTests.checksum(damaged[4..<(damaged.count - 4)])
            damaged.replaceSubrange((damaged.count - 4)..., with: withUnsafeBytes(of: crc.littleEndian, Array.init))
            var buffer = ByteBuffer(bytes: damaged)
            #expect(throws: ReplicationFrameError.self, "offset \(offset)") {
                try ReplicationFrameCodec.decode(&buffer, maxFrameBytes: 1 << 20)
            }
        }
    }
}
