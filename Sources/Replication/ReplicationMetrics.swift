import Metrics
import Storage

/// Metric names of replication, in one place (STYLE). QuestDB OSS has no replication metrics,
/// so every name is `sundial_replication_*`. Lag gauges are set at scrape time (`refresh`),
/// because lag grows with the clock even when nothing happens; unknown lag is exported as NaN.
package enum ReplicationMetrics {
    private static let shippedRaw = Counter(label: "sundial_replication_shipped_bytes_total", dimensions: [("encoding", "raw")])
    private static let shippedCompressed = Counter(
        label: "sundial_replication_shipped_bytes_total", dimensions: [("encoding", "lz4")])
    private static let shippedChunks = Counter(label: "sundial_replication_shipped_chunks_total")
    private static let receivedRaw = Counter(label: "sundial_replication_received_bytes_total", dimensions: [("encoding", "raw")])
    private static let receivedCompressed = Counter(
        label: "sundial_replication_received_bytes_total", dimensions: [("encoding", "lz4")])
    private static let receivedTxns = Counter(label: "sundial_replication_received_txns_total")
    private static let skippedChunks = Counter(label: "sundial_replication_replayed_chunks_skipped_total")
    private static let corruptFrames = Counter(label: "sundial_replication_corrupt_frames_total")
    private static let snapshotRequired = Counter(label: "sundial_replication_snapshot_required_total")
    private static let slotsDropped = Counter(label: "sundial_replication_slots_dropped_total")
    private static let connectedReplicas = Gauge(label: "sundial_replication_connected_replicas")
    private static let syncTimeouts = Counter(label: "sundial_replication_sync_timeouts_total")
    private static let promotions = Counter(label: "sundial_replication_promotions_total")
    private static let fencings = Counter(label: "sundial_replication_fenced_total")
    private static let snapshotBytes = Counter(label: "sundial_replication_snapshot_sent_bytes_total")
    private static let tlsReloadsOK = Counter(label: "sundial_replication_tls_reloads_total", dimensions: [("result", "ok")])
    private static let tlsReloadsFailed = Counter(label: "sundial_replication_tls_reloads_total", dimensions: [("result", "failed")])
    private static let certificateNotAfter = Gauge(label: "sundial_replication_tls_certificate_expiry_timestamp_seconds")

    static func shipped(raw: Int, compressed: Int) {
        shippedRaw.increment(by: raw)
        shippedCompressed.increment(by: compressed)
        shippedChunks.increment()
    }

    static func received(raw: Int, compressed: Int, txns: UInt64) {
        receivedRaw.increment(by: raw)
        receivedCompressed.increment(by: compressed)
        receivedTxns.increment(by: Int(txns))
    }

    static func skippedReplay() { skippedChunks.increment() }
    static func tlsReloaded(ok: Bool) { (ok ? tlsReloadsOK : tlsReloadsFailed).increment() }
    static func certificateExpiry(_ notValidAfter: Int64) { certificateNotAfter.record(notValidAfter) }
    static func snapshotRequiredSent() { snapshotRequired.increment() }
    static func slotDropped() { slotsDropped.increment() }
    static func syncTimedOut() { syncTimeouts.increment() }
    static func promoted() { promotions.increment() }
    static func fenced() { fencings.increment() }
    static func snapshotSent(bytes: Int) { snapshotBytes.increment(by: bytes) }

    /// A connection ended with `error` (by kind); corrupt frames and chunks are also counted
    /// together, the alert RELIABILITY §3.5 R3 asks for.
    static func connectionFailed(_ kind: String) {
        Counter(label: "sundial_replication_connection_errors_total", dimensions: [("kind", kind)]).increment()
        if kind == "bad_frame" || kind == "corrupt_chunk" { corruptFrames.increment() }
    }

    /// Sets the lag gauges from the monitor's current view.
    package static func refresh(_ monitor: ReplicationMonitor) {
        let roleValue: [(String, Double)] = ["standalone", "primary", "replica", "fenced"].map {
            ($0, monitor.storage.role.rawValue == $0 ? 1 : 0)
        }
        for (role, value) in roleValue { Gauge(label: "sundial_node_role", dimensions: [("role", role)]).record(value) }
        Gauge(label: "sundial_node_epoch").record(Double(monitor.identity.epoch))
        Gauge(label: "sundial_node_writing_epoch").record(Double(monitor.storage.writingEpoch))
        Gauge(label: "sundial_wal_retained_bytes").record(Double(monitor.storage.wal.retainedBytes))
        if monitor.storage.role == .replica {
            let lag = monitor.replicaLag()
            record("sundial_replication_lag", lag, dimensions: [])
            let streaming = monitor.upstreamReport()?.connection == .streaming
            Gauge(label: "sundial_replication_upstream_connected").record(streaming ? 1 : 0)
        }
        let reports = monitor.replicaReports()
        connectedReplicas.record(Double(reports.filter(\.connected).count))
        for report in reports {
            let replica = ("replica", report.nodeID)
            Gauge(label: "sundial_replication_replica_connected", dimensions: [replica]).record(report.connected ? 1 : 0)
            record("sundial_replication_replica_write_lag", report.writeLag, dimensions: [replica])
            record("sundial_replication_replica_flush_lag", report.flushLag, dimensions: [replica])
            record("sundial_replication_replica_apply_lag", report.applyLag, dimensions: [replica])
        }
    }

    private static func record(_ name: String, _ lag: ReplicationLag, dimensions: [(String, String)]) {
        Gauge(label: name + "_seconds", dimensions: dimensions).record(lag.seconds ?? .nan)
        Gauge(label: name + "_txns", dimensions: dimensions).record(lag.txns.map(Double.init) ?? .nan)
        Gauge(label: name + "_bytes", dimensions: dimensions).record(lag.bytes.map(Double.init) ?? .nan)
    }
}
