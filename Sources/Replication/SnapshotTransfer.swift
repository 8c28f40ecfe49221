import Logging
import NIOCore
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Snapshot bootstrap over the replication channel (DESIGN §5, decision 0012): an empty replica
/// whose primary no longer has the WAL from txn 1 asks for SNAPSHOT_REQUEST; the primary
/// checkpoints, stages every table's files (`TableFilesSnapshot`) and streams them with a
/// CRC32C each; the replica installs them as its `db/` and continues with HELLO from the
/// snapshot's txn. The primary's slot for the replica starts at that txn, so the WAL after it
/// stays until the replica has it.
enum SnapshotTransfer {
    /// Largest SNAPSHOT_DATA payload.
    static let dataBytes = 1 << 20

    /// The primary side: answers a SNAPSHOT_REQUEST on `outbound`.
    static func serve(
        _ request: ReplicationFrame.Hello, monitor: ReplicationMonitor, outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>,
        peer: String, logger: Logger
    ) async throws {
        let identity = monitor.identity
        let epoch = identity.epoch
        let refusal: String? =
            if request.protocolVersion != ReplicationFrame.protocolVersion {
                "replication protocol \(request.protocolVersion) is not supported (this node speaks \(ReplicationFrame.protocolVersion))"
            } else if monitor.storage.role != .primary {
                "this node is not a primary"
            } else if request.nodeID == identity.nodeID {
                "a node cannot replicate from itself"
            } else if request.durableTxn != 0 {
                "a snapshot is installed only into an empty node (this one is at txn \(request.durableTxn)): run sundial rejoin --resync on it first"
            } else {
                nil
            }
        if let refusal {
            logger.warning("snapshot request refused", metadata: ["peer": "\(peer)", "reason": "\(refusal)"])
            try await outbound.write(ReplicationFrame(epoch: epoch, .refused(reason: refusal)))
            return
        }
        let started = ContinuousClock.now
        let storage = monitor.storage
        let snapshot = try storage.exportSnapshot()
        defer { snapshot.remove() }
        monitor.ensureSlot(nodeID: request.nodeID, durableTxn: snapshot.txn)
        logger.info(
            "sending a snapshot",
            metadata: [
                "replica": "\(request.nodeID)", "peer": "\(peer)", "txn": "\(snapshot.txn)", "files": "\(snapshot.files.count)",
                "bytes": "\(snapshot.totalBytes)",
            ])
        try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotBegin(.init(
            txn: snapshot.txn, files: UInt32(snapshot.files.count), totalBytes: snapshot.totalBytes, clusterID: identity.clusterID,
            nodeID: identity.nodeID, forks: snapshot.history.forks))))
        for file in snapshot.files {
            try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotFile(path: file.path, size: file.size)))
            var crc = CRC32C()
            if let inline = file.inline {
                crc.update(inline)
                try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotData(inline)))
            } else {
                try await sendStaged(snapshot.stagedPath(of: file), size: file.size, crc: &crc, epoch: epoch, outbound: outbound)
            }
            try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotFileEnd(crc: crc.value)))
            ReplicationMetrics.snapshotSent(bytes: Int(file.size))
        }
        try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotEnd))
        let seconds = (ContinuousClock.now - started).seconds
        logger.info(
            "snapshot sent", metadata: ["replica": "\(request.nodeID)", "bytes": "\(snapshot.totalBytes)", "seconds": "\(seconds)"])
    }

    private static func sendStaged(
        _ path: String, size: UInt64, crc: inout CRC32C, epoch: UInt64, outbound: NIOAsyncChannelOutboundWriter<ReplicationFrame>
    ) async throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError(.io, path: path, "cannot open a staged snapshot file", errno: errno) }
        defer { close(fd) }
        var offset: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: dataBytes)
        while offset < size {
            let want = Int(min(UInt64(dataBytes), size - offset))
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            guard count > 0 else {
                throw StorageError(.io, path: path, "staged snapshot file is shorter than \(size) bytes", errno: count < 0 ? errno : nil)
            }
            let chunk = Array(buffer[0..<count])
            crc.update(chunk)
            try await outbound.write(ReplicationFrame(epoch: epoch, .snapshotData(chunk)))
            offset += UInt64(count)
        }
    }

    /// The replica side, before its storage opens: if the primary cannot serve this empty node
    /// from txn 1, receive a snapshot into `db/`; a failed transfer is retried (capped
    /// back-off) until it is done. A primary that cannot be asked (unreachable, TLS, refusal)
    /// does not hold the start: the node starts and its replication client reports why.
    /// Returns the identity to run with.
    static func bootstrap(
        identity initial: NodeIdentity, layout: DataDirectory, upstream: String, configuration: ReplicationConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async -> NodeIdentity {
        do {
            switch try await needsSnapshot(identity: initial, upstream: upstream, configuration: configuration, group: group) {
            case .fromWAL, .refused:
                return initial
            case .snapshot:
                break
            }
        } catch {
            logger.warning("cannot ask the primary whether a snapshot is needed", metadata: ["primary": "\(upstream)", "reason": "\(error)"])
            return initial
        }
        logger.notice("the primary no longer has the WAL from txn 1: receiving a snapshot", metadata: ["primary": "\(upstream)"])
        var backoff = 100
        while !Task.isCancelled {
            do {
                return try await receive(
                    identity: initial, layout: layout, upstream: upstream, configuration: configuration, group: group, logger: logger)
            } catch {
                logger.warning(
                    "snapshot bootstrap failed; retrying", metadata: ["primary": "\(upstream)", "reason": "\(error)", "retry-in-ms": "\(backoff)"])
            }
            try? await Task.sleep(for: .milliseconds(backoff))
            backoff = min(backoff * 2, configuration.reconnectMaxBackoffMillis)
        }
        return initial
    }

    enum Answer {
        case fromWAL, snapshot
        case refused(String)
    }

    /// Asks the primary with the peer exchange (no replication session, no slot): a primary
    /// whose WAL no longer starts at txn 1 cannot serve an empty node from it.
    private static func needsSnapshot(
        identity: NodeIdentity, upstream: String, configuration: ReplicationConfiguration, group: any EventLoopGroup
    ) async throws -> Answer {
        guard let (host, port) = ReplicationAddress.parse(upstream) else { return .refused("primary address \(upstream) is not host:port") }
        let connection = try await ReplicationPipeline.connect(host: host, port: port, configuration: configuration, group: group)
        let me = ReplicationFrame.PeerState(
            clusterID: identity.clusterID, nodeID: identity.nodeID, role: NodeRole.replica.rawValue, writingEpoch: 0, committedTxn: 0,
            oldestTxn: 1, replicationPort: UInt16(clamping: configuration.bindPort))
        return try await connection.executeThenClose { inbound, outbound in
            try await outbound.write(ReplicationFrame(epoch: identity.epoch, .peer(me)))
            for try await frame in inbound {
                guard case .peerReply(let primary) = frame.body else {
                    throw ReplicationProtocolError.unexpectedFrame("\(frame.typeName) after PEER")
                }
                guard primary.role == NodeRole.primary.rawValue else { return .refused("\(upstream) is not a primary") }
                return primary.oldestTxn > 1 ? .snapshot : .fromWAL
            }
            throw ReplicationProtocolError.timeout("the primary closed the connection before answering PEER")
        }
    }

    private static func receive(
        identity initial: NodeIdentity, layout: DataDirectory, upstream: String, configuration: ReplicationConfiguration,
        group: any EventLoopGroup, logger: Logger
    ) async throws -> NodeIdentity {
        guard let (host, port) = ReplicationAddress.parse(upstream) else { throw ReplicationProtocolError.refused("bad primary address") }
        var identity = initial
        let started = ContinuousClock.now
        let connection = try await ReplicationPipeline.connect(host: host, port: port, configuration: configuration, group: group)
        try await connection.executeThenClose { inbound, outbound in
            try await outbound.write(ReplicationFrame(
                epoch: identity.epoch, .snapshotRequest(.init(clusterID: identity.clusterID, nodeID: identity.nodeID, durableTxn: 0))))
            var files = try SnapshotImport(layout: layout)
            var begin: ReplicationFrame.SnapshotBegin?
            for try await frame in inbound {
                switch frame.body {
                case .snapshotBegin(let header) where begin == nil:
                    begin = header
                    logger.info(
                        "receiving a snapshot",
                        metadata: ["txn": "\(header.txn)", "files": "\(header.files)", "bytes": "\(header.totalBytes)"])
                case .snapshotFile(let path, let size) where begin != nil:
                    try files.beginFile(path, size: size)
                case .snapshotData(let bytes) where begin != nil:
                    try files.write(bytes)
                case .snapshotFileEnd(let crc) where begin != nil:
                    try files.endFile(crc: crc)
                case .snapshotEnd:
                    guard let header = begin, files.files == Int(header.files), files.bytes == header.totalBytes else {
                        throw ReplicationProtocolError.corruptChunk(
                            "snapshot ended after \(files.files) files and \(files.bytes) bytes, not as announced")
                    }
                    var history = EpochHistory()
                    for fork in header.forks { try history.append(fork) }
                    try files.install(txn: header.txn, history: history)
                    identity.clusterID = header.clusterID
                    identity.epoch = max(identity.epoch, history.writingEpoch)
                    try DurableFile.replace(layout.identityPath, with: identity.encoded(), io: .system)
                    let seconds = (ContinuousClock.now - started).seconds
                    logger.notice(
                        "snapshot installed",
                        metadata: [
                            "txn": "\(header.txn)", "files": "\(files.files)", "bytes": "\(files.bytes)",
                            "seconds": "\(seconds)", "mb-per-second": "\(Double(files.bytes) / 1_048_576 / max(seconds, 0.001))",
                        ])
                    return
                case .refused(let reason):
                    throw ReplicationProtocolError.refused(reason)
                default:
                    throw ReplicationProtocolError.unexpectedFrame("\(frame.typeName) during a snapshot")
                }
            }
            throw ReplicationProtocolError.timeout("the primary closed the connection during the snapshot")
        }
        return identity
    }
}
