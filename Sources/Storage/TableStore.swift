import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One table's files — `_meta`, `_txn`, partitions of column files — and the applier's
/// operations on them. Owned by exactly one applier; readers use `snapshot()`.
///
/// Durability comes from the WAL: applies write column files without fsync, and a
/// `checkpoint()` fsyncs them and then records the state in `_txn`. After a crash, open()
/// truncates files back to the checkpointed row counts and the WAL replays from there.
package final class TableStore {
    package let directory: String
    /// The write-path system calls (injectable for fault and power-loss tests).
    let io: StorageIO
    package internal(set) var schema: TableSchema
    let txnFile: TableTxnFile
    /// Applied state, ahead of the checkpointed `txnFile.state`.
    package internal(set) var state: TableTxnState
    /// Open column files of partitions written since the last checkpoint: directory → file → fd.
    var openFiles: [String: [String: Int32]] = [:]
    /// Descriptors in `openFiles`: they stay open until the next checkpoint, which the applier
    /// brings forward when too many are open.
    var openFileCount = 0
    /// End of each var-size column's data in the partitions written to: directory → column → bytes.
    var variableDataEnd: [String: [UInt32: UInt64]] = [:]
    /// Dictionaries of the SYMBOL columns, by column id.
    var symbols: [UInt32: SymbolDictionary] = [:]
    var createdPartitionDirectories = false
    /// Per column position, reused across batches: symbol keys of the batch's rows.
    var symbolKeys: [[Int32]] = []
    /// Per column position, reused across batches: start of each var-size row in the batch's data.
    var variableStarts: [[Int]] = []
    /// Reused gather buffer for out-of-order rewrites and selected-row appends.
    var scratch: [UInt8] = []
    /// Partition versions replaced by rewrites: (directory, txn that replaced it). Removed once
    /// a checkpoint no longer points at them and no snapshot older than the txn is alive.
    var obsoleteDirectories: [(name: String, txn: UInt64)] = []
    /// Live snapshots, so replaced partition versions outlive every reader of them.
    let leases = SnapshotLeases()
    /// When late rows split a partition instead of rewriting it.
    package var outOfOrder = OutOfOrderPolicy()
    /// Set by the applier while it applies a run of several commits — a backlog: a replica
    /// catching up, replay at open, an applier far behind its writers. Large column appends
    /// then go past the page cache (decision 0045); a single commit, however large, is written
    /// through it, for the queries that read new rows next.
    package var appliesBacklog = false

    /// Directory name of a table: `name~id` as QuestDB names WAL tables (informative; the name
    /// that counts is in `_meta`, so a rename does not move the directory).
    package static func directoryName(for schema: TableSchema) -> String {
        "\(schema.name)~\(schema.tableID)"
    }

    /// Creates the table's directory, `_meta` and `_txn` (applied up to `txn`, the create).
    ///
    /// Built under a `.tmp` name and renamed into place, so a crash never leaves a table
    /// directory without its files (open removes `.tmp` leftovers).
    package static func create(
        in tablesDirectory: String, schema: TableSchema, txn: UInt64, io: StorageIO = .system
    ) throws(StorageError) -> TableStore {
        let directory = tablesDirectory + "/" + directoryName(for: schema)
        let building = directory + ".tmp"
        ColumnFiles.removeTree(building, io: io)
        try DurableFile.createDirectory(building, io: io)
        try DurableFile.replace(building + "/_meta", with: TableMetaCodec.encode(schema), io: io)
        var initial = TableTxnState()
        initial.appliedTxn = txn
        initial.schemaVersion = schema.version
        _ = try TableTxnFile(path: building + "/_txn", creatingWith: initial, io: io)
        if io.rename(building, directory) != 0 {
            throw StorageError(.io, path: directory, "cannot move the new table into place", errno: errno)
        }
        try DurableFile.syncDirectory(containing: directory, io: io)
        return try TableStore(directory: directory, io: io)
    }

    /// The txn the last checkpoint made durable: the WAL must keep everything after it.
    package var checkpointedTxn: UInt64 { txnFile.state.appliedTxn }

    /// Records that every WAL txn up to `txn` has been applied: a table no batch touched since
    /// has nothing to replay for them.
    package func markApplied(through txn: UInt64) {
        if txn > state.appliedTxn { state.appliedTxn = txn }
    }

    /// Opens a table and rolls its files back to the checkpointed state.
    package init(directory: String, io: StorageIO = .system) throws(StorageError) {
        self.directory = directory
        self.io = io
        guard let meta = try DurableFile.read(directory + "/_meta", maxBytes: TableMetaCodec.maxFileBytes) else {
            throw StorageError(.corrupt, path: directory + "/_meta", "table metadata is missing")
        }
        schema = try TableMetaCodec.decode(meta, path: directory + "/_meta")
        txnFile = try TableTxnFile(path: directory + "/_txn", io: io)
        state = txnFile.state
        for column in schema.columns where column.type == .symbol {
            symbols[column.id] = try SymbolDictionary(
                path: directory + "/" + ColumnFiles.symbolFileName(columnID: column.id),
                count: state.symbolCounts[column.id] ?? 0, io: io)
        }
        try rollBackToCheckpoint()
    }

    deinit {
        closeOpenFiles()
        for dictionary in symbols.values { dictionary.close() }
    }

    // MARK: Applying

    /// Applies `batch` (committed as WAL `txn`): rows in timestamp order after the table's last
    /// timestamp are appended; any other rows are merged into their partitions
    /// (`TableStore+OutOfOrder.swift`). Symbols are interned into the table's dictionaries;
    /// var-size values go to `.d` with offsets in `.i`.
    package func apply(_ batch: RowBatch, txn: UInt64) throws(StorageError) {
        precondition(txn > state.appliedTxn, "txn \(txn) applied twice to \(schema.name)")
        guard batch.schema.version == schema.version else {
            throw StorageError(.corrupt, path: directory, "batch schema version \(batch.schema.version), table at \(schema.version)")
        }
        if batch.rowCount > 0 {
            try prepare(batch)
            if schema.designatedTimestamp != nil {
                let dedup = !schema.dedupKeys.isEmpty
                if appendsAfterEnd(batch) && !(dedup && hasDuplicateKeys(batch)) {
                    try appendByPartition(batch)
                } else {
                    StorageMetrics.mergedOutOfOrder()
                    try applyOutOfOrder(batch, txn: txn)
                }
                state.minTimestamp = min(state.minTimestamp, batch.minTimestamp)
                state.maxTimestamp = max(state.maxTimestamp, batch.maxTimestamp)
            } else {
                try append(batch, rows: .range(0..<batch.rowCount), partitionTimestamp: Int64.min)
            }
        }
        state.appliedTxn = txn
    }

    /// Whether `batch` goes after every row the table holds, in order — an append. Anything
    /// else is merged into its partitions (a DEDUP table with duplicate keys inside the batch
    /// too, which this does not look at).
    func appendsAfterEnd(_ batch: RowBatch) -> Bool {
        guard schema.designatedTimestamp != nil else { return true }
        let dedup = !schema.dedupKeys.isEmpty
        return batch.isOrderedByTimestamp
            && (state.partitions.isEmpty || batch.minTimestamp > state.maxTimestamp
                || (!dedup && batch.minTimestamp == state.maxTimestamp))
    }

    /// Splits an ordered batch at partition boundaries and appends each run.
    private func appendByPartition(_ batch: RowBatch) throws(StorageError) {
        guard let designated = schema.designatedTimestamp,
              let index = schema.columns.firstIndex(where: { $0.id == designated })
        else { return }
        let timestamps = batch.column(index)
        var start = 0
        while start < batch.rowCount {
            let partition = PartitionTime.floor(timestamps.fixedValue(row: start, as: Int64.self), by: schema.partitionBy)
            let next = PartitionTime.next(after: partition, by: schema.partitionBy)
            var end = start + 1
            while end < batch.rowCount && timestamps.fixedValue(row: end, as: Int64.self) < next { end += 1 }
            try append(batch, rows: .range(start..<end), partitionTimestamp: partition)
            start = end
        }
    }

    /// Interns the batch's symbols and locates its var-size rows, once per batch.
    func prepare(_ batch: RowBatch) throws(StorageError) {
        if symbolKeys.count != schema.columns.count {
            symbolKeys = Array(repeating: [], count: schema.columns.count)
            variableStarts = Array(repeating: [], count: schema.columns.count)
        }
        var interning: [SymbolInterning] = []
        for (position, column) in schema.columns.enumerated() {
            let buffer = batch.column(position)
            if column.type == .symbol {
                // The dictionary and key buffer are taken out for the loop (no per-row lookups)
                // and put back after.
                interning.append(SymbolInterning(
                    position: position, columnID: column.id, dictionary: symbols.removeValue(forKey: column.id)!,
                    keys: symbolKeys[position], column: buffer))
                symbolKeys[position] = []
            } else if column.type.isVariableSize {
                variableStarts[position].removeAll(keepingCapacity: true)
                var offset = 0
                variableStarts[position].append(0)
                for length in buffer.lengths {
                    offset += max(0, Int(length))
                    variableStarts[position].append(offset)
                }
            }
        }
        // A lookup per distinct value of each SYMBOL column (the batch's dictionaries); columns
        // are independent, so a batch with many distinct values interns them on both cores —
        // replicas catching up and the primary's applier behind a fast writer have the second
        // core idle.
        let lookups = interning.reduce(0) { $0 + $1.column.lengths.count }
        if interning.count > 1 && lookups >= TableStore.parallelInterningLookups {
            let work = interning
            DispatchQueue.concurrentPerform(iterations: work.count) { index in work[index].run() }
        } else {
            for work in interning { work.run() }
        }
        for work in interning {
            symbols[work.columnID] = work.dictionary
            symbolKeys[work.position] = work.keys
        }
        if let error = interning.compactMap(\.error).first { throw error }
    }

    /// Symbol lookups (distinct values) in one batch past which its columns are interned in parallel.
    package static let parallelInterningLookups = 1 << 14

    /// Appends `rows` of `batch` to the partition starting at `partitionTimestamp`: one write
    /// per file, straight from the batch's column bytes for a contiguous range, gathered for a
    /// selection of rows.
    func append(_ batch: RowBatch, rows selection: RowSelection, partitionTimestamp: Int64) throws(StorageError) {
        guard case .range(let rows) = selection else {
            try appendSelected(batch, selection, partitionTimestamp: partitionTimestamp)
            return
        }
        let index = try partitionIndex(for: partitionTimestamp)
        let partition = state.partitions[index]
        let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
        // Fixed-width and SYMBOL columns: their files opened here (the open-file table is not
        // shared), their writes below. Var-size columns keep per-partition state: in order, here.
        var fixed: [FixedColumnWrite] = []
        var fixedBytes = 0
        for (position, column) in schema.columns.enumerated() {
            let width = column.type == .symbol ? 4 : column.type.fixedWidthBytes
            guard let width else {
                try appendVariable(batch.column(position), starts: variableStarts[position], rows: rows, column: column.id,
                                   partition: name, rowCount: Int(partition.rowCount))
                continue
            }
            let file = ColumnFiles.dataFileName(columnID: column.id)
            fixed.append(FixedColumnWrite(
                position: position, width: width, fd: try self.file(partition: name, name: file),
                path: "\(directory)/\(name)/\(file)"))
            fixedBytes += width * rows.count
        }
        let offsetRow = Int(partition.rowCount)
        if fixed.count > 1 && fixedBytes >= TableStore.parallelWriteBytes {
            // Two halves of the columns, one on each core: on a VM whose host takes freed
            // pages back, the kernel's copy into new page-cache pages is most of an apply's
            // time, and a catching-up replica or an applier behind a fast writer has the
            // second core idle. Halves balanced by bytes; the same files and offsets either way.
            var halves: [[FixedColumnWrite]] = [[], []]
            var loads = [0, 0]
            for write in fixed.sorted(by: { $0.width > $1.width }) {
                let half = loads[0] <= loads[1] ? 0 : 1
                halves[half].append(write)
                loads[half] += write.width
            }
            let failures = PlainMutex<StorageError?>(nil)
            let work = halves
            let shared = SharedForWrites(store: self, batch: batch)
            DispatchQueue.concurrentPerform(iterations: 2) { half in
                do throws(StorageError) {
                    for write in work[half] {
                        try shared.store.writeFixed(write, shared.batch, rows: rows, offsetRow: offsetRow)
                    }
                } catch {
                    failures.withLock { $0 = $0 ?? error }
                }
            }
            if let failure = failures.withLock({ $0 }) { throw failure }
        } else {
            for write in fixed { try writeFixed(write, batch, rows: rows, offsetRow: offsetRow) }
        }
        state.partitions[index].rowCount += UInt64(rows.count)
    }

    /// Column bytes (of the batch's rows, or a SYMBOL column's interned keys) in one append
    /// past which the columns are written on both cores.
    package static let parallelWriteBytes = 1 << 20

    /// The store and batch as the two halves of a parallel append see them: they only read
    /// (the batch's columns, `symbolKeys`, `schema`, `io`) and write disjoint files, and
    /// `concurrentPerform` returns before the append changes anything again.
    private struct SharedForWrites: @unchecked Sendable {
        let store: TableStore
        let batch: RowBatch
    }

    /// One fixed-width or SYMBOL column's part of a range append.
    struct FixedColumnWrite: Sendable {
        let position: Int
        let width: Int
        let fd: Int32
        let path: String
    }

    /// Writes `rows` of one fixed-width column (a SYMBOL column: its interned keys) at row
    /// `offsetRow` of its file. Reads only: safe on two threads at once for different columns.
    private func writeFixed(_ write: FixedColumnWrite, _ batch: RowBatch, rows: Range<Int>, offsetRow: Int) throws(StorageError) {
        let range = rows.lowerBound * write.width..<rows.upperBound * write.width
        if schema.columns[write.position].type == .symbol {
            try symbolKeys[write.position].withUnsafeBytes { keys in
                Result { () throws(StorageError) in
                    try ColumnFiles.write(write.fd, UnsafeRawBufferPointer(rebasing: keys[range]), at: offsetRow * 4,
                                          path: write.path, io: io, pastPageCache: appliesBacklog, preallocating: true)
                }
            }.get()
        } else {
            try ColumnFiles.write(write.fd, UnsafeRawBufferPointer(rebasing: batch.column(write.position).fixed[range]),
                                  at: offsetRow * write.width, path: write.path, io: io, pastPageCache: appliesBacklog,
                                  preallocating: true)
        }
    }

    /// Appends var-size rows: their bytes to `.d`, their end offsets to `.i` (bit 63 marks NULL).
    private func appendVariable(
        _ buffer: ColumnBuffer, starts: [Int], rows: Range<Int>, column: UInt32, partition: String, rowCount: Int
    ) throws(StorageError) {
        let dataEnd = try variableDataEnd(partition: partition, column: column, rowCount: rowCount)
        let first = starts[rows.lowerBound]
        try write(partition, ColumnFiles.dataFileName(columnID: column),
                  UnsafeRawBufferPointer(rebasing: buffer.data[first..<starts[rows.upperBound]]), at: Int(dataEnd))
        var offsets: [UInt64] = []
        offsets.reserveCapacity(rows.count)
        for row in rows {
            let end = dataEnd + UInt64(starts[row + 1] - first)
            offsets.append(buffer.lengths[row] < 0 ? end | ColumnFiles.nullFlag : end)
        }
        try offsets.withUnsafeBytes { bytes in
            Result { () throws(StorageError) in
                try write(partition, ColumnFiles.offsetFileName(columnID: column), bytes, at: (rowCount + 1) * 8)
            }
        }.get()
        variableDataEnd[partition, default: [:]][column] = dataEnd + UInt64(starts[rows.upperBound] - first)
    }

    /// Where a var-size column's data ends in a partition (from `.i` on first use).
    func variableDataEnd(partition: String, column: UInt32, rowCount: Int) throws(StorageError) -> UInt64 {
        if let end = variableDataEnd[partition]?[column] { return end }
        let path = "\(directory)/\(partition)/\(ColumnFiles.offsetFileName(columnID: column))"
        let end: UInt64
        if rowCount == 0 && (ColumnFiles.size(path) ?? 0) < 8 {
            var zero = UInt64(0)
            try withUnsafeBytes(of: &zero) { bytes in
                Result { () throws(StorageError) in
                    try write(partition, ColumnFiles.offsetFileName(columnID: column), bytes, at: 0)
                }
            }.get()
            end = 0
        } else {
            end = try ColumnFiles.readOffset(path, row: rowCount) & ~ColumnFiles.nullFlag
        }
        variableDataEnd[partition, default: [:]][column] = end
        return end
    }

    func write(_ partition: String, _ file: String, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        try ColumnFiles.write(try self.file(partition: partition, name: file), bytes, at: offset,
                              path: "\(directory)/\(partition)/\(file)", io: io, preallocating: true)
    }

    /// The index of the partition starting at `timestamp`, creating it (and its directory) if new.
    func partitionIndex(for timestamp: Int64) throws(StorageError) -> Int {
        if let index = state.partitions.lastIndex(where: { $0.timestamp == timestamp }) { return index }
        let partition = PartitionState(timestamp: timestamp, rowCount: 0, version: freeVersion(for: PartitionState(timestamp: timestamp, rowCount: 0), atLeast: 0))
        try makePartitionDirectory(ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy))
        // Out-of-order rows can open a partition before existing ones: keep timestamp order.
        let index = state.partitions.firstIndex { $0.timestamp > timestamp } ?? state.partitions.count
        state.partitions.insert(partition, at: index)
        return index
    }

    /// Creates a partition (or part) directory, replacing leftovers of a write that was never
    /// checkpointed. No directory fsync: nothing names the directory until the next checkpoint,
    /// which fsyncs the table directory before `_txn` (the WAL replays the write after a crash);
    /// an out-of-order merge, which makes a new part version each time, saves a synchronous
    /// write that way.
    func makePartitionDirectory(_ name: String) throws(StorageError) {
        let path = directory + "/" + name
        ColumnFiles.removeTree(path, io: io)
        if io.mkdir(path, 0o755) != 0 { throw StorageError(.io, path: path, "cannot create partition directory", errno: errno) }
        createdPartitionDirectories = true
    }

    /// The lowest version ≥ `minimum` whose directory is not a replaced version still waiting
    /// for its readers (after a truncate or drop, the same partition can be created again while
    /// an old snapshot still reads the previous directory of that name).
    func freeVersion(for part: PartitionState, atLeast minimum: UInt32) -> UInt32 {
        var candidate = part
        candidate.version = minimum
        while obsoleteDirectories.contains(where: { $0.name == ColumnFiles.partitionDirectoryName(candidate, by: schema.partitionBy) }) {
            candidate.version += 1
        }
        return candidate.version
    }

    func file(partition: String, name: String) throws(StorageError) -> Int32 {
        if let fd = openFiles[partition]?[name] { return fd }
        let fd = try ColumnFiles.openForAppend("\(directory)/\(partition)/\(name)", io: io)
        openFiles[partition, default: [:]][name] = fd
        openFileCount += 1
        return fd
    }

    // MARK: Checkpoint and recovery

    /// Makes everything applied durable: column files and new directories first, then `_txn`.
    package func checkpoint() throws(StorageError) {
        for (id, dictionary) in symbols { state.symbolCounts[id] = UInt32(dictionary.values.count) }
        guard state != txnFile.state || !openFiles.isEmpty else { return }
        for (partition, files) in openFiles {
            for (name, fd) in files { try ColumnFiles.sync(fd, path: "\(directory)/\(partition)/\(name)", io: io) }
            try DurableFile.syncDirectory(containing: "\(directory)/\(partition)/x", io: io)
        }
        for id in symbols.keys { try symbols[id]!.sync() }
        if createdPartitionDirectories { try DurableFile.syncDirectory(containing: directory + "/_txn", io: io) }
        try txnFile.write(state)
        state = txnFile.state
        createdPartitionDirectories = false
        closeOpenFiles()
        removeObsoleteDirectories()
    }

    /// Truncates column files to the checkpointed row counts and removes partition directories
    /// the checkpoint does not know (written after it; the WAL replays them).
    private func rollBackToCheckpoint() throws(StorageError) {
        var known = Set(["_meta", "_txn"])
        for column in schema.columns where column.type == .symbol {
            known.insert(ColumnFiles.symbolFileName(columnID: column.id))
        }
        for partition in state.partitions {
            let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
            known.insert(name)
            for column in schema.columns {
                let data = "\(directory)/\(name)/\(ColumnFiles.dataFileName(columnID: column.id))"
                if let width = column.type.fixedWidthBytes {
                    try ColumnFiles.cut(data, to: Int(partition.rowCount) * width, rows: partition.rowCount)
                } else {
                    let offsets = "\(directory)/\(name)/\(ColumnFiles.offsetFileName(columnID: column.id))"
                    try ColumnFiles.cut(offsets, to: (Int(partition.rowCount) + 1) * 8, rows: partition.rowCount)
                    let end = try ColumnFiles.readOffset(offsets, row: Int(partition.rowCount)) & ~ColumnFiles.nullFlag
                    try ColumnFiles.cut(data, to: Int(end), rows: partition.rowCount)
                }
            }
        }
        // Detached partitions stay: they are the operator's (DETACH/ATTACH PARTITION).
        for entry in try ColumnFiles.entries(of: directory)
        where !known.contains(entry) && !entry.hasSuffix(".tmp") && !entry.hasSuffix(DetachedPartition.detachedSuffix)
            && !entry.hasSuffix(DetachedPartition.attachableSuffix)
        {
            ColumnFiles.removeTree(directory + "/" + entry, io: io)
        }
    }

    /// Closes every open column file (after a checkpoint, truncate or drop).
    func closeOpenFiles() {
        for files in openFiles.values {
            for fd in files.values {
                // Blocks allocated ahead of its appends (decision 0046) are given back first.
                ColumnFiles.releasePreallocation(fd, io: io)
                close(fd)
            }
        }
        openFiles = [:]
        openFileCount = 0
        variableDataEnd = [:]
    }

    // MARK: Reading

    /// A view of everything applied so far.
    package func snapshot() -> TableSnapshot {
        TableSnapshot(
            lease: leases.take(appliedTxn: state.appliedTxn),
            schema: schema, directory: directory,
            partitions: state.partitions.map {
                .init(state: $0, directoryName: ColumnFiles.partitionDirectoryName($0, by: schema.partitionBy))
            },
            appliedTxn: state.appliedTxn,
            symbols: symbols.mapValues { SymbolTable(values: $0.values, keys: $0.keys) })
    }
}

/// One SYMBOL column's interning in `TableStore.prepare`: the dictionary and key buffer taken
/// out of the store for the loop, and a view of the batch column's bytes.
///
/// `@unchecked Sendable`: each instance is used by exactly one iteration of a
/// `concurrentPerform` (or sequentially), and the batch it views is not changed while `prepare`
/// runs; the dictionary's file writes go to its own descriptor.
private final class SymbolInterning: @unchecked Sendable {
    let position: Int
    let columnID: UInt32
    var dictionary: SymbolDictionary
    var keys: [Int32]
    let column: ColumnBuffer
    var error: StorageError?
    /// The table's key of each batch dictionary entry.
    private var tableKeys: [Int32] = []

    init(position: Int, columnID: UInt32, dictionary: SymbolDictionary, keys: [Int32], column: ColumnBuffer) {
        self.position = position
        self.columnID = columnID
        self.dictionary = dictionary
        self.keys = keys
        self.column = column
    }

    func run() {
        do throws(StorageError) {
            try dictionary.intern(column, keys: &keys, tableKeys: &tableKeys)
        } catch {
            self.error = error
        }
    }
}
