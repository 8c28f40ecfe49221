/// The rows an UPDATE changes: whole replacement rows (every column, in `batch`) and, for each
/// part of the table they fall in, which rows of it they replace. Rows are named by position —
/// part index in the table's partition list and row within the part — as of the view the
/// UPDATE read; `StorageEngine.update` keeps every other write of the table out until the
/// record is in the WAL, so those positions are exact wherever the record is applied (replay,
/// replicas). Each part also names its identity (timestamp, version, row count, split point):
/// applying against any other part fails loudly instead of changing the wrong rows.
package struct RowUpdate {
    package struct Part: Equatable {
        package var index: Int
        package var state: PartitionState
        /// Rows of the part replaced, ascending; batch rows follow parts in order.
        package var rows: [Int]

        package init(index: Int, state: PartitionState, rows: [Int]) {
            self.index = index
            self.state = state
            self.rows = rows
        }
    }

    package let batch: RowBatch
    package internal(set) var parts: [Part] = []

    package init(batch: RowBatch) { self.batch = batch }

    package var rowCount: Int { batch.rowCount }

    /// Notes that the batch's next row replaces `row` of part `index` (parts ascending, rows
    /// ascending within a part).
    package mutating func replaces(row: Int, ofPart index: Int, _ state: PartitionState) {
        if parts.last?.index == index {
            parts[parts.count - 1].rows.append(row)
        } else {
            parts.append(Part(index: index, state: state, rows: [row]))
        }
    }
}

/// `RowUpdate` as a WAL payload (kind `rowUpdate`).
///
/// Layout (little-endian): format u8, table id u32, part count u32, then per part: index u32,
/// timestamp i64, version u32, row count u64, split point i64, replaced row count u32 and the
/// rows u64 each; then the replacement rows as a `RowBatchCodec` payload. The WAL record's CRC
/// covers it; decoding still checks every bound.
package enum RowUpdateCodec {
    package static let formatVersion: UInt8 = 1

    package static func encode(_ update: RowUpdate, into output: inout [UInt8]) {
        output.append(formatVersion)
        output.appendLittleEndian(update.batch.schema.tableID)
        output.appendLittleEndian(UInt32(update.parts.count))
        for part in update.parts {
            output.appendLittleEndian(UInt32(part.index))
            output.appendLittleEndian(part.state.timestamp)
            output.appendLittleEndian(part.state.version)
            output.appendLittleEndian(part.state.rowCount)
            output.appendLittleEndian(part.state.splitAt)
            output.appendLittleEndian(UInt32(part.rows.count))
            for row in part.rows { output.appendLittleEndian(UInt64(row)) }
        }
        RowBatchCodec.encode(update.batch, into: &output)
    }

    package static func tableID(of payload: [UInt8]) -> UInt32? {
        guard payload.count >= 5, payload[0] == formatVersion else { return nil }
        return payload.withUnsafeBytes { $0.loadLittleEndian(fromByteOffset: 1, as: UInt32.self) }
    }

    /// The parts and the replacement rows (decoded into a fresh batch of `schema`).
    package static func decode(_ payload: [UInt8], schema: TableSchema) throws(StorageError) -> RowUpdate {
        func malformed(_ what: String) -> StorageError {
            StorageError(.corrupt, path: schema.name, "update payload is malformed: \(what)")
        }
        var reader = BinaryReader(payload)
        var parts: [RowUpdate.Part] = []
        do {
            guard try reader.read(UInt8.self) == formatVersion else { throw malformed("unknown format") }
            guard try reader.read(UInt32.self) == schema.tableID else { throw malformed("table id") }
            let count = Int(try reader.read(UInt32.self))
            guard count <= reader.remaining / 36 else { throw malformed("part count \(count)") }
            for _ in 0..<count {
                let index = Int(try reader.read(UInt32.self))
                let timestamp = try reader.read(Int64.self)
                let version = try reader.read(UInt32.self)
                let rowCount = try reader.read(UInt64.self)
                let splitAt = try reader.read(Int64.self)
                let rows = Int(try reader.read(UInt32.self))
                guard rows <= reader.remaining / 8 else { throw malformed("row count \(rows)") }
                var list: [Int] = []
                list.reserveCapacity(rows)
                for _ in 0..<rows {
                    let row = try reader.read(UInt64.self)
                    guard row < rowCount, list.last.map({ UInt64($0) < row }) ?? true else { throw malformed("row \(row)") }
                    list.append(Int(row))
                }
                let state = PartitionState(timestamp: timestamp, rowCount: rowCount, version: version, splitAt: splitAt)
                parts.append(RowUpdate.Part(index: index, state: state, rows: list))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw malformed("a field runs past the end")
        }
        let batch = RowBatch(schema: schema, maxBytes: .max)
        try RowBatchCodec.decode(Array(payload[reader.offset...]), schema: schema, into: batch)
        guard batch.rowCount == parts.reduce(0, { $0 + $1.rows.count }) else {
            throw malformed("\(batch.rowCount) rows for \(parts.reduce(0) { $0 + $1.rows.count }) targets")
        }
        var update = RowUpdate(batch: batch)
        update.parts = parts
        return update
    }
}
