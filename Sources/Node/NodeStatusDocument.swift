import HTTPAPI
import Replication
import SQL
import Storage

/// `/status.json` on 9003 and `sundial status`: the node's role, epoch, positions, its
/// upstream (replica) or replicas (primary), and lag — `null` where it cannot be known.
///
/// ```json
/// {"role":"replica","epoch":0,"writingEpoch":0,"fencedReason":null,"clusterId":"…","nodeId":"…",
///  "forks":[{"epoch":1,"firstTxn":…}],"sync":{"mode":"durable","count":1,"quorumTxn":…},
///  "positions":{"nextTxn":…,"durableTxn":…,"appliedTxn":…},"ready":true,"readyReason":"ready",
///  "upstream":{"address":"…","state":"streaming","primaryNodeId":"…","primaryCommittedTxn":…,
///              "receivedTxn":…,"lastContactAgeSeconds":0.2,"lastError":null},
///  "lag":{"txns":0,"bytes":0,"seconds":0.0},
///  "replicas":[{"nodeId":"…","address":"…","connected":true,"slot":true,"sentTxn":…,
///               "receivedTxn":…,"durableTxn":…,"appliedTxn":…,
///               "syncState":"quorum","writeLag":{…},"flushLag":{…},"applyLag":{…}}],
///  "peers":["…"]}
/// ```
package enum NodeStatusDocument {
    package static func json(_ monitor: ReplicationMonitor) -> String {
        let identity = monitor.identity
        let storage = monitor.storage
        let (ready, reason) = monitor.isReady()
        let history = storage.epochHistory
        var out = "{\"role\":\(quoted(storage.role.rawValue)),\"epoch\":\(identity.epoch),\"writingEpoch\":\(history.writingEpoch)"
        out += ",\"fencedReason\":\(monitor.fenceReason.map(quoted) ?? "null")"
        out += ",\"forks\":[" + history.forks.map { "{\"epoch\":\($0.epoch),\"firstTxn\":\($0.firstTxn)}" }.joined(separator: ",") + "]"
        out += ",\"sync\":{\"mode\":\(quoted(monitor.configuration.syncMode.rawValue)),\"count\":\(monitor.configuration.syncCount)"
        out += ",\"timeoutMs\":\(monitor.configuration.syncTimeoutMillis),\"quorumTxn\":\(number(monitor.sync?.quorumTxn))}"
        out += ",\"clusterId\":\(quoted(identity.clusterID)),\"nodeId\":\(quoted(identity.nodeID))"
        out += ",\"positions\":{\"nextTxn\":\(storage.wal.nextTxn),\"durableTxn\":\(storage.wal.durableTxn)"
        out += ",\"appliedTxn\":\(storage.appliedTxn),\"walRetainedBytes\":\(storage.wal.retainedBytes)}"
        out += ",\"ready\":\(ready),\"readyReason\":\(quoted(reason))"
        if let upstream = monitor.upstreamReport() {
            out += ",\"upstream\":{\"address\":\(quoted(upstream.address)),\"state\":\(quoted(upstream.connection.rawValue))"
            out += ",\"primaryNodeId\":\(upstream.primaryNodeID.map(quoted) ?? "null")"
            out += ",\"primaryCommittedTxn\":\(number(upstream.primaryCommittedTxn))"
            out += ",\"receivedTxn\":\(upstream.receivedTxn)"
            out += ",\"lastContactAgeSeconds\":\(number(upstream.lastContactAgeSeconds))"
            out += ",\"lastError\":\(upstream.lastError.map(quoted) ?? "null")}"
            out += ",\"lag\":" + lag(monitor.replicaLag())
        }
        if storage.role == .primary || !monitor.replicaReports().isEmpty {
            out += ",\"replicas\":["
            for (index, report) in monitor.replicaReports().enumerated() {
                if index > 0 { out += "," }
                out += "{\"nodeId\":\(quoted(report.nodeID)),\"address\":\(quoted(report.address))"
                out += ",\"connected\":\(report.connected),\"slot\":\(report.hasSlot),\"sentTxn\":\(report.sentTxn)"
                out += ",\"receivedTxn\":\(number(report.positions?.receivedTxn))"
                out += ",\"durableTxn\":\(number(report.positions?.durableTxn))"
                out += ",\"appliedTxn\":\(number(report.positions?.appliedTxn))"
                out += ",\"syncState\":\(quoted(monitor.sync == nil ? "async" : "quorum"))"
                out += ",\"writeLag\":\(lag(report.writeLag)),\"flushLag\":\(lag(report.flushLag)),\"applyLag\":\(lag(report.applyLag))}"
            }
            out += "]"
        }
        out += ",\"peers\":[" + monitor.configuration.peers.map(quoted).joined(separator: ",") + "]}"
        return out
    }

    /// The same for a person (`/status.txt`, printed by `sundial status`).
    package static func text(_ monitor: ReplicationMonitor) -> String {
        let identity = monitor.identity
        let storage = monitor.storage
        let (ready, reason) = monitor.isReady()
        var out = "role: \(storage.role.rawValue)    epoch: \(identity.epoch) (writes \(storage.writingEpoch))"
        out += "    ready: \(ready ? "yes" : "no (\(reason))")\n"
        if let fenced = monitor.fenceReason { out += "read-only: \(fenced)\n" }
        if let sync = monitor.sync {
            out += "sync: \(sync.mode.rawValue) by \(sync.count) replica(s), timeout \(monitor.configuration.syncTimeoutMillis) ms, quorum at txn \(sync.quorumTxn)\n"
        }
        out += "cluster: \(identity.clusterID)    node: \(identity.nodeID)\n"
        out += "wal: next txn \(storage.wal.nextTxn), durable \(storage.wal.durableTxn), applied \(storage.appliedTxn), "
        out += "retained \(storage.wal.retainedBytes) bytes\n"
        if let upstream = monitor.upstreamReport() {
            out += "upstream: \(upstream.address) \(upstream.connection.rawValue)"
            if let node = upstream.primaryNodeID { out += " (primary node \(node))" }
            out += "\n  primary committed txn \(upstream.primaryCommittedTxn.map { "\($0)" } ?? "unknown"), received \(upstream.receivedTxn)"
            out += ", last contact \(upstream.lastContactAgeSeconds.map { seconds($0) + " ago" } ?? "never")\n"
            if let error = upstream.lastError { out += "  last error: \(error)\n" }
            out += "  apply lag: " + describe(monitor.replicaLag()) + "\n"
        }
        let reports = monitor.replicaReports()
        if storage.role == .primary || !reports.isEmpty {
            out += "replicas: \(reports.filter(\.connected).count) connected of \(reports.count)\n"
            for report in reports {
                out += "  \(report.nodeID) \(report.address) \(report.connected ? "connected" : "disconnected")"
                out += report.hasSlot ? "" : " (slot dropped: needs a snapshot)"
                out += "\n    sent \(report.sentTxn)"
                if let positions = report.positions {
                    out += ", received \(positions.receivedTxn), durable \(positions.durableTxn), applied \(positions.appliedTxn)"
                }
                out += "\n    write lag: \(describe(report.writeLag))\n    flush lag: \(describe(report.flushLag))"
                out += "\n    apply lag: \(describe(report.applyLag))\n"
            }
        }
        return out
    }

    private static func describe(_ lag: ReplicationLag) -> String {
        let txns = lag.txns.map { "\($0) txns" } ?? "unknown txns"
        let bytes = lag.bytes.map { "\($0) bytes" } ?? "unknown bytes"
        return "\(lag.seconds.map(seconds) ?? "unknown"), \(txns), \(bytes)"
    }

    private static func seconds(_ value: Double) -> String { "\(number(value)) s" }

    private static func lag(_ lag: ReplicationLag) -> String {
        "{\"txns\":\(number(lag.txns)),\"bytes\":\(number(lag.bytes)),\"seconds\":\(number(lag.seconds))}"
    }

    private static func number(_ value: UInt64?) -> String { value.map { "\($0)" } ?? "null" }

    private static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        // Milliseconds are the useful resolution for lag.
        return "\((value * 1000).rounded() / 1000)"
    }

    private static func quoted(_ text: String) -> String { JSONText.quoted(text) }
}
