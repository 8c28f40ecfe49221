#if canImport(Glibc)
import Glibc
#endif

/// Structural changes applied from the WAL: alter (columns added, dropped, renamed; table
/// renamed), truncate and drop. Each is made durable at once: schema changes are rare, and a
/// checkpoint on each side keeps replay from ever decoding a batch against the wrong schema.
extension TableStore {
    /// Moves the table to `newSchema`, filling added columns with NULL in existing partitions.
    package func alter(to newSchema: TableSchema, txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        try checkpoint()
        if newSchema.version > schema.version {
            let added = newSchema.columns.filter { schema.column(id: $0.id) == nil }
            for partition in state.partitions {
                let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
                for column in added { try materializeNulls(column, partition: name, rows: Int(partition.rowCount)) }
            }
            // Column files first (fsynced above), then the schema that names them.
            try DurableFile.replace(directory + "/_meta", with: TableMetaCodec.encode(newSchema), io: io)
        }
        for column in newSchema.columns where column.type == .symbol && symbols[column.id] == nil {
            symbols[column.id] = try SymbolDictionary(
                path: directory + "/" + ColumnFiles.symbolFileName(columnID: column.id), count: 0, io: io)
        }
        try adopt(newSchema, txn: txn)
    }

    /// Takes `newSchema` (its `_meta` already durable) as of `txn`: dictionaries of columns it
    /// no longer has are let go, per-batch caches reset, and the result checkpointed.
    func adopt(_ newSchema: TableSchema, txn: UInt64) throws(StorageError) {
        for column in schema.columns where newSchema.column(id: column.id) == nil {
            symbols.removeValue(forKey: column.id)?.close()
            state.symbolCounts[column.id] = nil
        }
        schema = newSchema
        symbolKeys = []
        variableStarts = []
        state.schemaVersion = newSchema.version
        state.appliedTxn = txn
        try checkpoint()
    }

    /// Empties the table; its partitions are removed once no checkpoint or reader needs them.
    package func truncate(txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        for partition in state.partitions {
            obsoleteDirectories.append((ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy), txn))
        }
        closeOpenFiles()
        state.partitions = []
        state.minTimestamp = .max
        state.maxTimestamp = .min
        state.appliedTxn = txn
        try checkpoint()
    }

    /// Removes the partitions starting at `timestamps`; the others and their rows stay.
    package func dropPartitions(_ timestamps: [Int64], txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        try removePartitions(Set(timestamps), txn: txn)
    }

    /// Takes the partitions starting at `doomed` out of the table as of `txn` (drop, detach);
    /// their directories go once no checkpoint or reader needs them.
    func removePartitions(_ doomed: Set<Int64>, txn: UInt64) throws(StorageError) {
        for partition in state.partitions where doomed.contains(partition.timestamp) {
            obsoleteDirectories.append((ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy), txn))
        }
        closeOpenFiles()
        state.partitions.removeAll { doomed.contains($0.timestamp) }
        try recomputeTimestampRange()
        state.appliedTxn = txn
        try checkpoint()
    }

    /// Min and max designated timestamps from the first and last rows of the partitions.
    func recomputeTimestampRange() throws(StorageError) {
        state.minTimestamp = .max
        state.maxTimestamp = .min
        guard let designated = schema.designatedTimestamp else { return }
        let view = snapshot()
        if let first = view.partitions.first(where: { $0.rowCount > 0 }) {
            let column = try view.mapColumn(designated, in: first)
            state.minTimestamp = column.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 0, as: Int64.self) }
        }
        if let last = view.partitions.last(where: { $0.rowCount > 0 }) {
            let column = try view.mapColumn(designated, in: last)
            state.maxTimestamp = column.withUnsafeBytes {
                $0.loadLittleEndian(fromByteOffset: (last.rowCount - 1) * 8, as: Int64.self)
            }
        }
    }

    /// Removes the table's directory: renamed aside first (atomic), then deleted.
    package func drop() throws(StorageError) {
        closeOpenFiles()
        for dictionary in symbols.values { dictionary.close() }
        symbols = [:]
        let aside = directory + ".dropped"
        ColumnFiles.removeTree(aside, io: io)
        if io.rename(directory, aside) != 0 { throw StorageError(.io, path: directory, "cannot drop table", errno: errno) }
        try DurableFile.syncDirectory(containing: directory, io: io)
        ColumnFiles.removeTree(aside, io: io)
    }

    /// Writes NULL for `rows` rows of a column added after the partition was written.
    func materializeNulls(_ column: ColumnSchema, partition: String, rows: Int) throws(StorageError) {
        let base = "\(directory)/\(partition)/"
        if column.type.isVariableSize {
            var offsets: [UInt64] = [0]
            offsets.append(contentsOf: repeatElement(ColumnFiles.nullFlag, count: rows))
            try writeDurably(base + ColumnFiles.offsetFileName(columnID: column.id), offsets.withUnsafeBytes { Array($0) })
            try writeDurably(base + ColumnFiles.dataFileName(columnID: column.id), [])
        } else {
            let null = column.type.nullBytes
            var bytes: [UInt8] = []
            bytes.reserveCapacity(null.count * rows)
            for _ in 0..<rows { bytes.append(contentsOf: null) }
            try writeDurably(base + ColumnFiles.dataFileName(columnID: column.id), bytes)
        }
    }

    private func writeDurably(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        try DurableFile.replace(path, with: bytes, io: io)
    }
}
