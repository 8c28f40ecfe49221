#if canImport(Glibc)
import Glibc
#endif
import Metrics
import Synchronization

/// Metric names of the storage layer, in one place (STYLE). QuestDB's names where the concept
/// exists (`questdb_wal_written_rows_total`, `questdb_wal_apply_written_rows_total`,
/// `questdb_suspended_tables`), `sundial_*` for the rest.
package enum StorageMetrics {
    private static let committedRowsTotal = Counter(label: "questdb_wal_written_rows_total")
    private static let appliedRowsTotal = Counter(label: "questdb_wal_apply_written_rows_total")
    static let suspendedTables = Gauge(label: "questdb_suspended_tables")
    /// Time from a transaction's WAL commit to its apply: how stale reads can be.
    static let visibilityLag = Metrics.Timer(label: "sundial_storage_visibility_lag")
    static let walNextTxn = Gauge(label: "sundial_wal_next_txn")
    static let walDurableTxn = Gauge(label: "sundial_wal_durable_txn")
    static let appliedTxn = Gauge(label: "sundial_storage_applied_txn")
    static let walRetainedBytes = Gauge(label: "sundial_wal_retained_bytes")
    static let walSyncRounds = Gauge(label: "sundial_wal_sync_rounds")
    static let walBytesPurged = Counter(label: "sundial_wal_purged_bytes_total")
    /// TTL passes that could not drop a table's expired partitions (the next apply retries).
    static let ttlFailures = Counter(label: "sundial_ttl_failures_total")
    /// QuestDB's count of errors nobody asked for an answer to: a table whose apply failed or
    /// whose files are damaged, a failed WAL fsync or write, a failed TTL pass, an endpoint
    /// that failed with 500. `http.pessimistic.health.check.enabled` turns health red on it.
    private static let unhandledErrorsTotal = Counter(label: "questdb_unhandled_errors_total")
    private static let unhandledErrorCount = Atomic<Int>(0)
    /// Applies that merged rows into partitions (late rows) instead of appending.
    private static let outOfOrderMergesTotal = Counter(label: "sundial_storage_out_of_order_merges_total")
    /// Runs of late commits the applier held back for the commits after them (`LateApplyHold`).
    private static let lateHoldsTotal = Counter(label: "sundial_storage_late_holds_total")
    /// Column bytes written with direct I/O, past the page cache (decision 0045).
    private static let directWriteBytesTotal = Counter(label: "sundial_storage_direct_write_bytes_total")

    /// Publishes every storage metric at open, so dashboards see them before the first write.
    static func opened(wal: WriteAheadLog, suspendedTables: Int) {
        committedRowsTotal.increment(by: 0)
        appliedRowsTotal.increment(by: 0)
        walBytesPurged.increment(by: 0)
        ttlFailures.increment(by: 0)
        unhandledErrorsTotal.increment(by: 0)
        outOfOrderMergesTotal.increment(by: 0)
        lateHoldsTotal.increment(by: 0)
        directWriteBytesTotal.increment(by: 0)
        record(wal: wal, appliedTxn: wal.committedTxn, suspendedTables: suspendedTables)
    }

    static func committedRows(_ count: Int) {
        committedRowsTotal.increment(by: count)
    }

    static func appliedRows(_ count: Int) {
        appliedRowsTotal.increment(by: count)
    }

    static func wroteDirectly(bytes: Int) {
        directWriteBytesTotal.increment(by: bytes)
    }

    static func mergedOutOfOrder() {
        outOfOrderMergesTotal.increment()
    }

    static func heldLateRun() {
        lateHoldsTotal.increment()
    }

    static func ttlFailed() {
        ttlFailures.increment()
        unhandledError()
    }

    package static func unhandledError() {
        unhandledErrorsTotal.increment()
        unhandledErrorCount.add(1, ordering: .relaxed)
    }

    /// Unhandled errors since the process started.
    package static var unhandledErrors: Int { unhandledErrorCount.load(ordering: .relaxed) }

    static func purged(bytes: Int) {
        walBytesPurged.increment(by: bytes)
    }

    /// One WAL record applied: how long after its commit.
    static func applied(committedAtMicros: Int64) {
        visibilityLag.recordNanoseconds(max(0, (nowMicros() - committedAtMicros) * 1_000))
    }

    static func record(wal: WriteAheadLog, appliedTxn: UInt64, suspendedTables: Int) {
        walNextTxn.record(Int64(wal.nextTxn))
        walDurableTxn.record(Int64(wal.durableTxn))
        Self.appliedTxn.record(Int64(appliedTxn))
        walRetainedBytes.record(wal.retainedBytes)
        walSyncRounds.record(wal.syncRounds)
        Self.suspendedTables.record(suspendedTables)
    }

    static func nowMicros() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
    }
}
