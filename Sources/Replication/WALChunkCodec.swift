import Storage
import Synchronization

/// WAL chunks: a run of whole WAL records, exactly as the primary's WAL stores them, in one
/// LZ4 frame. The replica verifies every layer before a byte reaches its WAL (RELIABILITY
/// §3.5 R3–R8): the frame's checksums and declared sizes, then each record's magic, version,
/// length and CRC32C, then the txn numbers (dense, exactly `firstTxn…lastTxn`) and epochs
/// (never newer than the frame that carried them).
package enum WALChunkCodec {
    /// Compresses `records` (whole records `firstTxn…lastTxn`) into a chunk.
    package static func make(records: [UInt8], firstTxn: UInt64, lastTxn: UInt64) throws(LZ4FrameError) -> ReplicationFrame.WALChunk {
        ReplicationFrame.WALChunk(
            firstTxn: firstTxn, lastTxn: lastTxn, rawLength: UInt32(records.count),
            compressed: try LZ4Frame.compress(records))
    }

    /// A chunk whose every layer checked out: the records' bytes and what lag accounting needs.
    package struct Verified: Sendable {
        /// The records, each verified, with their headers.
        package var run: VerifiedWALRecords
        package var records: [UInt8] { run.bytes }
        package var firstTxn: UInt64
        package var lastTxn: UInt64
        /// Commit time (µs, primary's clock) of each record, first to last.
        package var commitTimes: [Int64]
    }

    /// Decompresses and verifies `chunk`, received in a frame of epoch `frameEpoch`.
    package static func verify(
        _ chunk: ReplicationFrame.WALChunk, frameEpoch: UInt64, maxRawBytes: Int, maxRecordBytes: Int
    ) throws(ReplicationProtocolError) -> Verified {
        guard Int(chunk.rawLength) <= maxRawBytes else {
            throw .corruptChunk("declared raw length \(chunk.rawLength) exceeds the cap of \(maxRawBytes) bytes")
        }
        let records: [UInt8]
        do {
            records = try LZ4Frame.decompress(chunk.compressed, maxDecodedBytes: Int(chunk.rawLength))
        } catch {
            throw .corruptChunk("\(error)")
        }
        guard records.count == Int(chunk.rawLength) else {
            throw .corruptChunk("decoded \(records.count) bytes but the chunk declares \(chunk.rawLength)")
        }
        var commitTimes: [Int64] = []
        commitTimes.reserveCapacity(Int(min(chunk.lastTxn - chunk.firstTxn + 1, 1 << 16)))
        var expected = chunk.firstTxn
        let run = try VerifiedWALRecords.verify(
            records, maxRecordBytes: maxRecordBytes,
            invalid: { offset, reason in .corruptChunk("record at byte \(offset) (txn \(expected)) is invalid: \(reason)") },
            check: { (header, offset) throws(ReplicationProtocolError) in
                guard header.txn == expected else {
                    throw .corruptChunk("record at byte \(offset) is txn \(header.txn), expected \(expected)")
                }
                guard header.epoch <= frameEpoch else {
                    throw .corruptChunk("txn \(header.txn) has epoch \(header.epoch), newer than its frame's \(frameEpoch)")
                }
                commitTimes.append(header.commitTimeMicros)
                expected += 1
            })
        guard expected == chunk.lastTxn + 1 else {
            throw .corruptChunk("chunk declares txns \(chunk.firstTxn)…\(chunk.lastTxn) but holds \(chunk.firstTxn)…\(expected - 1)")
        }
        return Verified(run: run, firstTxn: chunk.firstTxn, lastTxn: chunk.lastTxn, commitTimes: commitTimes)
    }
}

/// Chunks recently compressed by any replica's session, so replicas at the same position share
/// one compression (LZ4 was ~18 % of the primary's CPU with two replicas, one copy each).
/// Committed WAL records never change, so a chunk starting at a txn is valid for any reader there.
package final class CompressedChunkCache: Sendable {
    package struct Entry: Sendable {
        package var chunk: ReplicationFrame.WALChunk
        package var firstCommitMicros: Int64

        package init(chunk: ReplicationFrame.WALChunk, firstCommitMicros: Int64) {
            self.chunk = chunk
            self.firstCommitMicros = firstCommitMicros
        }
    }

    private let state = PlainMutex<(entries: [Entry], claims: [UInt64: UInt64])>(([], [:]))
    private let capacity: Int

    package init(capacity: Int = 16) {
        self.capacity = capacity
    }

    package enum Lookup: Sendable {
        case hit(Entry)
        /// Another session is making the chunk that starts here: wait a moment and ask again.
        case inProgress
        /// Nobody has it: the caller now makes it (and must `insert` or `release`).
        case make
    }

    /// The chunk starting at `txn`, or a claim to make it. Replicas at the same position ask at
    /// the same moment (woken by the same commit); single-flight makes one of them compress.
    package func lookup(startingAt txn: UInt64, claimant: UInt64) -> Lookup {
        state.withLock { state in
            if let entry = state.entries.last(where: { $0.chunk.firstTxn == txn }) { return .hit(entry) }
            if let owner = state.claims[txn], owner != claimant { return .inProgress }
            state.claims[txn] = claimant
            return .make
        }
    }

    package func insert(_ entry: Entry) {
        state.withLock { state in
            state.claims[entry.chunk.firstTxn] = nil
            state.entries.removeAll { $0.chunk.firstTxn == entry.chunk.firstTxn }
            state.entries.append(entry)
            if state.entries.count > capacity { state.entries.removeFirst(state.entries.count - capacity) }
        }
    }

    /// Gives up a claim without a chunk (nothing was committed after all, or the read failed).
    package func release(startingAt txn: UInt64, claimant: UInt64) {
        state.withLock { state in
            if state.claims[txn] == claimant { state.claims[txn] = nil }
        }
    }
}
