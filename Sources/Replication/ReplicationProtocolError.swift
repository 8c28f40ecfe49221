/// Why a replication connection ends. Each side logs it, counts it by `kind` and reconnects
/// (replica) or drops the connection (primary); nothing after the failing frame is written.
package enum ReplicationProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not a valid frame (length, checksum, version, type, body).
    case badFrame(String)
    /// A frame arrived that this state does not allow.
    case unexpectedFrame(String)
    /// A WAL chunk failed verification (LZ4 checksums or sizes, record CRC, txn numbering).
    case corruptChunk(String)
    /// Txns are missing between what the replica holds and the chunk.
    case gap(expected: UInt64, got: UInt64)
    /// A frame from an epoch older than the newest one seen: its sender is a stale primary.
    case staleEpoch(frame: UInt64, newest: UInt64)
    /// The peer refused the connection (wrong cluster, not a primary, unsupported version).
    case refused(String)
    /// The primary no longer has the WAL the replica needs, or their histories diverge.
    case snapshotRequired(String)
    /// Nothing arrived within the keepalive timeout.
    case timeout(String)
    /// The primary sent a txn this replica holds with different contents: the histories forked.
    case diverged(String)

    package var kind: String {
        switch self {
        case .badFrame: "bad_frame"
        case .unexpectedFrame: "unexpected_frame"
        case .corruptChunk: "corrupt_chunk"
        case .gap: "gap"
        case .staleEpoch: "stale_epoch"
        case .refused: "refused"
        case .snapshotRequired: "snapshot_required"
        case .timeout: "timeout"
        case .diverged: "diverged"
        }
    }

    /// The metric kind of any error that ended a connection: bad frames from the decoder count
    /// as `bad_frame`, anything not from replication's checks (sockets, TLS) as `io`.
    static func kind(of error: any Error) -> String {
        if let error = error as? ReplicationProtocolError { return error.kind }
        if error is ReplicationFrameError { return "bad_frame" }
        return "io"
    }

    package var description: String {
        switch self {
        case .badFrame(let reason): "bad frame: \(reason)"
        case .unexpectedFrame(let reason): "unexpected frame: \(reason)"
        case .corruptChunk(let reason): "corrupt WAL chunk: \(reason)"
        case .gap(let expected, let got): "WAL chunk starts at txn \(got) but the next txn needed is \(expected)"
        case .staleEpoch(let frame, let newest): "frame from epoch \(frame), older than the newest seen (\(newest))"
        case .refused(let reason): "refused: \(reason)"
        case .snapshotRequired(let reason): "snapshot required: \(reason)"
        case .timeout(let reason): "timeout: \(reason)"
        case .diverged(let reason): "histories diverged: \(reason)"
        }
    }
}
