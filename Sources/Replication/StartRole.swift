import Logging
import NIOCore
import Storage

/// The role a node starts in (decision 0012). The configured `replication.role` is the
/// operator's intent; promotion, fencing and `sundial follow` change the role at runtime and
/// are recorded in `node/identity`. A runtime change survives restarts (like PostgreSQL's
/// promotion) until the configuration changes, which is the operator's newer intent.
///
/// A node that would start as primary with `replication.peers` set first asks them for their
/// epochs (`needsPeerConfirmation`): it starts read-only and takes writes only once a peer
/// confirms that no newer epoch or other primary exists.
package struct StartRole: Sendable, Equatable {
    package var identity: NodeIdentity
    package var role: NodeRole
    /// host:port to follow (replica).
    package var upstream: String?
    package var needsPeerConfirmation: Bool
    /// Why the runtime role differs from the configured one, for the start-up log.
    package var note: String?

    /// `fresh`: the data directory was created by this start (a new node has no history that
    /// could be stale, and its cluster id is its own until replicas join it).
    package static func decide(
        identity stored: NodeIdentity, configuredRole: NodeRole, configuredUpstream: String?, peersConfigured: Bool, fresh: Bool = false
    ) -> StartRole {
        var identity = stored
        guard configuredRole != .standalone else {
            identity.role = .standalone
            identity.configuredRole = .standalone
            identity.upstream = nil
            identity.configuredUpstream = nil
            return StartRole(identity: identity, role: .standalone, upstream: nil, needsPeerConfirmation: false, note: nil)
        }
        let sameIntent = stored.configuredRole == configuredRole
            && (configuredRole != .replica || stored.configuredUpstream == configuredUpstream)
        var note: String?
        if sameIntent, stored.role != .standalone {
            // Runtime state wins: a promoted node stays primary, a fenced one fenced, a
            // re-pointed replica follows its new primary.
            if stored.role != configuredRole {
                note = "started as \(stored.role.rawValue), not the configured \(configuredRole.rawValue): the role was changed at runtime "
                    + "(promotion, fencing or sundial follow); change replication.role to start as configured"
            }
        } else {
            identity.role = configuredRole
            identity.upstream = nil
        }
        identity.configuredRole = configuredRole
        identity.configuredUpstream = configuredUpstream
        let upstream = identity.role == .replica ? (identity.upstream ?? configuredUpstream) : nil
        return StartRole(
            identity: identity, role: identity.role, upstream: upstream,
            needsPeerConfirmation: identity.role == .primary && peersConfigured && !fresh, note: note)
    }
}

extension StartRole {
    /// Before storage opens: an empty replica whose primary cannot serve it from txn 1 receives a
    /// snapshot first (issue 8: "just starting it with replication.role=replica"). Returns the
    /// identity to run with (the primary's cluster id once joined).
    package static func bootstrapIfEmpty(
        _ start: StartRole, layout: DataDirectory, configuration: ReplicationConfiguration, group: any EventLoopGroup, logger: Logger
    ) async throws(StorageError) -> NodeIdentity {
        guard start.role == .replica, let upstream = start.upstream, try SnapshotImport.isEmpty(layout) else { return start.identity }
        return await SnapshotTransfer.bootstrap(
            identity: start.identity, layout: layout, upstream: upstream, configuration: configuration, group: group, logger: logger)
    }
}
