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
    package private(set) var schema: TableSchema
    private let txnFile: TableTxnFile
    /// Applied state, ahead of the checkpointed `txnFile.state`.
    package private(set) var state: TableTxnState
    /// Open column files of partitions written since the last checkpoint, by directory name.
    private var openFiles: [String: [UInt32: Int32]] = [:]
    private var createdPartitionDirectories = false

    /// Directory name of a table: `name~id` as QuestDB names WAL tables (informative; the name
    /// that counts is in `_meta`, so a rename does not move the directory).
    package static func directoryName(for schema: TableSchema) -> String {
        "\(schema.name)~\(schema.tableID)"
    }

    /// Creates the table's directory, `_meta` and `_txn` (applied up to `txn`, the create).
    ///
    /// Built under a `.tmp` name and renamed into place, so a crash never leaves a table
    /// directory without its files (open removes `.tmp` leftovers).
    package static func create(in tablesDirectory: String, schema: TableSchema, txn: UInt64) throws(StorageError) -> TableStore {
        let directory = tablesDirectory + "/" + directoryName(for: schema)
        let building = directory + ".tmp"
        ColumnFiles.removeTree(building)
        try DurableFile.createDirectory(building)
        try DurableFile.replace(building + "/_meta", with: TableMetaCodec.encode(schema))
        var initial = TableTxnState()
        initial.appliedTxn = txn
        initial.schemaVersion = schema.version
        _ = try TableTxnFile(path: building + "/_txn", creatingWith: initial)
        if rename(building, directory) != 0 {
            throw StorageError(.io, path: directory, "cannot move the new table into place", errno: errno)
        }
        try DurableFile.syncDirectory(containing: directory)
        return try TableStore(directory: directory)
    }

    /// Records that every WAL txn up to `txn` has been applied: a table no batch touched since
    /// has nothing to replay for them.
    package func markApplied(through txn: UInt64) {
        if txn > state.appliedTxn { state.appliedTxn = txn }
    }

    /// Opens a table and rolls its files back to the checkpointed state.
    package init(directory: String) throws(StorageError) {
        self.directory = directory
        guard let meta = try DurableFile.read(directory + "/_meta", maxBytes: TableMetaCodec.maxFileBytes) else {
            throw StorageError(.corrupt, path: directory + "/_meta", "table metadata is missing")
        }
        schema = try TableMetaCodec.decode(meta, path: directory + "/_meta")
        txnFile = try TableTxnFile(path: directory + "/_txn")
        state = txnFile.state
        try rollBackToCheckpoint()
    }

    deinit {
        closeFiles()
    }

    // MARK: Applying

    /// Applies `batch` (committed as WAL `txn`): rows in timestamp order at or after the
    /// table's last timestamp are appended; anything else is refused for now.
    package func apply(_ batch: RowBatch, txn: UInt64) throws(StorageError) {
        precondition(txn > state.appliedTxn, "txn \(txn) applied twice to \(schema.name)")
        guard batch.schema.version == schema.version else {
            throw StorageError(.corrupt, path: directory, "batch schema version \(batch.schema.version), table at \(schema.version)")
        }
        if batch.rowCount > 0 {
            if schema.designatedTimestamp != nil {
                guard batch.isOrderedByTimestamp, state.partitions.isEmpty || batch.minTimestamp >= state.maxTimestamp else {
                    throw StorageError(
                        .notWritable, path: directory,
                        "out-of-order rows are not applied yet (batch from \(batch.minTimestamp), table at \(state.maxTimestamp))")
                }
                try appendByPartition(batch)
                state.minTimestamp = min(state.minTimestamp, batch.minTimestamp)
                state.maxTimestamp = max(state.maxTimestamp, batch.maxTimestamp)
            } else {
                try append(batch, rows: 0..<batch.rowCount, partitionTimestamp: Int64.min)
            }
        }
        state.appliedTxn = txn
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
            try append(batch, rows: start..<end, partitionTimestamp: partition)
            start = end
        }
    }

    /// Appends `rows` of `batch` to the partition starting at `partitionTimestamp`: one write
    /// per column, straight from the batch's column bytes.
    private func append(_ batch: RowBatch, rows: Range<Int>, partitionTimestamp: Int64) throws(StorageError) {
        let index = try partitionIndex(for: partitionTimestamp)
        let partition = state.partitions[index]
        let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
        for (position, column) in schema.columns.enumerated() {
            guard let width = column.type.fixedWidthBytes, column.type != .symbol else {
                throw StorageError(.notWritable, path: directory, "applying \(column.type) columns is not implemented yet")
            }
            let fd = try file(partition: name, column: column.id)
            let buffer = batch.column(position)
            let offset = Int(partition.rowCount) * width
            let path = "\(directory)/\(name)/\(ColumnFiles.dataFileName(columnID: column.id))"
            try buffer.fixed.withUnsafeBytes { bytes in
                Result { () throws(StorageError) in
                    try ColumnFiles.write(
                        fd, UnsafeRawBufferPointer(rebasing: bytes[rows.lowerBound * width..<rows.upperBound * width]),
                        at: offset, path: path)
                }
            }.get()
        }
        state.partitions[index].rowCount += UInt64(rows.count)
    }

    /// The index of the partition starting at `timestamp`, creating it (and its directory) if new.
    private func partitionIndex(for timestamp: Int64) throws(StorageError) -> Int {
        if let index = state.partitions.lastIndex(where: { $0.timestamp == timestamp }) { return index }
        precondition(state.partitions.last.map { $0.timestamp < timestamp } ?? true, "in-order append into an older partition")
        let partition = PartitionState(timestamp: timestamp, rowCount: 0)
        let path = directory + "/" + ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
        ColumnFiles.removeTree(path)  // leftovers of an append that was never checkpointed
        if mkdir(path, 0o755) != 0 { throw StorageError(.io, path: path, "cannot create partition", errno: errno) }
        createdPartitionDirectories = true
        state.partitions.append(partition)
        return state.partitions.count - 1
    }

    private func file(partition: String, column: UInt32) throws(StorageError) -> Int32 {
        if let fd = openFiles[partition]?[column] { return fd }
        let fd = try ColumnFiles.openForAppend("\(directory)/\(partition)/\(ColumnFiles.dataFileName(columnID: column))")
        openFiles[partition, default: [:]][column] = fd
        return fd
    }

    // MARK: Checkpoint and recovery

    /// Makes everything applied durable: column files and new directories first, then `_txn`.
    package func checkpoint() throws(StorageError) {
        guard state != txnFile.state || !openFiles.isEmpty else { return }
        for (partition, files) in openFiles {
            for (column, fd) in files {
                try ColumnFiles.sync(fd, path: "\(directory)/\(partition)/\(ColumnFiles.dataFileName(columnID: column))")
            }
            try DurableFile.syncDirectory(containing: "\(directory)/\(partition)/x")
        }
        if createdPartitionDirectories { try DurableFile.syncDirectory(containing: directory + "/_txn") }
        try txnFile.write(state)
        state = txnFile.state
        createdPartitionDirectories = false
        closeFiles()
    }

    /// Truncates column files to the checkpointed row counts and removes partition directories
    /// the checkpoint does not know (written after it; the WAL replays them).
    private func rollBackToCheckpoint() throws(StorageError) {
        var known = Set(["_meta", "_txn"])
        for partition in state.partitions {
            let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
            known.insert(name)
            for column in schema.columns {
                guard let width = column.type.fixedWidthBytes else { continue }
                let path = "\(directory)/\(name)/\(ColumnFiles.dataFileName(columnID: column.id))"
                let expected = Int(partition.rowCount) * width
                guard let size = ColumnFiles.size(path), size >= expected else {
                    throw StorageError(
                        .corrupt, path: path,
                        "column file holds fewer than the \(partition.rowCount) committed rows; the table refuses writes")
                }
                if size > expected { try ColumnFiles.truncate(path, to: expected) }
            }
        }
        for entry in try ColumnFiles.entries(of: directory) where !known.contains(entry) && !entry.hasSuffix(".tmp") {
            ColumnFiles.removeTree(directory + "/" + entry)
        }
    }

    private func closeFiles() {
        for files in openFiles.values { for fd in files.values { close(fd) } }
        openFiles = [:]
    }

    // MARK: Reading

    /// A view of everything applied so far.
    package func snapshot() -> TableSnapshot {
        TableSnapshot(
            schema: schema, directory: directory,
            partitions: state.partitions.map {
                .init(state: $0, directoryName: ColumnFiles.partitionDirectoryName($0, by: schema.partitionBy))
            },
            appliedTxn: state.appliedTxn)
    }
}
