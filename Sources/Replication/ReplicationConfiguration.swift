import Storage

/// Replication settings as typed values; `Node` builds them from `replication.*` keys. The TLS
/// contexts come from the certificate files through `ReplicationTLS`, which reloads them.
package struct ReplicationConfiguration: Sendable {
    /// The replica position a synchronous primary waits for (DESIGN §5 ack modes).
    package enum SyncMode: String, Sendable, CaseIterable {
        /// Acknowledge once durable here; replicas catch up (loss after failover ≤ reported lag).
        case async
        /// Enough replicas received and verified the txn.
        case received
        /// Enough replicas made it durable (survives a crash of the primary and of them).
        case durable
        /// Enough replicas applied it (visible to their queries at once).
        case applied
    }

    package var role: NodeRole
    /// `replication.bind.to`: where this node listens for replicas.
    package var bindHost: String
    package var bindPort: Int
    package var bindKey = "replication.bind.to"
    /// `replication.primary` on a replica.
    package var primaryHost: String?
    package var primaryPort: Int?
    /// `replication.peers`: the other members (used by failover; listed in status).
    package var peers: [String] = []
    /// Mutual TLS (both sides, reloadable); `nil` only with `replication.tls.enabled=false`.
    package var tls: ReplicationTLS?
    /// `replication.tls.reload.interval` (ms): how often the certificate files are checked; 0 = never.
    package var tlsReloadIntervalMillis: Int = 30_000
    /// `replication.tls.pins`: when set, peers' keys must also be pinned (both directions).
    package var pins: SPKIPins?
    /// `replication.max.retained.bytes`: WAL kept for slow replicas before the slowest loses its slot.
    package var maxRetainedBytes: Int = 1 << 30
    /// Largest uncompressed chunk the primary builds and a replica accepts.
    package var maxChunkBytes: Int = 1 << 20
    /// Largest WAL record (the storage limit); a chunk always holds at least one record.
    package var maxRecordBytes: Int = 64 << 20
    /// `replication.keepalive.interval` (ms): the primary's heartbeat when idle.
    package var keepaliveIntervalMillis: Int = 1_000
    /// `replication.keepalive.timeout` (ms): silence after which a connection is declared dead.
    package var keepaliveTimeoutMillis: Int = 10_000
    /// `replication.reconnect.max.backoff` (ms): cap of the replica's reconnect back-off.
    package var reconnectMaxBackoffMillis: Int = 5_000
    /// `replication.max.ready.lag` (ms): `/ready` answers 503 on a replica lagging more.
    package var maxReadyLagMillis: Int = 10_000
    /// `replication.sync.mode`: which replica position acknowledges a write.
    package var syncMode: SyncMode = .async
    /// `replication.sync.count`: how many replicas must reach it (PostgreSQL's `ANY n`).
    package var syncCount: Int = 1
    /// `replication.sync.timeout` (ms): a write not confirmed within it fails (never a silent downgrade).
    package var syncTimeoutMillis: Int = 5_000
    /// `replication.peer.probe.interval` (ms): how often a primary asks its peers for their epochs.
    package var peerProbeIntervalMillis: Int = 1_000

    package init(role: NodeRole, bindHost: String, bindPort: Int) {
        self.role = role
        self.bindHost = bindHost
        self.bindPort = bindPort
    }

    /// A frame holds one chunk: the LZ4 bound of the largest chunk (or record) plus headers.
    package var maxFrameBytes: Int {
        let raw = max(maxChunkBytes, maxRecordBytes + WALRecordHeader.size)
        return raw + raw / 255 + 64 * 1024
    }

    /// Largest uncompressed chunk accepted: a single record may exceed `maxChunkBytes`.
    package var maxChunkRawBytes: Int { max(maxChunkBytes, maxRecordBytes + WALRecordHeader.size) }

    package var primaryAddress: String? {
        guard let primaryHost, let primaryPort else { return nil }
        return "\(primaryHost):\(primaryPort)"
    }
}
