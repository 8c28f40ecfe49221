/// Rows of a batch to write: a contiguous range (a straight copy) or chosen rows (gathered).
enum RowSelection {
    case range(Range<Int>)
    case indices([Int])
}

/// Out-of-order apply and dedup (QUESTDB-COMPAT §7): late rows are merged into a new version
/// of each affected partition, written beside the old one and switched in the table state;
/// with `DEDUP UPSERT KEYS` a row whose timestamp and keys match an earlier one replaces it
/// (the last one wins, also within a batch).
///
/// Merged rows are described by entries: `e ≥ 0` is row `e` of the existing partition,
/// `e < 0` is row `~e` of the batch.
extension TableStore {
    static let gatherChunkRows = 65_536

    func applyOutOfOrder(_ batch: RowBatch, txn: UInt64) throws(StorageError) {
        let timestamps = batch.column(designatedPosition)
        var order = Array(0..<batch.rowCount)
        order.sort {
            let left = timestamps.fixedValue(row: $0, as: Int64.self)
            let right = timestamps.fixedValue(row: $1, as: Int64.self)
            return left != right ? left < right : $0 < $1
        }
        if !schema.dedupKeys.isEmpty { order = deduplicated(order, batch) }
        var start = 0
        while start < order.count {
            let partition = PartitionTime.floor(timestamps.fixedValue(row: order[start], as: Int64.self), by: schema.partitionBy)
            let next = PartitionTime.next(after: partition, by: schema.partitionBy)
            var end = start + 1
            while end < order.count && timestamps.fixedValue(row: order[end], as: Int64.self) < next { end += 1 }
            let rows = Array(order[start..<end])
            let existing = state.partitions.firstIndex { $0.timestamp == partition }
            let first = timestamps.fixedValue(row: rows[0], as: Int64.self)
            let strictlyAfter = first > state.maxTimestamp || (schema.dedupKeys.isEmpty && first == state.maxTimestamp)
            if let existing, !(existing == state.partitions.count - 1 && strictlyAfter) {
                try rewritePartition(existing, adding: rows, from: batch, txn: txn)
            } else {
                try append(batch, rows: .indices(rows), partitionTimestamp: partition)
            }
            start = end
        }
    }

    /// Whether two rows of the batch share a timestamp and every dedup key.
    func hasDuplicateKeys(_ batch: RowBatch) -> Bool {
        let timestamps = batch.column(designatedPosition)
        var runStart = 0
        for row in 1...max(1, batch.rowCount) {
            let runEnds = row == batch.rowCount
                || timestamps.fixedValue(row: row, as: Int64.self) != timestamps.fixedValue(row: runStart, as: Int64.self)
            guard runEnds else { continue }
            for a in runStart..<row {
                for b in (a + 1)..<row where batchKeysEqual(batch, a, b) { return true }
            }
            runStart = row
        }
        return false
    }

    /// `order` (sorted by timestamp) without rows a later row with equal keys replaces.
    private func deduplicated(_ order: [Int], _ batch: RowBatch) -> [Int] {
        let timestamps = batch.column(designatedPosition)
        var kept: [Int] = []
        kept.reserveCapacity(order.count)
        var runStart = 0
        for index in 1...order.count {
            let runEnds = index == order.count
                || timestamps.fixedValue(row: order[index], as: Int64.self)
                    != timestamps.fixedValue(row: order[runStart], as: Int64.self)
            guard runEnds else { continue }
            // Within a run of equal timestamps, a row survives only if no later row matches it.
            for a in runStart..<index {
                let replaced = ((a + 1)..<index).contains { batchKeysEqual(batch, order[a], order[$0]) }
                if !replaced { kept.append(order[a]) }
            }
            runStart = index
        }
        return kept
    }

    /// Rewrites partition `index` as a new version holding its rows merged with `rows` of the batch.
    private func rewritePartition(_ index: Int, adding rows: [Int], from batch: RowBatch, txn: UInt64) throws(StorageError) {
        let old = state.partitions[index]
        let oldName = ColumnFiles.partitionDirectoryName(old, by: schema.partitionBy)
        let reader = try PartitionReader(store: self, partition: old)
        // Rows before the earliest new timestamp are untouched by the merge (and by dedup):
        // they are copied as they are, and only the tail is merged row by row.
        let earliest = batch.column(designatedPosition).fixedValue(row: rows[0], as: Int64.self)
        let prefix = TableSnapshot.lowerBound(earliest, in: reader.timestamps)
        let entries = merge(reader, rows, batch, from: prefix)
        var replacement = PartitionState(
            timestamp: old.timestamp, rowCount: 0, version: freeVersion(for: old.timestamp, atLeast: old.version + 1))
        let name = ColumnFiles.partitionDirectoryName(replacement, by: schema.partitionBy)
        ColumnFiles.removeTree(directory + "/" + name, io: io)
        try DurableFile.createDirectory(directory + "/" + name, io: io)
        createdPartitionDirectories = true
        try copyPrefix(rows: prefix, of: reader, into: name)
        try writeRows(entries, from: batch, existing: reader, partition: name, startRow: prefix)
        replacement.rowCount = UInt64(prefix + entries.count)
        state.partitions[index] = replacement
        if let files = openFiles.removeValue(forKey: oldName) { for fd in files.values { ColumnFiles.close(fd) } }
        variableDataEnd[oldName] = nil
        obsoleteDirectories.append((oldName, txn))
    }

    /// Existing rows and batch rows in timestamp order (existing first on ties); with dedup, an
    /// existing row that a batch row with equal timestamp and keys replaces is left out.
    private func merge(_ reader: PartitionReader, _ rows: [Int], _ batch: RowBatch, from start: Int) -> [Int] {
        let count = reader.rowCount
        let batchTimestamps = batch.column(designatedPosition)
        var entries: [Int] = []
        entries.reserveCapacity(count - start + rows.count)
        let dedup = !schema.dedupKeys.isEmpty
        reader.timestamps.withUnsafeBytes { existing in
            var i = start
            var j = 0
            while i < count || j < rows.count {
                let existingTimestamp = i < count ? existing.loadLittleEndian(fromByteOffset: i * 8, as: Int64.self) : .max
                let batchTimestamp = j < rows.count ? batchTimestamps.fixedValue(row: rows[j], as: Int64.self) : .max
                if i < count && existingTimestamp <= batchTimestamp {
                    let replaced = dedup && existingTimestamp == batchTimestamp
                        && rows[j...].prefix { batchTimestamps.fixedValue(row: $0, as: Int64.self) == existingTimestamp }
                            .contains { existingKeysEqual(reader, i, batch, $0) }
                    if !replaced { entries.append(i) }
                    i += 1
                } else {
                    entries.append(~rows[j])
                    j += 1
                }
            }
        }
        return entries
    }

    /// Copies the first `rows` rows of every column of `reader`'s partition into `partition`
    /// as they are: one write per file, straight from the mapping.
    private func copyPrefix(rows: Int, of reader: PartitionReader, into partition: String) throws(StorageError) {
        guard rows > 0 else { return }
        for column in schema.columns {
            if let variable = reader.variable[column.id] {
                let dataEnd = variable.offsets.withUnsafeBytes {
                    Int($0.loadLittleEndian(fromByteOffset: rows * 8, as: UInt64.self) & ~ColumnFiles.nullFlag)
                }
                try copy(variable.offsets, bytes: (rows + 1) * 8, to: partition, ColumnFiles.offsetFileName(columnID: column.id))
                try copy(variable.data, bytes: dataEnd, to: partition, ColumnFiles.dataFileName(columnID: column.id))
                variableDataEnd[partition, default: [:]][column.id] = UInt64(dataEnd)
            } else if let mapped = reader.fixed[column.id], let width = column.type.fixedWidthBytes {
                try copy(mapped, bytes: rows * width, to: partition, ColumnFiles.dataFileName(columnID: column.id))
            }
        }
    }

    private func copy(_ mapped: MappedColumn, bytes: Int, to partition: String, _ file: String) throws(StorageError) {
        try mapped.withUnsafeBytes { source in
            Result { () throws(StorageError) in
                try write(partition, file, UnsafeRawBufferPointer(rebasing: source[0..<bytes]), at: 0)
            }
        }.get()
    }

    /// Appends chosen batch rows to a partition (out-of-order rows landing after its end, or
    /// rows left after dedup).
    func appendSelected(_ batch: RowBatch, _ selection: RowSelection, partitionTimestamp: Int64) throws(StorageError) {
        guard case .indices(let rows) = selection else { return }
        let index = try partitionIndex(for: partitionTimestamp)
        let partition = state.partitions[index]
        let name = ColumnFiles.partitionDirectoryName(partition, by: schema.partitionBy)
        try writeRows(rows.map { ~$0 }, from: batch, existing: nil, partition: name, startRow: Int(partition.rowCount))
        state.partitions[index].rowCount += UInt64(rows.count)
    }

    /// Writes the rows `entries` name into partition directory `partition`, from row `startRow` on.
    private func writeRows(
        _ entries: [Int], from batch: RowBatch, existing: PartitionReader?, partition: String, startRow: Int
    ) throws(StorageError) {
        for (position, column) in schema.columns.enumerated() {
            if column.type.isVariableSize {
                try writeVariableRows(entries, position: position, column: column.id, batch: batch,
                                      existing: existing?.variable[column.id], partition: partition, startRow: startRow)
                continue
            }
            let width = column.type.fixedWidthBytes!
            let file = ColumnFiles.dataFileName(columnID: column.id)
            var written = startRow
            var chunkStart = 0
            while chunkStart < entries.count {
                let chunk = entries[chunkStart..<min(entries.count, chunkStart + TableStore.gatherChunkRows)]
                scratch.removeAll(keepingCapacity: true)
                gatherFixed(chunk, width: width, position: position, column: column, batch: batch, existing: existing?.fixed[column.id])
                try scratch.withUnsafeBytes { bytes in
                    Result { () throws(StorageError) in try write(partition, file, bytes, at: written * width) }
                }.get()
                written += chunk.count
                chunkStart += chunk.count
            }
        }
    }

    private func gatherFixed(
        _ entries: ArraySlice<Int>, width: Int, position: Int, column: ColumnSchema, batch: RowBatch, existing: MappedColumn?
    ) {
        let fromBatch = { (row: Int, scratch: inout [UInt8]) in
            if column.type == .symbol {
                scratch.appendLittleEndian(self.symbolKeys[position][row])
            } else {
                scratch.append(contentsOf: batch.column(position).fixed[row * width..<(row + 1) * width])
            }
        }
        guard let existing else {
            for entry in entries { fromBatch(~entry, &scratch) }
            return
        }
        existing.withUnsafeBytes { bytes in
            for entry in entries {
                if entry >= 0 {
                    scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[entry * width..<(entry + 1) * width]))
                } else {
                    fromBatch(~entry, &scratch)
                }
            }
        }
    }

    private func writeVariableRows(
        _ entries: [Int], position: Int, column: UInt32, batch: RowBatch, existing: VariableColumn?, partition: String,
        startRow: Int
    ) throws(StorageError) {
        var dataEnd = try variableDataEnd(partition: partition, column: column, rowCount: startRow)
        let buffer = batch.column(position)
        let starts = variableStarts[position]
        var offsets: [UInt64] = []
        var written = startRow
        var chunkStart = 0
        while chunkStart < entries.count {
            let chunk = entries[chunkStart..<min(entries.count, chunkStart + TableStore.gatherChunkRows)]
            scratch.removeAll(keepingCapacity: true)
            offsets.removeAll(keepingCapacity: true)
            for entry in chunk {
                var isNull = false
                if entry >= 0, let existing {
                    existing.withValue(row: entry) { value in
                        if let value { scratch.append(contentsOf: value) } else { isNull = true }
                    }
                } else {
                    let row = ~entry
                    if buffer.lengths[row] < 0 { isNull = true } else { scratch.append(contentsOf: buffer.data[starts[row]..<starts[row + 1]]) }
                }
                let end = dataEnd + UInt64(scratch.count)
                offsets.append(isNull ? end | ColumnFiles.nullFlag : end)
            }
            let dataFile = ColumnFiles.dataFileName(columnID: column)
            let offsetFile = ColumnFiles.offsetFileName(columnID: column)
            try scratch.withUnsafeBytes { bytes in
                Result { () throws(StorageError) in try write(partition, dataFile, bytes, at: Int(dataEnd)) }
            }.get()
            try offsets.withUnsafeBytes { bytes in
                Result { () throws(StorageError) in try write(partition, offsetFile, bytes, at: (written + 1) * 8) }
            }.get()
            dataEnd += UInt64(scratch.count)
            written += chunk.count
            chunkStart += chunk.count
        }
        variableDataEnd[partition, default: [:]][column] = dataEnd
    }

    // MARK: Dedup keys

    private func batchKeysEqual(_ batch: RowBatch, _ a: Int, _ b: Int) -> Bool {
        for key in schema.dedupKeys where key != schema.designatedTimestamp {
            guard let position = schema.columns.firstIndex(where: { $0.id == key }) else { continue }
            let type = schema.columns[position].type
            if type == .symbol {
                if symbolKeys[position][a] != symbolKeys[position][b] { return false }
            } else if type.isVariableSize {
                let buffer = batch.column(position)
                let starts = variableStarts[position]
                if (buffer.lengths[a] < 0) != (buffer.lengths[b] < 0)
                    || buffer.data[starts[a]..<starts[a + 1]] != buffer.data[starts[b]..<starts[b + 1]] { return false }
            } else {
                let width = type.fixedWidthBytes!
                let fixed = batch.column(position).fixed
                if fixed[a * width..<(a + 1) * width] != fixed[b * width..<(b + 1) * width] { return false }
            }
        }
        return true
    }

    private func existingKeysEqual(_ reader: PartitionReader, _ row: Int, _ batch: RowBatch, _ batchRow: Int) -> Bool {
        for key in schema.dedupKeys where key != schema.designatedTimestamp {
            guard let position = schema.columns.firstIndex(where: { $0.id == key }) else { continue }
            let type = schema.columns[position].type
            if let variable = reader.variable[key] {
                let buffer = batch.column(position)
                let starts = variableStarts[position]
                let equal = variable.withValue(row: row) { value -> Bool in
                    guard let value else { return buffer.lengths[batchRow] < 0 }
                    return buffer.lengths[batchRow] >= 0 && value.elementsEqual(buffer.data[starts[batchRow]..<starts[batchRow + 1]])
                }
                if !equal { return false }
            } else if let mapped = reader.fixed[key] {
                let width = type.fixedWidthBytes!
                let equal = mapped.withUnsafeBytes { bytes -> Bool in
                    let existing = UnsafeRawBufferPointer(rebasing: bytes[row * width..<(row + 1) * width])
                    if type == .symbol {
                        return existing.loadLittleEndian(fromByteOffset: 0, as: Int32.self) == symbolKeys[position][batchRow]
                    }
                    return existing.elementsEqual(batch.column(position).fixed[batchRow * width..<(batchRow + 1) * width])
                }
                if !equal { return false }
            }
        }
        return true
    }

    // MARK: Old versions

    /// Removes replaced partition versions once `_txn` no longer names them and no live
    /// snapshot is older than the rewrite.
    func removeObsoleteDirectories() {
        let oldestReader = leases.oldestLiveTxn ?? .max
        let checkpointed = txnFile.state.appliedTxn
        obsoleteDirectories.removeAll { directory in
            guard directory.txn <= checkpointed && directory.txn <= oldestReader else { return false }
            ColumnFiles.removeTree(self.directory + "/" + directory.name, io: io)
            return true
        }
    }

    var designatedPosition: Int {
        schema.columns.firstIndex { $0.id == schema.designatedTimestamp }!
    }
}

/// The columns of one existing partition version, mapped for a rewrite.
struct PartitionReader {
    let rowCount: Int
    let timestamps: MappedColumn
    var fixed: [UInt32: MappedColumn] = [:]
    var variable: [UInt32: VariableColumn] = [:]

    init(store: TableStore, partition: PartitionState) throws(StorageError) {
        let snapshot = TableSnapshot.Partition(
            state: partition, directoryName: ColumnFiles.partitionDirectoryName(partition, by: store.schema.partitionBy))
        let view = store.snapshot()
        rowCount = Int(partition.rowCount)
        for column in store.schema.columns {
            if column.type.isVariableSize {
                variable[column.id] = try view.mapVariableColumn(column.id, in: snapshot)
            } else {
                fixed[column.id] = try view.mapColumn(column.id, in: snapshot)
            }
        }
        timestamps = fixed[store.schema.designatedTimestamp!]!
    }
}
