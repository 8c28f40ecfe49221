/// What a node may do with writes. Storage enforces it where every write passes; replication
/// owns the changes; protocols only read it (ParameterStatus, `X-QuestDB-Role`, `/settings`).
package enum NodeRole: String, Sendable, CaseIterable {
    /// Not part of a cluster (`replication.role=none`): accepts writes, ships nothing.
    case standalone
    /// Accepts writes and ships its WAL to replicas.
    case primary
    /// Applies the primary's WAL; serves reads only.
    case replica
    /// A former primary that learned of a higher epoch: read-only until it rejoins.
    case fenced

    /// What a refused client is told (every protocol says the same).
    package var writeRefusal: String {
        self == .fenced
            ? "the node is fenced (read-only: a newer primary may exist, see /status.json) and refuses writes; write to the current primary"
            : "the node is a \(rawValue) and refuses writes; write to the primary"
    }

    /// Whether external clients may write on a node in this role.
    package var acceptsWrites: Bool {
        switch self {
        case .standalone, .primary: true
        case .replica, .fenced: false
        }
    }
}
