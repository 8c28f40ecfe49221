// Proves WAL record and segment headers round-trip and that damage or truncation is never read as a valid record.
import Storage
import Testing

@Suite struct WALRecordTests {
    static func record(payload: [UInt8], txn: UInt64 = 42) -> [UInt8] {
        var bytes: [UInt8] = []
        payload.withUnsafeBytes {
            WALRecordCodec.encode(kind: .rowBatch, txn: txn, epoch: 3, commitTimeMicros: 1_700_000_000_000_000, payload: $0, into: &bytes)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Result<WALRecordHeader, WALRecordCodec.Invalid> {
        bytes.withUnsafeBytes { WALRecordCodec.decode($0, at: 0, maxPayloadBytes: 1 << 20) }
    }

    @Test func roundTrips() throws {
        let bytes = Self.record(payload: Array("hello".utf8))
        let header = try Self.decode(bytes).get()
        #expect(header.kind == .rowBatch && header.txn == 42 && header.epoch == 3)
        #expect(header.payloadLength == 5 && header.recordSize == bytes.count)
        #expect(header.commitTimeMicros == 1_700_000_000_000_000)
    }

    @Test func everyBitFlipIsDetected() {
        let bytes = Self.record(payload: Array("payload bytes".utf8))
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                if case .success = Self.decode(damaged) { Issue.record("flip at byte \(index) bit \(bit) accepted") }
            }
        }
    }

    @Test func everyTruncationIsIncomplete() {
        let bytes = Self.record(payload: Array("0123456789".utf8))
        for length in 1..<bytes.count {
            let result = Self.decode(Array(bytes[..<length]))
            #expect(result == .failure(.incomplete), "length \(length)")
        }
    }

    @Test func zeroesEndTheLog() {
        #expect(Self.decode([UInt8](repeating: 0, count: 100)) == .failure(.zeroes))
    }

    @Test func anOversizedLengthIsDamage() {
        var bytes = Self.record(payload: [1, 2, 3])
        bytes[8] = 0xFF
        bytes[9] = 0xFF
        bytes[10] = 0xFF
        guard case .failure(.damaged) = Self.decode(bytes) else {
            Issue.record("oversized length not refused")
            return
        }
    }

    @Test func segmentHeadersRoundTripAndRefuseEveryBitFlip() throws {
        let header = WALSegmentHeader(firstTxn: 1_000, epoch: 2)
        let bytes = header.encoded()
        #expect(bytes.count == WALSegmentHeader.size)
        #expect(try bytes.withUnsafeBytes { try WALSegmentHeader.decode($0).get() } == header)
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                if case .success = damaged.withUnsafeBytes({ WALSegmentHeader.decode($0) }) {
                    Issue.record("flip at byte \(index) bit \(bit) accepted")
                }
            }
        }
    }

    @Test func segmentNames() {
        #expect(WALSegmentFiles.name(firstTxn: 1) == "00000000000000000001.wal")
        #expect(WALSegmentFiles.firstTxn(ofName: "00000000000000000042.wal") == 42)
        #expect(WALSegmentFiles.firstTxn(ofName: "00000000000000000042.wal.tmp") == nil)
        #expect(WALSegmentFiles.firstTxn(ofName: "0000000000000000004x.wal") == nil)
    }
}
