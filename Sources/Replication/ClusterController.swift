import Logging
import NIOCore
import ServiceLifecycle
import Storage

/// Operator actions on a clustered node (promotion, planned switchover, re-pointing) and the
/// epoch checks against `replication.peers`: at start for a node that would be primary, then
/// periodically while primary (a primary that meets a newer epoch fences itself).
package final class ClusterController: Service, Sendable {
    private let monitor: ReplicationMonitor
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Whether the node started read-only until a peer confirms its epoch (`StartRole`).
    private let confirmAtStart: Bool

    package init(monitor: ReplicationMonitor, group: any EventLoopGroup, confirmAtStart: Bool, logger: Logger) {
        self.monitor = monitor
        self.group = group
        self.confirmAtStart = confirmAtStart
        self.logger = logger
    }

    /// What a promotion did.
    package struct Promotion: Sendable {
        package var epoch: UInt64
        package var forkTxn: UInt64
        package var planned: Bool
        /// Last txn of the old primary a planned switchover waited for.
        package var drainedTxn: UInt64?
        /// Peers that learned of the new epoch before the promotion returned.
        package var announcedTo: [String]
        package var unreachable: [String]
        package var durationMillis: Int
    }

    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var message: String
        /// The request conflicts with the node's state (HTTP 409) rather than failing midway.
        package var conflict: Bool
        package var description: String { message }
    }

    // MARK: Promotion

    /// Promotes this replica (or fenced node): stop following, bump the epoch past every epoch
    /// seen, record the fork point, take writes, and announce the epoch to the peers (which
    /// fences a stale primary and re-points replicas). `planned` first asks the primary to
    /// stop writes and waits until this node applied everything it wrote: no acknowledged
    /// write can be lost.
    package func promote(planned: Bool, timeoutMillis: Int = 30_000) async throws(Failure) -> Promotion {
        let started = ContinuousClock.now
        let storage = monitor.storage
        switch storage.role {
        case .standalone:
            throw Failure(message: "this node is not clustered (replication.role=none): nothing to promote", conflict: true)
        case .primary:
            throw Failure(message: "this node is already the primary (epoch \(storage.writingEpoch))", conflict: true)
        case .replica, .fenced:
            break
        }
        var drained: UInt64?
        if planned {
            drained = try await drainPrimary(timeoutMillis: timeoutMillis)
        }
        // Stop following before the fork point is taken: nothing of the old primary's lands after it.
        storage.setRole(.fenced)
        monitor.upstreamConnection.dropCurrent()
        let epoch = max(monitor.identity.epoch, storage.writingEpoch) + 1
        let fork: EpochHistory.Fork
        do {
            try monitor.updateIdentity { identity in
                identity.epoch = epoch
                identity.role = .primary
                identity.upstream = nil
            }
            fork = try await storage.promote(toEpoch: epoch)
        } catch {
            throw Failure(message: "promotion failed: \(error)", conflict: false)
        }
        monitor.confirmPrimary()
        ReplicationMetrics.promoted()
        logger.notice(
            "promoted to primary",
            metadata: ["epoch": "\(epoch)", "fork-txn": "\(fork.firstTxn)", "planned": "\(planned)", "drained-txn": "\(drained.map { "\($0)" } ?? "-")"])
        let peers = monitor.configuration.peers
        let answers = await PeerProbe.askAll(peers, monitor: monitor, group: group)
        for answer in answers { monitor.consider(answer.state, epoch: answer.epoch, host: answer.host) }
        let reached = Set(answers.map(\.address))
        return Promotion(
            epoch: epoch, forkTxn: fork.firstTxn, planned: planned, drainedTxn: drained, announcedTo: peers.filter { reached.contains($0) },
            unreachable: peers.filter { !reached.contains($0) },
            durationMillis: (ContinuousClock.now - started).milliseconds)
    }

    /// Planned switchover, on the target: the primary stops writes and names its last txn;
    /// this node waits until that txn is durable and applied here.
    private func drainPrimary(timeoutMillis: Int) async throws(Failure) -> UInt64 {
        guard monitor.storage.role == .replica, monitor.upstreamReport()?.connection == .streaming else {
            throw Failure(message: "a planned switchover needs this node to be a replica streaming from its primary", conflict: true)
        }
        monitor.requestSwitchover()
        let deadline = ContinuousClock.now + .milliseconds(timeoutMillis)
        var last: UInt64?
        while ContinuousClock.now < deadline {
            if last == nil { last = monitor.drainedTxn }
            if let last, monitor.storage.wal.durableTxn >= last, monitor.storage.appliedTxn >= last { return last }
            try? await Task.sleep(for: .milliseconds(2))
        }
        throw Failure(
            message: last == nil
                ? "the primary did not stop writes within \(timeoutMillis) ms; nothing changed"
                : "this replica did not apply the primary's last txn \(last!) within \(timeoutMillis) ms; the primary is fenced "
                    + "(planned switchover) and this node was not promoted: promote a node to resume writes",
            conflict: false)
    }

    // MARK: Re-pointing

    /// Makes this node follow `address` (host:port of the new primary's replication listener).
    package func follow(_ address: String) throws(Failure) {
        guard ReplicationAddress.parse(address) != nil else {
            throw Failure(message: "primary must be HOST:PORT (its replication.bind.to), got '\(address)'", conflict: true)
        }
        switch monitor.storage.role {
        case .standalone:
            throw Failure(message: "this node is not clustered (replication.role=none)", conflict: true)
        case .primary:
            throw Failure(message: "this node is the primary: it cannot follow another node (fence or stop it first)", conflict: true)
        case .replica, .fenced:
            break
        }
        do {
            try monitor.follow(address)
        } catch {
            throw Failure(message: "cannot record the new primary: \(error)", conflict: false)
        }
        logger.notice("following a new primary", metadata: ["primary": "\(address)"])
    }

    // MARK: Epoch checks

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.checkEpochs()
        }
    }

    private func checkEpochs() async {
        let peers = monitor.configuration.peers
        if confirmAtStart, !peers.isEmpty { await confirmAtStart(peers) }
        let interval = monitor.configuration.peerProbeIntervalMillis
        // Runs until shutdown even with no peers: a service that returns would end the node.
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(interval))
            guard monitor.storage.role == .primary, !peers.isEmpty else { continue }
            for answer in await PeerProbe.askAll(peers, monitor: monitor, group: group) {
                monitor.consider(answer.state, epoch: answer.epoch, host: answer.host)
            }
        }
    }

    /// A node configured as primary takes writes only once a peer confirms that no newer
    /// epoch and no other primary exists; until then it is read-only and keeps asking.
    private func confirmAtStart(_ peers: [String]) async {
        var warned = false
        while !Task.isCancelled, monitor.storage.role == .fenced, monitor.fenceReason == ClusterController.confirming {
            let answers = await PeerProbe.askAll(peers, monitor: monitor, group: group)
            let mine = monitor.storage.writingEpoch
            let sameCluster = answers.filter { $0.state.clusterID == monitor.identity.clusterID }
            if let newer = sameCluster.first(where: { max($0.epoch, $0.state.writingEpoch) > mine }) {
                monitor.fence(
                    "peer \(newer.state.nodeID) (\(newer.address)) has epoch \(max(newer.epoch, newer.state.writingEpoch)), newer than this "
                        + "node's \(mine): another node was promoted while this one was down")
                return
            }
            if let other = sameCluster.first(where: { $0.state.role == NodeRole.primary.rawValue }) {
                monitor.fence("peer \(other.state.nodeID) (\(other.address)) is already primary at epoch \(other.state.writingEpoch)")
                return
            }
            // Any answer proves this node is not cut off from the cluster; members that could
            // know of a newer epoch answered above if they are reachable. (A fresh replica of
            // another cluster id counts: it joins this primary once it takes writes.)
            if !answers.isEmpty {
                monitor.confirmPrimary()
                logger.info(
                    "epoch confirmed by peers: taking writes",
                    metadata: ["epoch": "\(mine)", "peers": "\(answers.map(\.address).joined(separator: ","))"])
                return
            }
            if !warned {
                logger.warning(
                    "no peer answered: this node stays read-only until one confirms its epoch (or an operator runs sundial promote)",
                    metadata: ["peers": "\(peers.joined(separator: ","))"])
                warned = true
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// The fence reason of a primary that has not yet confirmed its epoch at start.
    package static let confirming = "confirming its epoch with replication.peers before taking writes"
}
