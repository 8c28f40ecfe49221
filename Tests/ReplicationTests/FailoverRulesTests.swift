// Proves the failover rules that are plain values: the role a node starts in (decision 0012)
// and the synchronous-replication quorum with its timeout and fencing.
import Replication
import Storage
import Testing

@Suite struct FailoverRulesTests {
    static func identity(role: NodeRole, configured: NodeRole?, upstream: String? = nil, configuredUpstream: String? = nil) -> NodeIdentity {
        NodeIdentity(
            clusterID: "c", nodeID: "n", epoch: 3, role: role, configuredRole: configured, upstream: upstream,
            configuredUpstream: configuredUpstream)
    }

    @Test func runtimeRoleChangesSurviveRestartsUntilTheConfigurationChanges() {
        // First start with this configuration: the configured role, recorded.
        var start = StartRole.decide(
            identity: Self.identity(role: .standalone, configured: nil), configuredRole: .replica, configuredUpstream: "a:1",
            peersConfigured: true)
        #expect(start.role == .replica && start.upstream == "a:1" && start.identity.configuredRole == .replica && start.note == nil)
        // Promoted at runtime, restarted with the same configuration: stays primary, confirms with peers.
        start = StartRole.decide(
            identity: Self.identity(role: .primary, configured: .replica, configuredUpstream: "a:1"), configuredRole: .replica,
            configuredUpstream: "a:1", peersConfigured: true)
        #expect(start.role == .primary && start.needsPeerConfirmation && start.note != nil)
        // Re-pointed at runtime: follows the runtime primary.
        start = StartRole.decide(
            identity: Self.identity(role: .replica, configured: .replica, upstream: "b:2", configuredUpstream: "a:1"),
            configuredRole: .replica, configuredUpstream: "a:1", peersConfigured: true)
        #expect(start.role == .replica && start.upstream == "b:2")
        // The operator changed replication.primary: the configuration wins.
        start = StartRole.decide(
            identity: Self.identity(role: .replica, configured: .replica, upstream: "b:2", configuredUpstream: "a:1"),
            configuredRole: .replica, configuredUpstream: "c:3", peersConfigured: true)
        #expect(start.role == .replica && start.upstream == "c:3" && start.identity.upstream == nil)
        // Fenced stays fenced as primary; configured as replica it rejoins.
        start = StartRole.decide(
            identity: Self.identity(role: .fenced, configured: .primary), configuredRole: .primary, configuredUpstream: nil,
            peersConfigured: true)
        #expect(start.role == .fenced && !start.needsPeerConfirmation)
        start = StartRole.decide(
            identity: Self.identity(role: .fenced, configured: .primary), configuredRole: .replica, configuredUpstream: "b:2",
            peersConfigured: true)
        #expect(start.role == .replica && start.upstream == "b:2")
        // A primary without peers has nobody to ask.
        start = StartRole.decide(
            identity: Self.identity(role: .primary, configured: .primary), configuredRole: .primary, configuredUpstream: nil,
            peersConfigured: false)
        #expect(start.role == .primary && !start.needsPeerConfirmation)
        // Standalone clears the cluster roles.
        start = StartRole.decide(
            identity: Self.identity(role: .fenced, configured: .primary), configuredRole: .standalone, configuredUpstream: nil,
            peersConfigured: false)
        #expect(start.role == .standalone)
    }

    static func positions(_ received: UInt64, _ durable: UInt64, _ applied: UInt64) -> ReplicaPositions {
        ReplicaPositions(receivedTxn: received, durableTxn: durable, appliedTxn: applied, timeMicros: 0)
    }

    @Test func aCommitWaitsForItsQuorumAtTheModesLevel() async throws {
        let sync = SyncReplication(mode: .durable, count: 2, timeoutMillis: 10_000)
        let waiting = Task { try await sync.acknowledge(txn: 10) }
        try await Task.sleep(for: .milliseconds(20))
        sync.update(replica: "a", Self.positions(12, 12, 5))
        // Received alone is not durable; one replica is not two.
        sync.update(replica: "b", Self.positions(12, 9, 9))
        try await Task.sleep(for: .milliseconds(20))
        #expect(sync.quorumTxn == 9)
        sync.update(replica: "b", Self.positions(12, 11, 9))
        try await waiting.value
        #expect(sync.quorumTxn == 11)
        // Already covered: returns at once.
        try await sync.acknowledge(txn: 11)
        #expect(SyncReplication(mode: .applied, count: 1, timeoutMillis: 1).level(of: Self.positions(3, 2, 1)) == 1)
        #expect(SyncReplication(mode: .received, count: 1, timeoutMillis: 1).level(of: Self.positions(3, 2, 1)) == 3)
    }

    @Test func anUnconfirmedCommitFailsAfterTheTimeoutAndFencingFailsEveryWaiter() async throws {
        let sync = SyncReplication(mode: .applied, count: 1, timeoutMillis: 50)
        let error = await #expect(throws: StorageError.self) { try await sync.acknowledge(txn: 1) }
        #expect(error?.code == .notReplicated)
        #expect(error?.message.contains("replication.sync.timeout") == true)

        let fenced = SyncReplication(mode: .durable, count: 1, timeoutMillis: 60_000)
        let waiting = Task { try await fenced.acknowledge(txn: 5) }
        try await Task.sleep(for: .milliseconds(20))
        fenced.refuseAll("newer epoch")
        let refusal = await #expect(throws: StorageError.self) { try await waiting.value }
        #expect(refusal?.code == .notReplicated)
        // Nothing is acknowledged while fenced, even what replicas hold.
        fenced.update(replica: "a", Self.positions(9, 9, 9))
        await #expect(throws: StorageError.self) { try await fenced.acknowledge(txn: 9) }
        fenced.resume()
        try await fenced.acknowledge(txn: 9)
    }
}

@Suite struct SPKIPinsTests {
    @Test func pinsParseAsSHA256Base64AndBadEntriesAreNamed() throws {
        let hash = [UInt8](repeating: 7, count: 32)
        let text = "sha256/" + Base64.encode(hash) + ", sha256/" + Base64.encode([UInt8](repeating: 9, count: 32))
        guard case .success(let pins) = SPKIPins.parse(text) else {
            Issue.record("valid pins refused")
            return
        }
        #expect(pins.hashes.count == 2 && pins.hashes.contains(hash))
        for bad in ["sha1/" + Base64.encode(hash), "sha256/" + Base64.encode([1, 2, 3]), "sha256/!!!", "plain"] {
            guard case .failure(let error) = SPKIPins.parse("sha256/" + Base64.encode(hash) + "," + bad) else {
                Issue.record("\(bad) accepted")
                continue
            }
            #expect(error.entry == bad)
        }
        #expect(!pins.admits(nil))
    }
}
