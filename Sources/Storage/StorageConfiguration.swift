/// The storage layer's settings as typed values; `Node` builds them from `server.conf`.
package struct StorageConfiguration: Sendable {
    package var wal: WALConfiguration
    /// Tables are checkpointed (column files fsynced, `_txn` written) after this many applied
    /// transactions, and at shutdown; replay after a crash starts from the last checkpoint.
    /// Each checkpoint's fsyncs slow the commits beside them by a few ms (decision 0032), so
    /// this is not small; bytes and open files bring a checkpoint forward too.
    package var checkpointEveryTxns: Int
    /// …or after this many bytes of WAL records, whichever comes first: purge follows
    /// checkpoints, and large transactions would otherwise keep many segments between them
    /// (and leave none to reuse: decision 0030). `nil`: two segments' worth.
    package var checkpointEveryBytes: Int?
    /// …or after this many bytes of column data applied: a checkpoint fsyncs what was written
    /// since the last one, and the WAL's own fdatasyncs wait behind that burst, so its size is
    /// bounded by the data, not by how compactly the WAL holds it (decision 0034: 128 MiB ≈
    /// the burst of two WAL segments before the WAL narrowed its columns).
    package var checkpointEveryColumnBytes = 128 << 20
    /// Column files open for appends (closed by each checkpoint) past which a checkpoint comes
    /// early: writes spread over many partitions or tables must not run the process out of
    /// descriptors between checkpoints.
    package var maxOpenColumnFiles = 1_000
    /// Commits wait once this many committed transactions are not applied yet.
    package var maxApplyLagTxns: Int
    /// How long a small run of late commits at the WAL's end may wait for the commits after
    /// it before it is merged (`LateApplyHold`); 0 merges each at once. 50 ms: a merge costs
    /// about a millisecond of the applier (a new part version: a directory and a file per
    /// column), and late commits under interleaving senders come continuously, so the hold
    /// bounds merges to ~20 a second (decision 0025).
    package var lateApplyHoldNanos: UInt64 = 50_000_000
    /// Largest run of late commits held (payload bytes).
    package var lateApplyHoldMaxBytes = 1 << 20
    /// The storage write path's system calls; tests inject faults and power loss here.
    package var io: StorageIO = .system
    /// When late rows split a partition instead of rewriting it.
    package var outOfOrder = OutOfOrderPolicy()
    /// Most distinct values one SYMBOL column's dictionary may hold (it lives in memory, and a
    /// stream of unique tag values would otherwise grow it without bound: RELIABILITY I20).
    package var maxSymbolValues = 1 << 22
    /// Whether applies that move a TTL table's newest row start a TTL pass (tests of the pass
    /// itself turn it off and call `enforceTTL`).
    package var enforcesTTL = true
    /// How stored values convert for `ALTER COLUMN … TYPE` (SQL's CAST, supplied by the node);
    /// without one, applying a type change suspends the table.
    package var columnConverter: (any ColumnConverter)?

    package init(wal: WALConfiguration = WALConfiguration(), checkpointEveryTxns: Int = 2_048, maxApplyLagTxns: Int = 4_096) {
        self.wal = wal
        self.checkpointEveryTxns = checkpointEveryTxns
        self.maxApplyLagTxns = maxApplyLagTxns
    }
}

/// When out-of-order rows split a partition into parts instead of rewriting it
/// (decision 0013): a rewrite copies every row before the earliest late row, so on a large
/// partition a stream of slightly late batches would copy the partition once per batch.
package struct OutOfOrderPolicy: Sendable, Equatable {
    /// A part is split at the earliest late row when at least this many rows lie before that
    /// row and more than after it; otherwise the part is rewritten (cheap while it is small).
    package var splitMinRows: Int
    /// Parts are squashed by size tier (tier k: up to `splitMinRows · fanIn^k` rows): as soon as
    /// `squashFanIn` neighbouring parts share a tier they are concatenated into one, so a row is
    /// copied about log_fanIn(partition rows / part rows) times — size-tiered compaction.
    package var squashFanIn: Int
    /// The most parts a partition may have whatever their sizes: past it, the two neighbouring
    /// parts with the fewest rows together are concatenated.
    package var maxParts: Int

    package init(splitMinRows: Int = 8_192, squashFanIn: Int = 8, maxParts: Int = 64) {
        self.splitMinRows = max(1, splitMinRows)
        self.squashFanIn = max(2, squashFanIn)
        self.maxParts = max(1, maxParts)
    }

    /// The size tier of a part of `rows` rows.
    package func tier(_ rows: UInt64) -> Int {
        var tier = 0
        var bound = UInt64(splitMinRows)
        while rows >= bound && tier < 64 {
            tier += 1
            bound = bound.multipliedReportingOverflow(by: UInt64(squashFanIn)).partialValue
            if bound == 0 { break }
        }
        return tier
    }
}
