import Logging
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
    package let layout: DataDirectory
    /// Serialises writes of the slot file.
    private let slotFile = PlainMutex(())
    /// The synchronous-replication gate; `nil` in `async` mode.
    package let sync: SyncReplication?
    /// Chunks shared between the primary's sessions.
    let chunkCache = CompressedChunkCache()
    /// The replica's link to its primary, so a re-point or promotion can end it.
    let upstreamConnection = CurrentConnection()
    let logger: Logger
    private let state: PlainMutex<State>
    /// Serializes writes of `node/identity` (each write is the state at the time it was taken).
    private let identityFile = PlainMutex(())

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
        /// host:port this node follows while it is a replica.
        var upstreamAddress: String?
        /// Why the node is fenced (or read-only while confirming its epoch at start).
        var fenceReason: String?
        /// A planned switchover to this replica: asked of the primary, then its last txn.
        var switchoverRequested = false
        var drainedTxn: UInt64?
        /// A primary that drained for a switchover follows the target once it announces itself.
        var drainedFor: String?
        var upstream = Upstream()
        var replicas: [String: Downstream] = [:]
        var slots: ReplicationSlots
    }

    package init(
        storage: StorageEngine, configuration: ReplicationConfiguration, identity: NodeIdentity, slots: ReplicationSlots,
        layout: DataDirectory, upstream: String? = nil, logger: Logger = Logger(label: "sundial.replication")
    ) {
        self.storage = storage
        self.configuration = configuration
        self.layout = layout
        self.logger = logger
        self.sync = configuration.syncMode == .async
            ? nil
            : SyncReplication(mode: configuration.syncMode, count: configuration.syncCount, timeoutMillis: configuration.syncTimeoutMillis)
        var initial = State(identity: identity, slots: slots)
        initial.upstreamAddress = upstream ?? configuration.primaryAddress
        self.state = PlainMutex(initial)
        storage.setCommitGate(sync)
        holdWAL()
    }

    package var identity: NodeIdentity { state.withLock { $0.identity } }

    /// Changes `node/identity` and writes it durably (rare: joins, epochs, role changes).
    package func updateIdentity(_ change: (inout NodeIdentity) -> Void) throws(StorageError) {
        try identityFile.withLock { _ throws(StorageError) in
            let identity = state.withLock { state in
                change(&state.identity)
                return state.identity
            }
            try DurableFile.replace(layout.identityPath, with: identity.encoded(), io: .system)
        }
    }

    /// The primary this node follows (replica role), host:port.
    package var upstreamAddress: String? { state.withLock { $0.upstreamAddress } }

    package var fenceReason: String? { state.withLock { $0.fenceReason } }

    // MARK: Epochs and roles

    /// Records an epoch seen on any frame. A newer one is persisted as the newest seen; a
    /// primary whose WAL writes an older epoch is superseded and fences itself at once
    /// (DESIGN §5: "a node that learns of a higher epoch while primary becomes fenced").
    /// Returns true when this call fenced the node.
    @discardableResult
    package func observeEpoch(_ epoch: UInt64, from source: String) -> Bool {
        let newer = state.withLock { $0.identity.epoch < epoch }
        if newer {
            do {
                try updateIdentity { $0.epoch = max($0.epoch, epoch) }
            } catch {
                logger.error("cannot record the newest epoch seen", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
            }
        }
        let writing = storage.writingEpoch
        guard storage.role == .primary, epoch > writing else { return false }
        fence("\(source) has epoch \(epoch), newer than this primary's \(writing): another node was promoted")
        return true
    }

    /// Makes the node read-only (role `fenced`) for `reason`, fails writes waiting for
    /// replicas, and records the role so a restart stays fenced.
    package func fence(_ reason: String, persist: Bool = true) {
        storage.setRole(.fenced)
        state.withLock { $0.fenceReason = reason }
        sync?.refuseAll("this node is fenced: \(reason)")
        ReplicationMetrics.fenced()
        logger.error("this node is fenced and refuses writes", metadata: ["reason": "\(reason)"])
        guard persist else { return }
        do {
            try updateIdentity { $0.role = .fenced }
        } catch {
            logger.error("cannot record the fenced role", metadata: ["error": "\(error)"])
        }
    }

    /// Read-only until the start-up epoch check (`ClusterController`) confirms this primary.
    package func awaitConfirmation(_ reason: String) {
        state.withLock { $0.fenceReason = reason }
    }

    /// Takes writes as primary again after the start-up epoch check confirmed this node.
    func confirmPrimary() {
        state.withLock { $0.fenceReason = nil }
        sync?.resume()
        storage.setRole(.primary)
    }

    /// Follows `address` as a replica from now on (and across restarts until the configured
    /// role or primary changes); the current upstream connection, if any, is ended.
    package func follow(_ address: String) throws(StorageError) {
        try updateIdentity { identity in
            identity.role = .replica
            identity.upstream = address
        }
        state.withLock { state in
            state.upstreamAddress = address
            state.fenceReason = nil
            state.drainedFor = nil
            state.upstream = Upstream()
        }
        storage.setRole(.replica)
        upstreamConnection.dropCurrent()
    }

    // MARK: Planned switchover

    /// The replica side: ask the primary to drain (sent by the STATUS reporter).
    func requestSwitchover() {
        state.withLock { state in
            state.switchoverRequested = true
            state.drainedTxn = nil
        }
    }

    func takeSwitchoverRequest() -> Bool {
        state.withLock { state in
            defer { state.switchoverRequested = false }
            return state.switchoverRequested
        }
    }

    func drained(through txn: UInt64) {
        state.withLock { $0.drainedTxn = txn }
    }

    var drainedTxn: UInt64? { state.withLock { $0.drainedTxn } }

    /// The primary side: stop writes for a switchover to `target`; returns the last txn.
    func drainForSwitchover(to target: String) async -> UInt64 {
        storage.setRole(.fenced)
        state.withLock { state in
            state.fenceReason = "planned switchover to \(target)"
            state.drainedFor = target
        }
        logger.notice("planned switchover: writes stopped", metadata: ["target": "\(target)"])
        // The WAL's end, not its committed txn: a write admitted before the fence may be
        // appended but not yet fsynced (in `sync` mode committed = durable). It is acknowledged
        // once durable, so the target must have it too — a drill caught the old primary one
        // txn past the new primary's fork point, unable to follow it.
        let last = storage.wal.nextTxn - 1
        try? await storage.wal.waitDurable(last)
        return last
    }

    var drainedFor: String? { state.withLock { $0.drainedFor } }

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
        sync?.update(replica: nodeID, positions)
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

    /// Binds `nodeID` to the certificate name of the connection that claims it; returns the
    /// name it already belongs to when that is another member's (the claim is refused). A new
    /// binding is saved at once: a restart right after must not forget whose node id it is.
    func claimSlot(nodeID: String, certificateName: String, durableTxn: UInt64) throws(StorageError) -> String? {
        let (owner, bound) = state.withLock { state -> (String?, Bool) in
            let known = state.slots.names[nodeID] != nil
            if let owner = state.slots.claim(nodeID, name: certificateName) { return (owner, false) }
            state.slots.ensure(nodeID, durableTxn: durableTxn)
            return (nil, !known)
        }
        if bound {
            holdWAL()
            try saveSlots()
        }
        return owner
    }

    /// Writes `node/replication-slots` (one writer at a time: they share a temporary file).
    func saveSlots() throws(StorageError) {
        try slotFile.withLock { (_: inout Void) throws(StorageError) in try slots.save(layout) }
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
            state.slots.names[slowest.key] = nil
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
        guard storage.role == .replica, let address = upstreamAddress else { return nil }
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
        guard storage.role == .replica else { return (true, "ready") }
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
