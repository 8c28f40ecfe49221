import Storage
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What replication knows right now, on either side: the upstream connection (replica), the
/// connected replicas and their slots (primary), and the lag derived from them. The
/// connection drivers write it; `/status.json`, `/ready`, `/metrics` and `sundial status`
/// read it.
package final class ReplicationMonitor: Sendable {
    package let storage: StorageEngine
    package let configuration: ReplicationConfiguration
    /// Chunks shared between the primary's sessions.
    let chunkCache = CompressedChunkCache()
    private let state: Mutex<State>

    /// The upstream connection's phase, as status reports it.
    package enum ConnectionState: String, Sendable {
        case connecting, streaming, disconnected
        /// The primary no longer has the WAL this replica needs: it must be re-bootstrapped.
        case snapshotRequired = "snapshot_required"
        /// The primary refused this replica (wrong cluster, not a primary, protocol version).
        case refused
    }

    struct Upstream {
        var connection: ConnectionState = .connecting
        var lastError: String?
        var primaryNodeID: String?
        var primaryCommittedTxn: UInt64?
        var receivedTxn: UInt64 = 0
        /// Primary clock minus local clock, from the latest keepalive (µs).
        var clockOffsetMicros: Int64 = 0
        var lastContactMicros: Int64?
        var chunks = ShippedChunks()
    }

    struct Downstream {
        var nodeID: String
        var address: String
        var connected: Bool
        var sentTxn: UInt64 = 0
        var positions: ReplicaPositions?
        var chunks = ShippedChunks()
    }

    struct State {
        var identity: NodeIdentity
        var upstream = Upstream()
        var replicas: [String: Downstream] = [:]
        var slots: ReplicationSlots
    }

    package init(storage: StorageEngine, configuration: ReplicationConfiguration, identity: NodeIdentity, slots: ReplicationSlots) {
        self.storage = storage
        self.configuration = configuration
        self.state = Mutex(State(identity: identity, slots: slots))
        holdWAL()
    }

    package var identity: NodeIdentity { state.withLock { $0.identity } }

    package func updateIdentity(_ identity: NodeIdentity) {
        state.withLock { $0.identity = identity }
    }

    // MARK: Replica side

    func upstream(_ connection: ConnectionState, error: String? = nil) {
        state.withLock { state in
            state.upstream.connection = connection
            if let error { state.upstream.lastError = error }
            if connection == .streaming { state.upstream.lastError = nil }
            if connection != .streaming { state.upstream.chunks.reset() }
        }
    }

    func upstreamStarted(_ start: ReplicationFrame.Start) {
        state.withLock { state in
            state.upstream.connection = .streaming
            state.upstream.lastError = nil
            state.upstream.primaryNodeID = start.nodeID
            state.upstream.primaryCommittedTxn = start.primaryCommittedTxn
            state.upstream.receivedTxn = start.fromTxn - 1
            state.upstream.lastContactMicros = ReplicationClock.nowMicros()
        }
    }

    func upstreamReceived(_ chunk: WALChunkCodec.Verified) {
        state.withLock { state in
            state.upstream.receivedTxn = max(state.upstream.receivedTxn, chunk.lastTxn)
            state.upstream.primaryCommittedTxn = max(state.upstream.primaryCommittedTxn ?? 0, chunk.lastTxn)
            state.upstream.lastContactMicros = ReplicationClock.nowMicros()
            state.upstream.chunks.append(
                firstTxn: chunk.firstTxn, lastTxn: chunk.lastTxn, firstCommitMicros: chunk.commitTimes.first ?? 0,
                bytes: chunk.records.count)
        }
    }

    func upstreamKeepalive(_ keepalive: ReplicationFrame.Keepalive) {
        let now = ReplicationClock.nowMicros()
        state.withLock { state in
            state.upstream.primaryCommittedTxn = keepalive.committedTxn
            state.upstream.clockOffsetMicros = keepalive.primaryTimeMicros - now
            state.upstream.lastContactMicros = now
        }
    }

    /// The replica's positions for STATUS.
    func replicaPositions() -> ReplicaPositions {
        let applied = storage.appliedTxn
        let durable = storage.wal.durableTxn
        let received = state.withLock { state -> UInt64 in
            state.upstream.chunks.release(through: applied)
            return max(state.upstream.receivedTxn, durable)
        }
        return ReplicaPositions(
            receivedTxn: received, durableTxn: durable, appliedTxn: min(applied, durable), timeMicros: ReplicationClock.nowMicros())
    }

    /// This replica's apply lag behind its primary; unknown while not streaming.
    package func replicaLag() -> ReplicationLag {
        let applied = storage.appliedTxn
        return state.withLock { state in
            guard state.upstream.connection == .streaming, let committed = state.upstream.primaryCommittedTxn else { return .unknown }
            let now = ReplicationClock.nowMicros() + state.upstream.clockOffsetMicros
            return state.upstream.chunks.lag(of: applied, committed: committed, nowMicros: now)
        }
    }

    // MARK: Primary side

    func replicaConnected(nodeID: String, address: String) {
        state.withLock { state in
            var entry = state.replicas[nodeID] ?? Downstream(nodeID: nodeID, address: address, connected: true)
            entry.address = address
            entry.connected = true
            entry.chunks.reset()
            state.replicas[nodeID] = entry
        }
    }

    func replicaDisconnected(nodeID: String) {
        state.withLock { state in state.replicas[nodeID]?.connected = false }
    }

    func shipped(to nodeID: String, firstTxn: UInt64, lastTxn: UInt64, firstCommitMicros: Int64, bytes: Int) {
        state.withLock { state in
            state.replicas[nodeID]?.sentTxn = lastTxn
            state.replicas[nodeID]?.chunks.append(
                firstTxn: firstTxn, lastTxn: lastTxn, firstCommitMicros: firstCommitMicros, bytes: bytes)
        }
    }

    /// Records a replica's STATUS; a slot that moved lets the WAL go further.
    func replicaStatus(nodeID: String, _ positions: ReplicaPositions) {
        let advanced = state.withLock { state in
            state.replicas[nodeID]?.positions = positions
            state.replicas[nodeID]?.chunks.release(through: positions.appliedTxn)
            return state.slots.advance(nodeID, durableTxn: positions.durableTxn)
        }
        if advanced { holdWAL() }
    }

    /// Creates the replica's slot at `durableTxn` on first contact (again after it was dropped,
    /// if the WAL it needs is still there); an existing slot keeps its position.
    func ensureSlot(nodeID: String, durableTxn: UInt64) {
        state.withLock { state in state.slots.ensure(nodeID, durableTxn: durableTxn) }
        holdWAL()
    }

    /// Keeps the WAL after the slowest slot (every slot change passes here).
    private func holdWAL() {
        storage.holdWAL(after: retentionHold)
    }

    func hasSlot(_ nodeID: String) -> Bool {
        state.withLock { $0.slots.durable[nodeID] != nil }
    }

    /// The lowest durable txn over every slot: the WAL after it must stay.
    package var retentionHold: UInt64? { state.withLock { $0.slots.durable.values.min() } }

    /// Drops the slot of the slowest replica; returns its id and position.
    func dropSlowestSlot() -> (String, UInt64)? {
        let dropped = state.withLock { state -> (String, UInt64)? in
            guard let slowest = state.slots.durable.min(by: { $0.value < $1.value }) else { return nil }
            state.slots.durable[slowest.key] = nil
            return (slowest.key, slowest.value)
        }
        holdWAL()
        return dropped
    }

    var slots: ReplicationSlots { state.withLock { $0.slots } }

    /// Lag of each replica at each level (write = received, flush = durable, apply = applied).
    package func replicaReports() -> [ReplicaReport] {
        let committed = storage.wal.committedTxn
        let now = ReplicationClock.nowMicros()
        return state.withLock { state in
            state.replicas.values.sorted { $0.nodeID < $1.nodeID }.map { entry in
                func lag(_ position: UInt64?) -> ReplicationLag {
                    guard let position else { return .unknown }
                    return entry.chunks.lag(of: position, committed: committed, nowMicros: now)
                }
                return ReplicaReport(
                    nodeID: entry.nodeID, address: entry.address, connected: entry.connected,
                    hasSlot: state.slots.durable[entry.nodeID] != nil, sentTxn: entry.sentTxn, positions: entry.positions,
                    writeLag: lag(entry.positions?.receivedTxn), flushLag: lag(entry.positions?.durableTxn),
                    applyLag: lag(entry.positions?.appliedTxn))
            }
        }
    }

    /// One replica as the primary reports it.
    package struct ReplicaReport: Sendable {
        package var nodeID: String
        package var address: String
        package var connected: Bool
        package var hasSlot: Bool
        package var sentTxn: UInt64
        package var positions: ReplicaPositions?
        package var writeLag: ReplicationLag
        package var flushLag: ReplicationLag
        package var applyLag: ReplicationLag
    }

    /// The upstream connection as the replica reports it.
    package struct UpstreamReport: Sendable {
        package var address: String
        package var connection: ConnectionState
        package var lastError: String?
        package var primaryNodeID: String?
        package var primaryCommittedTxn: UInt64?
        package var receivedTxn: UInt64
        package var lastContactAgeSeconds: Double?
    }

    package func upstreamReport() -> UpstreamReport? {
        guard let address = configuration.primaryAddress, configuration.role == .replica else { return nil }
        let now = ReplicationClock.nowMicros()
        return state.withLock { state in
            UpstreamReport(
                address: address, connection: state.upstream.connection, lastError: state.upstream.lastError,
                primaryNodeID: state.upstream.primaryNodeID, primaryCommittedTxn: state.upstream.primaryCommittedTxn,
                receivedTxn: state.upstream.receivedTxn,
                lastContactAgeSeconds: state.upstream.lastContactMicros.map { Double(now - $0) / 1_000_000 })
        }
    }

    /// Whether the node can serve reads (`/ready`): a replica must be streaming and within
    /// `replication.max.ready.lag`; other roles are ready once running.
    package func isReady() -> (Bool, String) {
        guard configuration.role == .replica else { return (true, "ready") }
        guard let upstream = upstreamReport(), upstream.connection == .streaming else {
            return (false, "not streaming from the primary")
        }
        guard let seconds = replicaLag().seconds else { return (false, "replication lag is unknown") }
        let limit = Double(configuration.maxReadyLagMillis) / 1000
        guard seconds <= limit else { return (false, "replication lag \(seconds) s exceeds \(limit) s") }
        return (true, "ready")
    }
}

/// Wall-clock time as replication measures it (µs since the Unix epoch), like WAL commit times.
enum ReplicationClock {
    static func nowMicros() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
    }
}
