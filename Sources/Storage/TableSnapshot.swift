#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
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
    /// File identities looked up for this snapshot: one `stat` per file per snapshot instead
    /// of one per column per query (a point query maps every column it returns).
    let identities = FileIdentities()
    /// Columns this snapshot has mapped, by partition and column: later queries on the same
    /// snapshot skip building paths and the shared cache's lock.
    let mapped = SnapshotMappings()
    /// Column mappings shared by every snapshot and query: re-mapping per query (or per
    /// snapshot, which changes with every applied commit) faults every touched page in again.
    var mappings: ColumnMappings { ColumnMappings.shared }

    /// One partition as of the snapshot.
    package struct Partition: Sendable, Equatable {
        package let state: PartitionState
        package let directoryName: String

        package var timestamp: Int64 { state.timestamp }
        package var rowCount: Int { Int(state.rowCount) }
    }

    package var rowCount: Int { partitions.reduce(0) { $0 + $1.rowCount } }

    /// The designated timestamps of `partition`'s first and last rows (rows are in time order
    /// within a part); nil for an empty part or a table without a designated timestamp.
    package func timestampBounds(of partition: Partition) -> (first: Int64, last: Int64)? {
        guard partition.rowCount > 0, let timestampID = schema.designatedTimestamp,
              let mapped = try? mapColumn(timestampID, in: partition)
        else { return nil }
        return mapped.withUnsafeBytes { bytes in
            (bytes.loadUnaligned(fromByteOffset: 0, as: Int64.self),
             bytes.loadUnaligned(fromByteOffset: (partition.rowCount - 1) * 8, as: Int64.self))
        }
    }

    /// Partitions whose time range overlaps `[from, to)` (µs); all for `PARTITION BY NONE`.
    package func partitions(overlapping from: Int64, _ to: Int64) -> [Partition] {
        guard schema.partitionBy != .none else { return partitions }
        return partitions.filter { partition in
            partition.timestamp < to && PartitionTime.next(after: partition.timestamp, by: schema.partitionBy) > from
        }
    }

    /// The fixed-width values of column `columnID` in `partition`, mapped read-only.
    package func mapColumn(_ columnID: UInt32, in partition: Partition) throws(StorageError) -> MappedColumn {
        guard let column = schema.column(id: columnID) else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a column of \(schema.name)")
        }
        return try mapColumn(column, in: partition)
    }

    /// `mapColumn(_:in:)` for a column of this snapshot's schema the caller already holds
    /// (a scan maps every column it reads per partition: no search by id each time).
    package func mapColumn(_ column: ColumnSchema, in partition: Partition) throws(StorageError) -> MappedColumn {
        let columnID = column.id
        guard let width = column.type.fixedWidthBytes else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a fixed-width column of \(schema.name)")
        }
        let key = SnapshotMappings.Key(partition: partition.timestamp, part: partition.state.splitAt, column: columnID)
        if let known = mapped.column(key) { return known }
        let path = "\(directory)/\(partition.directoryName)/\(ColumnFiles.dataFileName(columnID: columnID))"
        let length = partition.rowCount * width
        // The file's identity, not just its name: a dropped and re-created partition or table
        // reuses names. While a mapping is cached its inode stays allocated, so no new file
        // can share it.
        guard let identity = identities.identity(path) else { return try MappedColumn(path: path, length: length) }
        let mapping = try mappings.fixed(identity, length) { () throws(StorageError) in try MappedColumn(path: path, length: length) }
        mapped.remember(mapping, key)
        return mapping
    }

    /// The offsets and data of var-size column `columnID` in `partition`, mapped read-only.
    package func mapVariableColumn(_ columnID: UInt32, in partition: Partition) throws(StorageError) -> VariableColumn {
        guard let column = schema.column(id: columnID) else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a column of \(schema.name)")
        }
        return try mapVariableColumn(column, in: partition)
    }

    /// `mapVariableColumn(_:in:)` for a column of this snapshot's schema the caller holds.
    package func mapVariableColumn(_ column: ColumnSchema, in partition: Partition) throws(StorageError) -> VariableColumn {
        let columnID = column.id
        guard column.type.isVariableSize else {
            throw StorageError(.corrupt, path: directory, "column \(columnID) is not a var-size column of \(schema.name)")
        }
        let base = "\(directory)/\(partition.directoryName)/"
        guard let offsets = identities.identity(base + ColumnFiles.offsetFileName(columnID: columnID)),
              let data = identities.identity(base + ColumnFiles.dataFileName(columnID: columnID))
        else { return try mapVariableColumnUncached(columnID, in: partition) }
        return try mappings.variable("\(offsets)+\(data)#\(partition.rowCount)") { () throws(StorageError) in
            try mapVariableColumnUncached(columnID, in: partition)
        }
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

/// Column mappings by file and length, least recently used dropped past a count. A snapshot
/// maps a prefix of a file (its committed rows), so the key names the file *and* the length;
/// partition rewrites write new directories, so a mapping never shows rows it should not.
/// Validated var-size columns are kept too (their offset check runs once, not per query).
/// An evicted or superseded mapping of a deleted file holds its disk blocks until it goes.
final class ColumnMappings: Sendable {
    static let shared = ColumnMappings(capacity: 4096)

    private let fixedColumns: RecentlyUsedCache<MappedColumn>
    private let variableColumns: RecentlyUsedCache<VariableColumn>

    init(capacity: Int) {
        fixedColumns = RecentlyUsedCache(capacity: capacity)
        variableColumns = RecentlyUsedCache(capacity: capacity)
    }

    /// `device:inode` of a file, or nil when it cannot be read.
    static func identity(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino)"
    }

    func fixed(_ path: String, _ length: Int, _ make: () throws(StorageError) -> MappedColumn) throws(StorageError) -> MappedColumn {
        try fixedColumns.value("\(path)#\(length)", make)
    }

    func variable(_ key: String, _ make: () throws(StorageError) -> VariableColumn) throws(StorageError) -> VariableColumn {
        try variableColumns.value(key, make)
    }
}

/// The fixed-width columns one snapshot has mapped (its partitions do not change under it).
final class SnapshotMappings: Sendable {
    struct Key: Hashable {
        var partition: Int64
        var part: Int64
        var column: UInt32
    }

    private let columns = PlainMutex<[Key: MappedColumn]>([:])

    func column(_ key: Key) -> MappedColumn? { columns.withLock { $0[key] } }
    func remember(_ column: MappedColumn, _ key: Key) { columns.withLock { $0[key] = column } }
}

/// `device:inode` of files by path, remembered for the life of one snapshot (its files do not
/// change under it: replaced partition versions stay while it holds its lease).
final class FileIdentities: Sendable {
    private let known = PlainMutex<[String: String]>([:])

    func identity(_ path: String) -> String? {
        if let found = known.withLock({ $0[path] }) { return found }
        guard let identity = ColumnMappings.identity(path) else { return nil }
        known.withLock { $0[path] = identity }
        return identity
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

    /// A dictionary of `values`, each keyed by its position.
    package init(values: [String]) {
        self.init(values: values, keys: Dictionary(values.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { first, _ in first }))
    }

    init(values: [String], keys: [String: Int32]) {
        self.values = values
        self.keys = keys
    }

    /// The value of `key`, or `nil` for NULL (−1) or an unknown key.
    package func value(_ key: Int32) -> String? {
        key >= 0 && Int(key) < values.count ? values[Int(key)] : nil
    }
}

/// Counts live snapshots by the txn they show, so the applier knows which replaced partition
/// versions a reader may still be using.
final class SnapshotLeases: Sendable {
    private let live = PlainMutex<[UInt64: Int]>([:])

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
