/// The storage layer's settings as typed values; `Node` builds them from `server.conf`.
package struct StorageConfiguration: Sendable {
    package var wal: WALConfiguration
    /// Tables are checkpointed (column files fsynced, `_txn` written) after this many applied
    /// transactions, and at shutdown; replay after a crash starts from the last checkpoint.
    package var checkpointEveryTxns: Int
    /// Commits wait once this many committed transactions are not applied yet.
    package var maxApplyLagTxns: Int
    /// The storage write path's system calls; tests inject faults and power loss here.
    package var io: StorageIO = .system

    package init(wal: WALConfiguration = WALConfiguration(), checkpointEveryTxns: Int = 256, maxApplyLagTxns: Int = 4_096) {
        self.wal = wal
        self.checkpointEveryTxns = checkpointEveryTxns
        self.maxApplyLagTxns = maxApplyLagTxns
    }
}
