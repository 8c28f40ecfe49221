/// The payload of a `schemaChange` WAL record: one structural operation.
///
/// Layout: operation u8, then the operation's body. `createTable` carries the new table's
/// whole `_meta` image, so applying it needs nothing but the record.
package enum SchemaChange: Sendable, Equatable {
    case createTable(TableSchema)

    package func encoded() -> [UInt8] {
        switch self {
        case .createTable(let schema): [1] + TableMetaCodec.encode(schema)
        }
    }

    package static func decode(_ payload: [UInt8], txn: UInt64) throws(StorageError) -> SchemaChange {
        guard let operation = payload.first else {
            throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) is empty")
        }
        switch operation {
        case 1: return .createTable(try TableMetaCodec.decode(Array(payload.dropFirst()), path: "wal txn \(txn)"))
        default: throw StorageError(.corrupt, path: "wal", "schema change at txn \(txn) has unknown operation \(operation)")
        }
    }
}
