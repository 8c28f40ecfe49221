/// Rows of a batch to write: a contiguous range (a straight copy) or chosen rows (gathered).
enum RowSelection {
    case range(Range<Int>)
    case indices([Int])
}

/// Out-of-order apply and dedup (QUESTDB-COMPAT §7, decision 0013): late rows are merged into
/// the part of their partition they fall in; with `DEDUP UPSERT KEYS` a row whose timestamp and
/// keys match an earlier one replaces it (the last one wins, also within a batch).
///
/// A partition is one or more parts in timestamp order. Merging into a part keeps the rows
/// before the earliest late row where they are and either rewrites the part as a new version
/// (copying that prefix — cheap while it is small) or, when the prefix is large, *splits*: the
/// part keeps the prefix (only its row count shrinks; the files are not touched, so older
/// snapshots still read them) and a new part holds the merged tail. Parts are squashed by size
/// tier, like an LSM tree's size-tiered compaction. Either way a late batch costs about its
/// own size plus the tail it lands in — not the whole partition, as a rewrite of everything
/// did (two ILP senders a few rows apart used to copy the day's partition per batch).
///
/// Merged rows are described by entries: `e ≥ 0` is row `e` of the existing part,
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
            let first = timestamps.fixedValue(row: rows[0], as: Int64.self)
            let strictlyAfter = first > state.maxTimestamp || (schema.dedupKeys.isEmpty && first == state.maxTimestamp)
            if let parts = parts(of: partition), !(parts.upperBound == state.partitions.count && strictlyAfter) {
                try merge(rows, from: batch, into: parts, txn: txn)
                try squashParts(of: partition, txn: txn)
            } else {
                try append(batch, rows: .indices(rows), partitionTimestamp: partition)
            }
            start = end
        }
    }

    /// The indices of the parts of the partition starting at `timestamp` (adjacent, in order).
    func parts(of timestamp: Int64) -> Range<Int>? {
        guard let first = state.partitions.firstIndex(where: { $0.timestamp == timestamp }) else { return nil }
        var end = first + 1
        while end < state.partitions.count && state.partitions[end].timestamp == timestamp { end += 1 }
        return first..<end
    }

    /// Merges `rows` (sorted, all in one partition) into that partition's `parts`: each part
    /// takes the rows below the next part's lower bound. Newest part first, so a split (which
    /// inserts after its part) leaves the indices still to visit where they were.
    private func merge(_ rows: [Int], from batch: RowBatch, into parts: Range<Int>, txn: UInt64) throws(StorageError) {
        let timestamps = batch.column(designatedPosition)
        var upper = rows.count
        for index in parts.reversed() {
            var lower = 0
            if index > parts.lowerBound {
                let bound = state.partitions[index].splitAt
                var high = upper
                while lower < high {
                    let middle = (lower + high) / 2
                    if timestamps.fixedValue(row: rows[middle], as: Int64.self) < bound { lower = middle + 1 } else { high = middle }
                }
            }
            if lower < upper {
                try merge(Array(rows[lower..<upper]), from: batch, intoPart: index, isLast: index == parts.upperBound - 1, txn: txn)
            }
            upper = lower
        }
    }

    private func merge(_ rows: [Int], from batch: RowBatch, intoPart index: Int, isLast: Bool, txn: UInt64) throws(StorageError) {
        let part = state.partitions[index]
        let reader = try PartitionReader(store: self, partition: part)
        let earliest = batch.column(designatedPosition).fixedValue(row: rows[0], as: Int64.self)
        let latestExisting = reader.rowCount == 0
            ? Int64.min
            : reader.timestamps.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: (reader.rowCount - 1) * 8, as: Int64.self) }
        // After the end of the partition's last part: a plain append (only the last part is
        // ever appended to — earlier ones may hold a split-off tail older snapshots still read).
        if isLast && (earliest > latestExisting || (schema.dedupKeys.isEmpty && earliest == latestExisting)) {
            try appendSelected(batch, .indices(rows), partitionTimestamp: part.timestamp)
            return
        }
        // Rows before the earliest new timestamp are untouched by the merge (and by dedup).
        let prefix = TableSnapshot.lowerBound(earliest, in: reader.timestamps)
        let entries = merge(reader, rows, batch, from: prefix)
        if prefix >= outOfOrder.splitMinRows && prefix > reader.rowCount - prefix {
            try split(index, at: earliest, keeping: prefix, entries, reader: reader, batch: batch)
        } else {
            try rewritePart(index, prefix: prefix, entries, reader: reader, batch: batch, txn: txn)
        }
    }

    /// Part `index` keeps its first `prefix` rows; a new part after it, starting at `splitAt`,
    /// holds `entries` (the rest of the part merged with the late rows).
    private func split(
        _ index: Int, at splitAt: Int64, keeping prefix: Int, _ entries: [Int], reader: PartitionReader, batch: RowBatch
    ) throws(StorageError) {
        let old = state.partitions[index]
        var tail = PartitionState(timestamp: old.timestamp, rowCount: 0, splitAt: splitAt)
        tail.version = freeVersion(for: tail, atLeast: 0)
        let name = try createPartDirectory(tail)
        try writeRows(entries, from: batch, existing: reader, partition: name, startRow: 0)
        tail.rowCount = UInt64(entries.count)
        state.partitions[index].rowCount = UInt64(prefix)
        state.partitions.insert(tail, at: index + 1)
        // The shortened part's files keep the tail's old bytes past its row count (older
        // snapshots read them; the next open cuts them off). Nothing appends to it again.
        variableDataEnd[ColumnFiles.partitionDirectoryName(old, by: schema.partitionBy)] = nil
    }

    /// Rewrites part `index` as a new version: its first `prefix` rows copied as they are, then
    /// `entries`.
    func rewritePart(
        _ index: Int, prefix: Int, _ entries: [Int], reader: PartitionReader, batch: RowBatch, txn: UInt64
    ) throws(StorageError) {
        let old = state.partitions[index]
        var replacement = old
        replacement.rowCount = 0
        replacement.version = freeVersion(for: old, atLeast: old.version + 1)
        let name = try createPartDirectory(replacement)
        try copyRows(0..<prefix, of: reader, into: name, startRow: 0)
        try writeRows(entries, from: batch, existing: reader, partition: name, startRow: prefix)
        replacement.rowCount = UInt64(prefix + entries.count)
        state.partitions[index] = replacement
        retire(old, txn: txn)
    }

    /// Squashes the partition's parts (size-tiered, decision 0013): `squashFanIn` neighbouring
    /// parts of one size tier become one part of the next tier, so a row is copied about
    /// log_fanIn(partition / part) times over the partition's life rather than once per late
    /// batch; past `maxParts` the two smallest neighbours are joined whatever their tiers.
    private func squashParts(of timestamp: Int64, txn: UInt64) throws(StorageError) {
        while let parts = parts(of: timestamp) {
            if let run = sameTierRun(in: parts) {
                try concatenate(run, txn: txn)
            } else if parts.count > outOfOrder.maxParts {
                let first = parts.dropLast().min {
                    state.partitions[$0].rowCount + state.partitions[$0 + 1].rowCount
                        < state.partitions[$1].rowCount + state.partitions[$1 + 1].rowCount
                }!
                try concatenate(first..<first + 2, txn: txn)
            } else {
                return
            }
        }
    }

    /// QuestDB's `ALTER TABLE … SQUASH PARTITIONS` (WAL `txn`): every partition split into
    /// parts is concatenated into one part again.
    package func squashAllPartitions(txn: UInt64) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        for timestamp in Set(state.partitions.map(\.timestamp)).sorted() {
            if let parts = parts(of: timestamp), parts.count > 1 { try concatenate(parts, txn: txn) }
        }
        state.appliedTxn = txn
        try checkpoint()
    }

    /// The first `squashFanIn` neighbouring parts of one size tier, if any.
    private func sameTierRun(in parts: Range<Int>) -> Range<Int>? {
        var runStart = parts.lowerBound
        var runTier = outOfOrder.tier(state.partitions[runStart].rowCount)
        for index in parts.dropFirst() {
            let tier = outOfOrder.tier(state.partitions[index].rowCount)
            if tier != runTier { (runStart, runTier) = (index, tier) }
            if index - runStart + 1 == outOfOrder.squashFanIn { return runStart..<index + 1 }
        }
        return nil
    }

    /// Replaces the neighbouring parts `run` by one new part holding their rows in order
    /// (straight copies: the parts' ranges do not overlap).
    private func concatenate(_ run: Range<Int>, txn: UInt64) throws(StorageError) {
        let old = Array(state.partitions[run])
        var joined = old[0]
        joined.rowCount = 0
        joined.version = freeVersion(for: joined, atLeast: joined.version + 1)
        let name = try createPartDirectory(joined)
        for part in old {
            try copyRows(0..<Int(part.rowCount), of: try PartitionReader(store: self, partition: part), into: name,
                         startRow: Int(joined.rowCount))
            joined.rowCount += part.rowCount
        }
        state.partitions.replaceSubrange(run, with: [joined])
        for part in old { retire(part, txn: txn) }
    }

    /// A fresh directory for a new part version.
    private func createPartDirectory(_ part: PartitionState) throws(StorageError) -> String {
        let name = ColumnFiles.partitionDirectoryName(part, by: schema.partitionBy)
        try makePartitionDirectory(name)
        return name
    }

    /// A part version replaced in `txn`: its files go once no checkpoint or snapshot needs them.
    private func retire(_ part: PartitionState, txn: UInt64) {
        let name = ColumnFiles.partitionDirectoryName(part, by: schema.partitionBy)
        if let files = openFiles.removeValue(forKey: name) {
            for fd in files.values { ColumnFiles.close(fd) }
            openFileCount -= files.count
        }
        variableDataEnd[name] = nil
        obsoleteDirectories.append((name, txn))
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

    /// Copies `rows` of every column of `reader`'s part into `partition` from row `startRow`
    /// on: one write per file straight from the mapping (var-size offsets moved to their new
    /// place in chunks when the data lands elsewhere than it was).
    private func copyRows(_ rows: Range<Int>, of reader: PartitionReader, into partition: String, startRow: Int) throws(StorageError) {
        guard !rows.isEmpty else { return }
        for column in schema.columns {
            if let variable = reader.variable[column.id] {
                let dataEnd = try variableDataEnd(partition: partition, column: column.id, rowCount: startRow)
                let (first, last) = variable.offsets.withUnsafeBytes {
                    (Int($0.loadLittleEndian(fromByteOffset: rows.lowerBound * 8, as: UInt64.self) & ~ColumnFiles.nullFlag),
                     Int($0.loadLittleEndian(fromByteOffset: rows.upperBound * 8, as: UInt64.self) & ~ColumnFiles.nullFlag))
                }
                try copy(variable.data, bytes: first..<last, to: partition, ColumnFiles.dataFileName(columnID: column.id), at: Int(dataEnd))
                let offsetFile = ColumnFiles.offsetFileName(columnID: column.id)
                if Int(dataEnd) == first {
                    try copy(variable.offsets, bytes: (rows.lowerBound + 1) * 8..<(rows.upperBound + 1) * 8, to: partition,
                             offsetFile, at: (startRow + 1) * 8)
                } else {
                    try copyShiftedOffsets(variable.offsets, rows, by: Int64(dataEnd) - Int64(first), to: partition, offsetFile,
                                           startRow: startRow)
                }
                variableDataEnd[partition, default: [:]][column.id] = dataEnd + UInt64(last - first)
            } else if let mapped = reader.fixed[column.id], let width = column.type.fixedWidthBytes {
                try copy(mapped, bytes: rows.lowerBound * width..<rows.upperBound * width, to: partition,
                         ColumnFiles.dataFileName(columnID: column.id), at: startRow * width)
            }
        }
    }

    private func copyShiftedOffsets(
        _ offsets: MappedColumn, _ rows: Range<Int>, by shift: Int64, to partition: String, _ file: String, startRow: Int
    ) throws(StorageError) {
        var chunkStart = rows.lowerBound
        while chunkStart < rows.upperBound {
            let chunkEnd = min(rows.upperBound, chunkStart + TableStore.gatherChunkRows)
            scratch.removeAll(keepingCapacity: true)
            offsets.withUnsafeBytes { bytes in
                for row in chunkStart..<chunkEnd {
                    let stored = bytes.loadLittleEndian(fromByteOffset: (row + 1) * 8, as: UInt64.self)
                    let moved = UInt64(Int64(stored & ~ColumnFiles.nullFlag) + shift)
                    scratch.appendLittleEndian(moved | (stored & ColumnFiles.nullFlag))
                }
            }
            try scratch.withUnsafeBytes { bytes in
                Result { () throws(StorageError) in
                    try write(partition, file, bytes, at: (startRow + chunkStart - rows.lowerBound + 1) * 8)
                }
            }.get()
            chunkStart = chunkEnd
        }
    }

    private func copy(
        _ mapped: MappedColumn, bytes: Range<Int>, to partition: String, _ file: String, at offset: Int
    ) throws(StorageError) {
        guard !bytes.isEmpty else { return }
        try mapped.withUnsafeBytes { source in
            Result { () throws(StorageError) in
                try write(partition, file, UnsafeRawBufferPointer(rebasing: source[bytes]), at: offset)
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
                    || !buffer.data[starts[a]..<starts[a + 1]].elementsEqual(buffer.data[starts[b]..<starts[b + 1]]) { return false }
            } else {
                let width = type.fixedWidthBytes!
                let fixed = batch.column(position).fixed
                if !fixed[a * width..<(a + 1) * width].elementsEqual(fixed[b * width..<(b + 1) * width]) { return false }
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
    private let timestampID: UInt32?
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
        timestampID = store.schema.designatedTimestamp
    }

    /// The designated timestamps (only tables that have one merge out-of-order rows).
    var timestamps: MappedColumn { fixed[timestampID!]! }
}
