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

    package var tableID: UInt32 {
        switch self {
        case .createTable(let schema), .alterTable(let schema): schema.tableID
        case .truncateTable(let id), .dropTable(let id): id
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
        case 3, 4:
            guard body.count == 4 else { throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is malformed") }
            let id = body.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 0, as: UInt32.self) }
            return operation == 3 ? .truncateTable(tableID: id) : .dropTable(tableID: id)
        default:
            throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) has unknown operation \(operation)")
        }
    }
}
