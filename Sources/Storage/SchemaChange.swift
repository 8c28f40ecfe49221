/// The payload of a `schemaChange` WAL record: one structural operation.
///
/// Layout: operation u8, then its body. `createTable` and `alterTable` carry the table's whole
/// new `_meta` image (column additions, drops and renames, table renames all become "the
/// schema is now this"), so applying them needs nothing but the record.
package enum SchemaChange: Sendable, Equatable {
    case createTable(TableSchema)
    case alterTable(TableSchema)
    case truncateTable(tableID: UInt32)
    case dropTable(tableID: UInt32)
    /// Removes the partitions starting at these timestamps (µs).
    case dropPartitions(tableID: UInt32, timestamps: [Int64])
    /// The schema after `ALTER COLUMN … TYPE`: column `from` became the column at its place
    /// in `schema` (a new id); every node converts the stored values as it applies this.
    case changeColumnType(TableSchema, from: UInt32)
    /// Moves the partitions starting at these timestamps out of the table, into
    /// `<name>.detached/` (decision 0022).
    case detachPartitions(tableID: UInt32, timestamps: [Int64])
    /// Takes detached partitions back, each checked against its identity.
    case attachPartitions(tableID: UInt32, partitions: [DetachedPartition.Identity])
    /// QuestDB's `SQUASH PARTITIONS`: every partition split into parts becomes one part.
    case squashPartitions(tableID: UInt32)

    package var tableID: UInt32 {
        switch self {
        case .createTable(let schema), .alterTable(let schema), .changeColumnType(let schema, _): schema.tableID
        case .truncateTable(let id), .dropTable(let id), .squashPartitions(let id), .dropPartitions(let id, _), .detachPartitions(let id, _),
             .attachPartitions(let id, _): id
        }
    }

    package func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .createTable(let schema): bytes = [1] + TableMetaCodec.encode(schema)
        case .alterTable(let schema): bytes = [2] + TableMetaCodec.encode(schema)
        case .truncateTable(let id):
            bytes = [3]
            bytes.appendLittleEndian(id)
        case .dropTable(let id):
            bytes = [4]
            bytes.appendLittleEndian(id)
        case .squashPartitions(let id):
            bytes = [9]
            bytes.appendLittleEndian(id)
        case .dropPartitions(let id, let timestamps), .detachPartitions(let id, let timestamps):
            if case .dropPartitions = self { bytes = [5] } else { bytes = [7] }
            bytes.appendLittleEndian(id)
            bytes.appendLittleEndian(UInt32(timestamps.count))
            for timestamp in timestamps { bytes.appendLittleEndian(timestamp) }
        case .attachPartitions(let id, let partitions):
            bytes = [8]
            bytes.appendLittleEndian(id)
            SchemaChange.encodeIdentities(partitions, into: &bytes)
        case .changeColumnType(let schema, let from):
            bytes = [6]
            bytes.appendLittleEndian(from)
            bytes += TableMetaCodec.encode(schema)
        }
        return bytes
    }

    package static func decode(_ payload: [UInt8], txn: UInt64) throws(StorageError) -> SchemaChange {
        guard let operation = payload.first else {
            throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is empty")
        }
        let body = Array(payload.dropFirst())
        switch operation {
        case 1: return .createTable(try TableMetaCodec.decode(body, path: "wal txn \(txn)"))
        case 2: return .alterTable(try TableMetaCodec.decode(body, path: "wal txn \(txn)"))
        case 3, 4, 9:
            guard body.count == 4 else { throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is malformed") }
            let id = body.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 0, as: UInt32.self) }
            return operation == 3 ? .truncateTable(tableID: id) : operation == 4 ? .dropTable(tableID: id) : .squashPartitions(tableID: id)
        case 8:
            var reader = BinaryReader(body)
            guard let id = try? reader.read(UInt32.self), let partitions = try? SchemaChange.decodeIdentities(&reader) else {
                throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is malformed")
            }
            return .attachPartitions(tableID: id, partitions: partitions)
        case 5, 7:
            var reader = BinaryReader(body)
            guard let id = try? reader.read(UInt32.self), let count = try? reader.read(UInt32.self),
                  reader.remaining == Int(count) * 8
            else { throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is malformed") }
            var timestamps: [Int64] = []
            for _ in 0..<count { timestamps.append((try? reader.read(Int64.self)) ?? 0) }
            return operation == 5 ? .dropPartitions(tableID: id, timestamps: timestamps) : .detachPartitions(tableID: id, timestamps: timestamps)
        case 6:
            guard body.count > 4 else { throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is malformed") }
            let from = body.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 0, as: UInt32.self) }
            return .changeColumnType(try TableMetaCodec.decode(Array(body[4...]), path: "wal txn \(txn)"), from: from)
        default:
            throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) has unknown operation \(operation)")
        }
    }
}
