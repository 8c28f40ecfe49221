import Storage

/// One replica connection as the primary sees it, as a value: what to answer a HELLO, which
/// frames may follow, and which positions a STATUS may claim. The connection driver feeds it
/// frames and facts about the WAL and does what it returns.
package struct PrimaryStateMachine: Sendable {
    package enum State: Sendable, Equatable {
        case awaitingHello
        /// Shipping from `fromTxn`.
        case streaming(replica: String, fromTxn: UInt64)
        case closed
    }

    /// What the primary knows when a HELLO arrives.
    package struct Facts: Sendable {
        package var clusterID: String
        package var nodeID: String
        /// The epoch this node writes; its history's fork points decide who may follow it.
        package var history: EpochHistory
        /// False on a replica or fenced node: it ships nothing (cascading is not supported).
        package var isPrimary: Bool
        package var committedTxn: UInt64
        /// The first txn still in the WAL; `committedTxn + 1` when the WAL holds nothing.
        package var oldestAvailableTxn: UInt64

        package init(
            clusterID: String, nodeID: String, history: EpochHistory, isPrimary: Bool, committedTxn: UInt64, oldestAvailableTxn: UInt64
        ) {
            self.clusterID = clusterID
            self.nodeID = nodeID
            self.history = history
            self.isPrimary = isPrimary
            self.committedTxn = committedTxn
            self.oldestAvailableTxn = oldestAvailableTxn
        }
    }

    package enum Action: Sendable, Equatable {
        /// Send the frame and start shipping from `start.fromTxn`.
        case start(ReplicationFrame.Start)
        /// Send SNAPSHOT_REQUIRED and close.
        case snapshotRequired(oldestTxn: UInt64, reason: String)
        /// Send REFUSED and close.
        case refuse(String)
        /// Record the replica's positions.
        case positions(ReplicaPositions)
        /// The replica asks for a planned switchover to itself: stop writes, answer DRAINED.
        case switchover
    }

    package private(set) var state: State = .awaitingHello

    package init() {}

    /// A frame from the replica. `facts` is asked for only on HELLO; `shippedTxn` is the last
    /// txn sent so far (a STATUS may not claim more).
    package mutating func receive(
        _ frame: ReplicationFrame, facts: () -> Facts, shippedTxn: UInt64
    ) throws(ReplicationProtocolError) -> Action {
        switch (state, frame.body) {
        case (.awaitingHello, .hello(let hello)):
            let action = Self.answer(hello, epoch: frame.epoch, facts: facts())
            if case .start(let start) = action {
                state = .streaming(replica: hello.nodeID, fromTxn: start.fromTxn)
            } else {
                state = .closed
            }
            return action
        case (.streaming(_, let from), .status(let positions)):
            let shipped = max(shippedTxn, from - 1)
            guard positions.receivedTxn <= shipped, positions.durableTxn <= positions.receivedTxn,
                  positions.appliedTxn <= positions.durableTxn
            else {
                state = .closed
                throw .unexpectedFrame(
                    "STATUS claims received \(positions.receivedTxn), durable \(positions.durableTxn), applied "
                        + "\(positions.appliedTxn) but only txns up to \(shipped) were sent")
            }
            return .positions(positions)
        case (.streaming, .switchover):
            return .switchover
        default:
            let where_ = state == .awaitingHello ? "before HELLO" : "while streaming"
            state = .closed
            throw .unexpectedFrame("\(frame.typeName) \(where_)")
        }
    }

    /// The epoch a frame tells this primary about, if it may: any frame of an established
    /// session, or a HELLO from this cluster. A node of another cluster says nothing about our
    /// epochs (a misconfigured replica must not fence the primary).
    package func epochToObserve(_ frame: ReplicationFrame, clusterID: String) -> UInt64? {
        switch (state, frame.body) {
        case (.streaming, _): frame.epoch
        case (.awaitingHello, .hello(let hello)) where hello.clusterID == clusterID: frame.epoch
        default: nil
        }
    }

    /// What to answer a HELLO (RELIABILITY §3.5 R10, R11, R14).
    static func answer(_ hello: ReplicationFrame.Hello, epoch: UInt64, facts: Facts) -> Action {
        guard hello.protocolVersion == ReplicationFrame.protocolVersion else {
            return .refuse("replication protocol \(hello.protocolVersion) is not supported (this node speaks \(ReplicationFrame.protocolVersion))")
        }
        guard facts.isPrimary else { return .refuse("this node is not a primary") }
        guard hello.nodeID != facts.nodeID else { return .refuse("a node cannot replicate from itself") }
        // A replica that has written nothing yet may join any cluster (it adopts this one);
        // one with history from another cluster must never mix it with ours.
        guard hello.clusterID == facts.clusterID || hello.durableTxn == 0 else {
            return .refuse("replica belongs to cluster \(hello.clusterID), this primary to cluster \(facts.clusterID)")
        }
        let writing = facts.history.writingEpoch
        guard epoch <= writing, hello.lastEpoch <= writing else {
            return .refuse("replica has seen epoch \(max(epoch, hello.lastEpoch)), newer than this primary's \(writing): this primary is stale")
        }
        // The replica's history ends at `durableTxn` in `lastEpoch`; it is a prefix of ours only
        // if it ends before our first fork point after that epoch (DESIGN §5 rejoin rule).
        if let fork = facts.history.fork(after: hello.lastEpoch), hello.durableTxn >= fork.firstTxn {
            return .snapshotRequired(
                oldestTxn: facts.oldestAvailableTxn,
                reason: "replica's last txn \(hello.durableTxn) (epoch \(hello.lastEpoch)) is past the fork point: epoch \(fork.epoch) "
                    + "began at txn \(fork.firstTxn) on this primary, so txns \(fork.firstTxn)…\(hello.durableTxn) of the replica were never "
                    + "acknowledged by this history; re-bootstrap it (sundial rejoin --resync)")
        }
        guard hello.durableTxn <= facts.committedTxn else {
            return .snapshotRequired(
                oldestTxn: facts.oldestAvailableTxn,
                reason: "replica is at txn \(hello.durableTxn), ahead of the primary's last committed txn \(facts.committedTxn): histories diverge")
        }
        guard hello.durableTxn + 1 >= facts.oldestAvailableTxn else {
            return .snapshotRequired(
                oldestTxn: facts.oldestAvailableTxn,
                reason: "replica needs txn \(hello.durableTxn + 1) but the primary's WAL starts at txn \(facts.oldestAvailableTxn)")
        }
        return .start(ReplicationFrame.Start(
            fromTxn: hello.durableTxn + 1, primaryCommittedTxn: facts.committedTxn, clusterID: facts.clusterID, nodeID: facts.nodeID))
    }
}
