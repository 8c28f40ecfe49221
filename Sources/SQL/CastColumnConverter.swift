import Storage

/// `ALTER COLUMN … TYPE` conversions as SQL's CAST (decision 0021): Storage applies the change
/// on every node and calls this for the values. A value CAST would refuse (`'abc'` to INT, a
/// LONG past INT's range) becomes NULL — the conversion runs while applying the WAL, where
/// there is nobody to refuse it to. A finite DOUBLE too large for FLOAT is NULL too.
package struct CastColumnConverter: ColumnConverter {
    package init() {}

    package func convert(
        _ column: ColumnSchema, rows: Range<Int>, of partition: TableSnapshot.Partition, in snapshot: TableSnapshot,
        into batch: RowBatch
    ) throws(StorageError) {
        let from = SQLType.column(column.type)
        let vector: ColumnVector
        if column.type.isVariableSize {
            vector = ColumnReader.variable(try snapshot.mapVariableColumn(column.id, in: partition), type: column.type, rows: rows)
        } else {
            vector = try snapshot.mapColumn(column.id, in: partition).withUnsafeBytes { bytes in
                ColumnReader.fixed(bytes, type: column.type, rows: rows, symbols: snapshot.symbols[column.id])
            }
        }
        let toFloat = batch.schema.columns[0].type == .float
        var value = [(SQLValue.null, from, 0)]
        for row in 0..<rows.count {
            value[0].0 = vector.value(at: row, type: from)
            // A finite DOUBLE past FLOAT's range is NULL, not infinity (as QuestDB converts).
            if toFloat, case .real(let number) = value[0].0, number.isFinite, !Float(number).isFinite { value[0].0 = .null }
            do {
                try RowWriter.write(value, into: batch, schema: batch.schema, columns: [0])
            } catch {
                value[0].0 = .null
                try? RowWriter.write(value, into: batch, schema: batch.schema, columns: [0])
            }
        }
    }
}
