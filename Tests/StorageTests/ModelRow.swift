// Shared by the model-based and power-loss tests: rows of a (sym SYMBOL, value LONG, note VARCHAR, ts TIMESTAMP) table and how to write, read and order them.
import Storage

struct ModelRow: Equatable, CustomStringConvertible {
    var ts: Int64
    var sym: String?
    var value: Int64
    var note: String?

    var description: String { "(\(ts) \(sym ?? "∅") \(value) \(note ?? "∅"))" }

    /// The table's columns, in the order `fill` and `read` use.
    static let columns = [
        ColumnSchema(id: 1, name: "sym", type: .symbol),
        ColumnSchema(id: 2, name: "value", type: .long),
        ColumnSchema(id: 3, name: "note", type: .varchar),
        ColumnSchema(id: 4, name: "ts", type: .timestamp),
    ]

    /// A batch of `rows` for `schema` (whose columns are `columns`).
    static func batch(_ rows: [ModelRow], schema: TableSchema) throws -> RowBatch {
        let batch = RowBatch(schema: schema)
        for row in rows {
            batch.beginRow()
            if let sym = row.sym { Array(sym.utf8).withUnsafeBytes { batch.setBytes(0, $0) } }
            batch.setInteger(1, row.value)
            if let note = row.note { Array(note.utf8).withUnsafeBytes { batch.setBytes(2, $0) } }
            batch.setInteger(3, row.ts)
            try batch.endRow()
        }
        return batch
    }

    /// Every row of a snapshot, in storage order.
    static func read(_ snapshot: TableSnapshot) throws -> [ModelRow] {
        var rows: [ModelRow] = []
        let symbols = snapshot.symbols[1]
        for partition in snapshot.partitions {
            let syms = try snapshot.mapColumn(1, in: partition)
            let values = try snapshot.mapColumn(2, in: partition)
            let notes = try snapshot.mapVariableColumn(3, in: partition)
            let timestamps = try snapshot.mapColumn(4, in: partition)
            for row in 0..<partition.rowCount {
                let key = syms.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 4, as: Int32.self) }
                rows.append(ModelRow(
                    ts: timestamps.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 8, as: Int64.self) },
                    sym: symbols?.value(key),
                    value: values.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: row * 8, as: Int64.self) },
                    note: notes.withValue(row: row) { $0.map { String(decoding: $0, as: UTF8.self) } }))
            }
        }
        return rows
    }

    /// Stable sort by timestamp: the order storage keeps rows in (earlier writes first on ties).
    static func sortedByTime(_ rows: [ModelRow]) -> [ModelRow] {
        rows.enumerated()
            .sorted { $0.element.ts != $1.element.ts ? $0.element.ts < $1.element.ts : $0.offset < $1.offset }
            .map(\.element)
    }
}
