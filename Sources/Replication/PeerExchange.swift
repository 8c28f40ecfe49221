import Logging
import NIOCore
import Storage

/// What one member concludes from another's state (a PEER or PEER_REPLY frame), as a pure
/// function: the fencing and re-pointing rules of decision 0012.
package enum PeerVerdict: Sendable, Equatable {
    /// Nothing to do.
    case none
    /// This primary is superseded (a newer epoch, or another primary at the same epoch).
    case fence(String)
    /// This replica (or primary drained for a switchover to the sender) follows the sender.
    case follow

    /// `myRole`/`myEpoch` are this node's role and writing epoch; `theirNewest` the frame's
    /// epoch (the newest the sender has seen). `drainedFor` is the switchover target this
    /// node stopped writes for, if any; `following` the node id of the current upstream.
    package static func judge(
        myRole: NodeRole, myEpoch: UInt64, myNodeID: String, clusterID: String, drainedFor: String?,
        theirs: ReplicationFrame.PeerState, theirNewest: UInt64
    ) -> PeerVerdict {
        guard theirs.clusterID == clusterID, theirs.nodeID != myNodeID else { return .none }
        let newest = max(theirNewest, theirs.writingEpoch)
        let theyArePrimary = theirs.role == NodeRole.primary.rawValue
        switch myRole {
        case .primary:
            if newest > myEpoch {
                return .fence("peer \(theirs.nodeID) has seen epoch \(newest), newer than this primary's \(myEpoch): another node was promoted")
            }
            if theyArePrimary, theirs.writingEpoch == myEpoch {
                return .fence(
                    "peer \(theirs.nodeID) is also primary at epoch \(myEpoch) (two promotions at once?): promote one of them again")
            }
            return .none
        case .replica:
            return theyArePrimary && theirs.writingEpoch > myEpoch ? .follow : .none
        case .fenced:
            return theyArePrimary && drainedFor == theirs.nodeID && theirs.writingEpoch > myEpoch ? .follow : .none
        case .standalone:
            return .none
        }
    }
}

extension ReplicationMonitor {
    /// This node's state for the peer exchange.
    package func peerState() -> ReplicationFrame.PeerState {
        let identity = identity
        return ReplicationFrame.PeerState(
            clusterID: identity.clusterID, nodeID: identity.nodeID, role: storage.role.rawValue,
            writingEpoch: storage.writingEpoch, committedTxn: storage.wal.committedTxn, oldestTxn: storage.wal.oldestTxn,
            replicationPort: UInt16(clamping: configuration.bindPort))
    }

    /// A member told this node its state (PEER): learn its epoch, fence or follow as the rules
    /// say, and return this node's state for the reply. `host` is the sender's IP address.
    func receivePeer(_ theirs: ReplicationFrame.PeerState, epoch: UInt64, host: String?) -> ReplicationFrame.PeerState {
        consider(theirs, epoch: epoch, host: host)
        return peerState()
    }

    /// Applies what a peer's state implies for this node.
    @discardableResult
    func consider(_ theirs: ReplicationFrame.PeerState, epoch: UInt64, host: String?) -> PeerVerdict {
        guard theirs.clusterID == identity.clusterID else { return .none }
        observeEpoch(max(epoch, theirs.writingEpoch), from: "peer \(theirs.nodeID)")
        let verdict = PeerVerdict.judge(
            myRole: storage.role, myEpoch: storage.writingEpoch, myNodeID: identity.nodeID,
            clusterID: identity.clusterID, drainedFor: drainedFor, theirs: theirs, theirNewest: epoch)
        switch verdict {
        case .none:
            break
        case .fence(let reason):
            fence(reason)
        case .follow:
            guard let host, theirs.replicationPort > 0 else { break }
            let address = ReplicationAddress.format(host: host, port: Int(theirs.replicationPort))
            guard address != upstreamAddress || storage.role != .replica else { break }
            do {
                try follow(address)
                logger.notice(
                    "following the newly promoted primary",
                    metadata: ["primary": "\(address)", "primary-node": "\(theirs.nodeID)", "epoch": "\(theirs.writingEpoch)"])
            } catch {
                logger.error("cannot follow the newly promoted primary", metadata: ["primary": "\(address)", "error": "\(error)"])
            }
        }
        return verdict
    }
}

/// One short connection to a member: PEER with this node's state, PEER_REPLY back.
enum PeerProbe {
    struct Answer: Sendable {
        var address: String
        var state: ReplicationFrame.PeerState
        var epoch: UInt64
        var host: String
    }

    /// Asks `address`; `nil` when it cannot be reached or does not answer within `timeout`.
    static func ask(
        _ address: String, monitor: ReplicationMonitor, group: any EventLoopGroup, timeout: Duration = .seconds(2)
    ) async -> Answer? {
        guard let (host, port) = ReplicationAddress.parse(address) else { return nil }
        let configuration = monitor.configuration
        return await withTaskGroup(of: Answer?.self) { tasks in
            tasks.addTask {
                do {
                    let connection = try await ReplicationPipeline.connect(
                        host: host, port: port, configuration: configuration, group: group,
                        timeout: .milliseconds(Int64(timeout.milliseconds)))
                    return try await connection.executeThenClose { inbound, outbound in
                        try await outbound.write(ReplicationFrame(epoch: monitor.identity.epoch, .peer(monitor.peerState())))
                        for try await frame in inbound {
                            guard case .peerReply(let state) = frame.body else { return nil }
                            return Answer(address: address, state: state, epoch: frame.epoch, host: host)
                        }
                        return nil
                    }
                } catch {
                    return nil
                }
            }
            tasks.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await tasks.next() ?? nil
            tasks.cancelAll()
            return first
        }
    }

    /// Asks every peer at once.
    static func askAll(_ peers: [String], monitor: ReplicationMonitor, group: any EventLoopGroup) async -> [Answer] {
        await withTaskGroup(of: Answer?.self) { tasks in
            for peer in peers { tasks.addTask { await ask(peer, monitor: monitor, group: group) } }
            var answers: [Answer] = []
            for await answer in tasks { if let answer { answers.append(answer) } }
            return answers
        }
    }
}
