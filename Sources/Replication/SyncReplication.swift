import Storage
import Synchronization

/// Synchronous replication (`replication.sync.mode` ≠ `async`): a commit, durable on the
/// primary, is acknowledged to its client only when `replication.sync.count` replicas report
/// the mode's position at or past its txn (PostgreSQL's `ANY n` quorum). Waiting is bounded by
/// `replication.sync.timeout`; past it the write fails with `notReplicated` — never a silent
/// downgrade to async. A node that is fenced fails every waiter at once.
package final class SyncReplication: CommitGate {
    package let mode: ReplicationConfiguration.SyncMode
    package let count: Int
    private let timeoutMillis: Int
    private let state = PlainMutex(State())

    private struct Waiter {
        var txn: UInt64
        var continuation: CheckedContinuation<String?, Never>
    }

    private struct State {
        /// Latest reported position at the mode's level, per replica.
        var positions: [String: UInt64] = [:]
        /// Highest txn `count` replicas reached.
        var quorumTxn: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        /// Set once the node is fenced: nothing more is acknowledged.
        var refusal: String?

        mutating func recompute(count: Int) {
            let sorted = positions.values.sorted(by: >)
            quorumTxn = sorted.count >= count ? sorted[count - 1] : 0
        }
    }

    package init(mode: ReplicationConfiguration.SyncMode, count: Int, timeoutMillis: Int) {
        self.mode = mode
        self.count = max(1, count)
        self.timeoutMillis = timeoutMillis
    }

    /// The position at this mode's level from a replica's STATUS.
    package func level(of positions: ReplicaPositions) -> UInt64 {
        switch mode {
        case .async, .durable: positions.durableTxn
        case .received: positions.receivedTxn
        case .applied: positions.appliedTxn
        }
    }

    /// A replica reported positions: wake every waiter the quorum now covers.
    package func update(replica: String, _ positions: ReplicaPositions) {
        let level = level(of: positions)
        let woken = state.withLock { state -> [Waiter] in
            guard level > state.positions[replica] ?? 0 else { return [] }
            state.positions[replica] = level
            state.recompute(count: count)
            let quorum = state.quorumTxn
            let ready = state.waiters.filter { $0.value.txn <= quorum }
            for id in ready.keys { state.waiters[id] = nil }
            return Array(ready.values)
        }
        for waiter in woken { waiter.continuation.resume(returning: nil) }
    }

    /// Fails every waiter and every later commit (the node was fenced).
    package func refuseAll(_ reason: String) {
        let woken = state.withLock { state -> [Waiter] in
            state.refusal = reason
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.continuation.resume(returning: reason) }
    }

    /// Allows acknowledgements again (the node was promoted).
    package func resume() {
        state.withLock { $0.refusal = nil }
    }

    /// Highest txn the quorum reached, for status.
    package var quorumTxn: UInt64 { state.withLock { $0.quorumTxn } }

    package func acknowledge(txn: UInt64) async throws(StorageError) {
        let timeout = timeoutMillis
        let registered = state.withLock { state -> UInt64? in
            guard state.refusal == nil, txn > state.quorumTxn else { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id = registered else {
            if let refusal = state.withLock({ $0.refusal }) { throw StorageError(.notReplicated, path: "replication", refusal) }
            return
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: .milliseconds(timeout))
            self?.expire(id)
        }
        let failure = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let immediate = state.withLock { state -> String?? in
                if let refusal = state.refusal { return .some(refusal) }
                if txn <= state.quorumTxn { return .some(nil) }
                state.waiters[id] = Waiter(txn: txn, continuation: continuation)
                return .none
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        timer.cancel()
        if let failure {
            ReplicationMetrics.syncTimedOut()
            throw StorageError(.notReplicated, path: "replication", failure)
        }
    }

    private func expire(_ id: UInt64) {
        let (waiter, positions) = state.withLock { state in (state.waiters.removeValue(forKey: id), state.positions.count) }
        guard let waiter else { return }
        waiter.continuation.resume(returning:
            "txn \(waiter.txn) is durable on this primary but fewer than \(count) replica(s) confirmed it '\(mode.rawValue)' within "
            + "replication.sync.timeout (\(timeoutMillis) ms; \(positions) replica(s) known): it may or may not survive a failover")
    }
}
