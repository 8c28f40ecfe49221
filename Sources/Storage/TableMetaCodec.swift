/// The `_meta` file: a table's schema, versioned and checksummed, replaced atomically.
///
/// Layout (little-endian): magic u32 "SDMT", format u16, reserved u16, table id u32,
/// schema version u64, partition u8, has-designated u8, designated column id u32,
/// next column id u32, name, column count u32, columns (id u32, type tag u8, type parameter u8,
/// flags u8 [bit 0 indexed], symbol capacity i32, name), dedup key count u16, key ids u32…,
/// [format 2: TTL value i32 (0: none), TTL unit u8], CRC32C u32 of everything before it.
/// Strings are u16 length + UTF-8. Format 1 files (no TTL) are still read.
package enum TableMetaCodec {
    package static let magic: UInt32 = 0x544D_4453  // "SDMT"
    package static let formatVersion: UInt16 = 2
    package static let maxFileBytes = 1 << 20

    package static func encode(_ schema: TableSchema) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(magic)
        bytes.appendLittleEndian(formatVersion)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(schema.tableID)
        bytes.appendLittleEndian(schema.version)
        bytes.append(schema.partitionBy.rawValue)
        bytes.append(schema.designatedTimestamp == nil ? 0 : 1)
        bytes.appendLittleEndian(schema.designatedTimestamp ?? 0)
        bytes.appendLittleEndian(schema.nextColumnID)
        bytes.appendString(schema.name)
        bytes.appendLittleEndian(UInt32(schema.columns.count))
        for column in schema.columns {
            bytes.appendLittleEndian(column.id)
            let type = column.type.encoded
            bytes.append(type.tag)
            bytes.append(type.parameter)
            bytes.append(column.indexed ? 1 : 0)
            bytes.appendLittleEndian(column.symbolCapacity)
            bytes.appendString(column.name)
        }
        bytes.appendLittleEndian(UInt16(schema.dedupKeys.count))
        for key in schema.dedupKeys { bytes.appendLittleEndian(key) }
        bytes.appendLittleEndian(schema.ttl?.value ?? 0)
        bytes.append(schema.ttl?.unit.rawValue ?? 0)
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        return bytes
    }

    /// Decodes and verifies `_meta`; `path` names the file in errors.
    package static func decode(_ bytes: [UInt8], path: String) throws(StorageError) -> TableSchema {
        guard bytes.count >= 8 else { throw StorageError(.corrupt, path: path, "table metadata is truncated") }
        let stored = bytes.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: bytes.count - 4, as: UInt32.self) }
        guard CRC32C.checksum(bytes[..<(bytes.count - 4)]) == stored else {
            throw StorageError(.corrupt, path: path, "table metadata checksum mismatch; the file is damaged")
        }
        var reader = BinaryReader(Array(bytes.dropLast(4)))
        do {
            guard try reader.read(UInt32.self) == magic else {
                throw StorageError(.corrupt, path: path, "not a table metadata file")
            }
            let version = try reader.read(UInt16.self)
            guard version == 1 || version == formatVersion else {
                throw StorageError(.unsupportedVersion, path: path, "table metadata format \(version) is not supported")
            }
            _ = try reader.read(UInt16.self)
            var schema = try decodeBody(&reader, path: path)
            if version >= 2 {
                let value = try reader.read(Int32.self)
                let unit = try reader.read(UInt8.self)
                if value != 0 {
                    guard value > 0, let unit = TableTTL.Unit(rawValue: unit) else {
                        throw StorageError(.corrupt, path: path, "table metadata has an invalid TTL")
                    }
                    schema.ttl = TableTTL(value: value, unit: unit)
                }
            }
            guard reader.remaining == 0 else { throw StorageError(.corrupt, path: path, "table metadata has trailing bytes") }
            return schema
        } catch let overrun as BinaryReader.Overrun {
            _ = overrun
            throw StorageError(.corrupt, path: path, "table metadata is malformed (a field runs past the end)")
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.corrupt, path: path, "table metadata is malformed: \(error)")
        }
    }

    private static func decodeBody(_ reader: inout BinaryReader, path: String) throws -> TableSchema {
        let tableID = try reader.read(UInt32.self)
        let schemaVersion = try reader.read(UInt64.self)
        guard let partitionBy = PartitionBy(rawValue: try reader.read(UInt8.self)) else {
            throw StorageError(.corrupt, path: path, "table metadata names an unknown partitioning")
        }
        let hasDesignated = try reader.read(UInt8.self) == 1
        let designated = try reader.read(UInt32.self)
        let nextColumnID = try reader.read(UInt32.self)
        let name = try reader.readString()
        let count = Int(try reader.read(UInt32.self))
        guard count <= TableSchema.maxColumns else {
            throw StorageError(.corrupt, path: path, "table metadata declares \(count) columns")
        }
        var columns: [ColumnSchema] = []
        for _ in 0..<count {
            let id = try reader.read(UInt32.self)
            let tag = try reader.read(UInt8.self)
            let parameter = try reader.read(UInt8.self)
            guard let type = ColumnType(tag: tag, parameter: parameter) else {
                throw StorageError(.corrupt, path: path, "table metadata names an unknown column type \(tag)/\(parameter)")
            }
            let flags = try reader.read(UInt8.self)
            let capacity = try reader.read(Int32.self)
            let columnName = try reader.readString()
            columns.append(ColumnSchema(id: id, name: columnName, type: type, indexed: flags & 1 != 0, symbolCapacity: capacity))
        }
        let keyCount = Int(try reader.read(UInt16.self))
        var keys: [UInt32] = []
        for _ in 0..<keyCount { keys.append(try reader.read(UInt32.self)) }
        guard columns.allSatisfy({ $0.id < nextColumnID }) else {
            throw StorageError(.corrupt, path: path, "table metadata's next column id \(nextColumnID) is already used")
        }
        var schema = TableSchema(
            tableID: tableID, name: name, columns: columns, designatedTimestamp: hasDesignated ? designated : nil,
            partitionBy: partitionBy, dedupKeys: keys, version: schemaVersion)
        schema.nextColumnID = nextColumnID
        do {
            try schema.validate()
        } catch {
            throw StorageError(.corrupt, path: path, "table metadata describes an invalid schema: \(error)")
        }
        return schema
    }
}
