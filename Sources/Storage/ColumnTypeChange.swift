#if canImport(Glibc)
import Glibc
#endif

/// Converts stored values of one column to another type, for `ALTER TABLE … ALTER COLUMN …
/// TYPE` (decision 0021). Storage applies the change — on the primary, on every replica and
/// in replay — but what a conversion means is SQL's `CAST`, which lives above Storage; the
/// node supplies it through `StorageConfiguration.columnConverter`. It must be deterministic:
/// every node converts the same stored values and must end with the same column.
package protocol ColumnConverter: Sendable {
    /// Appends `rows` of `column` in `partition` of `snapshot`, converted to the type of the
    /// only column of `batch`'s schema, as rows of `batch` (one per source row, in order). A
    /// value with no counterpart in the new type becomes NULL: a conversion never fails on
    /// data, since it runs where nobody could be told.
    func convert(
        _ column: ColumnSchema, rows: Range<Int>, of partition: TableSnapshot.Partition, in snapshot: TableSnapshot,
        into batch: RowBatch
    ) throws(StorageError)
}

extension TableSchema {
    /// The column named `name` takes `type` under a fresh id, keeping its name and place (and
    /// its dedup-key role): old snapshots go on reading the old id's files while the new
    /// ones are written beside them. Returns the old and new ids.
    package mutating func changeColumnType(named name: String, to type: ColumnType) throws(SchemaError) -> (from: UInt32, to: UInt32) {
        guard let index = columns.firstIndex(where: { NameRules.lookupKey($0.name) == NameRules.lookupKey(name) }) else {
            throw SchemaError("column '\(name)' does not exist in table '\(self.name)'")
        }
        let old = columns[index]
        guard old.id != designatedTimestamp else {
            throw SchemaError("cannot change column type, column is the designated timestamp")
        }
        guard old.type != type else { throw SchemaError("column '\(old.name)' type is already '\(type)'") }
        let new = ColumnSchema(id: nextColumnID, name: old.name, type: type)
        nextColumnID += 1
        columns[index] = new
        dedupKeys = dedupKeys.map { $0 == old.id ? new.id : $0 }
        return (old.id, new.id)
    }
}

extension TableStore {
    /// Rows converted per step: bounds the batch a conversion holds (a partition can hold
    /// hundreds of millions of rows).
    static let conversionChunkRows = 1 << 16

    /// Applies a column type change (WAL `txn`): every part's values of column `oldID` are
    /// converted into files of the new schema's column at the same place, then `_meta` names
    /// the new column. Files first, schema last: a crash in between replays the record, which
    /// rewrites the new files from the start. The old column's files stay for older snapshots
    /// (as a dropped column's do).
    package func changeColumnType(
        to newSchema: TableSchema, from oldID: UInt32, converter: (any ColumnConverter)?, txn: UInt64
    ) throws(StorageError) {
        guard txn > state.appliedTxn else { return }
        guard let position = schema.columns.firstIndex(where: { $0.id == oldID }), position < newSchema.columns.count,
              schema.column(id: newSchema.columns[position].id) == nil, newSchema.version > schema.version
        else {
            throw StorageError(.corrupt, path: directory, "column type change at txn \(txn) does not match the table's schema")
        }
        guard let converter else {
            throw StorageError(.notWritable, path: directory, "this process cannot convert column types (no converter configured)")
        }
        let source = schema.columns[position]
        let target = newSchema.columns[position]
        try checkpoint()
        closeOpenFiles()
        let view = snapshot()
        var dictionary: SymbolDictionary?
        if target.type == .symbol {
            // Count 0 empties what an interrupted earlier attempt left in the file.
            dictionary = try SymbolDictionary(path: directory + "/" + ColumnFiles.symbolFileName(columnID: target.id), count: 0, io: io)
        }
        let single = TableSchema(
            tableID: schema.tableID, name: schema.name, columns: [target], designatedTimestamp: nil, partitionBy: .none,
            version: newSchema.version)
        let batch = RowBatch(schema: single, maxBytes: .max)
        do throws(StorageError) {
            for partition in view.partitions {
                var writer = try ConvertedColumnWriter(
                    directory: "\(directory)/\(partition.directoryName)", column: target, io: io)
                defer { writer.close() }
                var start = 0
                while start < partition.rowCount {
                    let rows = start..<min(start + TableStore.conversionChunkRows, partition.rowCount)
                    batch.reset()
                    try converter.convert(source, rows: rows, of: partition, in: view, into: batch)
                    guard batch.rowCount == rows.count else {
                        throw StorageError(
                            .corrupt, path: directory, "conversion of \(source.name) gave \(batch.rowCount) rows for \(rows.count)")
                    }
                    try writer.append(batch.column(0), rows: batch.rowCount, symbols: &dictionary)
                    start = rows.upperBound
                }
                try writer.finish()
            }
            try dictionary?.sync()
        } catch {
            dictionary?.close()
            throw error
        }
        try DurableFile.replace(directory + "/_meta", with: TableMetaCodec.encode(newSchema), io: io)
        if let dictionary { symbols[target.id] = dictionary }
        try adopt(newSchema, txn: txn)
    }
}

/// Writes one converted column of one part from scratch: `.d` (and `.i` for var-size values)
/// truncated on open, appended chunk by chunk, fsynced at the end.
private struct ConvertedColumnWriter: ~Copyable {
    let column: ColumnSchema
    let io: StorageIO
    let dataPath: String
    let offsetPath: String
    private var data: Int32 = -1
    private var offsets: Int32 = -1
    private var dataEnd = 0
    private var rows = 0
    private var scratch: [UInt8] = []

    init(directory: String, column: ColumnSchema, io: StorageIO) throws(StorageError) {
        self.column = column
        self.io = io
        dataPath = directory + "/" + ColumnFiles.dataFileName(columnID: column.id)
        offsetPath = directory + "/" + ColumnFiles.offsetFileName(columnID: column.id)
        data = try Self.openTruncated(dataPath, io: io)
        if column.type.isVariableSize {
            offsets = try Self.openTruncated(offsetPath, io: io)
            var zero = UInt64(0)
            try withUnsafeBytes(of: &zero) { bytes in
                Result { () throws(StorageError) in try ColumnFiles.write(offsets, bytes, at: 0, path: offsetPath, io: io) }
            }.get()
        }
    }

    private static func openTruncated(_ path: String, io: StorageIO) throws(StorageError) -> Int32 {
        let fd = try ColumnFiles.openForAppend(path, io: io)
        if io.ftruncate(fd, 0) != 0 {
            ColumnFiles.close(fd)
            throw StorageError(.io, path: path, "cannot truncate column file", errno: errno)
        }
        return fd
    }

    mutating func append(_ buffer: ColumnBuffer, rows count: Int, symbols: inout SymbolDictionary?) throws(StorageError) {
        if column.type == .symbol {
            guard var dictionary = symbols else { preconditionFailure("a SYMBOL column converts with its dictionary") }
            defer { symbols = dictionary }
            var keys: [Int32] = [], tableKeys: [Int32] = []
            try dictionary.intern(buffer, keys: &keys, tableKeys: &tableKeys)
            try keys.withUnsafeBytes { bytes in
                Result { () throws(StorageError) in try write(data, dataPath, bytes, at: rows * 4) }
            }.get()
        } else if let width = column.type.fixedWidthBytes {
            try write(data, dataPath, buffer.fixed, at: rows * width)
        } else {
            var total = 0
            scratch.removeAll(keepingCapacity: true)
            for length in buffer.lengths {
                total += max(0, Int(length))
                let end = UInt64(dataEnd + total)
                scratch.appendLittleEndian(length < 0 ? end | ColumnFiles.nullFlag : end)
            }
            try write(data, dataPath, buffer.data, at: dataEnd)
            try write(offsets, offsetPath, scratch, at: (rows + 1) * 8)
            dataEnd += total
        }
        rows += count
    }

    private func write(_ fd: Int32, _ path: String, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StorageError) {
        try ColumnFiles.write(fd, bytes, at: offset, path: path, io: io)
    }

    private func write(_ fd: Int32, _ path: String, _ bytes: [UInt8], at offset: Int) throws(StorageError) {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(StorageError) in try ColumnFiles.write(fd, raw, at: offset, path: path, io: io) }
        }.get()
    }

    /// Makes the files and their directory entries durable.
    func finish() throws(StorageError) {
        try ColumnFiles.sync(data, path: dataPath, io: io)
        if offsets >= 0 { try ColumnFiles.sync(offsets, path: offsetPath, io: io) }
        try DurableFile.syncDirectory(containing: dataPath, io: io)
    }

    mutating func close() {
        if data >= 0 { ColumnFiles.close(data) }
        if offsets >= 0 { ColumnFiles.close(offsets) }
        data = -1
        offsets = -1
    }
}
