/// One connection to the primary as the replica sees it, as a value: HELLO is sent, START
/// (or a refusal) must follow, then chunks must continue the WAL exactly and never come from
/// an older epoch. The driver feeds it frames; it says what to do with each.
package struct ReplicaStateMachine: Sendable {
    package enum State: Sendable, Equatable {
        case awaitingStart
        /// `nextTxn` is the first txn the replica does not hold yet.
        case streaming(nextTxn: UInt64)
        case closed
    }

    package enum Action: Sendable, Equatable {
        /// Streaming starts; adopt `start.clusterID` if this node has not joined a cluster yet.
        case started(ReplicationFrame.Start)
        /// Verify and write the chunk.
        case write(ReplicationFrame.WALChunk)
        /// A chunk the replica already holds whole (a replay): compare it with the local copy and
        /// skip it when identical (RELIABILITY §3.5 R6); different bytes mean the histories
        /// diverged (R7).
        case replay(ReplicationFrame.WALChunk)
        /// The primary is alive; its committed txn and clock.
        case keepalive(ReplicationFrame.Keepalive)
        /// The primary stopped writes for a planned switchover; `txn` is its last.
        case drained(UInt64)
    }

    package private(set) var state: State = .awaitingStart
    /// The newest epoch this node has seen; frames from older epochs are refused (R9).
    package private(set) var newestEpoch: UInt64
    private let durableTxn: UInt64

    /// A machine for a connection that sent HELLO with `durableTxn`.
    package init(durableTxn: UInt64, newestEpoch: UInt64) {
        self.durableTxn = durableTxn
        self.newestEpoch = newestEpoch
    }

    package mutating func receive(_ frame: ReplicationFrame) throws(ReplicationProtocolError) -> Action {
        guard frame.epoch >= newestEpoch else {
            state = .closed
            throw .staleEpoch(frame: frame.epoch, newest: newestEpoch)
        }
        newestEpoch = frame.epoch
        switch (state, frame.body) {
        case (.awaitingStart, .start(let start)):
            guard start.fromTxn == durableTxn + 1 else {
                state = .closed
                throw .unexpectedFrame("START from txn \(start.fromTxn) after HELLO at txn \(durableTxn)")
            }
            state = .streaming(nextTxn: start.fromTxn)
            return .started(start)
        case (.awaitingStart, .snapshotRequired(_, let reason)):
            state = .closed
            throw .snapshotRequired(reason)
        case (_, .refused(let reason)):
            state = .closed
            throw .refused(reason)
        case (.streaming(let next), .walChunk(let chunk)):
            if chunk.lastTxn < next { return .replay(chunk) }
            guard chunk.firstTxn <= next else {
                state = .closed
                throw .gap(expected: next, got: chunk.firstTxn)
            }
            return .write(chunk)
        case (.streaming, .keepalive(let keepalive)):
            return .keepalive(keepalive)
        case (.streaming, .drained(let txn)):
            return .drained(txn)
        case (.streaming, .snapshotRequired(_, let reason)):
            state = .closed
            throw .snapshotRequired(reason)
        default:
            let phase = state == .awaitingStart ? "before START" : "while streaming"
            state = .closed
            throw .unexpectedFrame("\(frame.typeName) \(phase)")
        }
    }

    /// Records that the chunk's txns are now in the WAL.
    package mutating func wrote(through txn: UInt64) {
        if case .streaming(let next) = state, txn + 1 > next { state = .streaming(nextTxn: txn + 1) }
    }
}
