/// A consistent, immutable view of one table for readers: the partitions and row counts of
/// one applied transaction. Later applies never change what a snapshot shows.
package struct TableSnapshot: Sendable {
    package let schema: TableSchema
    package let directory: String
    package let partitions: [Partition]
    /// The last WAL txn this view includes.
    package let appliedTxn: UInt64

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
        return try MappedColumn(path: path, length: partition.rowCount * width)
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
