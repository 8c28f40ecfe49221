// Proves the replication state machines as values, chunk verification (RELIABILITY §3.5 R3–R9),
// lag accounting, the persisted slots and which positions a replica reports.
import Replication
import Storage
import Testing
import TestSupport

@Suite struct ReplicationStateTests {
    static func facts(
        committed: UInt64 = 100, oldest: UInt64 = 1, forks: [EpochHistory.Fork] = [.init(epoch: 2, firstTxn: 1)], primary: Bool = true
    ) -> PrimaryStateMachine.Facts {
        PrimaryStateMachine.Facts(
            clusterID: "c", nodeID: "p", history: EpochHistory(forks: forks), isPrimary: primary, committedTxn: committed,
            oldestAvailableTxn: oldest)
    }

    static func hello(
        durable: UInt64, cluster: String = "c", node: String = "r", epoch: UInt64 = 2, lastEpoch: UInt64 = 2,
        version: UInt16 = ReplicationFrame.protocolVersion
    ) -> ReplicationFrame {
        ReplicationFrame(
            epoch: epoch,
            .hello(.init(protocolVersion: version, clusterID: cluster, nodeID: node, durableTxn: durable, lastEpoch: lastEpoch)))
    }

    static func answer(_ frame: ReplicationFrame, _ facts: PrimaryStateMachine.Facts) throws -> PrimaryStateMachine.Action {
        var machine = PrimaryStateMachine()
        return try machine.receive(frame, facts: { facts }, shippedTxn: 0)
    }

    @Test func helloIsAnsweredByTheRules() throws {
        #expect(try Self.answer(Self.hello(durable: 40), Self.facts())
            == .start(.init(fromTxn: 41, primaryCommittedTxn: 100, clusterID: "c", nodeID: "p")))
        // A fresh replica from anywhere joins; one with history from another cluster is refused (R11).
        guard case .start = try Self.answer(Self.hello(durable: 0, cluster: "other"), Self.facts()) else {
            Issue.record("a fresh replica is started")
            return
        }
        guard case .refuse(let cluster) = try Self.answer(Self.hello(durable: 5, cluster: "other"), Self.facts()) else {
            Issue.record("foreign cluster must be refused")
            return
        }
        #expect(cluster.contains("cluster other"))
        // Ahead of the primary or behind the WAL's start: snapshot (R10, R15).
        guard case .snapshotRequired = try Self.answer(Self.hello(durable: 101), Self.facts()),
              case .snapshotRequired(let oldest, _) = try Self.answer(Self.hello(durable: 10), Self.facts(oldest: 50))
        else {
            Issue.record("snapshot required expected")
            return
        }
        #expect(oldest == 50)
        guard case .start = try Self.answer(Self.hello(durable: 49), Self.facts(oldest: 50)) else {
            Issue.record("the replica needs txn 50, which is there")
            return
        }
        // A newer epoch means this primary is stale; unknown protocol versions; non-primaries.
        for (frame, facts) in [
            (Self.hello(durable: 1, epoch: 3), Self.facts()), (Self.hello(durable: 1, version: 1), Self.facts()),
            (Self.hello(durable: 1, lastEpoch: 3), Self.facts()),
            (Self.hello(durable: 1), Self.facts(primary: false)), (Self.hello(durable: 1, node: "p"), Self.facts()),
        ] {
            guard case .refuse = try Self.answer(frame, facts) else {
                Issue.record("expected a refusal for \(frame)")
                continue
            }
        }
    }

    /// DESIGN §5 rejoin rule: a node whose history ends in epoch e may follow only if its last
    /// txn is before this primary's first fork point after e; the refusal names both positions.
    @Test func helloPastTheForkPointNeedsASnapshot() throws {
        let forked = Self.facts(forks: [.init(epoch: 1, firstTxn: 50), .init(epoch: 3, firstTxn: 80)])
        // The old primary of epoch 0 wrote up to txn 49 before the fork at 50: it may rejoin.
        #expect(try Self.answer(Self.hello(durable: 49, epoch: 3, lastEpoch: 0), forked)
            == .start(.init(fromTxn: 50, primaryCommittedTxn: 100, clusterID: "c", nodeID: "p")))
        // It wrote txn 50 in epoch 0, which this history wrote in epoch 1: refused, both positions named.
        guard case .snapshotRequired(_, let reason) = try Self.answer(Self.hello(durable: 50, epoch: 3, lastEpoch: 0), forked) else {
            Issue.record("a history past the fork point must not be followed")
            return
        }
        #expect(reason.contains("txn 50") && reason.contains("epoch 1 began at txn 50"))
        // A replica of epoch 1 is judged against the next fork (epoch 3 at txn 80).
        guard case .start = try Self.answer(Self.hello(durable: 79, epoch: 3, lastEpoch: 1), forked),
              case .snapshotRequired = try Self.answer(Self.hello(durable: 85, epoch: 3, lastEpoch: 1), forked),
              case .start = try Self.answer(Self.hello(durable: 85, epoch: 3, lastEpoch: 3), forked)
        else {
            Issue.record("the fork after the replica's own epoch decides")
            return
        }
    }

    @Test func onlyThisClustersFramesCanTellThePrimaryANewerEpoch() throws {
        var machine = PrimaryStateMachine()
        #expect(machine.epochToObserve(Self.hello(durable: 0, cluster: "other", epoch: 9), clusterID: "c") == nil)
        #expect(machine.epochToObserve(Self.hello(durable: 0, epoch: 9), clusterID: "c") == 9)
        #expect(machine.epochToObserve(ReplicationFrame(epoch: 9, .switchover), clusterID: "c") == nil)
        _ = try machine.receive(Self.hello(durable: 10), facts: { Self.facts() }, shippedTxn: 0)
        let status = ReplicationFrame(epoch: 5, .status(ReplicaPositions(receivedTxn: 10, durableTxn: 10, appliedTxn: 10, timeMicros: 0)))
        #expect(machine.epochToObserve(status, clusterID: "c") == 5)
        // A planned switchover is asked on an established session only.
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .switchover), facts: { Self.facts() }, shippedTxn: 10) == .switchover)
        var fresh = PrimaryStateMachine()
        #expect(throws: ReplicationProtocolError.self) {
            try fresh.receive(ReplicationFrame(epoch: 2, .switchover), facts: { Self.facts() }, shippedTxn: 0)
        }
        // The replica side: DRAINED while streaming names the primary's last txn.
        var replica = ReplicaStateMachine(durableTxn: 10, newestEpoch: 2)
        _ = try replica.receive(ReplicationFrame(epoch: 2, .start(.init(fromTxn: 11, primaryCommittedTxn: 12, clusterID: "c", nodeID: "p"))))
        #expect(try replica.receive(ReplicationFrame(epoch: 2, .drained(committedTxn: 12))) == .drained(12))
    }

    @Test func peersFenceStalePrimariesAndRepointReplicas() {
        func peer(_ role: NodeRole, epoch: UInt64, node: String = "b", cluster: String = "c") -> ReplicationFrame.PeerState {
            .init(clusterID: cluster, nodeID: node, role: role.rawValue, writingEpoch: epoch, committedTxn: 10, replicationPort: 9005)
        }
        func judge(_ role: NodeRole, _ epoch: UInt64, _ theirs: ReplicationFrame.PeerState, newest: UInt64? = nil, drained: String? = nil)
            -> PeerVerdict
        {
            PeerVerdict.judge(
                myRole: role, myEpoch: epoch, myNodeID: "a", clusterID: "c", drainedFor: drained, theirs: theirs,
                theirNewest: newest ?? theirs.writingEpoch)
        }
        // A primary meeting a newer epoch, from a primary or from a replica that saw one, fences.
        guard case .fence = judge(.primary, 0, peer(.primary, epoch: 1)),
              case .fence = judge(.primary, 0, peer(.replica, epoch: 0), newest: 1),
              case .fence = judge(.primary, 1, peer(.primary, epoch: 1))
        else {
            Issue.record("a superseded primary must fence itself")
            return
        }
        #expect(judge(.primary, 1, peer(.replica, epoch: 1)) == PeerVerdict.none)
        #expect(judge(.primary, 0, peer(.primary, epoch: 5, cluster: "other")) == PeerVerdict.none)
        #expect(judge(.primary, 0, peer(.primary, epoch: 5, node: "a")) == PeerVerdict.none)
        // Replicas follow a newer primary; a fenced node only the target it drained for.
        #expect(judge(.replica, 0, peer(.primary, epoch: 1)) == .follow)
        #expect(judge(.replica, 1, peer(.primary, epoch: 1)) == PeerVerdict.none)
        #expect(judge(.fenced, 0, peer(.primary, epoch: 1)) == PeerVerdict.none)
        #expect(judge(.fenced, 0, peer(.primary, epoch: 1), drained: "b") == .follow)
    }

    @Test func statusMayNotClaimMoreThanWasSent() throws {
        var machine = PrimaryStateMachine()
        _ = try machine.receive(Self.hello(durable: 10), facts: { Self.facts() }, shippedTxn: 0)
        let fine = ReplicaPositions(receivedTxn: 20, durableTxn: 20, appliedTxn: 15, timeMicros: 0)
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .status(fine)), facts: { Self.facts() }, shippedTxn: 20)
            == .positions(fine))
        let greedy = ReplicaPositions(receivedTxn: 21, durableTxn: 20, appliedTxn: 15, timeMicros: 0)
        #expect(throws: ReplicationProtocolError.self) {
            try machine.receive(ReplicationFrame(epoch: 2, .status(greedy)), facts: { Self.facts() }, shippedTxn: 20)
        }
        #expect(machine.state == .closed)
    }

    @Test func aSecondHelloOrAChunkFromTheReplicaIsAProtocolError() throws {
        var machine = PrimaryStateMachine()
        _ = try machine.receive(Self.hello(durable: 10), facts: { Self.facts() }, shippedTxn: 0)
        #expect(throws: ReplicationProtocolError.self) {
            try machine.receive(Self.hello(durable: 10), facts: { Self.facts() }, shippedTxn: 0)
        }
        var fresh = PrimaryStateMachine()
        #expect(throws: ReplicationProtocolError.self) {
            try fresh.receive(ReplicationFrame(epoch: 2, .keepalive(.init(committedTxn: 1, primaryTimeMicros: 0))),
                              facts: { Self.facts() }, shippedTxn: 0)
        }
    }

    @Test func replicaAcceptsOnlyAContinuousStreamFromItsEpochOrNewer() throws {
        var machine = ReplicaStateMachine(durableTxn: 10, newestEpoch: 2)
        let start = ReplicationFrame.Start(fromTxn: 11, primaryCommittedTxn: 30, clusterID: "c", nodeID: "p")
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .start(start))) == .started(start))
        let chunk = ReplicationFrame.WALChunk(firstTxn: 11, lastTxn: 20, rawLength: 0, compressed: [])
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .walChunk(chunk))) == .write(chunk))
        machine.wrote(through: 20)
        // A replayed chunk is compared, not written (R6, R7); an overlapping one is written (storage skips the old txns).
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .walChunk(chunk))) == .replay(chunk))
        let overlap = ReplicationFrame.WALChunk(firstTxn: 15, lastTxn: 25, rawLength: 0, compressed: [])
        #expect(try machine.receive(ReplicationFrame(epoch: 2, .walChunk(overlap))) == .write(overlap))
        machine.wrote(through: 25)
        // A gap (R8) ends the connection.
        var gapped = machine
        let gap = ReplicationFrame.WALChunk(firstTxn: 27, lastTxn: 30, rawLength: 0, compressed: [])
        #expect(throws: ReplicationProtocolError.gap(expected: 26, got: 27)) {
            try gapped.receive(ReplicationFrame(epoch: 2, .walChunk(gap)))
        }
        // An older epoch is a stale primary (R9).
        var stale = machine
        #expect(throws: ReplicationProtocolError.staleEpoch(frame: 1, newest: 2)) {
            try stale.receive(ReplicationFrame(epoch: 1, .keepalive(.init(committedTxn: 25, primaryTimeMicros: 0))))
        }
    }

    @Test func replicaStopsOnRefusalOrSnapshotRequired() {
        var refused = ReplicaStateMachine(durableTxn: 0, newestEpoch: 0)
        #expect(throws: ReplicationProtocolError.refused("no")) { try refused.receive(ReplicationFrame(epoch: 0, .refused(reason: "no"))) }
        var snapshot = ReplicaStateMachine(durableTxn: 0, newestEpoch: 0)
        #expect(throws: ReplicationProtocolError.snapshotRequired("gone")) {
            try snapshot.receive(ReplicationFrame(epoch: 0, .snapshotRequired(oldestTxn: 9, reason: "gone")))
        }
        var early = ReplicaStateMachine(durableTxn: 0, newestEpoch: 0)
        #expect(throws: ReplicationProtocolError.self) {
            try early.receive(ReplicationFrame(epoch: 0, .walChunk(.init(firstTxn: 1, lastTxn: 1, rawLength: 0, compressed: []))))
        }
    }

    // MARK: Chunks

    static func records(_ txns: ClosedRange<UInt64>, epoch: UInt64 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        for txn in txns {
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: txn), count: Int(txn % 50) + 1)
            payload.withUnsafeBytes { raw in
                WALRecordCodec.encode(
                    kind: .opaque, txn: txn, epoch: epoch, commitTimeMicros: Int64(txn) * 1000, payload: raw, into: &bytes)
            }
        }
        return bytes
    }

    static func verify(_ chunk: ReplicationFrame.WALChunk, epoch: UInt64 = 0) throws -> WALChunkCodec.Verified {
        try WALChunkCodec.verify(chunk, frameEpoch: epoch, maxRawBytes: 1 << 20, maxRecordBytes: 1 << 16)
    }

    @Test func aChunkRoundTripsAndCarriesCommitTimes() throws {
        let records = Self.records(5...40)
        let verified = try Self.verify(try WALChunkCodec.make(records: records, firstTxn: 5, lastTxn: 40))
        #expect(verified.records == records && verified.firstTxn == 5 && verified.lastTxn == 40)
        #expect(verified.commitTimes == (5...40).map { Int64($0) * 1000 })
    }

    @Test func everyDamagedChunkIsRefusedBeforeUse() throws {
        let records = Self.records(1...20)
        let good = try WALChunkCodec.make(records: records, firstTxn: 1, lastTxn: 20)
        // Wrong declared range, raw length, or a record CRC broken inside an intact LZ4 frame (R5).
        var wrongRange = good
        wrongRange.lastTxn = 21
        var wrongStart = good
        wrongStart.firstTxn = 2
        var wrongLength = good
        wrongLength.rawLength += 1
        var brokenRecord = records
        brokenRecord[WALRecordHeader.size + 2] ^= 1
        let recompressed = try WALChunkCodec.make(records: brokenRecord, firstTxn: 1, lastTxn: 20)
        var oversized = good
        oversized.rawLength = 2 << 20
        for (name, chunk) in [("range", wrongRange), ("start", wrongStart), ("length", wrongLength),
                              ("record crc", recompressed), ("cap", oversized)] {
            #expect(throws: ReplicationProtocolError.self, "\(name)") { try Self.verify(chunk) }
        }
        // Any flipped bit of the LZ4 frame (R3) or a truncation (R2) is refused.
        for index in stride(from: 0, to: good.compressed.count, by: 3) {
            var flipped = good
            flipped.compressed[index] ^= 0x10
            #expect(throws: ReplicationProtocolError.self, "flip at \(index)") { try Self.verify(flipped) }
        }
        var truncated = good
        truncated.compressed.removeLast(5)
        #expect(throws: ReplicationProtocolError.self) { try Self.verify(truncated) }
        // Records of a newer epoch than their frame are forged (R9).
        let newer = try WALChunkCodec.make(records: Self.records(1...3, epoch: 5), firstTxn: 1, lastTxn: 3)
        #expect(throws: ReplicationProtocolError.self) { try Self.verify(newer, epoch: 4) }
        #expect(try Self.verify(newer, epoch: 5).lastTxn == 3)
    }

    @Test func theChunkCacheHandsOutChunksByTheirFirstTxnAndForgetsTheOldest() throws {
        let cache = CompressedChunkCache(capacity: 2)
        for first: UInt64 in [1, 11, 21] {
            let chunk = try WALChunkCodec.make(records: Self.records(first...(first + 9)), firstTxn: first, lastTxn: first + 9)
            cache.insert(.init(chunk: chunk, firstCommitMicros: Int64(first)))
        }
        func cached(_ txn: UInt64) -> CompressedChunkCache.Entry? {
            guard case .hit(let entry) = cache.lookup(startingAt: txn, claimant: 99) else { return nil }
            return entry
        }
        #expect(cached(1) == nil)
        #expect(cached(11)?.chunk.lastTxn == 20)
        #expect(try Self.verify(try #require(cached(21)).chunk).lastTxn == 30)
        #expect(cached(12) == nil)
        // Single flight: the first asker makes the chunk, a second waits, a release frees the claim.
        guard case .make = cache.lookup(startingAt: 31, claimant: 1), case .inProgress = cache.lookup(startingAt: 31, claimant: 2),
              case .make = cache.lookup(startingAt: 31, claimant: 1)
        else {
            Issue.record("expected make / inProgress / make again for the claimant")
            return
        }
        cache.release(startingAt: 31, claimant: 1)
        guard case .make = cache.lookup(startingAt: 31, claimant: 2), case .hit = cache.lookup(startingAt: 21, claimant: 3) else {
            Issue.record("a released claim is free; a made chunk is a hit")
            return
        }
    }

    @Test func aReplayedTxnIsComparedWithTheLocalCopy() async throws {
        let directory = TemporaryDirectory()
        let wal = try WriteAheadLog(directory: directory.path, configuration: WALConfiguration(maxRecordBytes: 1 << 16))
        // The replica holds txns 1…20 exactly as the primary wrote them.
        let held = Self.records(1...20)
        var offset = 0
        while offset < held.count {
            let header = try held.withUnsafeBytes { raw in try WALRecordCodec.decode(raw, at: offset, maxPayloadBytes: 1 << 16).get() }
            _ = try held.withUnsafeBytes { raw in
                try wal.appendReplicated(
                    header, payload: UnsafeRawBufferPointer(rebasing: raw[(offset + WALRecordHeader.size)..<(offset + header.recordSize)]))
            }
            offset += header.recordSize
        }
        try await wal.waitDurable(20)
        let replay = try Self.verify(try WALChunkCodec.make(records: Self.records(5...25), firstTxn: 5, lastTxn: 25))
        try ReplicaClient.compareWithLocal(replay, wal: wal)
        // Txn 7 with other contents (another primary's history): divergence, nothing written.
        var forged = Self.records(5...6)
        [UInt8](repeating: 0xEE, count: 9).withUnsafeBytes { raw in
            WALRecordCodec.encode(kind: .opaque, txn: 7, epoch: 0, commitTimeMicros: 7000, payload: raw, into: &forged)
        }
        let diverged = try Self.verify(try WALChunkCodec.make(records: forged, firstTxn: 5, lastTxn: 7))
        #expect(throws: ReplicationProtocolError.self) { try ReplicaClient.compareWithLocal(diverged, wal: wal) }
        #expect(wal.nextTxn == 21)
    }

    // MARK: Lag

    @Test func lagIsZeroWhenCaughtUpAndUnknownWithoutEvidence() {
        var chunks = ShippedChunks()
        #expect(chunks.lag(of: 10, committed: 10, nowMicros: 5_000_000) == .zero)
        #expect(chunks.lag(of: 5, committed: 10, nowMicros: 5_000_000) == ReplicationLag(txns: 5, bytes: nil, seconds: nil))
        chunks.append(firstTxn: 6, lastTxn: 8, firstCommitMicros: 1_000_000, bytes: 300)
        chunks.append(firstTxn: 9, lastTxn: 10, firstCommitMicros: 3_000_000, bytes: 200)
        #expect(chunks.lag(of: 5, committed: 10, nowMicros: 5_000_000) == ReplicationLag(txns: 5, bytes: 500, seconds: 4))
        #expect(chunks.lag(of: 8, committed: 10, nowMicros: 5_000_000) == ReplicationLag(txns: 2, bytes: 200, seconds: 2))
        chunks.release(through: 8)
        #expect(chunks.lag(of: 8, committed: 10, nowMicros: 5_000_000) == ReplicationLag(txns: 2, bytes: 200, seconds: 2))
        #expect(chunks.lag(of: 10, committed: 10, nowMicros: 9_000_000) == .zero)
    }

    // MARK: Slots

    @Test func slotsRoundTripAndRefuseDamage() throws {
        let slots = ReplicationSlots(durable: ["a": 5, "b": 1 << 40], names: ["a": "replica one"])
        let bytes = slots.encoded()
        #expect(try ReplicationSlots.decode(bytes, path: "slots") == slots)
        for index in 0..<bytes.count {
            var damaged = bytes
            damaged[index] ^= 0x04
            #expect(throws: StorageError.self, "byte \(index)") { try ReplicationSlots.decode(damaged, path: "slots") }
        }
    }

    /// A node id belongs to the certificate name that first claimed it; another name is refused
    /// with the owner's name, and a slot made before names were kept takes the first claimant.
    @Test func aNodeIDIsBoundToTheFirstCertificateNameThatClaimsIt() {
        var slots = ReplicationSlots(durable: ["old": 3])
        #expect(slots.claim("old", name: "replica1") == nil)
        #expect(slots.claim("old", name: "replica1") == nil)
        #expect(slots.claim("old", name: "replica2") == "replica1")
        #expect(slots.claim("new", name: "replica2") == nil)
        #expect(slots.names == ["old": "replica1", "new": "replica2"])
    }

    /// Slots written before certificate names were recorded (format 1) still open.
    @Test func formatOneSlotsStillOpen() throws {
        let bytes = ChecksummedText.seal(magic: ReplicationSlots.magic, version: 1, lines: ["slot a 5", "slot b 7"])
        #expect(try ReplicationSlots.decode(bytes, path: "slots") == ReplicationSlots(durable: ["a": 5, "b": 7]))
    }

    /// A replica reports positions that move, not repeats or stale ones, and repeats only once
    /// an interval has passed.
    @Test func aReplicaReportsOnlyPositionsThatMove() {
        let reported = ReportedPositions()
        func at(_ received: UInt64, _ durable: UInt64, _ applied: UInt64, time: Int64) -> ReplicaPositions {
            ReplicaPositions(receivedTxn: received, durableTxn: durable, appliedTxn: applied, timeMicros: time)
        }
        #expect(reported.claim(at(5, 4, 3, time: 1_000)))
        #expect(!reported.claim(at(5, 4, 3, time: 1_100)), "nothing moved")
        #expect(reported.claim(at(5, 5, 3, time: 1_200)), "durable moved")
        #expect(!reported.claim(at(5, 4, 3, time: 1_300)), "older than what was reported")
        #expect(reported.claim(at(5, 5, 4, time: 1_400)), "applied moved")
        #expect(!reported.claim(at(5, 5, 4, time: 2_000), atLeastEvery: 1_000))
        #expect(reported.claim(at(5, 5, 4, time: 2_400), atLeastEvery: 1_000), "the interval passed")
        #expect(reported.claim(at(6, 5, 4, time: 2_401)), "received moved")
    }
}
