import Synchronization

/// A consistent, immutable view of one table for readers: the partitions and row counts of
/// one applied transaction. Later applies never change what a snapshot shows.
package struct TableSnapshot: Sendable {
    /// Keeps the partition versions this view reads from being removed while it lives.
    let lease: SnapshotLease
    package let schema: TableSchema
    package let directory: String
    package let partitions: [Partition]
    /// The last WAL txn this view includes.
    package let appliedTxn: UInt64
    /// Dictionaries of the SYMBOL columns as of the snapshot, by column id.
    package let symbols: [UInt32: SymbolTable]
    /// Column mappings made for this snapshot, shared by every reader of it: re-mapping per
    /// query would fault every touched page in again. They go away with the snapshot.
    let mappings = SnapshotMappings()

    /// One partition as of the snapshot.
    package struct Partition: Sendable, Equatable {
        package let state: PartitionState
        package let directoryName: String

        package var timestamp: Int64 { state.timestamp }
        package var rowCount: Int { Int(state.rowCount) }
    }

    package var rowCount: Int { partitions.reduce(0) { $0 + $1.rowCount } }

    /// Partitions whose time range overlaps `[from, to)` (µs); all for `PARTITION BY NONE`.
    package func partitions(overlapping from: Int64, _ to: Int64) -> [Partition] {
        guard schema.partitionBy != .none else { return partitions }
        return partitions.filter { partition in
            partition.timestamp < to && PartitionTime.next(after: partition.timestamp, by: schema.partitionBy) > from
        }
    }

    /// The fixed-width values of column `columnID` in `partition`, mapped read-only.
    package func mapColumn(_ columnID: UInt32, in partition: Partition) throws(StorageError) -> MappedColumn {
        guard let column = schema.column(id: columnID), let width = column.type.fixedWidthBytes else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a fixed-width column of \(schema.name)")
        }
        let path = "\(directory)/\(partition.directoryName)/\(ColumnFiles.dataFileName(columnID: columnID))"
        let length = partition.rowCount * width
        return try mappings.fixed(path, length) { () throws(StorageError) in try MappedColumn(path: path, length: length) }
    }

    /// The offsets and data of var-size column `columnID` in `partition`, mapped read-only.
    package func mapVariableColumn(_ columnID: UInt32, in partition: Partition) throws(StorageError) -> VariableColumn {
        guard let column = schema.column(id: columnID), column.type.isVariableSize else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a var-size column of \(schema.name)")
        }
        let key = "\(directory)/\(partition.directoryName)/\(ColumnFiles.offsetFileName(columnID: columnID))#\(partition.rowCount)"
        return try mappings.variable(key) { () throws(StorageError) in try mapVariableColumnUncached(columnID, in: partition) }
    }

    private func mapVariableColumnUncached(_ columnID: UInt32, in partition: Partition) throws(StorageError) -> VariableColumn {
        let base = "\(directory)/\(partition.directoryName)/"
        let offsets = try MappedColumn(
            path: base + ColumnFiles.offsetFileName(columnID: columnID), length: (partition.rowCount + 1) * 8)
        let end = offsets.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: partition.rowCount * 8, as: UInt64.self) }
        let dataPath = base + ColumnFiles.dataFileName(columnID: columnID)
        let data = try MappedColumn(path: dataPath, length: Int(end & ~ColumnFiles.nullFlag))
        // Offsets must rise and stay inside the data: a damaged `.i` is an error for the reader,
        // never an out-of-bounds read (one pass per mapping, at memory speed).
        let valid = offsets.withUnsafeBytes { bytes -> Bool in
            var previous: UInt64 = 0
            for row in 0...partition.rowCount {
                let offset = bytes.loadLittleEndian(fromByteOffset: row * 8, as: UInt64.self) & ~ColumnFiles.nullFlag
                if offset < previous || offset > UInt64(data.length) { return false }
                previous = offset
            }
            return true
        }
        guard valid else {
            throw StorageError(.corrupt, path: base + ColumnFiles.offsetFileName(columnID: columnID), "offsets are damaged (not rising within the data)")
        }
        return VariableColumn(offsets: offsets, data: data)
    }

    /// First row in `timestamps` (a designated-timestamp column, sorted) with a value ≥ `timestamp`.
    package static func lowerBound(_ timestamp: Int64, in timestamps: MappedColumn) -> Int {
        timestamps.withUnsafeBytes { bytes in
            var low = 0
            var high = bytes.count / 8
            while low < high {
                let middle = (low + high) / 2
                if bytes.loadLittleEndian(fromByteOffset: middle * 8, as: Int64.self) < timestamp {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low
        }
    }
}

/// The mappings of one snapshot, by file and length. Validated var-size columns are kept too,
/// so their offset check runs once per snapshot, not once per query.
final class SnapshotMappings: Sendable {
    private let fixedColumns = Mutex<[String: MappedColumn]>([:])
    private let variableColumns = Mutex<[String: VariableColumn]>([:])

    func fixed(_ path: String, _ length: Int, _ make: () throws(StorageError) -> MappedColumn) throws(StorageError) -> MappedColumn {
        let key = "\(path)#\(length)"
        if let hit = fixedColumns.withLock({ $0[key] }) { return hit }
        let made = try make()
        return fixedColumns.withLock { columns in
            if let raced = columns[key] { return raced }
            columns[key] = made
            return made
        }
    }

    func variable(_ key: String, _ make: () throws(StorageError) -> VariableColumn) throws(StorageError) -> VariableColumn {
        if let hit = variableColumns.withLock({ $0[key] }) { return hit }
        let made = try make()
        return variableColumns.withLock { columns in
            if let raced = columns[key] { return raced }
            columns[key] = made
            return made
        }
    }
}

/// A var-size column of one partition: `.i` offsets and `.d` bytes, mapped.
package struct VariableColumn: Sendable {
    package let offsets: MappedColumn
    package let data: MappedColumn

    package var rowCount: Int { offsets.length / 8 - 1 }

    /// The bytes of `row`, or `nil` for NULL; valid while this value lives.
    package func withValue<R>(row: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let (start, end) = offsets.withUnsafeBytes { bytes in
            (bytes.loadLittleEndian(fromByteOffset: row * 8, as: UInt64.self) & ~ColumnFiles.nullFlag,
             bytes.loadLittleEndian(fromByteOffset: (row + 1) * 8, as: UInt64.self))
        }
        if end & ColumnFiles.nullFlag != 0 { return try body(nil) }
        return try data.withUnsafeBytes { bytes in
            try body(UnsafeRawBufferPointer(rebasing: bytes[Int(start)..<Int(end)]))
        }
    }
}

/// A SYMBOL column's dictionary as of a snapshot: key → value and value → key.
package struct SymbolTable: Sendable {
    package let values: [String]
    package let keys: [String: Int32]

    /// A dictionary with no values (a column with only NULLs so far).
    package static let empty = SymbolTable(values: [], keys: [:])

    /// The value of `key`, or `nil` for NULL (−1) or an unknown key.
    package func value(_ key: Int32) -> String? {
        key >= 0 && Int(key) < values.count ? values[Int(key)] : nil
    }
}

/// Counts live snapshots by the txn they show, so the applier knows which replaced partition
/// versions a reader may still be using.
final class SnapshotLeases: Sendable {
    private let live = Mutex<[UInt64: Int]>([:])

    func take(appliedTxn: UInt64) -> SnapshotLease {
        live.withLock { $0[appliedTxn, default: 0] += 1 }
        return SnapshotLease(leases: self, appliedTxn: appliedTxn)
    }

    func release(appliedTxn: UInt64) {
        live.withLock { live in
            let remaining = (live[appliedTxn] ?? 1) - 1
            live[appliedTxn] = remaining > 0 ? remaining : nil
        }
    }

    /// The oldest txn any live snapshot shows, or `nil` when none is alive.
    var oldestLiveTxn: UInt64? { live.withLock { $0.keys.min() } }
}

/// One live snapshot's claim; released when the last copy of the snapshot goes away.
final class SnapshotLease: Sendable {
    private let leases: SnapshotLeases
    let appliedTxn: UInt64

    init(leases: SnapshotLeases, appliedTxn: UInt64) {
        self.leases = leases
        self.appliedTxn = appliedTxn
    }

    deinit {
        leases.release(appliedTxn: appliedTxn)
    }
}
