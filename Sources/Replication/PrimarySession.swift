import Logging
import NIOCore
import Storage
import Synchronization

/// One replica connection on the primary: answers HELLO, then ships WAL chunks (a child task)
/// while this task reads the replica's STATUS frames.
struct PrimarySession {
    let monitor: ReplicationMonitor
    let outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>
    let peer: String
    /// The replica's IP address (where a promoted peer announcing itself can be followed).
    let peerHost: String?
    /// The common name of the replica's certificate (`nil` without TLS): a node id is bound to
    /// the member whose certificate first claimed it.
    let certificateName: @Sendable () async -> String?
    let logger: Logger

    /// Serves the connection until it ends; `replica` learns the replica's node id at HELLO.
    func run(_ inbound: NIOAsyncChannelInboundStream<ReplicationFrame>, replica: ReplicaName) async throws {
        let shipped = ShippedPosition()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var machine = PrimaryStateMachine()
            for try await frame in inbound {
                if case .snapshotRequest(let request) = frame.body, machine.state == .awaitingHello {
                    try await SnapshotTransfer.serve(request, monitor: monitor, outbound: outbound, peer: peer, logger: logger)
                    return
                }
                if case .peer(let state) = frame.body, machine.state == .awaitingHello {
                    // A member asking for this node's state (and telling its own): answer, close.
                    let reply = monitor.receivePeer(state, epoch: frame.epoch, host: peerHost)
                    try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .peerReply(reply)))
                    return
                }
                // A member of this cluster that has seen a newer epoch fences this primary before
                // it answers (a node of another cluster says nothing about our epochs).
                if let epoch = machine.epochToObserve(frame, clusterID: monitor.identity.clusterID) {
                    monitor.observeEpoch(epoch, from: "replica \(replica.value ?? peer)")
                }
                let action = try machine.receive(frame, facts: facts, shippedTxn: shipped.txn)
                let epoch = monitor.identity.epoch
                switch action {
                case .refuse(let reason):
                    logger.warning("replica refused", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                    try await outbound.write(ReplicationFrame(epoch: epoch, .refused(reason: reason)))
                    return
                case .snapshotRequired(let oldest, let reason):
                    ReplicationMetrics.snapshotRequiredSent()
                    logger.error(
                        "replica needs a snapshot: it cannot be served from the WAL",
                        metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                    try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotRequired(oldestTxn: oldest, reason: reason)))
                    return
                case .start(let start):
                    guard case .hello(let hello) = frame.body else { return }
                    let certificate = await certificateName()
                    if let name = certificate,
                       let owner = try monitor.claimSlot(nodeID: hello.nodeID, certificateName: name, durableTxn: hello.durableTxn)
                    {
                        let reason = "node id \(hello.nodeID) belongs to the member whose certificate is named '\(owner)'; "
                            + "this connection's certificate is named '\(name)'"
                        ReplicationMetrics.connectionFailed("refused")
                        logger.warning("replica refused", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
                        try await outbound.write(ReplicationFrame(epoch: epoch, .refused(reason: reason)))
                        return
                    }
                    replica.set(hello.nodeID)
                    shipped.txn = start.fromTxn - 1
                    monitor.replicaConnected(nodeID: hello.nodeID, address: peer)
                    monitor.ensureSlot(nodeID: hello.nodeID, durableTxn: hello.durableTxn)
                    logger.info(
                        "replica connected",
                        metadata: [
                            "peer": "\(peer)", "replica": "\(hello.nodeID)", "from-txn": "\(start.fromTxn)",
                            "certificate": "\(certificate ?? "-")",
                            "primary-committed-txn": "\(start.primaryCommittedTxn)",
                        ])
                    try await outbound.write(ReplicationFrame(epoch: epoch, .start(start)))
                    let nodeID = hello.nodeID
                    group.addTask { try await ship(from: start.fromTxn, to: nodeID, shipped: shipped) }
                case .positions(let positions):
                    if let name = replica.value { monitor.replicaStatus(nodeID: name, positions) }
                case .switchover:
                    guard let name = replica.value, monitor.storage.role == .primary else {
                        try await outbound.write(ReplicationFrame(epoch: epoch, .refused(reason: "this node is not a primary: no switchover")))
                        return
                    }
                    let last = await monitor.drainForSwitchover(to: name)
                    try await outbound.write(ReplicationFrame(epoch: epoch, .drained(committedTxn: last)))
                }
            }
            group.cancelAll()
        }
    }

    private func facts() -> PrimaryStateMachine.Facts {
        let identity = monitor.identity
        let wal = monitor.storage.wal
        return PrimaryStateMachine.Facts(
            clusterID: identity.clusterID, nodeID: identity.nodeID, history: monitor.storage.epochHistory,
            isPrimary: monitor.storage.role == .primary, committedTxn: wal.committedTxn, oldestAvailableTxn: wal.oldestTxn)
    }

    /// Streams committed records from `txn` as chunks; a keepalive when idle for an interval.
    private func ship(from txn: UInt64, to nodeID: String, shipped: ShippedPosition) async throws {
        let storage = monitor.storage
        let configuration = monitor.configuration
        guard let reader = try await readingWAL(for: nodeID, { () throws(StorageError) in
            try WALReader(log: storage.wal, from: txn)
        }) else { return }
        var records: [UInt8] = []
        records.reserveCapacity(configuration.maxChunkBytes + 64 * 1024)
        let claimant = UInt64.random(in: 1...UInt64.max)
        var waits = 0
        while !Task.isCancelled {
            guard monitor.hasSlot(nodeID) else {
                return try await snapshotRequired("this replica's slot was dropped (replication.max.retained.bytes)", to: nodeID)
            }
            let start = reader.nextTxn
            guard storage.wal.committedTxn >= start else {
                // Caught up: wait for the next commit, or send a keepalive after an idle interval.
                let woke = await storage.wal.waitForCommit(beyond: start - 1, timeoutMillis: configuration.keepaliveIntervalMillis)
                if !woke {
                    let keepalive = ReplicationFrame.Keepalive(
                        committedTxn: storage.wal.committedTxn, primaryTimeMicros: ReplicationClock.nowMicros())
                    try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .keepalive(keepalive)))
                }
                continue
            }
            switch monitor.chunkCache.lookup(startingAt: start, claimant: claimant) {
            case .hit(let cached):
                // Another replica's session already read and compressed this run of records.
                guard try await readingWAL(for: nodeID, { () throws(StorageError) in
                    try reader.skip(through: cached.chunk.lastTxn)
                }) != nil else { return }
                try await send(cached, to: nodeID, shipped: shipped)
                continue
            case .inProgress where waits < 50:
                // Another session is compressing this very run: its result arrives in well under a millisecond.
                waits += 1
                try await Task.sleep(for: .microseconds(100))
                continue
            case .inProgress, .make:
                waits = 0
            }
            defer { monitor.chunkCache.release(startingAt: start, claimant: claimant) }
            records.removeAll(keepingCapacity: true)
            guard let range = try await readingWAL(for: nodeID, { () throws(StorageError) in
                try Self.readChunk(reader, into: &records, maxBytes: configuration.maxChunkBytes)
            }) else { return }
            guard let range else { continue }
            let entry = CompressedChunkCache.Entry(
                chunk: try WALChunkCodec.make(records: records, firstTxn: range.first.txn, lastTxn: range.last),
                firstCommitMicros: range.first.commitTimeMicros)
            monitor.chunkCache.insert(entry)
            try await send(entry, to: nodeID, shipped: shipped)
        }
    }

    /// Runs a WAL read; a txn purged from under the replica becomes SNAPSHOT_REQUIRED (which
    /// ends the connection), any other failure is thrown.
    private func readingWAL<T>(for nodeID: String, _ body: () throws(StorageError) -> T) async throws -> T? {
        switch Result(catching: body) {
        case .success(let value): return value
        case .failure(let error):
            guard error.code == .limitExceeded else { throw error }
            try await snapshotRequired(error.message, to: nodeID)
            return nil
        }
    }

    private func send(_ entry: CompressedChunkCache.Entry, to nodeID: String, shipped: ShippedPosition) async throws {
        let chunk = entry.chunk
        // Recorded before the write: the replica may answer before the write returns.
        shipped.txn = chunk.lastTxn
        monitor.shipped(
            to: nodeID, firstTxn: chunk.firstTxn, lastTxn: chunk.lastTxn, firstCommitMicros: entry.firstCommitMicros,
            bytes: Int(chunk.rawLength))
        try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .walChunk(chunk)))
        ReplicationMetrics.shipped(raw: Int(chunk.rawLength), compressed: chunk.compressed.count)
    }

    struct ChunkRange {
        var first: WALRecordHeader
        var last: UInt64
    }

    /// Reads committed records into `records` until `maxBytes` or the committed end.
    private static func readChunk(_ reader: WALReader, into records: inout [UInt8], maxBytes: Int) throws(StorageError) -> ChunkRange? {
        var range: ChunkRange?
        while records.count < maxBytes, let header = try reader.next(appendingTo: &records) {
            if range == nil { range = ChunkRange(first: header, last: header.txn) }
            range!.last = header.txn
        }
        return range
    }

    private func snapshotRequired(_ reason: String, to nodeID: String) async throws {
        ReplicationMetrics.snapshotRequiredSent()
        logger.error("replica needs a snapshot: it cannot be served from the WAL", metadata: ["replica": "\(nodeID)", "reason": "\(reason)"])
        let oldest = monitor.storage.wal.oldestTxn
        try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .snapshotRequired(oldestTxn: oldest, reason: reason)))
        throw ReplicationProtocolError.snapshotRequired(reason)
    }
}

/// The last txn sent on a connection, shared by its shipping and reading tasks.
final class ShippedPosition: Sendable {
    private let value = Atomic<UInt64>(0)

    var txn: UInt64 {
        get { value.load(ordering: .acquiring) }
        set { value.store(newValue, ordering: .releasing) }
    }
}

/// The node id a connection's HELLO named, for the log line and status when it ends.
final class ReplicaName: Sendable {
    private let name = PlainMutex<String?>(nil)
    var value: String? { name.withLock { $0 } }
    func set(_ value: String) { name.withLock { $0 = value } }
}
