import Dispatch
import Synchronization

/// The storage layer as the protocols see it: create tables, commit row batches through the
/// WAL, read snapshots. Commits are acknowledged once the WAL holds them (as `commitMode`
/// defines); a single applier then applies them to the tables in txn order, off the caller's
/// thread, and publishes new snapshots.
package final class StorageEngine: Sendable {
    package let wal: WriteAheadLog
    /// Tables that could not be opened (damaged files), found at open; they refuse writes.
    package let damagedTables: [DamagedTable]
    private let tablesDirectory: String
    private let configuration: StorageConfiguration
    /// What has been committed: the names and schemas writers validate against.
    private let catalog: PlainMutex<Catalog>
    /// What has been applied: snapshots readers take, and waiters for applies.
    private let published: PlainMutex<Published>
    private let applier: PlainMutex<Applier>
    private let applyQueue = DispatchQueue(label: "sundial.apply")
    private let payloadHeaders = PayloadHeaderPool()
    /// Set while a TTL pass (`enforceTTL`) is scheduled or running.
    private let ttlPass = Atomic<Bool>(false)
    /// Why the last TTL pass could not drop a table's expired partitions, if one could not.
    package let lastTTLFailure = PlainMutex<String?>(nil)
    /// Lowest txn a replica still needs (set by replication); the WAL keeps everything after it.
    private let retentionHold = PlainMutex<UInt64?>(nil)
    /// Synchronous replication: a commit is acknowledged once this says enough replicas hold it.
    private let commitGate = PlainMutex<(any CommitGate)?>(nil)
    let layout: DataDirectory

    /// Opens the tables and the WAL and replays every committed transaction the tables lack.
    package init(layout: DataDirectory, configuration: StorageConfiguration, role: NodeRole = .standalone) throws(StorageError) {
        var stores: [UInt32: TableStore] = [:]
        var damaged: [DamagedTable] = []
        for entry in try ColumnFiles.entries(of: layout.tablesDirectory) where entry.contains("~") {
            if entry.hasSuffix(".tmp") || entry.hasSuffix(".dropped") {
                // A table whose creation was cut short: its create replays from the WAL.
                ColumnFiles.removeTree(layout.tablesDirectory + "/" + entry, io: configuration.io)
                continue
            }
            do {
                let store = try TableStore(directory: layout.tablesDirectory + "/" + entry, io: configuration.io)
                store.outOfOrder = configuration.outOfOrder
                stores[store.schema.tableID] = store
            } catch {
                // One damaged table must not take the node down: it is reported and refuses
                // writes; every other table serves as usual.
                damaged.append(DamagedTable(directoryName: entry, error: error))
            }
        }
        self.damagedTables = damaged
        // A snapshot installed with no table still says where the WAL continues.
        let highestApplied = max(stores.values.map(\.state.appliedTxn).max() ?? 0, try SnapshotBase.load(layout)?.txn ?? 0)
        ColumnFiles.removeTree(layout.root + "/snapshot-staging")
        // Every table has checkpointed past the lowest applied txn: older segments are garbage.
        // (Not when a table is damaged: what it needs is unknown.)
        let checkpointedByAll = damaged.isEmpty ? stores.values.map(\.state.appliedTxn).min() ?? 0 : 0
        wal = try WriteAheadLog(
            directory: layout.walDirectory, configuration: configuration.wal, nextTxnIfEmpty: highestApplied + 1,
            obsoleteThrough: checkpointedByAll, io: configuration.io)
        tablesDirectory = layout.tablesDirectory
        self.configuration = configuration
        var applier = Applier(
            stores: stores, tablesDirectory: layout.tablesDirectory, damaged: damaged, io: configuration.io,
            outOfOrder: configuration.outOfOrder, columnConverter: configuration.columnConverter)
        let replayFrom = stores.values.map { $0.state.appliedTxn + 1 }.min() ?? (wal.segments.first?.firstTxn ?? 1)
        try applier.applyCommitted(wal: wal, from: max(replayFrom, wal.segments.first?.firstTxn ?? replayFrom))
        // Checkpoint before serving. Skipping it made recovery ~20 % faster, and running it in
        // the background right after open ~18 %, but either way a node killed again soon after
        // a restart replays ever more (and rewrites O3 partitions again) on each start, and a
        // crash loop stops making progress: the kill -9 test showed both.
        try applier.checkpointAll()
        var initialCatalog = Catalog(stores: applier.stores, damaged: damaged)
        initialCatalog.role = role
        initialCatalog.epochs = try EpochHistory.load(layout)
        self.layout = layout
        catalog = PlainMutex(initialCatalog)
        published = PlainMutex(Published(snapshots: applier.snapshots(), appliedTxn: wal.committedTxn))
        self.applier = PlainMutex(applier)
        StorageMetrics.opened(wal: wal, suspendedTables: damaged.count)
    }

    // MARK: Writing

    /// Creates a table (its id and version are assigned here) and returns once it is applied.
    package func createTable(_ requested: TableSchema) async throws(StorageError) -> TableSchema {
        let (schema, position) = try catalog.withLock { (catalog) throws(StorageError) -> (TableSchema, WALPosition) in
            let schema = try catalog.reserve(requested)
            do throws(StorageError) {
                return (schema, try append(.schemaChange, SchemaChange.createTable(schema).encoded(), in: catalog))
            } catch {
                catalog.release(schema)
                throw error
            }
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
        return schema
    }

    /// Changes a table's structure: `change` edits a copy of the committed schema (add, drop
    /// or rename columns; rename the table). Returns the new schema once applied.
    package func alterTable(
        _ name: String, _ change: (inout TableSchema) throws(SchemaError) -> Void
    ) async throws(StorageError) -> TableSchema {
        let (schema, position) = try await withTablesFree([name]) { (catalog) throws(StorageError) -> (TableSchema, WALPosition) in
            let (old, schema) = try catalog.alter(name, change)
            do throws(StorageError) {
                return (schema, try append(.schemaChange, SchemaChange.alterTable(schema).encoded(), in: catalog))
            } catch {
                catalog.restore(old, replacing: schema)
                throw error
            }
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
        return schema
    }

    /// `ALTER TABLE … ALTER COLUMN … TYPE`: the column keeps its name and place under a new id,
    /// and every node converts the stored values as it applies the change (decision 0021).
    /// Returns the new schema once applied; a conversion that failed leaves the table
    /// suspended and is thrown.
    package func changeColumnType(_ name: String, column: String, to type: ColumnType) async throws(StorageError) -> TableSchema {
        let (schema, position) = try await withTablesFree([name]) { (catalog) throws(StorageError) -> (TableSchema, WALPosition) in
            var from = UInt32(0)
            let (old, schema) = try catalog.alter(name) { (schema) throws(SchemaError) in
                from = try schema.changeColumnType(named: column, to: type).from
            }
            do throws(StorageError) {
                return (schema, try append(.schemaChange, SchemaChange.changeColumnType(schema, from: from).encoded(), in: catalog))
            } catch {
                catalog.restore(old, replacing: schema)
                throw error
            }
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
        if let reason = published.withLock({ $0.suspended[schema.tableID] }) {
            throw StorageError(.notWritable, path: name, "the column type change failed to apply; the table is suspended: \(reason)")
        }
        return schema
    }

    /// Removes every row of a table; its structure stays.
    package func truncateTable(_ name: String) async throws(StorageError) {
        let position = try await withTablesFree([name]) { (catalog) throws(StorageError) -> WALPosition in
            try catalog.requireWritable(name)
            let schema = try catalog.existing(name)
            return try append(.schemaChange, SchemaChange.truncateTable(tableID: schema.tableID).encoded(), in: catalog)
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
    }

    /// Removes the partitions of `name` whose start timestamp `matches` (QuestDB's
    /// `DROP PARTITION LIST …` and `… WHERE ts < …` resolve to this); returns how many.
    @discardableResult
    package func dropPartitions(_ name: String, where matches: (Int64) -> Bool) async throws(StorageError) -> Int {
        try await removePartitions(name, where: matches) { id, timestamps throws(StorageError) in
            .dropPartitions(tableID: id, timestamps: timestamps)
        }
    }

    /// QuestDB's `DETACH PARTITION`: the partitions of `name` whose start timestamp `matches`
    /// leave the table into `<partition>.detached/` on every node (decision 0022); returns how
    /// many. Refused while an earlier detached copy of one of them is still there.
    @discardableResult
    package func detachPartitions(_ name: String, where matches: (Int64) -> Bool) async throws(StorageError) -> Int {
        try await removePartitions(name, where: matches) { [layout] id, timestamps throws(StorageError) in
            guard let schema = catalog.withLock({ $0.schemas.values.first { $0.tableID == id } }) else {
                throw StorageError(.notWritable, path: name, "table does not exist [table=\(name)]")
            }
            var isDirectory = false
            for timestamp in timestamps {
                let partition = PartitionTime.name(of: timestamp, by: schema.partitionBy)
                let path = "\(layout.tablesDirectory)/\(TableStore.directoryName(for: schema))/\(partition)\(DetachedPartition.detachedSuffix)"
                if DurableFile.exists(path, isDirectory: &isDirectory) {
                    throw StorageError(
                        .notWritable, path: path,
                        "partition \(partition) was detached before and \(partition)\(DetachedPartition.detachedSuffix) is still in the table's directory; move it away first")
                }
            }
            return .detachPartitions(tableID: id, timestamps: timestamps)
        }
    }

    /// QuestDB's `SQUASH PARTITIONS`: partitions split into parts by late rows (decision
    /// 0013) become one part each, on every node.
    package func squashPartitions(_ name: String) async throws(StorageError) {
        let (schema, _) = try await partitionedTable(name)
        try await commitPartitionChange(name, schema, .squashPartitions(tableID: schema.tableID))
    }

    private func removePartitions(
        _ name: String, where matches: (Int64) -> Bool, record: (UInt32, [Int64]) throws(StorageError) -> SchemaChange
    ) async throws(StorageError) -> Int {
        let (schema, present) = try await partitionedTable(name)
        let timestamps = present.filter(matches).sorted()
        guard !timestamps.isEmpty else { return 0 }
        try await commitPartitionChange(name, schema, try record(schema.tableID, timestamps))
        return timestamps.count
    }

    /// The schema of partitioned table `name` and the start of each partition it has once
    /// everything committed so far is applied (one entry however many parts a partition has).
    private func partitionedTable(_ name: String) async throws(StorageError) -> (TableSchema, Set<Int64>) {
        let schema = try catalog.withLock { (catalog) throws(StorageError) -> TableSchema in
            try catalog.requireWritable(name)
            return try catalog.existing(name)
        }
        guard schema.partitionBy != .none else {
            throw StorageError(.notWritable, path: name, "table is not partitioned [table=\(name)]")
        }
        await waitUntilApplied(wal.committedTxn)
        let snapshot: TableSnapshot? = published.withLock { $0.snapshots[schema.tableID] }
        return (schema, Set((snapshot?.partitions ?? []).map(\.timestamp)))
    }

    /// Commits a partition change of `schema`'s table and waits for it; an apply that failed
    /// (the table is suspended) is thrown.
    private func commitPartitionChange(_ name: String, _ schema: TableSchema, _ change: SchemaChange) async throws(StorageError) {
        let position = try await withTablesFree([name]) { (catalog) throws(StorageError) -> WALPosition in
            try catalog.requireWritable(name)
            guard try catalog.existing(name).tableID == schema.tableID else {
                throw StorageError(.notWritable, path: name, "table was replaced while changing its partitions")
            }
            return try append(.schemaChange, change.encoded(), in: catalog)
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
        if let reason = published.withLock({ $0.suspended[schema.tableID] }) {
            throw StorageError(.notWritable, path: name, "the partition change failed to apply; the table is suspended: \(reason)")
        }
    }

    /// QuestDB's `ATTACH PARTITION LIST`: each partition must be in the table's directory as
    /// `<partition>.attachable` (a directory DETACH made), of this table, and absent from it.
    /// Every node then attaches its own copy (decision 0022).
    package func attachPartitions(_ name: String, timestamps: [Int64]) async throws(StorageError) {
        let (schema, present) = try await partitionedTable(name)
        var identities: [DetachedPartition.Identity] = []
        var isDirectory = false
        for timestamp in Set(timestamps).sorted() {
            let partition = PartitionTime.name(of: timestamp, by: schema.partitionBy)
            let path = "\(layout.tablesDirectory)/\(TableStore.directoryName(for: schema))/\(partition)\(DetachedPartition.attachableSuffix)"
            guard !present.contains(timestamp) else {
                throw StorageError(.notWritable, path: name, "cannot attach partition \(partition): the table already has that partition")
            }
            guard DurableFile.exists(path, isDirectory: &isDirectory), isDirectory else {
                throw StorageError(
                    .notWritable, path: path,
                    "cannot attach partition \(partition): \(partition)\(DetachedPartition.attachableSuffix) is not in the table's directory (rename the detached copy to it)")
            }
            identities.append(try DetachedPartition.inspect(path, for: schema).2)
        }
        try await commitPartitionChange(name, schema, .attachPartitions(tableID: schema.tableID, partitions: identities))
    }

    /// Removes a table and its files.
    package func dropTable(_ name: String) async throws(StorageError) {
        let position = try await withTablesFree([name]) { (catalog) throws(StorageError) -> WALPosition in
            try catalog.requireWritable(name)
            let schema = try catalog.existing(name)
            let position = try append(.schemaChange, SchemaChange.dropTable(tableID: schema.tableID).encoded(), in: catalog)
            catalog.release(schema)
            return position
        }
        try await settle(position)
        await waitUntilApplied(position.txn)
    }

    /// Commits `batch` as one WAL transaction; returns its txn once committed. Rows become
    /// visible to snapshots when applied (`waitUntilApplied`).
    package func commit(_ batch: RowBatch) async throws(StorageError) -> UInt64 {
        let appended = try await appendRows(batch)
        try await settle(appended)
        return appended.txn
    }

    /// Commits batches of several tables as one WAL transaction: all of them become durable
    /// and visible together, or none does (an ILP/HTTP request over several tables). A
    /// `.schemaChanged` error names the stale batch's table in `path`.
    package func commit(all batches: [RowBatch]) async throws(StorageError) -> UInt64? {
        guard let appended = try await appendRows(all: batches) else { return nil }
        try await settle(appended)
        return appended.txn
    }

    /// A transaction appended to the WAL that `settle` has not waited for yet.
    package struct AppendedCommit: Sendable {
        package let position: WALPosition
        let rows: Int
        package var txn: UInt64 { position.txn }
    }

    /// The first half of `commit(all:)`: the batches' transaction is in the WAL — in its order
    /// for good, not yet durable — and the batches may be refilled at once. ILP over TCP, which
    /// acknowledges nothing, parses on while `settle` waits for the fsync.
    package func appendRows(all batches: [RowBatch]) async throws(StorageError) -> AppendedCommit? {
        let batches = batches.filter { $0.rowCount > 0 }
        if batches.isEmpty { return nil }
        if batches.count == 1 { return try await appendRows(batches[0]) }
        for batch in batches { try settleSymbolValues(batch) }
        guard Set(batches.map(\.schema.tableID)).count == batches.count else {
            throw StorageError(.notWritable, path: batches[0].schema.name, "one transaction holds one batch per table")
        }
        await waitForApplyLag()
        let position = try await withTablesFree(batches.map(\.schema.name)) { (catalog) throws(StorageError) -> WALPosition in
            for batch in batches { try catalog.admit(batch) }
            return try appendBatches(.rowBatchGroup, batches, in: catalog)
        }
        return AppendedCommit(position: position, rows: batches.reduce(0) { $0 + $1.rowCount })
    }

    private func appendRows(_ batch: RowBatch) async throws(StorageError) -> AppendedCommit {
        try settleSymbolValues(batch)
        await waitForApplyLag()
        let position = try await withTablesFree([batch.schema.name]) { (catalog) throws(StorageError) -> WALPosition in
            try catalog.admit(batch)
            // Written from the batch's own column memory: no copy of it into one array first.
            return try appendBatches(.rowBatch, [batch], in: catalog)
        }
        return AppendedCommit(position: position, rows: batch.rowCount)
    }

    /// The second half of a commit: waits until the transaction is durable (`sync` commit mode)
    /// and acknowledged as the replication sync mode asks, and starts applying it.
    package func settle(_ appended: AppendedCommit) async throws(StorageError) {
        try await settle(appended.position)
        StorageMetrics.committedRows(appended.rows)
    }

    /// UPDATE: `compute` reads the table as of every write appended before it and returns the
    /// replacement rows, which commit as one WAL transaction (`rowUpdate`) naming the rows they
    /// replace by position. Other writes to the table wait from the moment the table is taken
    /// until the record is appended — so nothing lands between the view `compute` read and the
    /// update, and the positions hold wherever the record is applied (replay, replicas). The
    /// update's own computation is all they wait for, as behind a DDL statement.
    /// Returns the number of rows replaced, or `compute`'s failure.
    package func update<Failure: Error>(
        _ name: String, _ compute: (TableSnapshot) -> Result<RowUpdate?, Failure>
    ) async throws(StorageError) -> Result<Int, Failure> {
        let (tableID, lastAppended) = try await withTablesFree([name]) { (catalog) throws(StorageError) -> (UInt32, UInt64) in
            try catalog.requireWritable(name)
            let schema = try catalog.existing(name)
            catalog.updating.insert(schema.tableID)
            return (schema.tableID, wal.nextTxn - 1)
        }
        let appended: Result<(WALPosition, rows: Int)?, Failure>
        do {
            // The table is let go once the record is appended (or nothing is), not after the
            // fsync: later writes queue behind the record, not behind the disk.
            defer {
                let waiters = catalog.withLock { catalog in
                    catalog.updating.remove(tableID)
                    defer { catalog.updateWaiters = [] }
                    return catalog.updateWaiters
                }
                for waiter in waiters { waiter.resume() }
            }
            startApplying()
            await waitUntilApplied(lastAppended)
            let (snapshot, suspension) = published.withLock { ($0.snapshots[tableID], $0.suspended[tableID]) }
            guard suspension == nil, let snapshot else {
                throw StorageError(.notWritable, path: name, "table is suspended and refuses writes: \(suspension ?? "not applied")")
            }
            switch compute(snapshot) {
            case .failure(let failure):
                appended = .failure(failure)
            case .success(let update?) where update.rowCount > 0:
                var payload: [UInt8] = []
                payload.reserveCapacity(update.batch.byteCount + update.rowCount * 8 + 64)
                RowUpdateCodec.encode(update, into: &payload)
                let position = try catalog.withLock { (catalog) throws(StorageError) -> WALPosition in
                    try catalog.requireWritable(name)
                    guard let current = catalog.schemas[NameRules.lookupKey(name)], current.tableID == tableID,
                          current.version == update.batch.schema.version
                    else { throw StorageError(.schemaChanged, path: name, "table changed during UPDATE; run it again") }
                    return try append(.rowUpdate, payload, in: catalog)
                }
                appended = .success((position, update.rowCount))
            case .success:
                appended = .success(nil)
            }
        }
        guard case .success(let written?) = appended else { return appended.map { _ in 0 } }
        try await settle(written.0)
        await waitUntilApplied(written.0.txn)
        if let reason = published.withLock({ $0.suspended[tableID] }) {
            throw StorageError(.notWritable, path: name, "UPDATE failed to apply; the table is suspended: \(reason)")
        }
        StorageMetrics.committedRows(written.rows)
        return .success(written.rows)
    }

    /// Runs `body` under the catalog lock once no UPDATE holds any of the tables `names` name
    /// (waiting for it meanwhile): every client write goes through here.
    private func withTablesFree<T>(
        _ names: [String], _ body: (inout Catalog) throws(StorageError) -> T
    ) async throws(StorageError) -> T {
        while true {
            let result = try catalog.withLock { (catalog) throws(StorageError) -> T? in
                catalog.isUpdating(names) ? nil : try body(&catalog)
            }
            if let result { return result }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                catalog.withLock { catalog in
                    if catalog.isUpdating(names) { catalog.updateWaiters.append(continuation) } else { continuation.resume() }
                }
            }
        }
    }

    /// Refuses a batch whose SYMBOL values would grow a column's dictionary past
    /// `maxSymbolValues`. Checked before the WAL append, since interning happens at apply,
    /// when refusing is too late. The dictionary seen is the last applied one: batches not
    /// applied yet may add up to the apply lag's new values beyond the limit (it is a memory
    /// bound, not an exact count). A column that cannot reach the limit with this batch's
    /// distinct values is passed without looking at them, so normal ingestion pays nothing.
    /// Drops the values a writer's batch kept from its earlier rows (`RowBatch.clearRows`) that
    /// these rows do not use — they stay out of the WAL and out of the count — and checks the
    /// rest against `cairo.max.symbol.values`.
    private func settleSymbolValues(_ batch: RowBatch) throws(StorageError) {
        batch.dropUnusedSymbolEntries()
        let limit = configuration.maxSymbolValues
        let symbols = published.withLock { $0.snapshots[batch.schema.tableID]?.symbols } ?? [:]
        for (position, column) in batch.schema.columns.enumerated() where column.type == .symbol {
            let dictionary = symbols[column.id] ?? .empty
            let values = batch.column(position)
            // The batch's dictionary holds each of its distinct values once.
            guard dictionary.values.count + values.lengths.count > limit else { continue }
            var fresh = 0
            var offset = 0
            for length in values.lengths {
                let value = String(decoding: values.data[offset..<offset + Int(length)], as: UTF8.self)
                if dictionary.keys[value] == nil { fresh += 1 }
                offset += Int(length)
            }
            if dictionary.values.count + fresh > limit {
                throw StorageError(
                    .limitExceeded, path: batch.schema.name,
                    "symbol column \(column.name) of table \(batch.schema.name) would hold more than \(limit) distinct values "
                        + "(it has \(dictionary.values.count), the rows add \(fresh)); raise cairo.max.symbol.values or use a VARCHAR column")
            }
        }
    }

    /// Bounded queue between writers and the applier: when apply falls this far behind,
    /// writers wait for it rather than letting the unapplied WAL grow without limit.
    private func waitForApplyLag() async {
        let behind = wal.nextTxn
        if behind > appliedTxn + UInt64(configuration.maxApplyLagTxns) {
            startApplying()
            await waitUntilApplied(behind - UInt64(configuration.maxApplyLagTxns))
        }
    }

    /// Appends a record. Called under the catalog lock, so the WAL's order of schema changes
    /// and batches is the order the catalog validated them in: a batch admitted against
    /// schema version v can never land after the change to v + 1.
    private func append(_ kind: WALRecordKind, _ payload: [UInt8], in catalog: borrowing Catalog) throws(StorageError) -> WALPosition {
        let epoch = catalog.epochs.writingEpoch
        return try payload.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try wal.append(kind: kind, epoch: epoch, payload: raw) }
        }.get()
    }

    /// Appends batches as one record, their headers and narrowed codes in an array kept for
    /// the next commits (`PayloadHeaderPool`).
    private func appendBatches(_ kind: WALRecordKind, _ batches: [RowBatch], in catalog: borrowing Catalog) throws(StorageError) -> WALPosition {
        var headers = payloadHeaders.take()
        var pieces = RowBatchCodec.pieces(batches, reusing: &headers)
        defer { payloadHeaders.give(pieces.takeHeaders()) }
        return try append(kind, pieces, in: catalog)
    }

    private func append(_ kind: WALRecordKind, _ payload: PayloadPieces, in catalog: borrowing Catalog) throws(StorageError) -> WALPosition {
        let epoch = catalog.epochs.writingEpoch
        return try payload.withBuffers { (pieces) throws(StorageError) in try wal.append(kind: kind, epoch: epoch, pieces: pieces) }
    }

    /// Waits until an appended record is committed as the commit mode defines, wakes the
    /// applier, then waits for the replicas the synchronous mode asks for (if any).
    private func settle(_ position: WALPosition) async throws(StorageError) {
        if wal.configuration.commitMode == .sync { try await wal.waitDurable(position.txn) }
        startApplying()
        if let gate = commitGate.withLock({ $0 }) { try await gate.acknowledge(txn: position.txn) }
    }

    // MARK: Role and replication

    /// What the node may do with clients' writes (DESIGN §5: enforced here, where every write passes).
    package var role: NodeRole { catalog.withLock { $0.role } }

    /// Changes the role. Under the catalog lock: a write admitted before the change is in the
    /// WAL already; none is admitted after it unless the new role takes writes.
    package func setRole(_ role: NodeRole) {
        catalog.withLock { $0.role = role }
    }

    /// The fork points of this node's WAL; its last epoch is the one new records carry.
    package var epochHistory: EpochHistory { catalog.withLock { $0.epochs } }

    /// The epoch new records carry (without copying the history: asked on every frame).
    package var writingEpoch: UInt64 { catalog.withLock { $0.epochs.writingEpoch } }

    /// Makes this node the primary of `epoch` (a promotion): records the fork point in
    /// `node/epochs`, appends an epoch-change record (the first txn of the new epoch, so
    /// replicas learn the fork point from the WAL itself), takes writes, and returns once the
    /// record is durable. Under the catalog lock: no client write can slip in between.
    package func promote(toEpoch epoch: UInt64) async throws(StorageError) -> EpochHistory.Fork {
        let (fork, position) = try catalog.withLock { (catalog) throws(StorageError) -> (EpochHistory.Fork, WALPosition) in
            var history = catalog.epochs
            let fork = EpochHistory.Fork(epoch: epoch, firstTxn: wal.nextTxn)
            guard epoch > history.writingEpoch else {
                throw StorageError(.notWritable, path: "node/epochs", "cannot promote to epoch \(epoch): this node already writes epoch \(history.writingEpoch)")
            }
            try history.append(fork)
            // The history is durable before any record of the new epoch exists: after a crash
            // in between, the next record still lands at the recorded fork txn.
            try history.save(layout, io: configuration.io)
            catalog.epochs = history
            let position = try append(.epochChange, [], in: catalog)
            catalog.role = .primary
            return (fork, position)
        }
        try await wal.waitDurable(position.txn)
        startApplying()
        return fork
    }

    /// Installs (or removes) the synchronous-replication gate every client commit passes.
    package func setCommitGate(_ gate: (any CommitGate)?) {
        commitGate.withLock { $0 = gate }
    }

    /// Appends records received from the primary to this node's WAL with the primary's txn
    /// numbers, epochs and commit times, follows their schema changes in the catalog, waits
    /// until they are durable and wakes the applier. `bytes` is a run of whole WAL records
    /// (header + payload); each is verified first.
    ///
    /// Records at or below the WAL's last txn are skipped (a replayed chunk is harmless); a
    /// gap or a record that fails verification throws before anything is appended.
    /// Returns the last txn now in the WAL.
    @discardableResult
    package func appendReplicated(_ bytes: [UInt8]) async throws(StorageError) -> UInt64 {
        let run = try VerifiedWALRecords.verify(
            bytes, maxRecordBytes: wal.configuration.maxRecordBytes,
            invalid: { offset, reason in StorageError(.corrupt, path: "replication", "received record at byte \(offset) is invalid: \(reason)") })
        let last = try appendReplicatedRecords(run)
        try await replicatedDurable(last)
        return last
    }

    /// Appends verified records without waiting for their fsync, so a replica can receive and
    /// verify the next chunk while this one syncs (the WAL's group commit then covers several
    /// chunks with one fsync); `replicatedDurable` waits for it. Returns the last txn written.
    /// Their checksums are neither computed nor checked again (the WAL carries each over to
    /// its own header arithmetically); the applier's reader verifies every record it reads.
    package func appendReplicatedRecords(_ run: VerifiedWALRecords) throws(StorageError) -> UInt64 {
        try run.bytes.withUnsafeBytes { records in
            Result { () throws(StorageError) in try appendReplicated(run, records) }
        }.get()
    }

    /// Waits until replicated records up to `txn` are durable, then lets the applier take them.
    package func replicatedDurable(_ txn: UInt64) async throws(StorageError) {
        try await wal.waitDurable(txn)
        startApplying()
    }

    private func appendReplicated(_ run: VerifiedWALRecords, _ records: UnsafeRawBufferPointer) throws(StorageError) -> UInt64 {
        try catalog.withLock { (catalog) throws(StorageError) -> UInt64 in
            var offset = 0
            for header in run.headers {
                let payload = UnsafeRawBufferPointer(
                    rebasing: records[(offset + WALRecordHeader.size)..<(offset + header.recordSize)])
                offset += header.recordSize
                if header.txn < wal.nextTxn { continue }
                if header.epoch > catalog.epochs.writingEpoch {
                    // The primary's history forked here (a promotion upstream): remember it
                    // before the record lands, as a promotion on this node would.
                    var history = catalog.epochs
                    try history.append(EpochHistory.Fork(epoch: header.epoch, firstTxn: header.txn))
                    try history.save(layout, io: configuration.io)
                    catalog.epochs = history
                }
                _ = try wal.appendReplicated(header, payload: payload)
                if header.kind == .schemaChange {
                    catalog.applyReplicated(try SchemaChange.decode(Array(payload), txn: header.txn))
                }
            }
            return wal.nextTxn - 1
        }
    }

    // MARK: Reading

    /// The committed schema of a table, by name (case-insensitive).
    package func schema(named name: String) -> TableSchema? {
        catalog.withLock { $0.schemas[NameRules.lookupKey(name)] }
    }

    /// Changes whenever any table's schema does (see `Catalog.generation`).
    package var catalogGeneration: UInt64 { catalog.withLock { $0.generation } }

    /// Every table's committed schema, ordered by table id (creation order).
    package var tableSchemas: [TableSchema] {
        catalog.withLock { $0.schemas.values.sorted { $0.tableID < $1.tableID } }
    }

    /// The latest applied view of a table, by name (case-insensitive).
    package func snapshot(ofTable name: String) -> TableSnapshot? {
        guard let id = schema(named: name)?.tableID else { return nil }
        return published.withLock { $0.snapshots[id] }
    }

    /// Highest txn applied to the tables.
    package var appliedTxn: UInt64 { published.withLock { $0.appliedTxn } }

    /// Runs of row batches the applier decoded while the run before was written (decision
    /// 0044); waits for an apply round in progress.
    package var runsDecodedAhead: Int { applier.withLock { $0.runsDecodedAhead } }

    /// Returns once every transaction up to `txn` is applied (or failed to apply).
    package func waitUntilApplied(_ txn: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let holding = published.withLock { published -> Bool in
                if published.appliedTxn >= txn {
                    continuation.resume()
                    return false
                }
                published.waiters.append((txn, continuation))
                return published.holdingLateRun
            }
            // A held late run may be what this waits for: a round with a waiter holds nothing.
            if holding { startApplying() }
        }
    }

    /// Why a table stopped applying (QuestDB "suspends" it), or `nil` while it is healthy.
    package func suspension(ofTable name: String) -> String? {
        guard let id = schema(named: name)?.tableID else { return nil }
        return published.withLock { $0.suspended[id] }
    }

    /// QuestDB's `ALTER TABLE name RESUME WAL [FROM TXN txn]`: a suspended table is reopened
    /// from its last checkpoint and replays its WAL records (from `txn` when given, skipping
    /// the ones before it) until it has caught up with the other tables; then it takes writes
    /// again. A record that fails again leaves it suspended and is thrown. A healthy table is
    /// left alone. Local to this node: a replica resumes its own copy (the WAL is the
    /// primary's and stays untouched).
    package func resumeWAL(_ name: String, fromTxn txn: UInt64?) async throws(StorageError) {
        guard let id = schema(named: name)?.tableID else {
            throw StorageError(.notWritable, path: name, "table does not exist [table=\(name)]")
        }
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            applyQueue.async {
                let outcome = self.applier.withLock { applier -> (Result<Void, StorageError>, TableSnapshot?, [UInt32: String]) in
                    let result = Result { () throws(StorageError) in try applier.resume(table: id, from: txn, wal: self.wal) }
                    return (result, applier.stores[id]?.snapshot(), applier.suspended)
                }
                let applied = self.published.withLock { published in
                    published.snapshots[id] = outcome.1
                    published.suspended = outcome.2
                    return published.appliedTxn
                }
                StorageMetrics.record(wal: self.wal, appliedTxn: applied, suspendedTables: outcome.2.count)
                continuation.resume(returning: outcome.0)
            }
        }
        try result.get()
    }

    /// QuestDB's `ALTER TABLE name SUSPEND WAL`: this node stops applying the table until
    /// RESUME WAL (node-local, as RESUME is). False when it was suspended already.
    @discardableResult
    package func suspendWAL(_ name: String, reason: String) async throws(StorageError) -> Bool {
        guard let id = schema(named: name)?.tableID else {
            throw StorageError(.notWritable, path: name, "table does not exist [table=\(name)]")
        }
        await waitUntilApplied(wal.committedTxn)
        let result: Result<Bool, StorageError> = await withCheckedContinuation { continuation in
            applyQueue.async {
                let (result, suspended) = self.applier.withLock { applier in
                    (Result { () throws(StorageError) in try applier.suspend(table: id, reason: reason) }, applier.suspended)
                }
                self.published.withLock { $0.suspended = suspended }
                StorageMetrics.record(wal: self.wal, appliedTxn: self.appliedTxn, suspendedTables: suspended.count)
                continuation.resume(returning: result)
            }
        }
        return try result.get()
    }

    // MARK: Applying

    private func startApplying() {
        let start = published.withLock { published -> Bool in
            guard !published.applyScheduled else { return false }
            published.applyScheduled = true
            return true
        }
        if start { applyQueue.async { self.applyRound() } }
    }

    /// On `applyQueue`: applies everything committed, publishes snapshots, releases waiters.
    private func applyRound() {
        let waiting = published.withLock { published -> Bool in
            published.applyScheduled = false
            return !published.waiters.isEmpty
        }
        let committed = wal.committedTxn
        let hold = retentionHold.withLock { $0 }
        // Late runs are held only where nobody waits for them to be visible, and not on a
        // replica: it applies what arrives in chunks, and `applied` acknowledgements wait on it.
        let lateHold = waiting || configuration.lateApplyHoldNanos == 0 || !role.acceptsWrites
            ? nil
            : LateApplyHold(
                nanos: configuration.lateApplyHoldNanos, maxBytes: configuration.lateApplyHoldMaxBytes,
                now: DispatchTime.now().uptimeNanoseconds)
        // Only tables this round changed get a new snapshot: with hundreds of tables, a write to
        // one must not rebuild the views of all.
        let (changed, suspended, holding, deadline) = applier.withLock { applier in
            applier.applyAvailable(
                wal: wal, upTo: committed, checkpointEvery: configuration.checkpointEveryTxns,
                checkpointEveryBytes: configuration.checkpointEveryBytes ?? 2 * configuration.wal.segmentSizeBytes,
                checkpointEveryColumnBytes: configuration.checkpointEveryColumnBytes,
                maxOpenColumnFiles: configuration.maxOpenColumnFiles, hold: hold, lateHold: lateHold)
            // Held: applied stops before the run; otherwise everything up to `committed` is
            // applied or failed (a table that failed is suspended and its waiters let go).
            let holding = applier.isHolding ? applier.appliedTxn : nil
            return (applier.takeChangedSnapshots(), applier.suspended, holding, applier.takeNewHoldDeadline())
        }
        if let deadline {
            // Weak: a hold must not keep a closed engine (its files and lock) alive.
            applyQueue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: deadline)) { [weak self] in self?.applyRound() }
        }
        let applied = holding ?? committed
        StorageMetrics.record(wal: wal, appliedTxn: applied, suspendedTables: suspended.count)
        let waitsForHeld = published.withLock { published -> Bool in
            for (id, snapshot) in changed { published.snapshots[id] = snapshot }
            published.suspended = suspended
            published.holdingLateRun = holding != nil
            published.appliedTxn = max(published.appliedTxn, applied)
            var waiting: [(UInt64, CheckedContinuation<Void, Never>)] = []
            for waiter in published.waiters {
                if waiter.0 <= published.appliedTxn { waiter.1.resume() } else { waiting.append(waiter) }
            }
            published.waiters = waiting
            // A waiter that came while this round decided to hold.
            return holding != nil && !waiting.isEmpty
        }
        if wal.committedTxn > committed || waitsForHeld { startApplying() }
        // New rows may have moved a TTL table's newest timestamp: its old partitions may expire.
        if configuration.enforcesTTL, changed.values.contains(where: { $0?.schema.ttl != nil }), role.acceptsWrites,
           ttlPass.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        {
            Task {
                await self.enforceTTL(nowMicros: StorageMetrics.nowMicros())
                self.ttlPass.store(false, ordering: .releasing)
            }
        }
    }

    /// Returns once the apply queue is idle (tests use it to stop cleanly without a checkpoint).
    package func waitForApplier() {
        applyQueue.sync {}
    }

    /// Applies what is pending and checkpoints every table (at shutdown).
    package func checkpoint() throws(StorageError) {
        let hold = retentionHold.withLock { $0 }
        let result = applyQueue.sync {
            applier.withLock { applier in
                applier.applyAvailable(wal: wal, upTo: wal.committedTxn, checkpointEvery: .max, hold: hold)
                return Result { () throws(StorageError) in try applier.checkpointAll(wal: wal, hold: hold) }
            }
        }
        try result.get()
    }

    /// Where snapshot exports stage their hard links (same file system as `db/`).
    var snapshotStagingDirectory: String { layout.root + "/snapshot-staging" }

    /// Runs `body` on the applier's queue after applying everything committed and checkpointing
    /// every table, with the stores and the checkpointed txn; no apply runs meanwhile.
    func withCheckpointedApplier<T: Sendable>(
        _ body: ([TableStore], UInt64) throws(StorageError) -> T
    ) throws(StorageError) -> T {
        let hold = retentionHold.withLock { $0 }
        let damaged = !damagedTables.isEmpty
        do {
            return try applyQueue.sync { () throws(StorageError) -> T in
                try applier.withLock { (applier) throws(StorageError) -> T in
                    applier.applyAvailable(wal: wal, upTo: wal.committedTxn, checkpointEvery: .max, hold: hold)
                    guard applier.suspended.isEmpty, !damaged else {
                        throw StorageError(.notWritable, path: "db", "a table is damaged or suspended: its files cannot be snapshotted")
                    }
                    try applier.checkpointAll(wal: wal, hold: hold)
                    return try body(Array(applier.stores.values), applier.appliedTxn)
                }
            }
        } catch {
            // `DispatchQueue.sync` rethrows untyped; only StorageError is thrown inside.
            throw (error as? StorageError) ?? StorageError(.io, path: "db", "\(error)")
        }
    }

    /// Keeps WAL records after `txn` from being purged (a replica's durable position), or
    /// releases the hold with `nil`.
    package func holdWAL(after txn: UInt64?) {
        retentionHold.withLock { $0 = txn }
    }
}

/// Snapshots and apply progress as readers see them.
struct Published: ~Copyable {
    var snapshots: [UInt32: TableSnapshot]
    var appliedTxn: UInt64
    var suspended: [UInt32: String] = [:]
    var waiters: [(UInt64, CheckedContinuation<Void, Never>)] = []
    var applyScheduled = false
    /// The applier keeps a late run back (`LateApplyHold`); a new waiter ends the hold.
    var holdingLateRun = false
}
