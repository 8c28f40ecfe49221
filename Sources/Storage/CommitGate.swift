/// Synchronous replication as storage sees it (DESIGN §5 ack modes): after a commit is durable
/// here, the engine asks the gate before acknowledging it. Replication implements it; every
/// protocol's writes pass through `StorageEngine`, so none can skip it.
package protocol CommitGate: Sendable {
    /// Returns once enough replicas reached the configured level for `txn`; throws
    /// `StorageError(.notReplicated)` when they did not within the configured time.
    func acknowledge(txn: UInt64) async throws(StorageError)
}
