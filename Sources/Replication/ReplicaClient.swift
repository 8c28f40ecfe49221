import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Storage
import Synchronization

/// A replica's link to its primary: connect (mutual TLS), HELLO from the last durable txn,
/// then write every verified chunk to the local WAL, make it durable, hand it to the applier
/// and report positions. Any failure closes the connection and reconnects with a capped
/// exponential back-off; a refusal or SNAPSHOT_REQUIRED is retried slowly (an operator must act).
package struct ReplicaClient: Service {
    private let monitor: ReplicationMonitor
    private let layout: DataDirectory
    private let group: any EventLoopGroup
    private let logger: Logger
    private var current: CurrentConnection { monitor.upstreamConnection }

    package init(monitor: ReplicationMonitor, layout: DataDirectory, group: any EventLoopGroup, logger: Logger) {
        self.monitor = monitor
        self.layout = layout
        self.group = group
        self.logger = logger
    }

    package func run() async throws {
        let current = self.current
        await withGracefulShutdownHandler {
            await follow()
        } onGracefulShutdown: {
            current.stop()
        }
        logger.info("replication client stopped")
    }

    /// Follows the monitor's upstream while the node is a replica; idles otherwise (a primary
    /// or fenced node may become a replica at runtime: `sundial follow`, a switchover).
    private func follow() async {
        let configuration = monitor.configuration
        let initialBackoff = 100
        var backoff = initialBackoff
        while !current.stopping {
            guard monitor.storage.role == .replica, let address = monitor.upstreamAddress,
                  let (host, port) = ReplicationAddress.parse(address)
            else {
                await current.sleep(milliseconds: 100)
                continue
            }
            var delay = backoff
            let streamed = StreamedFlag()
            do {
                do {
                    try await connectAndFollow(host: host, port: port, streamed: streamed)
                } catch NIOSSLError.uncleanShutdown {
                    // The primary went away without close_notify (killed, restarted): a plain close.
                }
                guard !current.stopping else { break }
                guard monitor.storage.role == .replica, monitor.upstreamAddress == address else { continue }
                monitor.upstream(.disconnected, error: "primary closed the connection")
                logger.warning("primary closed the replication connection", metadata: ["primary": "\(host):\(port)"])
            } catch {
                guard !current.stopping else { break }
                // Re-pointed or promoted while connected: not a failure of this link.
                guard monitor.storage.role == .replica, monitor.upstreamAddress == address else { continue }
                let protocolError = error as? ReplicationProtocolError
                ReplicationMetrics.connectionFailed(ReplicationProtocolError.kind(of: error))
                switch protocolError {
                case .snapshotRequired(let reason)?, .diverged(let reason)?:
                    let empty = monitor.storage.wal.nextTxn == 1 && monitor.storage.tableSchemas.isEmpty
                    monitor.upstream(
                        .snapshotRequired,
                        error: empty ? reason + " (this node is empty: restart it to receive a snapshot)" : reason)
                    logger.error(
                        "the primary cannot serve this replica from its WAL: re-bootstrap this replica from a snapshot",
                        metadata: ["primary": "\(host):\(port)", "reason": "\(reason)"])
                    delay = configuration.reconnectMaxBackoffMillis * 6
                case .refused(let reason)?:
                    monitor.upstream(.refused, error: reason)
                    logger.error("the primary refused this replica", metadata: ["primary": "\(host):\(port)", "reason": "\(reason)"])
                    delay = configuration.reconnectMaxBackoffMillis * 6
                default:
                    monitor.upstream(.disconnected, error: "\(error)")
                    logger.warning(
                        "replication connection failed; reconnecting",
                        metadata: ["primary": "\(host):\(port)", "reason": "\(error)", "retry-in-ms": "\(delay)"])
                }
            }
            if streamed.value {
                backoff = initialBackoff
                delay = min(delay, initialBackoff)
            } else {
                backoff = min(backoff * 2, configuration.reconnectMaxBackoffMillis)
            }
            await current.sleep(milliseconds: delay)
        }
    }

    private func connectAndFollow(host: String, port: Int, streamed: StreamedFlag) async throws {
        let configuration = monitor.configuration
        monitor.upstream(.connecting)
        let connection = try await ReplicationPipeline.connect(host: host, port: port, configuration: configuration, group: group)
        guard current.begin(connection.channel) else {
            try? await connection.channel.close()
            return
        }
        defer { current.end() }
        try await connection.executeThenClose { inbound, outbound in
            try await follow(inbound, outbound, streamed: streamed)
        }
    }

    private func follow(
        _ inbound: NIOAsyncChannelInboundStream<ReplicationFrame>, _ outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>,
        streamed: StreamedFlag
    ) async throws {
        let storage = monitor.storage
        let hello = monitor.identity
        let durable = storage.wal.durableTxn
        try await outbound.write(ReplicationFrame(
            epoch: hello.epoch,
            .hello(ReplicationFrame.Hello(
                clusterID: hello.clusterID, nodeID: hello.nodeID, durableTxn: durable, lastEpoch: storage.writingEpoch))))
        let reported = ReportedPositions()
        // Discarding: one short task per chunk reports its apply; their results are not kept.
        try await withThrowingDiscardingTaskGroup { group in
            var machine = ReplicaStateMachine(durableTxn: durable, newestEpoch: hello.epoch)
            for try await frame in inbound {
                let action = try machine.receive(frame)
                if frame.epoch > hello.epoch { monitor.observeEpoch(frame.epoch, from: "the primary") }
                switch action {
                case .started(let start):
                    if start.clusterID != monitor.identity.clusterID {
                        // Only a replica with no history gets START from another cluster: it joins this one.
                        try monitor.updateIdentity { $0.clusterID = start.clusterID }
                        logger.info("joined the primary's cluster", metadata: ["cluster": "\(start.clusterID)"])
                    }
                    monitor.upstreamStarted(start)
                    streamed.set()
                    logger.info(
                        "streaming from the primary",
                        metadata: [
                            "primary": "\(monitor.upstreamAddress ?? "?")", "primary-node": "\(start.nodeID)",
                            "from-txn": "\(start.fromTxn)", "primary-committed-txn": "\(start.primaryCommittedTxn)",
                        ])
                    group.addTask { try await report(outbound, reported) }
                case .write(let chunk):
                    let verified = try verify(chunk, frameEpoch: frame.epoch)
                    // Written now, synced in the background: the next chunk is received and
                    // verified during this one's fsync, and one fsync covers what arrived
                    // meanwhile (catch-up is bound by this loop).
                    let last = try storage.appendReplicatedRecords(verified.run)
                    // The fsync starts before the STATUS below goes out: a primary waiting in
                    // `durable` mode waits for this fsync, not for the report before it.
                    storage.wal.startSync()
                    machine.wrote(through: verified.lastTxn)
                    monitor.upstreamReceived(verified)
                    ReplicationMetrics.received(
                        raw: verified.records.count, compressed: chunk.compressed.count,
                        txns: verified.lastTxn - verified.firstTxn + 1)
                    // STATUS when received, durable and applied: a synchronous primary in
                    // `received`, `durable` or `applied` mode acknowledges on the matching one.
                    // One that would move no position (an fsync or apply an earlier chunk's
                    // STATUS already covered) is not sent; the reporter below only polls.
                    let (monitor, epoch) = (monitor, machine.newestEpoch)
                    try await reported.send(monitor.replicaPositions(), epoch: epoch, on: outbound)
                    group.addTask {
                        try await storage.replicatedDurable(last)
                        try await reported.send(monitor.replicaPositions(), epoch: epoch, on: outbound)
                        await storage.waitUntilApplied(last)
                        try await reported.send(monitor.replicaPositions(), epoch: epoch, on: outbound)
                    }
                case .replay(let chunk):
                    _ = try verify(chunk, frameEpoch: frame.epoch)
                    ReplicationMetrics.skippedReplay()
                case .keepalive(let keepalive):
                    monitor.upstreamKeepalive(keepalive)
                case .drained(let txn):
                    monitor.drained(through: txn)
                }
            }
            group.cancelAll()
        }
    }

    /// Checks every layer of a chunk, then the txns this replica already holds against its copies.
    private func verify(_ chunk: ReplicationFrame.WALChunk, frameEpoch: UInt64) throws(ReplicationProtocolError) -> WALChunkCodec.Verified {
        let configuration = monitor.configuration
        let verified = try WALChunkCodec.verify(
            chunk, frameEpoch: frameEpoch, maxRawBytes: configuration.maxChunkRawBytes, maxRecordBytes: configuration.maxRecordBytes)
        try ReplicaClient.compareWithLocal(verified, wal: monitor.storage.wal)
        return verified
    }

    /// Sends STATUS when a position moved without a chunk's own STATUS saying so, and at least
    /// every keepalive interval, which also keeps the primary's idle timeout from firing;
    /// passes on a switchover request.
    private func report(_ outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>, _ reported: ReportedPositions) async throws {
        let interval = Int64(monitor.configuration.keepaliveIntervalMillis) * 1_000
        while !Task.isCancelled {
            if monitor.takeSwitchoverRequest() {
                try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .switchover))
            }
            try await reported.send(monitor.replicaPositions(), epoch: monitor.identity.epoch, on: outbound, atLeastEvery: interval)
            // Each chunk reports its own positions as they move: this loop only catches what
            // they do not (an apply that covered several chunks at once), so it need not be quick.
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Compares the records of `verified` that this replica already holds with its own copies:
    /// same kind, epoch, commit time and payload, or the histories diverged (R7) and nothing of
    /// the chunk is written. Records the local WAL no longer has cannot be compared and pass.
    package static func compareWithLocal(_ verified: WALChunkCodec.Verified, wal: WriteAheadLog) throws(ReplicationProtocolError) {
        let held = wal.nextTxn
        guard verified.firstTxn < held else { return }
        guard let reader = try? WALReader(log: wal, from: verified.firstTxn) else { return }
        try verified.records.withUnsafeBytes { raw in
            Result { () throws(ReplicationProtocolError) in
                var offset = 0
                while offset < raw.count {
                    guard case .success(let header) = WALRecordCodec.decode(raw, at: offset, maxPayloadBytes: .max),
                          header.txn < held
                    else { return }
                    let payload = UnsafeRawBufferPointer(rebasing: raw[(offset + WALRecordHeader.size)..<(offset + header.recordSize)])
                    guard let local = try? reader.next() else { return }
                    let same = local.header.kind == header.kind && local.header.epoch == header.epoch
                        && local.header.commitTimeMicros == header.commitTimeMicros && local.payload.elementsEqual(payload)
                    guard same else {
                        throw .diverged("the primary's txn \(header.txn) differs from this replica's copy (epoch \(header.epoch) "
                            + "vs \(local.header.epoch)); re-bootstrap this replica from a snapshot")
                    }
                    offset += header.recordSize
                }
            }
        }.get()
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || (!host.isEmpty && host.allSatisfy { $0 == "." || $0.isASCII && $0.isNumber })
    }
}

/// The current connection, so graceful shutdown can close it, and the stop flag.
final class CurrentConnection: Sendable {
    private let state = PlainMutex<(channel: (any Channel)?, stopping: Bool)>((nil, false))

    var stopping: Bool { state.withLock { $0.stopping } }

    /// Registers the connection; false when shutdown already began.
    func begin(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.stopping else { return false }
            state.channel = channel
            return true
        }
    }

    func end() {
        state.withLock { $0.channel = nil }
    }

    /// Ends the current connection (a re-point or promotion); the loop decides what is next.
    func dropCurrent() {
        state.withLock { $0.channel }?.close(promise: nil)
    }

    func stop() {
        let channel = state.withLock { state -> (any Channel)? in
            state.stopping = true
            return state.channel
        }
        channel?.close(promise: nil)
    }

    /// Sleeps up to `milliseconds`, waking early once stopping.
    func sleep(milliseconds: Int) async {
        var left = milliseconds
        while left > 0, !stopping {
            let step = min(left, 50)
            try? await Task.sleep(for: .milliseconds(step))
            left -= step
        }
    }
}

/// The positions last reported on a connection: a STATUS that would move none of them is not
/// sent (several tasks report as chunks are received, made durable and applied; one fsync or
/// apply often covers several chunks), except once an interval has passed.
package final class ReportedPositions: Sendable {
    private let last = PlainMutex<ReplicaPositions?>(nil)

    package init() {}

    /// Whether `positions` are to be reported — they move a reported position, or `interval`
    /// µs passed since the last report — recording them as reported when so.
    package func claim(_ positions: ReplicaPositions, atLeastEvery interval: Int64 = .max) -> Bool {
        last.withLock { last -> Bool in
            if let previous = last, positions.receivedTxn <= previous.receivedTxn, positions.durableTxn <= previous.durableTxn,
               positions.appliedTxn <= previous.appliedTxn, positions.timeMicros - previous.timeMicros < interval
            {
                return false
            }
            last = positions
            return true
        }
    }

    /// Sends `positions` as STATUS when `claim` says so.
    func send(
        _ positions: ReplicaPositions, epoch: UInt64, on outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>,
        atLeastEvery interval: Int64 = .max
    ) async throws {
        if claim(positions, atLeastEvery: interval) { try await outbound.write(ReplicationFrame(epoch: epoch, .status(positions))) }
    }
}

/// Whether a connection got as far as streaming (the back-off then starts over).
final class StreamedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var value: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
