extension TableStore {
    /// Applies an UPDATE (WAL `txn`): each part holding replaced rows is rewritten as a new
    /// version from its first replaced row on — older snapshots keep reading the old files
    /// until they let go, as with out-of-order merges. The designated timestamp of a row never
    /// changes (SQL refuses it), so parts stay in time order.
    package func update(_ update: RowUpdate, txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        let batch = update.batch
        guard batch.schema.version == schema.version else {
            throw StorageError(.corrupt, path: directory, "update schema version \(batch.schema.version), table at \(schema.version)")
        }
        try prepare(batch)
        let timestampPosition = schema.designatedTimestamp.flatMap { id in schema.columns.firstIndex { $0.id == id } }
        var batchRow = 0
        for part in update.parts {
            guard part.index < state.partitions.count, state.partitions[part.index] == part.state, let first = part.rows.first else {
                throw StorageError(
                    .corrupt, path: directory,
                    "update at txn \(txn) names part \(part.index) (\(part.state)) which the table does not have as such")
            }
            let reader = try PartitionReader(store: self, partition: part.state)
            var entries = Array(first..<reader.rowCount)
            for (offset, row) in part.rows.enumerated() {
                if let timestampPosition {
                    let new = batch.column(timestampPosition).fixedValue(row: batchRow + offset, as: Int64.self)
                    let old = reader.timestamps.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: row * 8, as: Int64.self) }
                    guard new == old else {
                        throw StorageError(.corrupt, path: directory, "update at txn \(txn) moves row \(row) of part \(part.index) in time")
                    }
                }
                entries[row - first] = ~(batchRow + offset)
            }
            try rewritePart(part.index, prefix: first, entries, reader: reader, batch: batch, txn: txn)
            batchRow += part.rows.count
        }
        state.appliedTxn = txn
    }
}
