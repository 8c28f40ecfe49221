/// How far a position trails the primary's committed txn, in txns, bytes and seconds. `nil`
/// means "unknown" — never reported as 0 (DESIGN §5).
package struct ReplicationLag: Sendable, Equatable {
    package var txns: UInt64?
    package var bytes: UInt64?
    package var seconds: Double?

    package static let zero = ReplicationLag(txns: 0, bytes: 0, seconds: 0)
    package static let unknown = ReplicationLag(txns: nil, bytes: nil, seconds: nil)

    package init(txns: UInt64?, bytes: UInt64?, seconds: Double?) {
        self.txns = txns
        self.bytes = bytes
        self.seconds = seconds
    }
}

/// Chunks sent (primary) or received (replica) whose txns are not yet applied everywhere that
/// matters: the evidence lag is measured from. PostgreSQL measures lag as the age of the
/// oldest WAL the standby has not confirmed; here that is the commit time of the first txn
/// past a position. One entry per chunk bounds memory; inside a chunk the first record's
/// commit time is used, which can overstate lag by the chunk's time span (milliseconds) and
/// never understates it.
package struct ShippedChunks: Sendable {
    package struct Entry: Sendable, Equatable {
        var firstTxn: UInt64
        var lastTxn: UInt64
        var firstCommitMicros: Int64
        /// Raw bytes shipped before this chunk.
        var bytesBefore: UInt64
    }

    private var entries: [Entry] = []
    private var head = 0
    /// Raw bytes shipped in total.
    package private(set) var totalBytes: UInt64 = 0
    private let capacity: Int

    package init(capacity: Int = 1 << 16) {
        self.capacity = capacity
    }

    package mutating func append(firstTxn: UInt64, lastTxn: UInt64, firstCommitMicros: Int64, bytes: Int) {
        entries.append(Entry(firstTxn: firstTxn, lastTxn: lastTxn, firstCommitMicros: firstCommitMicros, bytesBefore: totalBytes))
        totalBytes += UInt64(bytes)
        // Beyond capacity the oldest evidence goes: lag past it reads as unknown, not as 0.
        if entries.count - head > capacity { head += 1 }
        compact()
    }

    /// Forgets chunks wholly at or below `txn` (every consumer has applied them).
    package mutating func release(through txn: UInt64) {
        while head < entries.count, entries[head].lastTxn <= txn { head += 1 }
        compact()
    }

    /// Forgets everything (a new connection ships from scratch).
    package mutating func reset() {
        entries = []
        head = 0
    }

    private mutating func compact() {
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// The lag of `position` behind `committed` at `nowMicros` (on the primary's clock).
    package func lag(of position: UInt64, committed: UInt64, nowMicros: Int64) -> ReplicationLag {
        if position >= committed { return .zero }
        var index = head
        while index < entries.count, entries[index].lastTxn <= position { index += 1 }
        guard index < entries.count, entries[index].firstTxn <= position + 1 else {
            // The first missing txn was never shipped (or its evidence was dropped): how old it
            // is cannot be known here.
            return ReplicationLag(txns: committed - position, bytes: nil, seconds: nil)
        }
        let entry = entries[index]
        let seconds = max(0, Double(nowMicros - entry.firstCommitMicros) / 1_000_000)
        return ReplicationLag(txns: committed - position, bytes: totalBytes - entry.bytesBefore, seconds: seconds)
    }
}
